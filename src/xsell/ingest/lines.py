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
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from xsell.errors import InputDataError
from xsell.ingest.config import MAPPABLE_ORDER_LINE_COLUMNS
from xsell.ingest.mapping import resolve_columns, resolve_key_parts
from xsell.ingest.parse import (
    Coded,
    KeyIndex,
    as_text,
    is_blank,
    pair_codes,
    parse_dates,
    parse_flags,
    parse_ids,
    parse_numbers,
    text_from_codes,
    value_hashes,
)
from xsell.ingest.summary import DISTINCT_COLUMNS
from xsell.io.readers import READ_REASONS
from xsell.schema import ALL_COUNTRIES, ORDER_LINE_COLUMNS

if TYPE_CHECKING:
    from xsell.ingest.config import DataConfig, IngestConfig

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

PRODUCT_COLUMNS_USED: tuple[str, ...] = ("variant_id", "product_id", "is_custom")
"""The columns of the canonical product master that ``ingest_order_lines`` reads."""

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
    distinct: dict[str, pa.Array] = field(default_factory=dict, repr=False)
    """The distinct values of the lines' ``DISTINCT_COLUMNS`` (for ``LineStats.add``)."""


def with_provenance(raw: pd.DataFrame, source_file: str, *, first_row: int = 1) -> pd.DataFrame:
    """Add ``source_file`` and ``source_row`` (1-based data row; ``first_row`` for the first row
    of ``raw``, when it is a later batch of the file) to a freshly read frame."""
    clash = [c for c in PROVENANCE if c in raw.columns]
    if clash:
        raise InputDataError(f"source has reserved column(s) {clash}; rename them in the export", file=source_file)
    out = raw.reset_index(drop=True)
    out["source_file"] = pd.Series(source_file, index=out.index, dtype="str")
    out["source_row"] = np.arange(first_row, first_row + len(out), dtype="int64")
    return out


def row_fingerprints(raw: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """uint64 hash of each row's values in ``columns`` (sorted by name, so layout order is irrelevant)."""
    return _fingerprints({c: Coded.encode(raw[c]) for c in columns})


_HASH_MULTIPLIER = np.uint64(0x100000001B3)


def _fingerprints(coded: dict[str, Coded]) -> np.ndarray:
    """``row_fingerprints`` of dictionary-encoded columns: each distinct value is hashed once
    (``value_hashes``), the per-row hashes of the columns are combined in name order."""
    out: np.ndarray | None = None
    for name in sorted(coded):
        column = coded[name]
        hashes = column.rows(value_hashes(column.uniques))
        out = hashes if out is None else (out * _HASH_MULTIPLIER) ^ hashes
    return out if out is not None else np.empty(0, dtype="uint64")


def _source_name(raw: pd.DataFrame) -> str:
    names = raw["source_file"].unique() if "source_file" in raw.columns else []
    return ", ".join(str(n) for n in names[:3]) + (" ..." if len(names) > 3 else "") or "<order lines>"


def _first_match(values: pd.Series, patterns: list[str]) -> np.ndarray:
    """Per distinct value: the first pattern that full-matches it ("" if none)."""
    labels = np.full(len(values), "", dtype=object)
    remaining = np.ones(len(values), dtype=bool)
    for pattern in patterns:
        hit = values.str.fullmatch(pattern).to_numpy(dtype=bool) & remaining
        labels[hit] = pattern
        remaining &= ~hit
    return labels


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
    variant: pd.Series, line_product: pd.Series | None, master_product: pd.Series | None, regex: str | None,
    weights: np.ndarray,
) -> tuple[pd.Series, dict[str, int]]:
    """Product id per distinct (variant, line product) and how many lines each source decided
    (see ``PRODUCT_SOURCES``); ``weights``: the number of lines of each.

    ``master_product``: the product master's product id of each variant (``""`` = none).
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
    counts = {name: int(weights[mask].sum()) for name, mask in (("master", from_master), ("line", from_line), ("regex", from_regex))}
    counts["self"] = int(weights.sum()) - sum(counts.values())
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


def merge_sorted(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.sort(np.concatenate([sorted_set, values]))`` for an ascending ``sorted_set``: the new
    values sorted and inserted, linear in the set (sorting the whole set again per file made the
    kept fingerprints cost more with every file ingested)."""
    values = np.sort(values)
    return np.insert(sorted_set, np.searchsorted(sorted_set, values), values)


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


