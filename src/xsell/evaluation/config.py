"""Config sections ``evaluation`` and ``mlflow``."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from xsell.configbase import StrictModel


class EvaluationConfig(StrictModel):
    """Temporal backtest: train before ``cutoff``, test on the following ``test_days``."""

    test_days: int = Field(90, ge=1)
    """Length of the test window in days."""
    cutoff: dt.date | None = None
    """First day of the test window; default: last order date minus ``test_days``."""
    k: list[int] = Field(default_factory=lambda: [5, 10, 20])
    """Cut-offs of the ranking metrics."""
    rank_metric: str = "ndcg"
    """Metric (at ``rank_k``, on the cross-sell target) that ranks models and picks the champion."""
    rank_k: int = 10
    """k of ``rank_metric``."""
    champion_margin: float = Field(0.0, ge=0.0)
    """A new model must beat the baselines and the current champion by this much (absolute)."""


class MlflowConfig(StrictModel):
    """Experiment tracking and model registry."""

    tracking_uri: str | None = None
    """MLflow tracking URI; default ``sqlite:///<workdir>/mlflow.db``."""
    experiment: str = "xsell"
    """Experiment name of every run."""
    registered_model: str = "xsell-recommender"
    """Model registry name; scoring loads ``models:/<name>@champion``."""
