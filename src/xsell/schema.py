"""Canonical column names and the table contracts other tools depend on."""

from __future__ import annotations

# -- canonical order lines (written by ingest to <workdir>/canonical/order_lines.parquet) ----
ORDER_LINE_COLUMNS: tuple[str, ...] = (
    "order_id",  # str
    "order_line",  # str (may be empty)
    "order_date",  # datetime64[ns]
    "buying_center_id",  # str
    "customer_id",  # str (defaults to buying_center_id)
    "country",  # str (default "ALL")
    "variant_id",  # str
    "product_id",  # str
    "quantity",  # float64, negative for returns
    "unit_price",  # float64
    "net_value",  # float64 = quantity * unit_price when not given
    "currency",  # str (may be empty)
    "description",  # str, the line's material text, trimmed (may be empty); names inferred products
    "is_custom",  # bool
    "is_return",  # bool (negative quantity or return order prefix)
    "source_file",  # str
    "source_row",  # int64, 1-based data row number in source_file (header not counted)
)
REQUIRED_ORDER_LINE_COLUMNS: tuple[str, ...] = ("order_id", "order_date", "buying_center_id", "variant_id", "quantity")
MODEL_LINE_COLUMNS: tuple[str, ...] = tuple(
    c for c in ORDER_LINE_COLUMNS if c not in ("order_line", "currency", "description", "source_file", "source_row")
)
"""The order-line columns the learning and table stages (train, evaluate, score, recommend) read:
line numbers, texts and provenance serve ingest, publish and monitoring only (at 20M lines
they are ~40% of the table's memory)."""
LEARNING_LINE_COLUMNS: tuple[str, ...] = tuple(c for c in MODEL_LINE_COLUMNS if c not in ("customer_id", "unit_price"))
"""The order-line columns the learning stages (train, evaluate, score) read: the matrices' columns
and the country (``buyer_countries``). The customer id and the unit price serve the tables only
(at 20M lines ~420 MiB)."""

# -- canonical product master (<workdir>/canonical/products.parquet), one row per variant ---
PRODUCT_COLUMNS: tuple[str, ...] = (
    "variant_id",
    "product_id",
    "family",
    "list_price",  # float64, typical unit price
    "status",  # "active" | "discontinued"
    "discontinued_on",  # datetime64 or NaT
    "countries",  # str, ";"-joined assortment; empty = everywhere
    "name",
    "is_custom",
)

# -- canonical customer master (<workdir>/canonical/customers.parquet) ----------------------
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "buying_center_id", "customer_id", "country", "segment",
    "customer_name",  # str, the customer's name (may be empty): the sales workbooks show it before ids
    "sales_rep",  # str, sales representative or territory (may be empty): one workbook per rep
)

ALL_COUNTRIES = "ALL"

# -- suggestion tables (contract: names and column order; extra columns only at the end) ----
CROSS_SELL_COLUMNS: tuple[str, ...] = (
    "country", "product_id", "rank", "rec_product_id", "rec_variant_id", "score",
    "support", "confidence", "lift", "source", "reason",
)
UP_SELL_COLUMNS: tuple[str, ...] = (
    "country", "product_id", "rank", "rec_product_id", "rec_variant_id", "score",
    "price_ratio", "source", "reason",
)
BUYING_CENTER_COLUMNS: tuple[str, ...] = (
    "country", "customer_id", "buying_center_id", "rank", "kind", "product_id", "variant_id",
    "anchor_product_id", "score", "expected_value", "reason",
)
TABLES: dict[str, tuple[str, ...]] = {
    "cross_sell": CROSS_SELL_COLUMNS,
    "up_sell": UP_SELL_COLUMNS,
    "buying_center_suggestions": BUYING_CENTER_COLUMNS,
}

# -- rules export (xsell rules --out) -------------------------------------------------------
RULE_COLUMNS: tuple[str, ...] = (
    "antecedent", "consequent", "count", "support", "confidence", "lift", "leverage", "conviction",
)

# -- evaluation metrics (long form) ---------------------------------------------------------
METRIC_COLUMNS: tuple[str, ...] = ("model", "target", "country", "k", "metric", "value")