@dataclass(frozen=True)
class _Layout:
    """Where the canonical columns are in one raw batch."""

    file: str
    source_cols: list[str]
    cols: dict[str, str]
    """canonical name -> source column."""
    key_cols: list[str]
    """Source columns of ``data.buying_center_key`` (empty when a buying_center_id is mapped)."""
    price_cols: list[str]
    """``unit_price`` and / or ``net_value``, whichever the export has."""


def _layout(raw: pd.DataFrame, data: DataConfig) -> _Layout:
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
    return _Layout(file, source_cols, cols, key_cols, [c for c in ("unit_price", "net_value") if c in cols])



@dataclass(frozen=True)
class _Exclusions:
    """Rule 1 and 2 of the module docstring, per row."""

    duplicate: np.ndarray
    non_product: np.ndarray
    matched_pattern: np.ndarray
    """Per distinct variant (``variant.uniques``): the exclusion pattern it matches, or ``""``."""
    kept_fingerprints: np.ndarray


@dataclass(frozen=True)
class _OwnExclusions:
    """Rules 1 and 2 as far as a batch alone decides them: its rows' fingerprints (None when
    duplicates are kept), the rows repeating an earlier row of the batch, each distinct variant's
    exclusion pattern (``_with_seen`` adds the earlier batches)."""

    fingerprints: np.ndarray | None
    repeated: np.ndarray
    matched_pattern: np.ndarray


def _own_exclusions(coded: dict[str, Coded], variant: Coded, rules: IngestConfig, flagged: np.ndarray) -> _OwnExclusions:
    if rules.drop_duplicates:
        fingerprints = _fingerprints(coded)
        repeated = pd.Series(fingerprints).duplicated().to_numpy()
    else:
        fingerprints, repeated = None, np.zeros(len(flagged), dtype=bool)
    return _OwnExclusions(fingerprints, repeated, _first_match(variant.uniques, rules.exclude_variant_patterns))


def _with_seen(own: _OwnExclusions, rules: IngestConfig, flagged: np.ndarray, variant: Coded, seen: np.ndarray | None) -> _Exclusions:
    """Rules 1 and 2 with the fingerprints of the earlier batches (``seen``) added."""
    if own.fingerprints is not None:
        fingerprints, duplicate = own.fingerprints, own.repeated
        if seen is not None and len(seen):
            if not np.all(seen[:-1] <= seen[1:]):
                seen = np.sort(seen)
            duplicate = duplicate | in_sorted(fingerprints, seen)
        duplicate = duplicate & ~flagged
        kept = fingerprints[~duplicate & ~flagged]
    else:
        duplicate, kept = own.repeated, np.empty(0, dtype="uint64")
    non_product = variant.rows(own.matched_pattern != "") & ~duplicate & ~flagged
    return _Exclusions(duplicate, non_product, own.matched_pattern, kept)


@dataclass(frozen=True)
class _Parsed:
    """Every canonical value of every row (garbage where the row will be quarantined): text
    columns dictionary-encoded, numbers and dates as arrays."""

    order_id: Coded
    variant: Coded
    buying_center: Coded
    bc_column: Coded | str
    """Which column a missing buying center is reported under (a key part, or buying_center_id)."""
    key_texts: list[Coded]
    order_date: np.ndarray
    date_range: np.ndarray
    quantity: np.ndarray
    price: dict[str, np.ndarray]
    is_return: np.ndarray
    signed_qty: np.ndarray
    unit_price: np.ndarray
    net_value: np.ndarray
    flags: np.ndarray
    bad_flag: np.ndarray


