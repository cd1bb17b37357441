"""``RecommendContext``: product facts as of ``today`` that every table and business rule shares.

Built once from the canonical order lines and product master (both optional in parts):

- ``products`` (index ``product_id``): ``name``, ``family``, ``group`` (up-sell comparison key),
  ``typical_price`` (median list price of the non-custom variants, else median unit price paid),
  ``line_value`` (median net value of a line), ``discontinued`` (it has standard variants but
  none is active at ``today``), ``custom_only`` (no standard variant),
  ``everywhere`` (master assortment empty = sold everywhere).
- ``variants``: ``variant_id, product_id, is_custom, discontinued, countries``.
- ``sold``: ``(country, product_id)`` pairs sold within ``assortment_months`` before ``today``.
- ``assortment_mode``: ``master`` or ``inferred`` (``auto`` resolved, see ``RecommendConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from xsell.frames import most_frequent
from xsell.interactions.build import is_purchase
from xsell.recommend.codes import member
from xsell.recommend.config import RecommendConfig
from xsell.recommend.curated import CuratedLinks
from xsell.schema import ALL_COUNTRIES, PRODUCT_COLUMNS


def resolve_today(lines: pd.DataFrame, cfg: RecommendConfig) -> pd.Timestamp:
    """``cfg.today`` if set, else the last order date + 1 day (deterministic on historical data)."""
    if cfg.today is not None:
        return pd.Timestamp(cfg.today)
    if len(lines) == 0:
        return pd.Timestamp.today().normalize()
    return pd.Timestamp(lines["order_date"].max()).normalize() + pd.Timedelta(days=1)


def months_before(today: pd.Timestamp, months: int) -> pd.Timestamp:
    """Start of a window of ``months`` calendar months ending at ``today``."""
    return today - pd.DateOffset(months=months)


@dataclass(frozen=True)
class RecommendContext:
    """Shared facts and rule inputs of one ``recommend`` run (see module docstring)."""

    today: pd.Timestamp
    products: pd.DataFrame
    variants: pd.DataFrame
    sold: pd.DataFrame
    assortment_mode: str
    explicit: pd.DataFrame
    """``(country, product_id)`` pairs of the master's explicit assortment."""
    curated: CuratedLinks = field(default_factory=CuratedLinks.empty)
    block_ids: frozenset[str] = frozenset()

    @cached_property
    def variant_index(self) -> pd.DataFrame:
        """``variants`` indexed by ``variant_id`` (first row of an id), built once per run: the
        rules and the product mapping look millions of variant ids up in it."""
        return self.variants.drop_duplicates("variant_id").set_index("variant_id")

    def product_attr(self, product_ids: pd.Series, col: str, default: object) -> np.ndarray:
        """``products[col]`` for each id (``default`` for unknown products), looked up once per
        distinct id (the tables ask for millions of rows of a few thousand products)."""
        codes, uniques = pd.factorize(product_ids)
        # the distinct ids as text, and one missing label last for the rows without an id
        labels = pd.Index(pd.Series(uniques).astype(str).tolist() + [np.nan], dtype="str")
        per_id = self.products[col].reindex(labels).fillna(default).to_numpy()
        return per_id[np.where(codes >= 0, codes, len(uniques))]

    def name_of(self, product_ids: pd.Series) -> pd.Series:
        """Display name of each product (its id where the master has none)."""
        codes, uniques = pd.factorize(product_ids)
        ids = pd.Series(uniques).astype(str)
        names = pd.Series(self.product_attr(ids, "name", ""), dtype="str")
        per_id = names.where(names.str.len() > 0, ids).to_numpy(dtype=object)
        missing = pd.Series([np.nan], dtype="str").astype(str).to_numpy(dtype=object)  # a row without an id: its id as text
        return pd.Series(np.append(per_id, missing)[np.where(codes >= 0, codes, len(uniques))], index=product_ids.index, dtype="str")

    def in_assortment(self, country: pd.Series, product_id: pd.Series) -> np.ndarray:
        """True where ``product_id`` may be offered in ``country`` (``ALL`` rows always pass)."""
        pairs = pd.MultiIndex.from_arrays([country.astype(str).to_numpy(), product_id.astype(str).to_numpy()])
        ok = (country.astype(str) == ALL_COUNTRIES).to_numpy()
        listed = self._assortment_pairs.get_indexer_for(pairs) != -1  # ``pairs.isin``, on the hash table built once
        if self.assortment_mode == "master":
            return ok | self.product_attr(product_id, "everywhere", True).astype(bool) | listed
        return ok | listed

    @cached_property
    def _assortment_pairs(self) -> pd.MultiIndex:
        """The distinct ``(country, product_id)`` pairs ``in_assortment`` looks rows up in: the
        master's explicit assortment, or (inferred) what sold. Built once per run, not per call
        (each block of a table asked, and each call hashed them all again)."""
        pairs = self.explicit if self.assortment_mode == "master" else self.sold
        return pd.MultiIndex.from_frame(pairs[["country", "product_id"]]).unique()

    def variant_in_country(self, country: pd.Series, variant_countries: pd.Series) -> np.ndarray:
        """True where a variant with ``;``-joined ``variant_countries`` is sold in ``country``."""
        if self.assortment_mode != "master":
            return np.ones(len(country), dtype=bool)
        vc = variant_countries.fillna("").astype(str).to_numpy()
        c = country.astype(str).to_numpy()
        padded = np.char.add(np.char.add(";", vc.astype(str)), ";")
        needle = np.char.add(np.char.add(";", c.astype(str)), ";")
        listed = np.char.find(padded, needle) >= 0
        return (c == ALL_COUNTRIES) | (vc == "") | listed


