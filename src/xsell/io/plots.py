"""Plots written by the steps (matplotlib, imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from xsell.schema import ALL_COUNTRIES


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
    fig.savefig(path, dpi=100, format="png")
    return path
