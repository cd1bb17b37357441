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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from xsell.errors import ConfigError
from xsell.frames import most_frequent
from xsell.ingest.lines import as_text_frame, unreadable_rows, variant_products, with_provenance
from xsell.ingest.mapping import resolve_columns, resolve_key_parts
from xsell.ingest.parse import as_text, lookup_positions, parse_country_lists, parse_dates, parse_flags, parse_ids, parse_numbers
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


def _quarantine(raw: pd.DataFrame, file: str, unreadable: pd.DataFrame | None, checks: list[tuple[str, np.ndarray, str, pd.Series]]) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
    """Apply ``checks`` (reason, failed mask, column, values) after the reader's ``unreadable``
    rows; returns the kept mask, the quarantine frame and the count per reason."""
    _, reason, column, value = unreadable_rows(len(raw), unreadable)
    for name, failed, col, values in checks:
        hit = failed & (reason == "")
        reason[hit], column[hit] = name, col
        value[hit] = values.to_numpy(dtype=object)[hit]
    rejected = reason != ""
    source_cols = list(raw.columns)
    out = as_text_frame(with_provenance(raw, file), source_cols, rejected)
    for name, values in (("reason", reason), ("column", column), ("value", value)):
        out[name] = pd.Series(values[rejected], dtype="str")
    if rejected.any():
        first = int(np.flatnonzero(rejected)[0])
        log.warning("%s: %d master row(s) quarantined, first row %d: %s", file, int(rejected.sum()), first + 1, reason[first])
    counts = {r: int((reason == r).sum()) for r in MASTER_REASONS if (reason == r).any()}
    return ~rejected, out, counts


def _family(product_id: pd.Series, rule: str | None) -> pd.Series:
    """Family of each product: first group of ``data.family_rule``, else the product id itself."""
    if not rule:
        return product_id.astype("str")
    return product_id.str.extract(rule, expand=True)[0].fillna(product_id).astype("str")


def canonical_product_master(
    raw: pd.DataFrame, data: DataConfig, *, file: str, unreadable: pd.DataFrame | None = None
) -> MasterResult:
    """Raw product master -> ``PRODUCT_COLUMNS`` (one row per variant; first row of a repeated variant wins).

    Empty product ids fall back to ``data.variant_to_product`` / the variant, empty families to
    ``data.family_rule`` / the product, empty status to ``discontinued`` when a discontinuation
    date is given (else ``active``). Rows that cannot be read are quarantined (module docstring);
    ``unreadable`` are the reader's issues (``RawFile.issues``).
    """
    cols = resolve_columns(list(raw.columns), data.product_columns, PRODUCT_COLUMNS, ["variant_id"], file=file, config_key="data.product_columns")
    raw = raw.reset_index(drop=True)
    get = {c: raw[cols[c]] if c in cols else pd.Series("", index=raw.index, dtype="str") for c in PRODUCT_COLUMNS}
    variant = parse_ids(get["variant_id"], float_ids=data.normalize_float_ids)
    product = parse_ids(get["product_id"], float_ids=data.normalize_float_ids)
    product = product.where(product != "", variant_products(variant, data.variant_to_product)[0])
    family = as_text(get["family"])
    family = family.where(family != "", _family(product, data.family_rule))
    price_text = as_text(get["list_price"])
    list_price = parse_numbers(get["list_price"], decimal=data.csv.decimal, thousands=data.csv.thousands)
    date_text = as_text(get["discontinued_on"])
    disc, date_range = parse_dates(get["discontinued_on"], date_format=data.csv.date_format, dayfirst=data.csv.dayfirst)
    status_text = as_text(get["status"])
    status = status_text.str.lower()
    status = status.where(status != "", pd.Series(np.where(disc.notna(), "discontinued", "active"), index=raw.index, dtype="str"))
    flags, bad_flag = parse_flags(get["is_custom"], true_values=data.csv.true_values, false_values=data.csv.false_values)
    kept, quarantine, reasons = _quarantine(raw, file, unreadable, [
        ("missing variant", (variant == "").to_numpy(), "variant_id", variant),
        ("non-numeric price", ((price_text != "") & list_price.isna()).to_numpy(), "list_price", price_text),
        ("unparseable date", ((date_text != "") & disc.isna()).to_numpy() & (date_range == 0), "discontinued_on", date_text),
        ("date out of range", date_range < 0, "discontinued_on", date_text),  # > range: never discontinued
        ("unknown status", (~status.isin(STATUSES)).to_numpy(), "status", status_text),
        ("unrecognised flag", bad_flag, "is_custom", as_text(get["is_custom"])),
    ])  # fmt: skip
    master = pd.DataFrame(
        {
            "variant_id": variant,
            "product_id": product,
            "family": family,
            "list_price": list_price,
            "status": status,
            "discontinued_on": disc,
            "countries": parse_country_lists(get["countries"]),
            "name": as_text(get["name"]),
            "is_custom": flags,
        },
        columns=list(PRODUCT_COLUMNS),
    ).loc[kept]
    repeated = master["variant_id"].duplicated()
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