def _empty_products() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in PRODUCT_COLUMNS})


def _master(products: pd.DataFrame | None, today: pd.Timestamp) -> pd.DataFrame:
    """The product master with text columns filled and the variant's ``discontinued`` flag: its
    status says so, or its ``discontinued_on`` is on or before ``today`` (the one definition)."""
    master = _empty_products() if products is None else products.copy()
    for col in ("family", "name", "countries", "status"):
        master[col] = master[col].fillna("").astype(str) if col in master else ""
    master["variant_id"] = master["variant_id"].astype(str)
    master["product_id"] = master["product_id"].astype(str)
    master["is_custom"] = master["is_custom"].fillna(False).astype(bool) if "is_custom" in master else False
    disc_on = pd.to_datetime(master["discontinued_on"]) if "discontinued_on" in master else pd.Series(pd.NaT, index=master.index)
    master["discontinued"] = (master["status"].str.lower() == "discontinued") | (disc_on.notna() & (disc_on <= today))
    return master


def _variants(master: pd.DataFrame, bought: pd.DataFrame) -> pd.DataFrame:
    """Master variants plus the variants only the order lines know (active, sold everywhere)."""
    seen = (
        bought.groupby(["variant_id", "product_id"], observed=True)["is_custom"].max().reset_index()
        if len(bought)
        else pd.DataFrame({"variant_id": pd.Series(dtype="str"), "product_id": pd.Series(dtype="str"), "is_custom": pd.Series(dtype=bool)})
    )
    seen = seen[~member(seen["variant_id"], master["variant_id"])]
    cols = ["variant_id", "product_id", "is_custom", "discontinued", "countries"]
    variants = pd.concat([master[cols], seen.assign(discontinued=False, countries="")[cols]], ignore_index=True)
    return variants.astype({"is_custom": bool, "discontinued": bool})


def _prices(master: pd.DataFrame, paid_price: pd.Series, paid_line_value: pd.Series, ids: pd.Index) -> pd.DataFrame:
    """``typical_price`` (median list price of the standard variants, else ``paid_price``, the
    median unit price paid) and ``line_value`` (``paid_line_value``, the median positive net value
    of a line, else the typical price) per product."""
    std_master = master[~master["is_custom"]]
    list_price = pd.to_numeric(std_master.get("list_price"), errors="coerce") if "list_price" in std_master else None
    master_price = (
        std_master.assign(p=list_price)[lambda f: f["p"] > 0].groupby("product_id")["p"].median()
        if list_price is not None
        else pd.Series(dtype=float)
    )
    out = pd.DataFrame(index=ids)
    out["typical_price"] = master_price.reindex(ids).combine_first(paid_price.reindex(ids)).astype(float)
    out["line_value"] = paid_line_value.reindex(ids).astype(float)
    out["line_value"] = out["line_value"].fillna(out["typical_price"])
    return out


def _first_rows(rows: np.ndarray, *codes: np.ndarray) -> np.ndarray:
    """The ``rows`` (line positions) that are the first of their combination of ``codes`` (int codes
    per row of ``rows``, -1 = missing), in line order: what ``drop_duplicates`` keeps."""
    key = np.zeros(len(rows), dtype=np.int64)
    for c in codes:
        key = key * (int(c.max(initial=-1)) + 2) + (c.astype(np.int64) + 1)
    return rows[~pd.Series(key).duplicated().to_numpy()]


def _median_by(values: np.ndarray, code: np.ndarray, uniques: pd.Index) -> pd.Series:
    """Median of ``values`` per code (-1 = missing id: no group), indexed by the code's id."""
    known = code >= 0
    med = pd.Series(values[known]).groupby(code[known]).median()
    return pd.Series(med.to_numpy(dtype=float), index=uniques.take(med.index.to_numpy(dtype=np.int64)), dtype=float)