def _buying_centers(coded: dict[str, Coded], layout: _Layout, data: DataConfig) -> tuple[Coded, Coded | str, list[Coded]]:
    """Buying center id per row (key parts joined with ``/``), the column to blame when it is
    missing (the first empty key part), and the parsed key parts. Key parts are joined once
    per distinct combination."""
    ids = partial(parse_ids, float_ids=data.normalize_float_ids)
    if not layout.key_cols:
        return coded[layout.cols["buying_center_id"]].map(ids), "buying_center_id", []
    parts = [coded[c].map(ids) for c in layout.key_cols]
    codes = parts[0].codes
    index = [np.arange(len(parts[0].uniques))]  # per distinct combination: the code of each part
    for part in parts[1:]:
        codes, first, second = pair_codes(codes, part.codes, len(part.uniques))
        index = [i[first] for i in index] + [second]
    key_texts = [part.uniques.iloc[i].reset_index(drop=True) for part, i in zip(parts, index, strict=True)]
    joined = key_texts[0].str.cat(key_texts[1:], sep="/") if len(key_texts) > 1 else key_texts[0]
    missing = np.zeros(len(joined), dtype=bool)
    column = np.full(len(joined), "", dtype=object)
    for part_name, part_text in zip(reversed(data.buying_center_key or []), reversed(key_texts)):  # first empty part wins
        empty = (part_text == "").to_numpy()
        missing |= empty
        column[empty] = part_name
    column[~missing] = "buying_center_id"
    return Coded(codes, joined.where(~missing, "")), Coded(codes, pd.Series(column)), [Coded(codes, t) for t in key_texts]


def _parse(coded: dict[str, Coded], layout: _Layout, variant: Coded, data: DataConfig, rules: IngestConfig) -> _Parsed:
    cols, n = layout.cols, len(variant)
    order_id = coded[cols["order_id"]].map(partial(parse_ids, float_ids=data.normalize_float_ids))
    buying_center, bc_column, key_texts = _buying_centers(coded, layout, data)
    dates = coded[cols["order_date"]]
    day, sign = parse_dates(dates.uniques, date_format=data.csv.date_format, dayfirst=data.csv.dayfirst)
    order_date, date_range = dates.rows(day.to_numpy()), dates.rows(sign)

    def numbers(col: str) -> np.ndarray:
        column = coded[cols[col]]
        return column.rows(parse_numbers(column.uniques, decimal=data.csv.decimal, thousands=data.csv.thousands).to_numpy())

    quantity = numbers("quantity")
    price = {c: numbers(c) for c in layout.price_cols}
    prefixes = tuple(rules.return_order_prefixes)
    is_return = (quantity < 0) | (order_id.rows(order_id.uniques.str.startswith(prefixes).to_numpy(dtype=bool)) if prefixes else False)
    signed_qty = np.where(~is_return, quantity, -np.abs(quantity))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if "unit_price" in price:
            unit_price = price["unit_price"]
        else:  # derive from net value; a return's price is positive whatever signs the ERP wrote
            net, nonzero = price["net_value"], np.where(quantity != 0, quantity, np.nan)
            unit_price = np.where(~is_return, net / nonzero, np.abs(net) / np.abs(nonzero))
        net_value = np.where(~is_return, price["net_value"], -np.abs(price["net_value"])) if "net_value" in price else signed_qty * unit_price
    if "is_custom" in cols:
        column = coded[cols["is_custom"]]
        flags, bad_flag = parse_flags(column.uniques, true_values=data.csv.true_values, false_values=data.csv.false_values)
        flags, bad_flag = column.rows(flags.to_numpy(dtype=bool)), column.rows(bad_flag)
    else:
        flags, bad_flag = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    return _Parsed(
        order_id, variant, buying_center, bc_column, key_texts, order_date, date_range, quantity, price,
        is_return, signed_qty, unit_price, net_value, flags, bad_flag,
    )  # fmt: skip


def _price_problems(coded: dict[str, Coded], layout: _Layout, p: _Parsed) -> tuple[np.ndarray, Coded]:
    """Rows whose price is blank in every price column, not a number, or overflows with the
    quantity; and the price column to blame (per row, as codes of ``layout.price_cols``)."""
    blank = {c: coded[layout.cols[c]].rows(is_blank(coded[layout.cols[c]].uniques)) for c in layout.price_cols}
    which = np.zeros(len(p.quantity), dtype="int8")
    bad = np.logical_and.reduce(list(blank.values()))
    for i, c in reversed(list(enumerate(layout.price_cols))):
        wrong = ~blank[c] & np.isnan(p.price[c])
        bad |= wrong
        which[wrong] = i
    bad |= ~np.isfinite(p.net_value) & ~np.isnan(p.quantity)  # finite factors, overflowing product
    return bad, Coded(which, pd.Series(layout.price_cols, dtype=object))


