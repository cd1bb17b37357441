"""Pure model selection: which model is best, and does it earn the ``champion`` alias."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from xsell.evaluation.config import BASELINES
from xsell.schema import ALL_COUNTRIES

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Selection:
    """The best non-baseline model on the ranking metric, with the baselines' values."""

    model: str
    value: float
    baseline_values: dict[str, float]


@dataclass(frozen=True)
class AliasDecision:
    """``champion`` or ``challenger``, and why."""

    alias: str
    reason: str


def rank_metric_key(metric: str, k: int, target: str = "cross_sell") -> str:
    """Name of the ranking metric, e.g. ``cross_sell.ndcg.at10`` (also the MLflow metric name)."""
    return f"{target}.{metric}.at{k}"


def rank_values(metrics: pd.DataFrame, metric: str, k: int, target: str = "cross_sell") -> pd.Series:
    """model -> value of ``metric`` at ``k`` on ``target``, country ALL, best first."""
    sel = metrics[
        (metrics["target"] == target)
        & (metrics["country"] == ALL_COUNTRIES)
        & (metrics["k"] == k)
        & (metrics["metric"] == metric)
    ]
    return sel.set_index("model")["value"].astype(float).sort_values(ascending=False, kind="stable")


def select_best(
    metrics: pd.DataFrame, metric: str, k: int, *, baselines: Iterable[str] = BASELINES
) -> Selection | None:
    """Best non-baseline model of ``metrics`` (long form) by ``metric`` at ``k`` on cross_sell/ALL.

    ``None`` when no non-baseline model was evaluated. Ties go to the first model in the frame.
    """
    values = rank_values(metrics, metric, k)
    baselines = set(baselines)
    candidates = values[~values.index.isin(list(baselines))]
    if candidates.empty:
        return None
    base = {name: float(v) for name, v in values.items() if name in baselines}
    return Selection(model=str(candidates.index[0]), value=float(candidates.iloc[0]), baseline_values=base)


def decide_alias(
    value: float, baseline_values: Mapping[str, float], champion_value: float | None, margin: float
) -> AliasDecision:
    """``champion`` when ``value`` beats every baseline and the current champion by more than
    ``margin`` (absolute); a missing champion value only requires beating the baselines."""
    for name, base in sorted(baseline_values.items()):
        if not value > base + margin:
            return AliasDecision(CHALLENGER, f"{value:.6g} does not beat baseline {name} ({base:.6g}) by margin {margin:g}")
    if champion_value is not None and not value > champion_value + margin:
        return AliasDecision(CHALLENGER, f"{value:.6g} does not beat the champion ({champion_value:.6g}) by margin {margin:g}")
    if champion_value is None:
        return AliasDecision(CHAMPION, f"{value:.6g} beats the baselines and there is no comparable champion")
    return AliasDecision(CHAMPION, f"{value:.6g} beats the baselines and the champion ({champion_value:.6g}) by margin {margin:g}")
