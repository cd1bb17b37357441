"""Pure stages for the product and customer masters.

``canonical_*_master`` maps a raw master file onto canonical columns (before the order lines
are ingested: the product master decides variant -> product and which variants exist).
``build_*_master`` completes it from the accepted order lines: without a master file every row
is inferred from the lines; with one, buying centers / variants the lines use but the master
lacks are added as inferred rows (counted). A master row that cannot be read (wrong number of
fields, undecodable bytes, empty key, bad price, date, status or flag) is quarantined like a bad
order line, with file, row, column, value and reason (``MASTER_REASONS``); the order lines of a
quarantined variant are then ``unknown variant``. A discontinuation date beyond the canonical
date range (SAP's "no end date" ``31.12.9999``) means "never": the variant stays active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.errors import ConfigError
from xsell.frames import most_frequent
from xsell.ingest.lines import as_text_frame, unreadable_rows, variant_products, with_provenance
from xsell.ingest.mapping import resolve_columns, resolve_key_parts
from xsell.ingest.parse import Coded, KeyIndex, as_text, lookup_positions, parse_country_lists, parse_dates, parse_flags, parse_ids, parse_numbers
from xsell.io.readers import READ_REASONS
from xsell.schema import ALL_COUNTRIES, CUSTOMER_COLUMNS, PRODUCT_COLUMNS

if TYPE_CHECKING:
    from xsell.ingest.config import DataConfig

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("active", "discontinued")

MASTER_REASONS: tuple[str, ...] = (
    *READ_REASONS, "missing variant", "missing buying center", "non-numeric price", "unparseable date",
    "date out of range", "unknown status", "unrecognised flag",
)  # fmt: skip
"""Quarantine reasons of master rows, in priority order (first failing check wins)."""


class MasterResult(NamedTuple):
    """A canonical master and the rows of the master file that were quarantined."""

    master: pd.DataFrame
    """Canonical rows (``PRODUCT_COLUMNS`` / ``CUSTOMER_COLUMNS``), one per key."""
    info: dict[str, Any]
    """rows, repeated keys, rows_quarantined and quarantined_by_reason (for the summary)."""
    quarantine: pd.DataFrame
    """Quarantined rows: every source value as text + source_file, source_row, reason, column, value."""


def _quarantine(
    raw: pd.DataFrame, file: str, unreadable: pd.DataFrame | None, checks: list[tuple[str, np.ndarray, str, pd.Series | Coded]],
    first_row: int = 1,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
    """Apply ``checks`` (reason, failed mask, column, values per row) after the reader's
    ``unreadable`` rows; returns the kept mask, the quarantine frame and the count per reason.
    ``first_row``: the source row of ``raw``'s first row (a later batch of the file)."""
    rejected, reason, column, value = unreadable_rows(len(raw), unreadable)
    for name, failed, col, values in checks:
        hit = np.flatnonzero(failed & ~rejected)
        reason[hit], column[hit] = name, col
        value[hit] = (values.uniques.take(values.codes[hit]) if isinstance(values, Coded) else values.iloc[hit]).to_numpy(dtype=object)
        rejected[hit] = True
    source_cols = list(raw.columns)
    out = as_text_frame(with_provenance(raw, file, first_row=first_row), source_cols, rejected)
    for name, values in (("reason", reason), ("column", column), ("value", value)):
        out[name] = pd.Series(values[rejected], dtype="str")
    if rejected.any():
        first = int(np.flatnonzero(rejected)[0])
        log.warning("%s: %d master row(s) quarantined, first row %d: %s", file, int(rejected.sum()), first + first_row, reason[first])
    by_reason = pd.Series(reason[rejected]).value_counts()
    counts = {r: int(by_reason[r]) for r in MASTER_REASONS if r in by_reason.index}
    return ~rejected, out, counts


def _family(product_id: pd.Series, rule: str | None) -> pd.Series:
    """Family of each product: first group of ``data.family_rule``, else the product id itself."""
    if not rule:
        return product_id.astype("str")
    return product_id.str.extract(rule, expand=True)[0].fillna(product_id).astype("str")