def _empty(text: Coded) -> np.ndarray:
    return text.rows((text.uniques == "").to_numpy(dtype=bool))


def _checks(coded: dict[str, Coded], layout: _Layout, p: _Parsed, known: np.ndarray) -> dict[str, tuple[np.ndarray, Coded | str]]:
    """Every quarantine check of ``REASONS`` after the reader's own: reason -> (failing rows,
    column to blame). Keys are exactly the reasons, in their priority order."""
    bad_price, bad_price_col = _price_problems(coded, layout, p)
    checks: dict[str, tuple[np.ndarray, Coded | str]] = {
        "missing order id": (_empty(p.order_id), "order_id"),
        "missing buying center": (_empty(p.buying_center), p.bc_column),
        "missing variant": (_empty(p.variant), "variant_id"),
        "unknown variant": (~known, "variant_id"),
        "unparseable date": (np.isnat(p.order_date) & (p.date_range == 0), "order_date"),
        "date out of range": (p.date_range != 0, "order_date"),
        "non-numeric quantity": (np.isnan(p.quantity), "quantity"),
        "non-numeric price": (bad_price, bad_price_col),
        "negative price": (p.unit_price < 0, layout.price_cols[0]),
        "unrecognised flag": (p.bad_flag, "is_custom"),
    }
    assert tuple(checks) == REASONS[len(READ_REASONS):], "the checks must follow REASONS"
    return checks


def _assemble(
    coded: dict[str, Coded], raw: pd.DataFrame, layout: _Layout, p: _Parsed, accepted: np.ndarray,
    products: pd.DataFrame | None, variant_pos: np.ndarray, data: DataConfig,
) -> tuple[pd.DataFrame, dict[str, int], dict[str, pa.Array]]:
    """The accepted rows as canonical lines (``ORDER_LINE_COLUMNS``), the product-id sources and
    the distinct values of ``DISTINCT_COLUMNS``.
    Text columns are gathered from their distinct values in Arrow; ``variant_pos``: the product
    master row of each distinct variant (-1 = none)."""
    cols, float_ids = layout.cols, data.normalize_float_ids
    variant_codes = p.variant.codes[accepted]
    # the product id depends on the variant and the line's own product id only: decided per distinct pair
    line = coded[cols["product_id"]].map(partial(parse_ids, float_ids=float_ids)) if "product_id" in cols else None
    line_codes = line.codes[accepted] if line is not None else np.zeros_like(variant_codes)
    pairs, by_variant, by_line = pair_codes(variant_codes, line_codes, len(line.uniques) if line is not None else 1)
    variant = p.variant.uniques.iloc[by_variant].reset_index(drop=True)
    master_product = text_from_codes(products["product_id"], variant_pos[by_variant], variant.index) if products is not None else None
    line_product = line.uniques.iloc[by_line].reset_index(drop=True) if line is not None else None
    weights = np.bincount(pairs, minlength=len(variant))
    product_id, product_source = _product_ids(variant, line_product, master_product, data.variant_to_product, weights)
    is_custom = p.flags[accepted]
    if products is not None and "is_custom" in products.columns:
        is_custom = is_custom | products["is_custom"].to_numpy(dtype=bool)[variant_pos[variant_codes]]
    def rows(column: Coded) -> Coded:
        return Coded(column.codes[accepted], column.uniques)

    bc = rows(p.buying_center)

    def text_or(name: str, default: Coded | str, strip: bool = False) -> Coded:
        """Canonical text column ``name`` of the accepted rows; empty or unmapped -> ``default``."""
        if name not in cols:
            return Coded(np.zeros(len(bc), dtype="int64"), pd.Series([default], dtype="str")) if isinstance(default, str) else default
        column = rows(coded[cols[name]])
        text = parse_ids(column.uniques, float_ids=float_ids) if name in ID_COLUMNS else as_text(column.uniques)
        if isinstance(default, str):
            text = text.where(text != "", default)
            return Coded(column.codes, text.str.strip() if strip else text)
        empty = column.rows((text == "").to_numpy(dtype=bool))
        return Coded(np.where(empty, len(text) + default.codes, column.codes), pd.concat([text, default.uniques], ignore_index=True))

    texts = {
        "order_id": rows(p.order_id), "order_line": text_or("order_line", ""), "buying_center_id": bc,
        "customer_id": text_or("customer_id", bc), "country": text_or("country", ALL_COUNTRIES), "variant_id": rows(p.variant),
        "product_id": Coded(pairs, product_id), "currency": text_or("currency", ""),
        "description": text_or("description", "", strip=True), "source_file": rows(Coded.encode(raw["source_file"])),
    }  # fmt: skip
    values = {
        "order_date": p.order_date[accepted].astype("datetime64[ns]"), "quantity": p.signed_qty[accepted],
        "unit_price": p.unit_price[accepted], "net_value": p.net_value[accepted], "is_custom": is_custom.astype("bool"),
        "is_return": p.is_return[accepted].astype("bool"), "source_row": raw["source_row"].to_numpy(dtype="int64")[accepted],
    }  # fmt: skip
    lines = pd.DataFrame({c: pd.array(texts[c].arrow(), dtype="str") if c in texts else values[c] for c in ORDER_LINE_COLUMNS}, columns=list(ORDER_LINE_COLUMNS))
    distinct = {c: texts[c].present() for c in DISTINCT_COLUMNS}
    return lines, product_source, distinct


