"""Pure stage: raw order lines (source columns) -> canonical lines + quarantine + excluded rows.

Rules, in the order they apply (each row gets exactly one outcome, so
``rows_read == rows_accepted + rows_quarantined + rows_excluded``):

1. **duplicate line** (excluded): a row whose source values equal an earlier row's, in this
   batch or in an earlier file (``seen_fingerprints``). Rows are compared by a 64-bit hash of
   all their source values (column order does not matter); ``ingest.drop_duplicates: false``
   keeps them.
2. **non-product variant** (excluded): the variant id full-matches one of
   ``ingest.exclude_variant_patterns`` (postage, fees, manual adjustments).
0. **unreadable rows** (quarantined before anything else): rows the reader could not read
   (``wrong number of fields``, ``undecodable bytes``; see ``xsell.io.readers.RawFile``).
3. **quarantine**, first failing check wins: missing order id, missing buying center, missing
   variant, unknown variant, unparseable date, date out of range, non-numeric quantity,
   non-numeric price, negative price, unrecognised flag. ``unknown variant`` applies only when a
   product master is given: the master is the authority on what a variant is, so an absent
   variant is quarantined even when the ``data.variant_to_product`` regex could resolve it (a
   typo would otherwise create a product). Infinite numbers (``inf``, ``1e309``) count as
   non-numeric; ``is_custom`` values outside ``data.csv.true_values`` / ``false_values`` are
   ``unrecognised flag``.

Accepted lines: ``is_return`` when the quantity is negative or the order id starts with one of
``ingest.return_order_prefixes``; returns get a negative quantity and net value. The product id
comes from the product master, else the line's own ``product_id`` column, else the
``data.variant_to_product`` regex, else the variant itself (counted per source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.errors import InputDataError
from xsell.ingest.config import MAPPABLE_ORDER_LINE_COLUMNS
from xsell.ingest.mapping import resolve_columns, resolve_key_parts
from xsell.ingest.parse import (
    as_text,
    is_blank,
    lookup_positions,
    parse_dates,
    parse_flags,
    parse_ids,
    parse_numbers,
    text_from_codes,
)
from xsell.io.readers import READ_REASONS
from xsell.schema import ALL_COUNTRIES, ORDER_LINE_COLUMNS

if TYPE_CHECKING:
    from xsell.config import Config

PROVENANCE: tuple[str, str] = ("source_file", "source_row")
"""Columns the reader adds to every raw frame: file name and 1-based data row."""

REASONS: tuple[str, ...] = (
    *READ_REASONS,
    "missing order id",
    "missing buying center",
    "missing variant",
    "unknown variant",
    "unparseable date",
    "date out of range",
    "non-numeric quantity",
    "non-numeric price",
    "negative price",
    "unrecognised flag",
)
"""Quarantine reasons, in priority order (a row is reported under its first failing check)."""

REASON_HINTS: dict[str, str] = {
    "wrong number of fields": "data.csv.sep (or quoting in the export)",
    "undecodable bytes": "data.csv.encoding",
    "missing order id": "data.columns.order_id",
    "missing buying center": "data.columns.buying_center_id / data.buying_center_key",
    "missing variant": "data.columns.variant_id",
    "unknown variant": "data.products / data.product_columns.variant_id",
    "unparseable date": "data.csv.date_format / data.csv.dayfirst",
    "non-numeric quantity": "data.csv.decimal / data.csv.thousands",
    "non-numeric price": "data.csv.decimal / data.csv.thousands",
    "unrecognised flag": "data.csv.true_values / data.csv.false_values",
}
"""The config key that usually fixes a reason when many rows have it (named in the error)."""

RULE_DUPLICATE = "duplicate line"
RULE_NON_PRODUCT = "non-product variant"
EXCLUDE_RULES: tuple[str, ...] = (RULE_DUPLICATE, RULE_NON_PRODUCT)

PRODUCT_SOURCES: tuple[str, ...] = ("master", "line", "regex", "self")
"""Where a line's product id came from (``product_id_source`` counts)."""

REQUIRED_ALWAYS: tuple[str, ...] = ("order_id", "order_date", "variant_id", "quantity")
ID_COLUMNS: frozenset[str] = frozenset({"order_id", "order_line", "buying_center_id", "customer_id", "variant_id", "product_id"})
"""Identifier columns: stripped, and float-formatted numbers normalised (``data.normalize_float_ids``)."""


