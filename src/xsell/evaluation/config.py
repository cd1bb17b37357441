"""Config sections ``evaluation`` and ``mlflow``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from xsell.configbase import StrictModel
from xsell.models.config import BASELINES  # noqa: F401  (re-exported: the evaluation's baselines)

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


DEFAULT_SWEEP_PARAMS: dict[str, list[Any]] = {
    "interactions.recency_half_life_days": [None, 120],
    "models.ease.l2": [10.0, 50.0, 200.0, 1000.0],
    "models.als.factors": [32, 64, 128],
    "models.als.regularization": [0.05, 1.0, 10.0],
    "models.als.alpha": [1.0, 5.0],
    "models.item_knn.similarity": ["cosine", "bm25"],
    "models.item_knn.K": [50, 300],
    "models.rp3beta.alpha": [0.5, 1.0],
    "models.rp3beta.beta": [0.2, 0.4, 0.6],
    "rules.lift_shrinkage": [10.0, 50.0],
}
"""The default search space: regularisation of EASE and ALS, ALS factors and confidence alpha
(the knobs Rendle et al. 2021 found decisive for iALS), item-KNN weighting and size, RP3beta's
walk exponent and popularity penalty, rule damping, and the recency half-life of the matrices."""


class SweepConfig(StrictModel):
    """Hyper-parameter search on the validation window, one model at a time.

    Keys under ``models.<name>.`` (and ``rules.`` for ``rules``) belong to that model; other keys
    (``interactions.*``) are searched for every model. Each model's configuration as given is
    always tried first; the best on the validation window is what the test window measures and
    what is registered."""

    method: Literal["grid", "random"] = "random"
    """``grid``: every combination per model; ``random``: ``n_trials`` distinct combinations per
    model drawn from the grid (all of them when the grid is smaller)."""
    n_trials: int = Field(8, ge=1)
    """Configurations per model drawn by ``method: random`` (the given configuration included)."""
    max_seconds: float | None = Field(300.0, gt=0)
    """Time for the search beyond each model's configured values (those always run); the
    remaining configurations are skipped, every model's alike (``null``: no limit)."""
    params: dict[str, list[Any]] = Field(default_factory=lambda: dict(DEFAULT_SWEEP_PARAMS))
    """Dotted config key -> candidate values, e.g. ``models.als.factors: [32, 64]``,
    ``interactions.recency_half_life_days: [null, 120]``, ``rules.min_support_count: [3, 5]``.
    ``{}`` turns tuning off (the configured values are used as they are)."""

    @field_validator("params")
    @classmethod
    def _non_empty_values(cls, params: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in params.items():
            if not values:
                raise ValueError(f"sweep parameter {key!r} has no candidate values")
        return params


class BlendSearchConfig(StrictModel):
    """The grid the tuned blend's weights are chosen from on the validation window."""

    anchor_weights: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0])
    """Candidate weights of the anchor-based cross-sell (personal weight = 1)."""
    prior_weights: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0])
    """Candidate weights of the popularity prior (above 1: popularity re-ranked by the personal signal)."""
    prior_shrinkage: list[float | None] = Field(default_factory=lambda: [None, 2.0, 10.0, 50.0])
    """Candidate history shrinkages of the prior (``null``: constant weight)."""
    personal_candidates: int = Field(2, ge=1)
    """The best this many learned models on validation are tried as the personal component."""
    learned_anchor: bool = True
    """Also try the best other learned model as the anchor component (besides ``models.blend.anchor``)."""
    max_grid_scorings: int | None = Field(2_000_000, ge=1)
    """Validation buyers x weightings up to which every weighting of the grid is scored, per
    (personal, anchor) pair; above it the weights are searched one coordinate at a time (the prior
    weight with its shrinkage, then the anchor weight, until neither changes), which scores about
    a third of the grid. ``null``: always the whole grid."""


class EvaluationConfig(StrictModel):
    """Nested temporal backtest: tune on a validation window, measure on the test window after it.

    ``[.. validation_start)`` trains the tuning fits, ``[validation_start, cutoff)`` validates
    them; ``[.. cutoff)`` trains the measured fits, ``[cutoff, cutoff + test_days)`` tests them."""

    test_days: int | None = Field(None, ge=1)
    """Length of the test window in days; ``null``: adapted to the history, a quarter of its
    span, at most 90 and at least 7 days."""
    validation_days: int | None = Field(None, ge=1)
    """Length of the validation window just before the cutoff; ``null``: the test window's length."""
    cutoff: dt.date | None = None
    """First day of the test window; default: the last order date minus the test window plus one
    day, so the test window ends with the last order day."""
    k: list[int] = Field(default_factory=lambda: [5, 10, 20])
    """Cut-offs of the ranking metrics."""
    rank_metric: str = "ndcg"
    """Metric (at ``rank_k``, on the cross-sell target) that ranks models and picks the champion."""
    rank_k: int = 10
    """k of ``rank_metric``."""
    champion_margin: float = Field(0.0, ge=0.0)
    """A learned model (or blend) becomes champion only when it beats the best popularity
    baseline by more than this (absolute); otherwise that baseline is champion. A retrain measured
    on the same data and windows as the current champion must also beat it by this much."""
    max_buyers: int = Field(20_000, ge=100)
    """Buying centers evaluated per window at most; larger populations are sampled (stratified by
    country, seeded by ``models.seed``) and the sample size is reported. At 20,000 the standard
    error of NDCG@10 is about 0.002 (at 20M demo lines the best model leads the next by 0.02);
    scoring, the blend search and the test window cost time per sampled buying center (there,
    50,000 took ~60% of the evaluation)."""
    prune_ratio: float = Field(0.8, ge=0.0, le=1.0)
    """A model whose configured value on the validation window is below this share of the best
    model's is not searched further, and one whose best validation value is below this share of
    the best candidate's is not fitted again for the test window (it cannot win; logged)."""
    blend_search: BlendSearchConfig = Field(default_factory=BlendSearchConfig)
    """Grid of the tuned blend's weights."""
    rolling: RollingConfig | None = None
    """Optional rolling backtest over several cutoffs (written to ``evaluation/rolling.csv``)."""
    item_pairs: ItemPairsConfig = Field(default_factory=ItemPairsConfig)
    """Check of every model's ``similar_items`` on pairs bought in sequence in the test window."""
    sweep: SweepConfig | None = Field(default_factory=SweepConfig)
    """Hyper-parameter search on the validation window (nested MLflow runs, ``evaluation/sweep.csv``);
    ``null`` uses the configured values as they are."""
    register_best: bool = True
    """Register the champion (the best candidate on the test window, popularity included) in the
    MLflow registry."""
    refit_full: bool = True
    """Retrain the registered model on the whole history before registering; ``false`` registers
    the model trained before the cutoff as evaluated."""

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
