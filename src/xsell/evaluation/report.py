"""Human-readable views of the long metrics frame: the models x metrics table and a PNG plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def plot_metric_vs_k(
    metrics: pd.DataFrame,
    path: str | Path,
    *,
    target: str = "cross_sell",
    metric_names: Sequence[str] = ("ndcg", "recall", "precision", "hit_rate"),
) -> Path:
    """PNG with one panel per metric: value vs k, one line per model (country ALL)."""
    from matplotlib.figure import Figure

    sel = metrics[(metrics["target"] == target) & (metrics["country"] == ALL_COUNTRIES) & (metrics["k"] > 0)]
    fig = Figure(figsize=(4.0 * len(metric_names), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metric_names), squeeze=False)[0]
    for ax, name in zip(axes, metric_names):
        part = sel[sel["metric"] == name]
        for model, rows in part.groupby("model", sort=True):
            rows = rows.sort_values("k")
            ax.plot(rows["k"], rows["value"], marker="o", label=str(model))
        ax.set_title(f"{target} {name}")
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
