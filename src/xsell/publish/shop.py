"""The links every shop file carries, selected once from ``cross_sell`` and ``up_sell`` (pure).

Every shop and catalogue format (``xsell.publish.formats``) renders ``shop_links``; the rules of
which links go to a shop live here only:

- **Country**: the rows of ``publish.shop_country`` (default ``ALL``). A Magento store's file uses
  its country's rows and, for a product and relation the country has no rows for, the ``ALL``
  rows (``fallback=True``).
- **Active and assortment-valid**: a link is kept when both products are sellable at ``today``
  (not discontinued, not only custom-made: the recommend step's ``RecommendContext`` rules) and,
  for a country other than ``ALL``, both are in that country's assortment by the product master
  (``countries``; empty or unknown = everywhere). With variant SKUs the two variants must be
  sellable too. Each dropped link is counted in a log line.
- **SKU** (``publish.shop_sku``): ``product_id`` (default; in Magento the links sit on the parent
  product) or ``variant_id``: a product's SKU is its representative variant (the sellable
  ``rec_variant_id`` the recommend step uses most for that product; else the smallest sellable
  variant in the product master) and each link points at its ``rec_variant_id``; links without
  one are dropped.
- **Order and top-n**: links keep the table ranks (1 = first) and are ordered by rank; at most
  ``publish.shop_top_n`` per product and relation.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from xsell.errors import InputDataError
from xsell.frames import isin, most_frequent, rows_at
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext, build_context
from xsell.schema import ALL_COUNTRIES

log = logging.getLogger(__name__)

LINK_TABLES: tuple[str, ...] = ("cross_sell", "up_sell")
LINK_COLUMNS: tuple[str, ...] = (
    "product_id", "variant_id", "name", "table", "rank", "rec_product_id", "rec_variant_id", "score", "sku", "rec_sku",
)
"""Columns of ``shop_links``."""
_NO_LINES = pd.DataFrame(
    {
        "variant_id": pd.Series(dtype="str"), "product_id": pd.Series(dtype="str"), "is_custom": pd.Series(dtype=bool),
        "unit_price": pd.Series(dtype="float64"), "net_value": pd.Series(dtype="float64"),
        "order_date": pd.Series(dtype="datetime64[ns]"), "country": pd.Series(dtype="str"),
        "quantity": pd.Series(dtype="float64"), "is_return": pd.Series(dtype=bool),
    }
)


def shop_context(products: pd.DataFrame, today: dt.date | None = None) -> RecommendContext:
    """Product facts for the shop selection: the recommend step's ``RecommendContext`` built from
    the product master alone, as of ``today`` (default: the current date), master assortment."""
    day = pd.Timestamp(today if today is not None else dt.date.today())
    return build_context(_NO_LINES, products, RecommendConfig(assortment="master"), day)


def representative_variants(tables: dict[str, pd.DataFrame], ctx: RecommendContext) -> pd.Series:
    """product_id -> representative variant_id (see module docstring), never a variant ``ctx``
    knows as discontinued or custom-made; products without one are absent."""
    variants = ctx.variants
    unsellable = variants.loc[variants["discontinued"] | variants["is_custom"], "variant_id"]
    used = pd.concat([tables[t][["rec_product_id", "rec_variant_id"]] for t in LINK_TABLES if t in tables])
    used = used.dropna().rename(columns={"rec_product_id": "product_id", "rec_variant_id": "variant_id"})
    used = used[~isin(used["variant_id"].astype(str), unsellable)]
    from_tables = most_frequent(used, "product_id", "variant_id")
    sellable = variants[~isin(variants["variant_id"], unsellable)]
    from_master = sellable.sort_values("variant_id", kind="mergesort").drop_duplicates("product_id").set_index("product_id")["variant_id"]
    combined = pd.concat([from_tables, from_master[~isin(from_master.index, from_tables.index)]])
    return combined.astype(object).sort_index()


def _country_rows(frame: pd.DataFrame, country: str, fallback: bool) -> pd.DataFrame:
    """Rows of ``country``; with ``fallback`` also the ``ALL`` rows of products it has none for."""
    countries = frame["country"].astype(str)
    own = rows_at(frame, np.flatnonzero(countries == country))  # the tables are sorted by country: a slice
    if not fallback or country == ALL_COUNTRIES:
        return own
    spare = frame[(countries == ALL_COUNTRIES) & ~isin(frame["product_id"], own["product_id"])]
    return pd.concat([own, spare])


def _drop(links: pd.DataFrame, mask: np.ndarray, reason: str, country: str) -> pd.DataFrame:
    n = int(mask.sum())
    if n:
        log.info("shop links %s: %d link(s) dropped: %s", country, n, reason)
    return links.loc[~mask]


def _flag(ctx: RecommendContext, ids: pd.Series, *, variant: bool) -> np.ndarray:
    """True where a product (or variant) is not sellable: discontinued or only custom-made."""
    if variant:
        facts = ctx.variants.drop_duplicates("variant_id").set_index("variant_id")
        known = ids.astype(str).map(facts["discontinued"] | facts["is_custom"])
    else:
        known = ids.astype(str).map(ctx.products["discontinued"].astype(bool) | ctx.products["custom_only"].astype(bool))
    return known.fillna(False).to_numpy(dtype=bool)


def shop_links(
    tables: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    *,
    country: str,
    sku: str,
    top_n: int | None = None,
    fallback: bool = False,
    context: RecommendContext | None = None,
    representatives: pd.Series | None = None,
) -> pd.DataFrame:
    """Long frame of shop links (``LINK_COLUMNS``), one row per kept link, sorted by (sku, table,
    rank); ``name`` is the linking product's name. ``context``: ``shop_context(products, today)``
    (built here as of the current date when not given); ``representatives``:
    ``representative_variants(tables, context)`` when the caller has it (the same for every
    country). See the module docstring for the rules."""
    ctx = context if context is not None else shop_context(products)
    parts = []
    for name in LINK_TABLES:
        rows = _country_rows(tables[name], country, fallback)
        parts.append(
            pd.DataFrame(
                {
                    "product_id": rows["product_id"].astype(object),
                    "table": name,
                    "rank": rows["rank"].astype("int64"),
                    "rec_product_id": rows["rec_product_id"].astype(object),
                    "rec_variant_id": rows["rec_variant_id"].astype(object),
                    "score": rows["score"].astype("float64"),
                }
            )
        )
    links = pd.concat(parts, ignore_index=True)
    links = _drop(links, _flag(ctx, links["product_id"], variant=False) | _flag(ctx, links["rec_product_id"], variant=False),
                  "a product is discontinued or only custom-made", country)
    if country != ALL_COUNTRIES:
        where = pd.Series(country, index=links.index)
        outside = ~(ctx.in_assortment(where, links["product_id"]) & ctx.in_assortment(where, links["rec_product_id"]))
        links = _drop(links, outside, f"a product is not in the {country} assortment", country)
    reps = representatives if representatives is not None else representative_variants(tables, ctx)
    links.insert(1, "variant_id", links["product_id"].map(reps).astype(object))
    links.insert(2, "name", ctx.name_of(links["product_id"]).astype(object))
    if sku == "variant_id":
        links["sku"], links["rec_sku"] = links["variant_id"], links["rec_variant_id"]
        links = _drop(links, links["rec_sku"].isna().to_numpy() | links["sku"].isna().to_numpy(), "no variant to link", country)
        links = _drop(links, _flag(ctx, links["sku"], variant=True) | _flag(ctx, links["rec_sku"], variant=True),
                      "a variant is discontinued or custom-made", country)
    else:
        links["sku"], links["rec_sku"] = links["product_id"], links["rec_product_id"]
    links = links.sort_values(["sku", "table", "rank", "rec_sku"], kind="mergesort")
    links = links.drop_duplicates(["sku", "table", "rec_sku"])
    if top_n is not None:
        links = _drop(links, (links.groupby(["sku", "table"], sort=False).cumcount() >= top_n).to_numpy(), f"beyond the top {top_n}", country)
    return links.reset_index(drop=True)[list(LINK_COLUMNS)]


def ranked_lists(links: pd.DataFrame, key: str, value: str) -> dict[tuple[str, str], list]:
    """(``key`` value, table) -> the ``value`` column of its links in rank order."""
    return links.groupby([key, "table"], sort=True)[value].agg(list).to_dict()


def reject_characters(values: Iterable[object], pattern: str, *, reason: str, column: str, file: str | None = None) -> None:
    """Raise ``InputDataError`` naming the first value matching ``pattern`` (a regex)."""
    found = re.compile(pattern)
    for value in values.tolist() if isinstance(values, (pd.Series, pd.Index)) else values:
        if isinstance(value, str) and found.search(value):
            raise InputDataError(reason, file=file, column=column, value=value)