@dataclass(frozen=True)
class IngestResult:
    """Output of ``ingest_order_lines`` for one batch of raw rows."""

    lines: pd.DataFrame
    """Accepted lines, columns ``ORDER_LINE_COLUMNS`` with canonical dtypes."""
    quarantine: pd.DataFrame
    """Rejected rows: every source value as text + source_file, source_row, reason, column, value."""
    excluded: pd.DataFrame
    """Excluded rows (duplicates, non-product lines): source values + provenance + rule, column, value."""
    counts: dict[str, Any]
    """rows_read/accepted/quarantined/excluded, quarantined_by_reason, excluded_by_rule, ..."""
    fingerprints: np.ndarray = field(repr=False)
    """uint64 hashes of this batch's non-duplicate rows; pass them on to the next file."""


def with_provenance(raw: pd.DataFrame, source_file: str) -> pd.DataFrame:
    """Add ``source_file`` and ``source_row`` (1-based data row) to a freshly read frame."""
    clash = [c for c in PROVENANCE if c in raw.columns]
    if clash:
        raise InputDataError(f"source has reserved column(s) {clash}; rename them in the export", file=source_file)
    out = raw.reset_index(drop=True)
    out["source_file"] = pd.Series(source_file, index=out.index, dtype="str")
    out["source_row"] = np.arange(1, len(out) + 1, dtype="int64")
    return out


