"""Config sections ``evaluation`` and ``mlflow``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from xsell.configbase import StrictModel

BASELINES: tuple[str, ...] = ("popularity", "popularity_country")
"""Models that are always evaluated and that a champion must beat."""

RANK_METRICS: tuple[str, ...] = ("precision", "recall", "map", "ndcg", "hit_rate", "coverage", "revenue_hit_rate")
"""Ranking metrics computed at every k (see ``xsell.evaluation.metrics``)."""


class RollingConfig(StrictModel):
    """Rolling backtest: the same evaluation repeated at earlier cutoffs."""

    n_cutoffs: int = Field(3, ge=1)
    """Number of cutoffs, the latest being ``evaluation.cutoff`` (or its default)."""
    step_days: int = Field(30, ge=1)
    """Days between consecutive cutoffs."""


class ItemPairsConfig(StrictModel):
    """Check of item-to-item tables: "bought X, then bought Y within N days" pairs of the test window."""

    window_days: int = Field(30, ge=1)
    """Y must be bought 1 to this many days after X (same-day purchases are one basket, not a sequence)."""
    k: int = Field(10, ge=1)
    """A pair is a hit when Y is in X's ``similar_items`` top k."""


class SweepConfig(StrictModel):
    """Hyper-parameter search: one nested MLflow run per configuration."""

    method: Literal["grid", "random"] = "grid"
    """``grid``: every combination; ``random``: ``n_trials`` distinct combinations drawn from the grid."""
    n_trials: int = Field(10, ge=1)
    """Configurations drawn by ``method: random`` (ignored by ``grid``)."""
    params: dict[str, list[Any]] = Field(default_factory=dict)
    """Dotted config key -> candidate values, e.g. ``models.als.factors: [32, 64]``,
    ``interactions.weighting: [binary, order_count]``, ``rules.min_support_count: [3, 5]``."""
    models: list[str] | None = None
    """Models evaluated in each configuration; default: the models named in ``models.<name>.*``
    keys, or every enabled non-baseline model when no key names one."""

    @field_validator("params")
    @classmethod
    def _non_empty_values(cls, params: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in params.items():
            if not values:
                raise ValueError(f"sweep parameter {key!r} has no candidate values")
        return params


class EvaluationConfig(StrictModel):
    """Temporal backtest: train before ``cutoff``, test on the following ``test_days``."""

    test_days: int = Field(90, ge=1)
    """Length of the test window in days."""
    cutoff: dt.date | None = None
    """First day of the test window; default: last order date minus ``test_days`` plus one day, so the
    test window is the last ``test_days`` days including the last order day."""
    k: list[int] = Field(default_factory=lambda: [5, 10, 20])
    """Cut-offs of the ranking metrics."""
    rank_metric: str = "ndcg"
    """Metric (at ``rank_k``, on the cross-sell target) that ranks models and picks the champion."""
    rank_k: int = 10
    """k of ``rank_metric``."""
    champion_margin: float = Field(0.0, ge=0.0)
    """A new model must beat the baselines and the current champion by this much (absolute)."""
    rolling: RollingConfig | None = None
    """Optional rolling backtest over several cutoffs (written to ``evaluation/rolling.csv``)."""
    item_pairs: ItemPairsConfig = Field(default_factory=ItemPairsConfig)
    """Check of every model's ``similar_items`` on pairs bought in sequence in the test window."""
    sweep: SweepConfig | None = None
    """Optional hyper-parameter sweep (nested MLflow runs, results in ``evaluation/sweep.csv``)."""
    register_best: bool = True
    """Register the best non-baseline model in the MLflow registry (champion or challenger alias)."""
    refit_full: bool = True
    """Retrain the registered model on the whole history (cutoff excluded nothing) before registering;
    ``false`` registers the model trained before the cutoff as evaluated."""

    @field_validator("k")
    @classmethod
    def _positive_sorted_k(cls, k: list[int]) -> list[int]:
        if not k or any(v < 1 for v in k):
            raise ValueError(f"k must be a non-empty list of positive integers, got {k}")
        return sorted(set(k))

    @field_validator("rank_metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in RANK_METRICS:
            raise ValueError(f"rank_metric must be one of {', '.join(RANK_METRICS)}; got {metric!r}")
        return metric

    @model_validator(mode="after")
    def _rank_k_in_k(self) -> EvaluationConfig:
        if self.rank_k not in self.k:
            raise ValueError(f"rank_k={self.rank_k} must be one of k={self.k}")
        return self


class MlflowConfig(StrictModel):
    """Experiment tracking and model registry."""

    tracking_uri: str | None = None
    """MLflow tracking URI; default ``sqlite:///<workdir>/mlflow.db``."""
    experiment: str = "xsell"
    """Experiment name of every run."""
    registered_model: str = "xsell-recommender"
    """Model registry name; scoring loads ``models:/<name>@champion``."""
    enabled: bool = True
    """Track evaluation runs in MLflow; ``false`` only writes the CSV files."""
    artifact_location: str | None = None
    """Artifact root of a newly created experiment; default: ``mlartifacts/`` beside a SQLite
    store, otherwise the tracking server's default."""