def _excluded_frame(raw: pd.DataFrame, layout: _Layout, ex: _Exclusions, variant: Coded) -> pd.DataFrame:
    mask = ex.duplicate | ex.non_product
    frame = as_text_frame(raw, layout.source_cols, mask)
    duplicate = ex.duplicate[mask]
    codes = variant.codes[mask]
    frame["rule"] = pd.Series(np.where(duplicate, RULE_DUPLICATE, RULE_NON_PRODUCT), dtype="str")
    frame["column"] = pd.Series(np.where(duplicate, "", "variant_id"), dtype="str")
    frame["value"] = pd.Series(np.where(duplicate, "", variant.uniques.to_numpy(dtype=object)[codes]), dtype="str")
    frame["pattern"] = pd.Series(ex.matched_pattern[codes], dtype="str").where(frame["rule"] == RULE_NON_PRODUCT, "")
    return frame


def ingest_order_lines(
    raw: pd.DataFrame,
    data: DataConfig,
    rules: IngestConfig,
    products: pd.DataFrame | None = None,
    *,
    seen_fingerprints: np.ndarray | None = None,
    unreadable: pd.DataFrame | None = None,
    product_index: KeyIndex | None = None,
) -> IngestResult:
    """Validate and map one batch of raw order lines (source columns + ``PROVENANCE``) by the
    rules of the module docstring: exclude, parse, quarantine (``REASONS`` in order), assemble.

    ``products``: the canonical product master (``canonical_product_master``), or None.
    ``seen_fingerprints``: fingerprints of rows kept from earlier files (cross-file duplicates);
    pass them sorted ascending to spare a sort per batch. ``unreadable``: the reader's issues
    (``RawFile.issues``); those rows are quarantined with the reader's reason. ``product_index``:
    ``KeyIndex`` of ``products["variant_id"]``, built once for all batches (else per call).

    Every source column is dictionary-encoded once (``Coded``): values are parsed, checked and
    hashed per distinct value, never per row in Python. ``prepare_batch`` then ``finish_batch``:
    a caller may prepare the next batch while it finishes this one.
    """
    batch = prepare_batch(raw, data, rules, products, unreadable=unreadable, product_index=product_index)
    return finish_batch(batch, seen_fingerprints=seen_fingerprints)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch of raw order lines with everything ``ingest_order_lines`` finds in it alone (the
    columns encoded and parsed, the checks run); ``finish_batch`` adds the earlier batches'
    fingerprints (cross-file duplicates) and makes the result."""

    raw: pd.DataFrame
    data: DataConfig
    rules: IngestConfig
    products: pd.DataFrame | None
    layout: _Layout
    unread: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    coded: dict[str, Coded]
    variant: Coded
    own: _OwnExclusions
    parsed: _Parsed
    variant_pos: np.ndarray
    checks: dict[str, tuple[np.ndarray, Coded | str]]


def prepare_batch(
    raw: pd.DataFrame,
    data: DataConfig,
    rules: IngestConfig,
    products: pd.DataFrame | None = None,
    *,
    unreadable: pd.DataFrame | None = None,
    product_index: KeyIndex | None = None,
) -> PreparedBatch:
    """The part of ``ingest_order_lines`` that needs no earlier batch (same arguments)."""
    layout = _layout(raw, data)
    unread = unreadable_rows(len(raw), unreadable)
    coded = {c: Coded.encode(raw[c]) for c in layout.source_cols}
    variant = coded[layout.cols["variant_id"]].map(partial(parse_ids, float_ids=data.normalize_float_ids))
    own = _own_exclusions(coded, variant, rules, unread[0])
    parsed = _parse(coded, layout, variant, data, rules)
    if products is not None:
        index = product_index if product_index is not None else KeyIndex(products["variant_id"])
        variant_pos = index.positions(variant.uniques)
    else:
        variant_pos = np.zeros(len(variant.uniques), dtype="int64")
    checks = _checks(coded, layout, parsed, variant.rows(variant_pos >= 0))
    return PreparedBatch(raw, data, rules, products, layout, unread, coded, variant, own, parsed, variant_pos, checks)


def finish_batch(batch: PreparedBatch, *, seen_fingerprints: np.ndarray | None = None) -> IngestResult:
    """``ingest_order_lines`` of a prepared batch, ``seen_fingerprints`` as there."""
    raw, data, rules, products, layout = batch.raw, batch.data, batch.rules, batch.products, batch.layout
    coded, variant, parsed, variant_pos = batch.coded, batch.variant, batch.parsed, batch.variant_pos
    n = len(raw)
    flagged = batch.unread[0]
    reason, column, value = (a.copy() for a in batch.unread[1:])  # filled below; the batch stays as prepared
    ex = _with_seen(batch.own, rules, flagged, variant, seen_fingerprints)
    active = ~ex.duplicate & ~ex.non_product
    rejected = flagged.copy()
    for name, (failed, col) in batch.checks.items():
        hit = failed & active & ~rejected
        reason[hit] = name
        column[hit] = col.uniques.to_numpy(dtype=object)[col.codes[hit]] if isinstance(col, Coded) else col
        rejected |= hit
    accepted = active & ~rejected
    texts: dict[str, Coded] = {
        "order_id": parsed.order_id, "buying_center_id": parsed.buying_center, "variant_id": variant,
        **{c: coded[layout.cols[c]] for c in ("order_date", "quantity", "is_custom", *layout.price_cols) if c in layout.cols},
        **dict(zip(data.buying_center_key or [], parsed.key_texts)),
    }  # fmt: skip
    checked = np.flatnonzero(rejected & ~flagged)
    for col in set(column[checked]):
        rows = checked[column[checked] == col]
        value[rows] = as_text(texts[col].uniques.take(texts[col].codes[rows])).to_numpy(dtype=object)
    lines, product_source, distinct = _assemble(coded, raw, layout, parsed, accepted, products, variant_pos, data)

    quarantine = as_text_frame(raw, layout.source_cols, rejected)
    for name, values in (("reason", reason), ("column", column), ("value", value)):
        quarantine[name] = pd.Series(values[rejected], dtype="str")
    excluded = _excluded_frame(raw, layout, ex, variant)
    by_reason = pd.Series(reason[rejected]).value_counts()
    by_pattern = pd.Series(ex.matched_pattern[variant.codes[ex.non_product]]).value_counts()
    counts: dict[str, Any] = {
        "rows_read": n,
        "rows_accepted": int(accepted.sum()),
        "rows_quarantined": int(rejected.sum()),
        "rows_excluded": len(excluded),
        "quarantined_by_reason": {r: int(by_reason.get(r, 0)) for r in REASONS},
        "excluded_by_rule": {RULE_DUPLICATE: int(ex.duplicate.sum()), RULE_NON_PRODUCT: int(ex.non_product.sum())},
        "excluded_by_pattern": {p: int(by_pattern.get(p, 0)) for p in rules.exclude_variant_patterns},
        "product_id_source": product_source,
        "return_lines": int(lines["is_return"].sum()),
    }
    if counts["rows_read"] != counts["rows_accepted"] + counts["rows_quarantined"] + counts["rows_excluded"]:
        raise AssertionError(f"ingest lost rows: {counts}")
    return IngestResult(lines, quarantine, excluded, counts, ex.kept_fingerprints, distinct)