def row_fingerprints(raw: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """uint64 hash of each row's values in ``columns`` (sorted by name, so layout order is irrelevant)."""
    return pd.util.hash_pandas_object(raw[sorted(columns)], index=False).to_numpy()


def _source_name(raw: pd.DataFrame) -> str:
    names = raw["source_file"].unique() if "source_file" in raw.columns else []
    return ", ".join(str(n) for n in names[:3]) + (" ..." if len(names) > 3 else "") or "<order lines>"


def _first_match(values: pd.Series, patterns: list[str]) -> pd.Series:
    """Per value: the first pattern that full-matches it ("" if none). Evaluated on unique values."""
    codes, uniques = pd.factorize(values)
    labels = np.full(len(uniques), "", dtype=object)
    remaining = np.ones(len(uniques), dtype=bool)
    unique_series = pd.Series(uniques, dtype="str")
    for pattern in patterns:
        hit = unique_series.str.fullmatch(pattern).to_numpy(dtype=bool) & remaining
        labels[hit] = pattern
        remaining &= ~hit
    return text_from_codes(labels, codes, values.index)


def variant_products(variants: pd.Series, regex: str | None) -> tuple[pd.Series, np.ndarray]:
    """Product id of each variant by ``data.variant_to_product`` (first group), else the variant itself.

    Returns the product ids and a mask of the rows the regex resolved. Evaluated on unique values.
    """
    codes, uniques = pd.factorize(variants)
    uniq = pd.Series(uniques, dtype="str")
    if not regex or not len(uniq):
        return variants.astype("str"), np.zeros(len(variants), dtype=bool)
    product = uniq.str.extract(regex, expand=True)[0]
    by_regex = product.notna().to_numpy()
    return text_from_codes(product.fillna(uniq), codes, variants.index), by_regex[codes]


def _product_ids(
    variant: pd.Series, line_product: pd.Series | None, master_product: pd.Series | None, regex: str | None
) -> tuple[pd.Series, dict[str, int]]:
    """Product id per line and how many lines each source decided (see ``PRODUCT_SOURCES``).

    ``master_product``: the product master's product id of each line's variant (``""`` = none).
    """
    out, from_regex = variant_products(variant, regex)
    from_master = np.zeros(len(variant), dtype=bool)
    if master_product is not None:
        from_master = (master_product != "").to_numpy()
        out = out.where(~from_master, master_product)
    from_line = np.zeros(len(variant), dtype=bool)
    if line_product is not None:
        from_line = ~from_master & (line_product != "").to_numpy()
        out = out.where(~from_line, line_product)
    from_regex &= ~from_master & ~from_line
    counts = {
        "master": int(from_master.sum()),
        "line": int(from_line.sum()),
        "regex": int(from_regex.sum()),
        "self": int(len(variant) - from_master.sum() - from_line.sum() - from_regex.sum()),
    }
    return out.astype("str"), counts


def as_text_frame(raw: pd.DataFrame, source_cols: list[str], mask: np.ndarray) -> pd.DataFrame:
    sub = raw.loc[mask]
    out = pd.DataFrame({c: as_text(sub[c]) for c in source_cols}, index=sub.index)
    out["source_file"] = sub["source_file"].astype("str")
    out["source_row"] = sub["source_row"].astype("int64")
    return out.reset_index(drop=True)


def in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for an ascending, non-empty ``sorted_set``: binary search
    with the sorted ``values``. ``np.isin`` makes the whole set unique (hashing) on every call,
    which made the cross-file duplicate check quadratic in the number of files (demo large, 20
    parts: half of the ingest time)."""
    order = np.argsort(values)
    needles = values[order]
    pos = np.minimum(np.searchsorted(sorted_set, needles), len(sorted_set) - 1)
    found = np.empty(len(values), dtype=bool)
    found[order] = sorted_set[pos] == needles
    return found


def unreadable_rows(n: int, issues: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mask, reason, column, value) arrays of length ``n`` for the reader's ``issues``
    (``RawFile.issues``: 0-based ``row``, ``reason``, ``column``, ``value``)."""
    mask = np.zeros(n, dtype=bool)
    reason, column, value = (np.full(n, "", dtype=object) for _ in range(3))
    if issues is not None and len(issues):
        rows = issues["row"].to_numpy(dtype="int64")
        mask[rows] = True
        reason[rows] = issues["reason"].to_numpy(dtype=object)
        column[rows] = issues["column"].to_numpy(dtype=object)
        value[rows] = issues["value"].to_numpy(dtype=object)
    return mask, reason, column, value


def ingest_order_lines(
    raw: pd.DataFrame,
    cfg: Config,
    products: pd.DataFrame | None = None,
    *,
    seen_fingerprints: np.ndarray | None = None,
    unreadable: pd.DataFrame | None = None,
) -> IngestResult:
    """Validate and map one batch of raw order lines (source columns + ``PROVENANCE``).

    ``products``: the canonical product master (``canonical_product_master``), or None.
    ``seen_fingerprints``: fingerprints of rows kept from earlier files (cross-file duplicates);
    pass them sorted ascending to spare a sort per batch. ``unreadable``: the reader's issues
    (``RawFile.issues``); those rows are quarantined with the reader's reason.
    """
    data, rules = cfg.data, cfg.ingest
    if not all(c in raw.columns for c in PROVENANCE):
        raise ValueError("raw order lines need source_file and source_row columns (use with_provenance)")
    file = _source_name(raw)
    source_cols = [c for c in raw.columns if c not in PROVENANCE]
    required = list(REQUIRED_ALWAYS) + ([] if data.buying_center_key else ["buying_center_id"])
    cols = resolve_columns(source_cols, data.columns, MAPPABLE_ORDER_LINE_COLUMNS, required, file=file, config_key="data.columns")
    if "unit_price" not in cols and "net_value" not in cols:
        raise InputDataError(
            "neither unit_price nor net_value found: map one of them in data.columns; available columns: "
            + ", ".join(repr(c) for c in source_cols),
            file=file,
            column="unit_price",
        )
    key_cols = resolve_key_parts(source_cols, cols, data.buying_center_key, file=file) if data.buying_center_key else []
    n = len(raw)
    float_ids = data.normalize_float_ids
    flagged, reason, column, value = unreadable_rows(n, unreadable)

    # -- exclusions ---------------------------------------------------------------------
    if rules.drop_duplicates:
        fingerprints = row_fingerprints(raw, source_cols)
        duplicate = pd.Series(fingerprints).duplicated().to_numpy()
        if seen_fingerprints is not None and len(seen_fingerprints):
            seen = seen_fingerprints
            if not np.all(seen[:-1] <= seen[1:]):
                seen = np.sort(seen)
            duplicate = duplicate | in_sorted(fingerprints, seen)
        duplicate = duplicate & ~flagged
        kept_fingerprints = fingerprints[~duplicate & ~flagged]
    else:
        duplicate = np.zeros(n, dtype=bool)
        kept_fingerprints = np.empty(0, dtype="uint64")
    variant = parse_ids(raw[cols["variant_id"]], float_ids=float_ids)
    matched_pattern = _first_match(variant, rules.exclude_variant_patterns)
    non_product = (matched_pattern != "").to_numpy() & ~duplicate & ~flagged
    active = ~duplicate & ~non_product

    # -- parse ----------------------------------------------------------------------------
    order_id = parse_ids(raw[cols["order_id"]], float_ids=float_ids)
    if key_cols:
        key_texts = [parse_ids(raw[c], float_ids=float_ids) for c in key_cols]
        buying_center = key_texts[0].str.cat(key_texts[1:], sep="/") if len(key_texts) > 1 else key_texts[0]
        bc_missing = np.zeros(n, dtype=bool)
        bc_column = np.full(n, "", dtype=object)
        for part_name, part in zip(reversed(data.buying_center_key), reversed(key_texts)):  # first empty part wins
            empty = (part == "").to_numpy()
            bc_missing |= empty
            bc_column[empty] = part_name
        buying_center = buying_center.where(~bc_missing, "")
        bc_column[~bc_missing] = "buying_center_id"
    else:
        key_texts = []
        buying_center = parse_ids(raw[cols["buying_center_id"]], float_ids=float_ids)
        bc_column = np.full(n, "buying_center_id", dtype=object)
    order_date, date_range = parse_dates(raw[cols["order_date"]], date_format=data.csv.date_format, dayfirst=data.csv.dayfirst)
    num = {"decimal": data.csv.decimal, "thousands": data.csv.thousands}
    quantity = parse_numbers(raw[cols["quantity"]], **num)
    price_cols = [c for c in ("unit_price", "net_value") if c in cols]
    price = {c: parse_numbers(raw[cols[c]], **num) for c in price_cols}

    order_prefixes = tuple(rules.return_order_prefixes)
    is_return = (quantity < 0).to_numpy() | (order_id.str.startswith(order_prefixes).to_numpy() if order_prefixes else False)
    abs_qty = quantity.abs()
    signed_qty = quantity.where(~is_return, -abs_qty)
    if "unit_price" in price:
        unit_price = price["unit_price"]
    else:  # derive from net value; a return's price is positive whatever signs the ERP wrote
        net = price["net_value"]
        nonzero = quantity.where(quantity != 0)
        unit_price = (net / nonzero).where(~is_return, net.abs() / nonzero.abs())
    if "net_value" in price:
        net_value = price["net_value"].where(~is_return, -price["net_value"].abs())
    else:
        net_value = signed_qty * unit_price
    if "is_custom" in cols:
        flags, bad_flag = parse_flags(raw[cols["is_custom"]], true_values=data.csv.true_values, false_values=data.csv.false_values)
    else:
        flags, bad_flag = pd.Series(False, index=raw.index, dtype="bool"), np.zeros(n, dtype=bool)

    # -- quarantine checks (first failing check wins) ----------------------------------------
    price_blank = {c: is_blank(raw[cols[c]]) for c in price_cols}
    bad_price_col = np.full(n, price_cols[0], dtype=object)
    bad_price = np.logical_and.reduce(list(price_blank.values()))
    for c in reversed(price_cols):
        bad = ~price_blank[c] & price[c].isna().to_numpy()
        bad_price |= bad
        bad_price_col[bad] = c
    bad_price |= ~np.isfinite(net_value.to_numpy()) & quantity.notna().to_numpy()  # finite factors, overflowing product
    master_pos = lookup_positions(variant, products["variant_id"]) if products is not None else np.zeros(n, dtype="int64")
    known = master_pos >= 0
    checks: list[tuple[str, np.ndarray, np.ndarray | str]] = [
        ("missing order id", (order_id == "").to_numpy(), "order_id"),
        ("missing buying center", (buying_center == "").to_numpy(), bc_column),
        ("missing variant", (variant == "").to_numpy(), "variant_id"),
        ("unknown variant", ~known, "variant_id"),
        ("unparseable date", order_date.isna().to_numpy() & (date_range == 0), "order_date"),
        ("date out of range", date_range != 0, "order_date"),
        ("non-numeric quantity", quantity.isna().to_numpy(), "quantity"),
        ("non-numeric price", bad_price, bad_price_col),
        ("negative price", (unit_price < 0).to_numpy(), price_cols[0]),
        ("unrecognised flag", bad_flag, "is_custom"),
    ]
    for name, failed, col in checks:
        hit = failed & active & (reason == "")
        reason[hit] = name
        column[hit] = col[hit] if isinstance(col, np.ndarray) else col
    rejected = reason != ""
    accepted = active & ~rejected
    texts = {
        "order_id": order_id, "buying_center_id": buying_center, "variant_id": variant,
        **{c: raw[cols[c]] for c in ("order_date", "quantity", "is_custom", *price_cols) if c in cols},
        **dict(zip(data.buying_center_key or [], key_texts)),
    }
    for col in set(column[rejected & ~flagged]):
        rows = np.flatnonzero((column == col) & ~flagged)
        value[rows] = as_text(texts[col].iloc[rows]).to_numpy(dtype=object)

    # -- accepted lines --------------------------------------------------------------------------
    acc_variant = variant[accepted]
    line_product = parse_ids(raw.loc[accepted, cols["product_id"]], float_ids=float_ids) if "product_id" in cols else None
    master_product = None
    if products is not None:
        acc_pos = master_pos[accepted]
        master_product = text_from_codes(products["product_id"], acc_pos, acc_variant.index)
    product_id, product_source = _product_ids(acc_variant, line_product, master_product, data.variant_to_product)
    is_custom = flags[accepted]
    if products is not None and "is_custom" in products.columns:
        is_custom = is_custom | products["is_custom"].to_numpy(dtype=bool)[acc_pos]
    bc_acc = buying_center[accepted]

    def text_or(name: str, default: pd.Series | str) -> pd.Series:
        """Canonical text column ``name`` of the accepted rows; empty or unmapped -> ``default``."""
        if name not in cols:
            return pd.Series(default, index=bc_acc.index, dtype="str")
        text = parse_ids(raw.loc[accepted, cols[name]], float_ids=float_ids) if name in ID_COLUMNS else as_text(raw.loc[accepted, cols[name]])
        return text.where(text != "", default)

    lines = pd.DataFrame(
        {
            "order_id": order_id[accepted],
            "order_line": text_or("order_line", ""),
            "order_date": order_date[accepted],
            "buying_center_id": bc_acc,
            "customer_id": text_or("customer_id", bc_acc),
            "country": text_or("country", ALL_COUNTRIES),
            "variant_id": acc_variant,
            "product_id": product_id,
            "quantity": signed_qty[accepted],
            "unit_price": unit_price[accepted],
            "net_value": net_value[accepted],
            "currency": text_or("currency", ""),
            "description": text_or("description", "").str.strip(),
            "is_custom": is_custom.astype("bool"),
            "is_return": pd.Series(is_return[accepted], index=acc_variant.index, dtype="bool"),
            "source_file": raw.loc[accepted, "source_file"].astype("str"),
            "source_row": raw.loc[accepted, "source_row"].astype("int64"),
        },
        columns=list(ORDER_LINE_COLUMNS),
    ).reset_index(drop=True)
    for c in ("order_id", "order_line", "buying_center_id", "customer_id", "country", "variant_id", "product_id", "currency", "description"):
        lines[c] = lines[c].astype("str")

    # -- quarantine and excluded rows ---------------------------------------------------------------
    quarantine = as_text_frame(raw, source_cols, rejected)
    quarantine["reason"] = pd.Series(reason[rejected], dtype="str")
    quarantine["column"] = pd.Series(column[rejected], dtype="str")
    quarantine["value"] = pd.Series(value[rejected], dtype="str")
    excluded_mask = duplicate | non_product
    excluded = as_text_frame(raw, source_cols, excluded_mask)
    excluded["rule"] = pd.Series(np.where(duplicate, RULE_DUPLICATE, RULE_NON_PRODUCT)[excluded_mask], dtype="str")
    excluded["column"] = pd.Series(np.where(duplicate, "", "variant_id")[excluded_mask], dtype="str")
    excluded["value"] = pd.Series(np.where(duplicate, "", variant.to_numpy(dtype=object))[excluded_mask], dtype="str")
    excluded["pattern"] = pd.Series(matched_pattern.to_numpy(dtype=object)[excluded_mask], dtype="str").where(
        excluded["rule"] == RULE_NON_PRODUCT, ""
    )

    pattern_counts = matched_pattern[non_product].value_counts()
    counts: dict[str, Any] = {
        "rows_read": n,
        "rows_accepted": int(accepted.sum()),
        "rows_quarantined": int(rejected.sum()),
        "rows_excluded": int(excluded_mask.sum()),
        "quarantined_by_reason": {r: int((reason == r).sum()) for r in REASONS},
        "excluded_by_rule": {RULE_DUPLICATE: int(duplicate.sum()), RULE_NON_PRODUCT: int(non_product.sum())},
        "excluded_by_pattern": {p: int(pattern_counts.get(p, 0)) for p in rules.exclude_variant_patterns},
        "product_id_source": product_source,
        "return_lines": int(lines["is_return"].sum()),
    }
    if counts["rows_read"] != counts["rows_accepted"] + counts["rows_quarantined"] + counts["rows_excluded"]:
        raise AssertionError(f"ingest lost rows: {counts}")
    return IngestResult(lines, quarantine, excluded, counts, kept_fingerprints)