@dataclass(frozen=True)
class _Bought:
    """What the context reads of the purchase lines (``interactions.build.purchases``), taken one
    column at a time as int codes and numbers: never a copy of the history's string columns (at 20M
    lines each filtered copy of the seven columns was ~1.5 GB, and the prices and the assortment
    each made another). Strings only for the few rows that are the first of their ids."""

    seen: pd.DataFrame
    """``variant_id, product_id, is_custom``: the first purchase line of each distinct triple."""
    product_ids: pd.Series
    """Distinct purchased ``product_id`` values as ``str``, in order of first appearance."""
    paid_price: pd.Series
    """Median ``unit_price`` of the standard lines with a positive price, per product id."""
    paid_line_value: pd.Series
    """Median positive ``net_value`` of a line, per product id."""
    recent_pairs: pd.DataFrame
    """``country, product_id``: the first purchase line on or after the window start of each pair."""

    @classmethod
    def of(cls, lines: pd.DataFrame, since: pd.Timestamp) -> _Bought:
        rows = np.flatnonzero(is_purchase(lines))

        def coded(col: str) -> tuple[np.ndarray, pd.Index]:
            codes, uniques = pd.factorize(lines[col])
            return codes[rows], uniques

        p, p_ids = coded("product_id")
        first_p = _first_rows(rows, p)
        product_ids = lines["product_id"].iloc[first_p].astype(str).reset_index(drop=True)
        is_custom = lines["is_custom"].to_numpy(dtype=bool)[rows]
        unit_price = lines["unit_price"].to_numpy(dtype=np.float64)[rows]
        standard = ~is_custom & (unit_price > 0)
        paid_price = _median_by(unit_price[standard], p[standard], p_ids)
        del unit_price, standard
        net_value = lines["net_value"].to_numpy(dtype=np.float64)[rows]
        positive = net_value > 0
        paid_line_value = _median_by(net_value[positive], p[positive], p_ids)
        del net_value, positive
        v, _ = coded("variant_id")
        seen = lines[["variant_id", "product_id", "is_custom"]].iloc[_first_rows(rows, v, p, is_custom.astype(np.int64))]
        del v
        recent = (lines["order_date"] >= since).to_numpy()[rows]
        c, _ = coded("country")
        recent_rows = rows[recent]
        recent_pairs = lines[["country", "product_id"]].iloc[_first_rows(recent_rows, c[recent], p[recent])]
        return cls(seen, product_ids, paid_price, paid_line_value, recent_pairs)


def _explicit_assortment(master: pd.DataFrame) -> pd.DataFrame:
    """``(country, product_id)`` pairs the master's standard variants list in ``countries``."""
    std_countries = master.loc[~master["is_custom"], ["product_id", "countries"]]
    explicit = std_countries[std_countries["countries"] != ""].assign(country=lambda f: f["countries"].str.split(";"))
    explicit = explicit.explode("country")
    explicit["country"] = explicit["country"].astype(str).str.strip()
    return explicit.loc[explicit["country"] != "", ["country", "product_id"]].drop_duplicates().reset_index(drop=True)


def build_context(
    lines: pd.DataFrame,
    products: pd.DataFrame | None,
    cfg: RecommendConfig,
    today: pd.Timestamp,
    *,
    curated: CuratedLinks | None = None,
    block_ids: frozenset[str] = frozenset(),
) -> RecommendContext:
    """Product and variant facts as of ``today`` from order lines and the (optional) product master."""
    master = _master(products, today)
    bought = _Bought.of(lines, months_before(today, cfg.assortment_months))
    variants = _variants(master, bought.seen)
    standard = variants[~variants["is_custom"]]
    ids = pd.Index(pd.unique(pd.concat([variants["product_id"], bought.product_ids])), name="product_id")
    prod = pd.DataFrame(index=ids)
    std_master = master[~master["is_custom"]]
    prod["name"] = most_frequent(std_master, "product_id", "name").combine_first(most_frequent(master, "product_id", "name"))
    prod["family"] = most_frequent(master, "product_id", "family")
    prod[["name", "family"]] = prod[["name", "family"]].fillna("").astype(str)
    chars = cfg.upsell_family_chars
    prod["group"] = prod["family"].str.slice(0, chars) if chars else prod["family"]
    prod = prod.join(_prices(master, bought.paid_price, bought.paid_line_value, ids))
    has_standard = member(ids, standard["product_id"])
    prod["discontinued"] = has_standard & ~member(ids, standard.loc[~standard["discontinued"], "product_id"])
    prod["custom_only"] = ~has_standard
    std_countries = std_master[["product_id", "countries"]]
    prod["everywhere"] = ~member(ids, std_countries["product_id"]) | member(ids, std_countries.loc[std_countries["countries"] == "", "product_id"])
    explicit = _explicit_assortment(master)
    sold = bought.recent_pairs.astype(str).drop_duplicates().reset_index(drop=True)

    mode = cfg.assortment
    if mode == "auto":
        mode = "master" if len(explicit) else "inferred"
    return RecommendContext(
        today=today,
        products=prod,
        variants=variants.reset_index(drop=True),
        sold=sold,
        assortment_mode=mode,
        explicit=explicit,
        curated=curated if curated is not None else CuratedLinks.empty(),
        block_ids=frozenset(block_ids),
    )
