"""Plots written by the steps (matplotlib, imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def _save(fig: Any, path: str | Path) -> Path:
    """Write a figure as PNG (format given: the path may be a temp name without ``.png``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path


def _uptake_axes(ax: Any, title: str) -> None:
    ax.set_ylabel("bought in the window (%)")
    ax.set_title(title, fontsize="medium")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_uptake_by_rank(by_rank: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """PNG: share of suggested products bought per rank, published suggestions (``source`` ALL)
    against the popularity counterfactual (``xsell.monitor.uptake.by_rank`` frame)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = {ALL_COUNTRIES: "xsell suggestions", "popularity_counterfactual": "popularity (counterfactual)"}
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for source, rows in by_rank.groupby("source", sort=False):
        ax.plot(rows["rank"], 100 * rows["uptake"], marker="o", label=labels.get(str(source), str(source)))
    ax.set_xlabel("rank")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _uptake_axes(ax, title or "uptake by rank")
    return _save(fig, path)


def plot_uptake_over_runs(trend: pd.DataFrame, path: str | Path) -> Path:
    """PNG: uptake of each measured run's suggestions and of its popularity counterfactual, one
    position per run labelled with its data end (``xsell.steps.monitor.read_trend`` frame); runs
    whose window is not complete yet are labelled with the days observed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    x = list(range(len(trend)))
    ax.plot(x, 100 * trend["uptake"].astype(float), marker="o", label="xsell suggestions")
    ax.plot(x, 100 * trend["popularity_uptake"].astype(float), marker="s", label="popularity (counterfactual)")
    labels = [
        str(end) if complete else f"{end}\n({days} days so far)"
        for end, complete, days in zip(trend["data_end"], trend["complete"].astype(bool), trend["days_observed"])
    ]
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_xlim(-0.5, max(len(x), 2) - 0.5)
    ax.set_xlabel("published run (its data end)")
    _uptake_axes(ax, "uptake over runs")
    return _save(fig, path)
