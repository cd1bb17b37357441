"""Config sections ``data`` (where the export is and how its columns map) and ``ingest`` (rules)."""

from __future__ import annotations

import codecs
import re

from pydantic import Field, field_validator, model_validator

from xsell.configbase import ConfigGlob, ConfigPath, StrictModel, did_you_mean
from xsell.schema import CUSTOMER_COLUMNS, ORDER_LINE_COLUMNS, PRODUCT_COLUMNS

MAPPABLE_ORDER_LINE_COLUMNS: tuple[str, ...] = tuple(
    c for c in ORDER_LINE_COLUMNS if c not in ("is_return", "source_file", "source_row")
)
"""Canonical order-line columns a source column can be mapped onto (the rest are derived)."""


def _check_keys(mapping: dict[str, str], allowed: tuple[str, ...], what: str) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown canonical {what} column(s) {unknown}; expected some of {list(allowed)}{did_you_mean(unknown[0], allowed)}"
        )
    return mapping


def _check_regex(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    if compiled.groups < 1:
        raise ValueError(f"regex {value!r} needs a capture group (its first group is the result)")
    return value


TRUE_VALUES: tuple[str, ...] = ("x", "1", "1.0", "true", "t", "yes", "y", "ja", "j", "wahr")
"""Default ``data.csv.true_values``."""
FALSE_VALUES: tuple[str, ...] = ("0", "0.0", "false", "f", "no", "n", "nein", "falsch")
"""Default ``data.csv.false_values``."""


class CsvOptions(StrictModel):
    """How to read CSV files that real ERPs produce (the value formats apply to text columns of
    Parquet files too)."""

    sep: str | None = None
    """Field separator, one character; ``null`` sniffs ``,`` ``;`` tab and ``|`` from the header line."""
    decimal: str = "."
    """Decimal mark of numeric columns (``,`` for many European exports)."""
    thousands: str | None = None
    """Thousands separator of numeric columns, if any (e.g. ``.`` with ``decimal: ","``)."""
    encoding: str = "auto"
    """File encoding (any Python codec name, e.g. ``cp1252``, ``latin-1``, ``utf-8``); ``auto`` decides
    per file: UTF-8 (with or without BOM) when most of its non-ASCII text is valid UTF-8, the rows
    with undecodable bytes are then quarantined (``undecodable bytes``); cp1252 otherwise.
    ``ingest_summary.json`` names the encoding each file was read with."""
    date_format: str | None = None
    """strftime format of ``order_date`` (e.g. ``%d.%m.%Y``); ``null`` parses ISO-like dates."""
    dayfirst: bool = False
    """With no ``date_format``: read ``01/02/2024`` as 1 February (ISO dates such as
    ``2024-01-04`` are still read year-month-day)."""
    true_values: list[str] = Field(default_factory=lambda: list(TRUE_VALUES))
    """Flag values (``is_custom``) read as true, case-insensitive."""
    false_values: list[str] = Field(default_factory=lambda: list(FALSE_VALUES))
    """Flag values read as false, case-insensitive; an empty field is false too. A value in
    neither list is quarantined (``unrecognised flag``), never guessed."""

    @field_validator("sep")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError(f"sep must be exactly one character (or null to sniff it), got {v!r}")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        if v != "auto":
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r}; use auto or a codec name such as utf-8, cp1252, latin-1") from None
        return v

    @model_validator(mode="after")
    def _disjoint_flags(self) -> CsvOptions:
        both = sorted({v.lower() for v in self.true_values} & {v.lower() for v in self.false_values})
        if both:
            raise ValueError(f"true_values and false_values share {both}")
        return self


class DataConfig(StrictModel):
    """Where the ERP export lives and how its columns map onto canonical names."""

    order_lines: ConfigGlob
    """Order-line export: one file or a glob (CSV, CSV.gz, Parquet)."""
    origin: str | None = None
    """Where the export comes from (a download address, the ERP job that writes it); named in
    the error when no input file matches."""
    products: ConfigPath | None = None
    """Optional product master, one row per variant. When given it is the authority: an order line
    whose variant is absent is quarantined as ``unknown variant`` (the regex is not consulted)."""
    customers: ConfigPath | None = None
    """Optional customer master, one row per buying center."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Canonical order-line column -> source column. Unmapped canonical names are looked up as is."""
    product_columns: dict[str, str] = Field(default_factory=dict)
    """Canonical product-master column -> source column."""
    customer_columns: dict[str, str] = Field(default_factory=dict)
    """Canonical customer-master column -> source column."""
    buying_center_key: list[str] | None = None
    """Build ``buying_center_id`` by joining these columns (canonical or source names) with ``/``,
    in the order lines and the customer master alike. It replaces a ``buying_center_id`` column;
    a line with an empty part is quarantined as ``missing buying center``."""
    variant_to_product: str | None = None
    """Regex whose first group is the product id of a variant id (e.g. ``^(\\d{5})[A-Za-z]*$``)."""
    family_rule: str | None = None
    """Without a product master: regex whose first group is the family of a product id."""
    normalize_float_ids: bool = True
    """Read float-formatted numeric ids such as ``17850.0`` as ``17850`` (spreadsheet exports)."""
    csv: CsvOptions = Field(default_factory=CsvOptions)
    """CSV dialect options (order lines and both masters)."""

    @field_validator("columns")
    @classmethod
    def _order_line_keys(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_keys(v, MAPPABLE_ORDER_LINE_COLUMNS, "order-line")

    @field_validator("product_columns")
    @classmethod
    def _product_keys(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_keys(v, PRODUCT_COLUMNS, "product-master")

    @field_validator("customer_columns")
    @classmethod
    def _customer_keys(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_keys(v, CUSTOMER_COLUMNS, "customer-master")

    @field_validator("variant_to_product", "family_rule")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_regex(v)


class IngestConfig(StrictModel):
    """Rules the ingest applies; each one is counted in ``ingest_summary.json``."""

    max_rejected_share: float = Field(0.05, ge=0.0, le=1.0)
    """Fail the run (exit 3) when more than this share of the rows read is quarantined
    (excluded rows count as read, not as rejected). Quarantine and summary are written first."""
    return_order_prefixes: list[str] = Field(default_factory=list)
    """Order ids starting with one of these mark returns/cancellations (e.g. ``["C"]``)."""
    exclude_variant_patterns: list[str] = Field(default_factory=list)
    """Regexes (full match) of non-product variant ids: postage, fees, manual adjustments."""
    drop_duplicates: bool = True
    """Drop exact duplicate source lines (counted)."""

    @field_validator("exclude_variant_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return v