def _fill_empty(text: pd.Series, fallback: Callable[[np.ndarray], pd.Series]) -> pd.Series:
    """``text`` with its empty values replaced by ``fallback(rows)`` (computed for those rows only)."""
    rows = np.flatnonzero((text == "").to_numpy(dtype=bool))
    if not len(rows):
        return text
    values = text.to_numpy(dtype=object)
    values[rows] = fallback(rows).to_numpy(dtype=object)
    return pd.Series(values, dtype="str")


def canonical_product_master(
    raw: pd.DataFrame, data: DataConfig, *, file: str, unreadable: pd.DataFrame | None = None, first_row: int = 1,
    known: KeyIndex | None = None,
) -> MasterResult:
    """Raw product master -> ``PRODUCT_COLUMNS`` (one row per variant; first row of a repeated variant wins).

    For a master read in batches: ``first_row`` is the source row of ``raw``'s first row and
    ``known`` the variants of the earlier batches' canonical rows (a variant among them is
    repeated here); the caller adds this batch's to it.

    Empty product ids fall back to ``data.variant_to_product`` / the variant, empty families to
    ``data.family_rule`` / the product, empty status to ``discontinued`` when a discontinuation
    date is given (else ``active``). Rows that cannot be read are quarantined (module docstring);
    ``unreadable`` are the reader's issues (``RawFile.issues``).
    """
    cols = resolve_columns(list(raw.columns), data.product_columns, PRODUCT_COLUMNS, ["variant_id"], file=file, config_key="data.product_columns")
    raw = raw.reset_index(drop=True)
    get = {c: raw[cols[c]] if c in cols else pd.Series("", index=raw.index, dtype="str") for c in PRODUCT_COLUMNS}
    # all but the variant and the name repeat a lot: parsed per distinct value (``Coded``)
    coded = {c: Coded.encode(get[c]) for c in ("product_id", "family", "list_price", "status", "discontinued_on", "countries", "is_custom")}
    variant = parse_ids(get["variant_id"], float_ids=data.normalize_float_ids)
    product = coded["product_id"].map(partial(parse_ids, float_ids=data.normalize_float_ids)).series()
    product = _fill_empty(product, lambda rows: variant_products(variant.iloc[rows], data.variant_to_product)[0])
    family = _fill_empty(coded["family"].map(as_text).series(), lambda rows: _family(product.iloc[rows], data.family_rule))
    price_text = coded["list_price"].map(as_text)
    list_price = coded["list_price"].rows(parse_numbers(coded["list_price"].uniques, decimal=data.csv.decimal, thousands=data.csv.thousands))
    date_text = coded["discontinued_on"].map(as_text)
    disc_values, date_sign = parse_dates(coded["discontinued_on"].uniques, date_format=data.csv.date_format, dayfirst=data.csv.dayfirst)
    disc, date_range = coded["discontinued_on"].rows(disc_values), coded["discontinued_on"].rows(date_sign)
    status_text = coded["status"].map(as_text)
    lower = status_text.uniques.str.lower()
    with_date, without = (Coded(status_text.codes, lower.where(lower != "", default)).arrow() for default in ("discontinued", "active"))
    status = pd.Series(pd.array(pc.if_else(pa.array(~np.isnat(disc)), with_date, without), dtype="str"))
    flag_values, bad_flags = parse_flags(coded["is_custom"].uniques, true_values=data.csv.true_values, false_values=data.csv.false_values)
    flags, bad_flag = coded["is_custom"].rows(flag_values), coded["is_custom"].rows(bad_flags)
    kept, quarantine, reasons = _quarantine(raw, file, unreadable, [
        ("missing variant", (variant == "").to_numpy(), "variant_id", variant),
        ("non-numeric price", price_text.rows((price_text.uniques != "").to_numpy()) & np.isnan(list_price), "list_price", price_text),
        ("unparseable date", date_text.rows((date_text.uniques != "").to_numpy()) & np.isnat(disc) & (date_range == 0), "discontinued_on", date_text),
        ("date out of range", date_range < 0, "discontinued_on", date_text),  # > range: never discontinued
        ("unknown status", (~status.isin(STATUSES)).to_numpy(), "status", status_text),
        ("unrecognised flag", bad_flag, "is_custom", coded["is_custom"].map(as_text)),
    ], first_row)  # fmt: skip
    master = pd.DataFrame(
        {
            "variant_id": variant,
            "product_id": product,
            "family": family,
            "list_price": list_price,
            "status": status,
            "discontinued_on": disc.astype("datetime64[ns]"),
            "countries": coded["countries"].map(parse_country_lists).series(),
            "name": as_text(get["name"]),
            "is_custom": flags.astype("bool"),
        },
        columns=list(PRODUCT_COLUMNS),
    ).loc[kept]
    repeated = master["variant_id"].duplicated()
    if known is not None and len(known):
        repeated |= known.positions(master["variant_id"]) >= 0
    if repeated.any():
        log.warning("product master %s: %d repeated variant id(s); the first row of each wins", file, int(repeated.sum()))
    info = {"rows": len(raw), "repeated_variants": int(repeated.sum()), "rows_quarantined": len(quarantine), "quarantined_by_reason": reasons}
    return MasterResult(master.loc[~repeated].reset_index(drop=True), info, quarantine)


