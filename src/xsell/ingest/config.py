"""Config sections ``data`` (where the export is and how its columns map) and ``ingest`` (rules)."""

from __future__ import annotations

from pydantic import Field

from xsell.configbase import ConfigGlob, ConfigPath, StrictModel


class CsvOptions(StrictModel):
    """How to read CSV files that real ERPs produce."""

    sep: str | None = None
    """Field separator; ``null`` sniffs ``,`` ``;`` tab and ``|`` from the header line."""
    decimal: str = "."
    """Decimal mark of numeric columns (``,`` for many European exports)."""
    thousands: str | None = None
    """Thousands separator of numeric columns, if any (e.g. ``.`` with ``decimal: ","``)."""
    encoding: str = "auto"
    """File encoding; ``auto`` tries UTF-8 (with or without BOM), then cp1252."""
    date_format: str | None = None
    """strftime format of ``order_date`` (e.g. ``%d.%m.%Y``); ``null`` parses ISO-like dates."""
    dayfirst: bool = False
    """With no ``date_format``: read ``01/02/2024`` as 1 February."""


class DataConfig(StrictModel):
    """Where the ERP export lives and how its columns map onto canonical names."""

    order_lines: ConfigGlob
    """Order-line export: one file or a glob (CSV, CSV.gz, Parquet)."""
    products: ConfigPath | None = None
    """Optional product master, one row per variant."""
    customers: ConfigPath | None = None
    """Optional customer master, one row per buying center."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Canonical order-line column -> source column. Unmapped canonical names are looked up as is."""
    product_columns: dict[str, str] = Field(default_factory=dict)
    """Canonical product-master column -> source column."""
    customer_columns: dict[str, str] = Field(default_factory=dict)
    """Canonical customer-master column -> source column."""
    buying_center_key: list[str] | None = None
    """Build ``buying_center_id`` by joining these columns (canonical or source names) with ``/``."""
    variant_to_product: str | None = None
    """Regex whose first group is the product id of a variant id (e.g. ``^(\\d{5})[A-Za-z]*$``)."""
    family_rule: str | None = None
    """Without a product master: regex whose first group is the family of a product id."""
    csv: CsvOptions = Field(default_factory=CsvOptions)
    """CSV dialect options."""


class IngestConfig(StrictModel):
    """Rules the ingest applies; each one is counted in ``ingest_summary.json``."""

    max_rejected_share: float = Field(0.05, ge=0.0, le=1.0)
    """Fail the run (exit 3) when more than this share of rows is quarantined."""
    return_order_prefixes: list[str] = Field(default_factory=list)
    """Order ids starting with one of these mark returns/cancellations (e.g. ``["C"]``)."""
    exclude_variant_patterns: list[str] = Field(default_factory=list)
    """Regexes (full match) of non-product variant ids: postage, fees, manual adjustments."""
    drop_duplicates: bool = True
    """Drop exact duplicate source lines (counted)."""
