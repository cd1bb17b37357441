"""``ingest_summary.json``: what the ingest read, kept, quarantined and excluded, and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

COUNT_KEYS: tuple[str, ...] = ("rows_read", "rows_accepted", "rows_quarantined", "rows_excluded")


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest run; ``rows_read == rows_accepted + rows_quarantined + rows_excluded``."""

    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_excluded: int
    quarantined_by_reason: dict[str, int]
    excluded_by_rule: dict[str, int]
    excluded_by_pattern: dict[str, int]
    product_id_source: dict[str, int]
    return_lines: int
    quarantine_share: float
    """rows_quarantined / rows_read (compared with ``ingest.max_rejected_share``)."""
    max_rejected_share: float
    date_min: str | None
    date_max: str | None
    n_buying_centers: int
    n_customers: int
    n_countries: int
    n_products: int
    n_variants: int
    custom_share: float
    """Share of accepted sales lines (returns not counted) that are custom-made variants."""
    products_inferred: bool
    """True when no product master was given and products.parquet was inferred from the lines."""
    customers_inferred: bool
    products: dict[str, Any] = field(default_factory=dict)
    customers: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    """Per order-line file: file, rows_read, rows_accepted, rows_quarantined, rows_excluded,
    date_min, date_max (of its accepted lines)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (the content of ``ingest_summary.json``)."""
        return asdict(self)


def merge_counts(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum per-batch ``IngestResult.counts`` (ints add up; nested dicts add up key by key)."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, Mapping):
                bucket = total.setdefault(key, {})
                for k, v in value.items():
                    bucket[k] = bucket.get(k, 0) + v
            else:
                total[key] = total.get(key, 0) + value
    return total


def line_stats(lines: pd.DataFrame) -> dict[str, Any]:
    """What the summary reports about the accepted canonical lines: first and last order date,
    distinct buying centers / customers / countries / products / variants, and the custom-made
    share of the sales lines (``xsell.spark.ingest.line_stats`` computes the same on Spark)."""
    has_lines = len(lines) > 0
    return {
        "date_min": str(lines["order_date"].min()) if has_lines else None,
        "date_max": str(lines["order_date"].max()) if has_lines else None,
        "n_buying_centers": int(lines["buying_center_id"].nunique()),
        "n_customers": int(lines["customer_id"].nunique()),
        "n_countries": int(lines["country"].nunique()),
        "n_products": int(lines["product_id"].nunique()),
        "n_variants": int(lines["variant_id"].nunique()),
        "custom_share": float(lines.loc[~lines["is_return"], "is_custom"].mean()) if (~lines["is_return"]).any() else 0.0,
    }


def summarize(
    counts: Mapping[str, Any],
    lines: pd.DataFrame,
    *,
    files: list[dict[str, Any]],
    products: Mapping[str, Any],
    customers: Mapping[str, Any],
    max_rejected_share: float,
) -> IngestSummary:
    """Assemble the summary from merged counts and the accepted canonical lines."""
    return summary_from_stats(
        counts, line_stats(lines), files=files, products=products, customers=customers, max_rejected_share=max_rejected_share
    )


def summary_from_stats(
    counts: Mapping[str, Any],
    stats: Mapping[str, Any],
    *,
    files: list[dict[str, Any]],
    products: Mapping[str, Any],
    customers: Mapping[str, Any],
    max_rejected_share: float,
) -> IngestSummary:
    """Assemble the summary from merged counts and ``line_stats`` of the accepted lines."""
    read = int(counts["rows_read"])
    if read != counts["rows_accepted"] + counts["rows_quarantined"] + counts["rows_excluded"]:
        raise AssertionError(f"ingest lost rows: {dict(counts)}")
    return IngestSummary(
        rows_read=read,
        rows_accepted=int(counts["rows_accepted"]),
        rows_quarantined=int(counts["rows_quarantined"]),
        rows_excluded=int(counts["rows_excluded"]),
        quarantined_by_reason=dict(counts["quarantined_by_reason"]),
        excluded_by_rule=dict(counts["excluded_by_rule"]),
        excluded_by_pattern=dict(counts["excluded_by_pattern"]),
        product_id_source=dict(counts["product_id_source"]),
        return_lines=int(counts["return_lines"]),
        quarantine_share=counts["rows_quarantined"] / read if read else 0.0,
        max_rejected_share=max_rejected_share,
        **stats,
        products_inferred=bool(products.get("inferred")),
        customers_inferred=bool(customers.get("inferred")),
        products=dict(products),
        customers=dict(customers),
        files=list(files),
    )