def _join_countries(pairs: pd.DataFrame, key: str) -> pd.Series:
    """``key`` -> ``;``-joined sorted countries (``ALL`` = everywhere -> ``""``) from (key, country) pairs."""
    pairs = pairs.loc[pairs["country"] != ALL_COUNTRIES].drop_duplicates().sort_values([key, "country"])
    sizes = pairs.groupby(key, sort=False)[key].transform("size")
    single = pairs.loc[sizes == 1].set_index(key)["country"]
    multi = pairs.loc[sizes > 1].groupby(key, sort=False)["country"].agg(";".join)
    return pd.concat([single, multi]).astype("str")


def _infer_products(lines: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """One row per variant of ``lines``: typical price = median unit price of non-return lines."""
    by_variant = lines.groupby("variant_id", sort=True, observed=True)
    out = pd.DataFrame({"product_id": by_variant["product_id"].first(), "is_custom": by_variant["is_custom"].any()})
    sales = lines.loc[~lines["is_return"], ["variant_id", "unit_price"]]
    out["list_price"] = sales.groupby("variant_id", observed=True)["unit_price"].median().reindex(out.index)
    out["countries"] = _join_countries(lines[["variant_id", "country"]], "variant_id").reindex(out.index).fillna("")
    out = out.reset_index()
    out["family"] = _family(out["product_id"].astype("str"), data.family_rule)
    out["status"] = "active"
    out["discontinued_on"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    out["name"] = _names(lines).reindex(out["variant_id"]).fillna("").to_numpy()
    return _typed_products(out)


def _names(lines: pd.DataFrame) -> pd.Series:
    """variant_id -> its most frequent non-empty line ``description`` (ties: alphabetical)."""
    if "description" not in lines.columns:
        return pd.Series(dtype="str")
    return most_frequent(lines, "variant_id", "description").astype("str")


def _typed_products(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(PRODUCT_COLUMNS)].copy()
    for c in ("variant_id", "product_id", "family", "status", "countries", "name"):
        out[c] = out[c].astype("str")
    out["list_price"] = out["list_price"].astype("float64")
    out["discontinued_on"] = out["discontinued_on"].astype("datetime64[ns]")
    out["is_custom"] = out["is_custom"].astype("bool")
    return out.reset_index(drop=True)


def build_product_master(lines: pd.DataFrame, master: pd.DataFrame | None, data: DataConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Canonical products: the master's rows plus inferred rows for variants only the lines know.

    Without a master every row is inferred: product from the lines, family from
    ``data.family_rule`` (or the product), list price = median unit price of non-return lines,
    countries = where it sold, status active.
    """
    if master is None:
        products = _infer_products(lines, data)
        return products, {"inferred": True, "from_master": 0, "inferred_rows": len(products)}
    missing = lines.loc[lookup_positions(lines["variant_id"], master["variant_id"]) < 0]
    inferred = _infer_products(missing, data) if len(missing) else master.iloc[:0]
    products = _typed_products(pd.concat([master, inferred], ignore_index=True))
    return products, {"inferred": False, "from_master": len(master), "inferred_rows": len(inferred)}


def _buying_centers(raw: pd.DataFrame, cols: dict[str, str], data: DataConfig, file: str) -> pd.Series:
    if data.buying_center_key:
        sources = resolve_key_parts(list(raw.columns), cols, data.buying_center_key, file=file)
        parts = [parse_ids(raw[c], float_ids=data.normalize_float_ids) for c in sources]
        joined = parts[0].str.cat(parts[1:], sep="/") if len(parts) > 1 else parts[0]
        return joined.where(~np.logical_or.reduce([(p == "").to_numpy() for p in parts]), "")
    if "buying_center_id" not in cols:
        raise ConfigError(
            f"customer master {file} needs buying_center_id: map it in data.customer_columns or set "
            "data.buying_center_key; available columns: " + ", ".join(repr(c) for c in raw.columns),
            key="data.customer_columns.buying_center_id",
        )
    return parse_ids(raw[cols["buying_center_id"]], float_ids=data.normalize_float_ids)


def canonical_customer_master(
    raw: pd.DataFrame, data: DataConfig, *, file: str, unreadable: pd.DataFrame | None = None
) -> MasterResult:
    """Raw customer master -> ``CUSTOMER_COLUMNS`` (buying center from the column or ``data.buying_center_key``).

    customer_id defaults to the buying center, country to ``ALL``, segment, customer_name and
    sales_rep to ``""``. Rows
    without a buying center (and the reader's ``unreadable`` rows) are quarantined.
    """
    cols = resolve_columns(list(raw.columns), data.customer_columns, CUSTOMER_COLUMNS, [], file=file, config_key="data.customer_columns")
    raw = raw.reset_index(drop=True)
    bc = _buying_centers(raw, cols, data, file)
    kept, quarantine, reasons = _quarantine(raw, file, unreadable, [("missing buying center", (bc == "").to_numpy(), "buying_center_id", bc)])
    customer = parse_ids(raw[cols["customer_id"]], float_ids=data.normalize_float_ids) if "customer_id" in cols else bc
    country = as_text(raw[cols["country"]]) if "country" in cols else pd.Series(ALL_COUNTRIES, index=raw.index, dtype="str")
    master = pd.DataFrame(
        {
            "buying_center_id": bc,
            "customer_id": customer.where(customer != "", bc),
            "country": country.where(country != "", ALL_COUNTRIES),
            **{c: as_text(raw[cols[c]]) if c in cols else "" for c in ("segment", "customer_name", "sales_rep")},
        },
        columns=list(CUSTOMER_COLUMNS),
    ).astype("str").loc[kept]
    repeated = master["buying_center_id"].duplicated()
    if repeated.any():
        log.warning("customer master %s: %d repeated buying center(s); the first row of each wins", file, int(repeated.sum()))
    info = {"rows": len(raw), "repeated_buying_centers": int(repeated.sum()), "rows_quarantined": len(quarantine), "quarantined_by_reason": reasons}
    return MasterResult(master.loc[~repeated].reset_index(drop=True), info, quarantine)


def _infer_customers(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per buying center: the customer and the country its lines name most often."""
    country = most_frequent(lines, "buying_center_id", "country")
    out = pd.DataFrame(
        {
            "buying_center_id": country.index.to_numpy(),
            "customer_id": most_frequent(lines, "buying_center_id", "customer_id").reindex(country.index).fillna("").to_numpy(),
            "country": country.to_numpy(),
            "segment": "",
            "customer_name": "",
            "sales_rep": "",
        }
    )
    return out[list(CUSTOMER_COLUMNS)].astype("str").reset_index(drop=True)


def build_customer_master(lines: pd.DataFrame, master: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Canonical customers: the master's rows plus inferred rows for buying centers only the lines know.

    Inferred rows: the buying center's customer and the country it orders from most, segment,
    name and sales rep ``""``.
    """
    if master is None:
        customers = _infer_customers(lines)
        return customers, {"inferred": True, "from_master": 0, "inferred_rows": len(customers)}
    missing = lines.loc[lookup_positions(lines["buying_center_id"], master["buying_center_id"]) < 0]
    inferred = _infer_customers(missing) if len(missing) else master.iloc[:0]
    customers = pd.concat([master, inferred], ignore_index=True).astype("str")
    return customers, {"inferred": False, "from_master": len(master), "inferred_rows": len(inferred)}
