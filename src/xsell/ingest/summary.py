"""``ingest_summary.json``: what the ingest read, kept, quarantined and excluded, and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from xsell.ingest.parse import KeyIndex

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


_DISTINCT: tuple[tuple[str, str], ...] = (
    ("n_buying_centers", "buying_center_id"), ("n_customers", "customer_id"), ("n_countries", "country"),
    ("n_products", "product_id"), ("n_variants", "variant_id"),
)  # fmt: skip
DISTINCT_COLUMNS: tuple[str, ...] = tuple(col for _, col in _DISTINCT)
"""Line columns whose distinct values the summary counts."""


class LineStats:
    """``line_stats`` accumulated batch by batch (``add``), so the accepted lines need not be
    held together: the date range, the distinct ids (a ``KeyIndex`` each, so a batch hashes only
    its own distinct values, not all seen before) and the custom-made
    count of the sales lines."""

    def __init__(self) -> None:
        self._first: pd.Timestamp | None = None
        self._last: pd.Timestamp | None = None
        self._distinct: dict[str, KeyIndex] = {col: KeyIndex() for col in DISTINCT_COLUMNS}
        self._sales = self._custom = 0

    def add(self, lines: pd.DataFrame, distinct: Mapping[str, pa.Array] | None = None) -> LineStats:
        """Take one batch of canonical lines into account; returns ``self``. ``distinct``: the
        batch's distinct values of ``DISTINCT_COLUMNS`` when known (``IngestResult.distinct``)."""
        if len(lines):
            first, last = lines["order_date"].min(), lines["order_date"].max()
            self._first = first if self._first is None else min(self._first, first)
            self._last = last if self._last is None else max(self._last, last)
        for _, col in _DISTINCT:
            values = distinct[col] if distinct and col in distinct else pa.array(lines[col].array)
            self._distinct[col].add(values.drop_null())  # only the values new to the set are hashed into it
        sales = ~lines["is_return"].to_numpy(dtype=bool)
        self._sales += int(sales.sum())
        self._custom += int(lines["is_custom"].to_numpy(dtype=bool)[sales].sum())
        return self

    def result(self) -> dict[str, Any]:
        """What the summary reports (see ``line_stats``)."""
        return {
            "date_min": str(self._first) if self._first is not None else None,
            "date_max": str(self._last) if self._last is not None else None,
            **{key: len(self._distinct[col]) for key, col in _DISTINCT},
            "custom_share": self._custom / self._sales if self._sales else 0.0,
        }


def line_stats(lines: pd.DataFrame) -> dict[str, Any]:
    """What the summary reports about the accepted canonical lines: first and last order date,
    distinct buying centers / customers / countries / products / variants, and the custom-made
    share of the sales lines (``xsell.spark.ingest.line_stats`` computes the same on Spark)."""
    return LineStats().add(lines).result()


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
