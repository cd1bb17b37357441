"""Config section ``publish``: where and how published runs are written, and the guardrails."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from xsell.configbase import ConfigPath, StrictModel

TableName = Literal["cross_sell", "up_sell", "buying_center_suggestions"]


class GuardrailsConfig(StrictModel):
    """Checks a run must pass before ``latest`` moves to it (a failure exits 4)."""

    min_rows: dict[TableName, int] = Field(
        default_factory=lambda: {"cross_sell": 1, "up_sell": 1, "buying_center_suggestions": 1}
    )
    """Minimum rows per table (all countries together); tables not listed are not checked."""
    min_coverage: dict[TableName, float] = Field(
        default_factory=lambda: {"cross_sell": 0.1, "up_sell": 0.0, "buying_center_suggestions": 0.25}
    )
    """Minimum share of sellable products (active, not custom-made, in the product master) with
    at least one row in ``cross_sell`` / ``up_sell``, and of buying centers in the customer master
    with at least one row in ``buying_center_suggestions`` (skipped without a customer master)."""
    max_churn: float = Field(0.5, ge=0.0, le=1.0)
    """Largest allowed churn against the previous published run: per (table, country, product) the
    share of its previous top-``churn_top_k`` links that are gone, averaged over those products.
    Checked on ``cross_sell`` and ``up_sell``; skipped when there is no previous run."""
    churn_top_k: int = Field(10, ge=1)
    """How many top-ranked links per product the churn check compares."""


class PublishConfig(StrictModel):
    """Versioned, atomic output folders for sales ops and the shop."""

    outputs: ConfigPath = Path("outputs")
    """Root of the published runs: ``<outputs>/runs/<run_id>/`` and ``<outputs>/latest``."""
    formats: list[Literal["csv", "parquet", "xlsx", "jsonl", "magento"]] = Field(
        default_factory=lambda: ["csv", "parquet", "xlsx", "jsonl", "magento"]
    )
    """Which files to write."""
    keep_runs: int = Field(10, ge=1)
    """Retention: keep the newest N runs (never the one ``latest`` points to)."""
    shop_country: str = "ALL"
    """Country whose ``cross_sell`` / ``up_sell`` rows go into the shop files (``shop/``)."""
    shop_sku: Literal["product_id", "variant_id"] = "product_id"
    """Which id is the shop SKU: ``product_id`` (Magento parent product, the default) or
    ``variant_id`` (each product's representative variant; links point at ``rec_variant_id``)."""
    csv_bom: bool = True
    """Start the table CSVs with a UTF-8 BOM so Excel reads umlauts right; the Magento import
    file never has one."""
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    """Checks before ``latest`` moves."""
