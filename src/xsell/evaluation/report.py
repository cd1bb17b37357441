"""Human-readable view of the long metrics frame: the models x metrics table (the plot is
``xsell.io.plots``)."""

from __future__ import annotations

import pandas as pd

from xsell.evaluation.config import RANK_METRICS
from xsell.schema import ALL_COUNTRIES


def metrics_table(metrics: pd.DataFrame, k: int, *, rank_metric: str, target: str = "cross_sell") -> pd.DataFrame:
    """One row per model (best ``rank_metric`` first), columns = metrics at ``k`` + ``n_buyers``.

    Only country ``ALL`` of ``target``.
    """
    sel = metrics[(metrics["target"] == target) & (metrics["country"] == ALL_COUNTRIES)]
    at_k = sel[sel["k"] == k].pivot_table(index="model", columns="metric", values="value", sort=False)
    cols = [m for m in RANK_METRICS if m in at_k.columns]
    table = at_k[cols].rename(columns={c: f"{c}@{k}" for c in cols})
    counts = sel[sel["k"] == 0].pivot_table(index="model", columns="metric", values="value", sort=False)
    if "n_buyers" in counts:
        table["n_buyers"] = counts["n_buyers"].reindex(table.index).astype("int64")
    table = table.sort_values(f"{rank_metric}@{k}", ascending=False, kind="stable")
    table.columns.name = None
    return table


def format_table(table: pd.DataFrame, title: str) -> str:
    """Fixed-width text of ``metrics_table`` with a title line."""
    return f"{title}\n{table.to_string(float_format=lambda v: f'{v:.4f}')}"
