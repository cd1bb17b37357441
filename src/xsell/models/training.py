"""Fit the configured models on one ``TrainingData`` (pure: no file I/O)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from xsell.interactions.matrix import TrainingData
from xsell.models.base import Recommender
from xsell.models.config import BLEND, ModelsConfig, RulesConfig
from xsell.models.registry import build_model
from xsell.progress import stage

log = logging.getLogger(__name__)


def fit_model(model: Recommender, data: TrainingData) -> Recommender:
    """``model.fit(data)``; a blend fits only its components not fitted yet (those taken from
    the same training run are reused) and then assembles."""
    from xsell.models.blend import Blend

    if isinstance(model, Blend):
        for component in model.components.values():
            if not component.is_fitted:
                component.fit(data)
        return model.assemble(data)
    return model.fit(data)


def train_models(
    data: TrainingData,
    cfg: ModelsConfig,
    rules: RulesConfig | None = None,
    *,
    names: Sequence[str] | None = None,
    timings: dict[str, float] | None = None,
    fitted: Mapping[str, Recommender] | None = None,
) -> dict[str, Recommender]:
    """Fit every model of ``names`` (default ``cfg.enabled``; the blend last, reusing the fitted
    components) and return them by name. ``timings`` is filled with fit seconds per model.
    ``fitted``: models fitted elsewhere on the same data (the Spark backend's rules and ALS),
    taken as they are (also as blend components)."""
    names = list(cfg.enabled if names is None else names)
    ordered = [n for n in names if n != BLEND] + [n for n in names if n == BLEND]
    models: dict[str, Recommender] = dict(fitted or {})
    buyer_items = data.buyer_items
    for name in ordered:
        if name in models:
            continue
        model = build_model(name, cfg, rules, fitted=models)
        with stage(f"fit {name}", log) as report:
            fit_model(model, data)
            report.counts.update(buyers=buyer_items.shape[0], items=buyer_items.shape[1])
        models[name] = model
        if timings is not None:
            timings[name] = round(report.seconds, 3)
    return {name: models[name] for name in names}
