"""Pure model selection: which candidate is champion, and does it replace the registered one.

Every evaluated approach is a candidate, the popularity baselines and the blend included, so a
champion always exists. A learned model must beat the best baseline by ``champion_margin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from xsell.models.config import BASELINES
from xsell.schema import ALL_COUNTRIES

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Selection:
    """The champion candidate on the ranking metric, with the baselines' values and the best
    learned model (which is the champion unless a baseline is)."""

    model: str
    value: float
    baseline_values: dict[str, float]
    best_learned: str | None = None
    best_learned_value: float | None = None

    @property
    def is_baseline(self) -> bool:
        """True when popularity won: no learned model beat it (by the margin) on this data."""
        return self.model in self.baseline_values

    def summary(self) -> str:
        """One sentence for logs and the run summary."""
        base = max(self.baseline_values.values(), default=0.0)
        best_base = max(self.baseline_values, key=self.baseline_values.__getitem__, default="popularity")
        if self.is_baseline:
            learned = (
                f"; the best learned model, {self.best_learned} ({self.best_learned_value:.4f}), did not beat it"
                if self.best_learned is not None and self.best_learned_value is not None
                else ""
            )
            return f"popularity is champion on this data: {self.model} {self.value:.4f}{learned}"
        ratio = f" ({self.value / base:.2f}x)" if base > 0 else ""
        return f"{self.model} {self.value:.4f} beats the best popularity baseline {best_base} {base:.4f}{ratio}"


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


def select_champion(metrics: pd.DataFrame, metric: str, k: int, *, margin: float = 0.0) -> Selection:
    """The champion among every candidate of ``metrics`` (cross_sell, country ALL, ``metric@k``):
    the best learned model when it beats the best baseline by more than ``margin``, else that
    baseline. Ties go to the first candidate in the frame."""
    values = rank_values(metrics, metric, k)
    if values.empty:
        raise ValueError(f"no {metric}@{k} values on the cross_sell target to select a champion from")
    base = {name: float(v) for name, v in values.items() if name in BASELINES}
    learned = values[~values.index.isin(list(BASELINES))]
    best_base = max(base, key=base.__getitem__) if base else None
    best_learned = str(learned.index[0]) if len(learned) else None
    learned_value = float(learned.iloc[0]) if len(learned) else None
    if best_learned is not None and (best_base is None or learned_value > base[best_base] + margin):  # type: ignore[operator]
        return Selection(best_learned, learned_value, base, best_learned, learned_value)  # type: ignore[arg-type]
    assert best_base is not None
    return Selection(best_base, base[best_base], base, best_learned, learned_value)


def decide_alias(value: float, champion_value: float | None, margin: float) -> AliasDecision:
    """``champion`` unless the current champion was measured on the same data and windows
    (``champion_value`` given) and ``value`` does not beat it by more than ``margin``: then
    ``challenger``. A champion measured on other data is not comparable, and the newest
    measurement wins (the selection already put it against popularity on the latest window)."""
    if champion_value is None:
        return AliasDecision(CHAMPION, f"{value:.6g} is the best candidate on the latest window (no champion measured on the same data)")
    if value > champion_value + margin:
        return AliasDecision(CHAMPION, f"{value:.6g} beats the champion ({champion_value:.6g}) on the same data by margin {margin:g}")
    return AliasDecision(CHALLENGER, f"{value:.6g} does not beat the champion ({champion_value:.6g}) on the same data by margin {margin:g}")
