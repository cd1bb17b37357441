"""Model names -> classes (imported lazily) and construction from the typed config."""

from __future__ import annotations

import importlib

from xsell.errors import ConfigError
from xsell.models.base import Recommender
from xsell.models.config import ModelsConfig, RulesConfig

MODELS: dict[str, str] = {
    "popularity": "xsell.models.popularity:Popularity",
    "popularity_country": "xsell.models.popularity:Popularity",
    "rules": "xsell.models.rules:AssociationRules",
    "als": "xsell.models.implicit_models:ALSRecommender",
    "bpr": "xsell.models.implicit_models:BPRRecommender",
    "item_knn": "xsell.models.implicit_models:ItemKNNRecommender",
}
"""Registry key -> ``module:Class``. Both popularity keys are one class (``by_country``)."""


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name`` (imported on first use)."""
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}", key="models.enabled") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_model(name: str, cfg: ModelsConfig, *, rules: RulesConfig | None = None) -> Recommender:
    """An unfitted model ``name`` with hyper-parameters from its config section and ``cfg.seed``.

    ``rules`` is the root config's ``rules`` section (defaults apply when omitted); it is
    passed field by field to ``AssociationRules``.
    """
    cls = model_class(name)
    if name == "popularity":
        return cls(by_country=cfg.popularity.by_country)
    if name == "popularity_country":
        return cls(by_country=True)
    if name == "rules":
        return cls(**(rules or RulesConfig()).model_dump())
    if name in ("als", "bpr"):
        return cls(**getattr(cfg, name).model_dump(), random_state=cfg.seed)
    return cls(**cfg.item_knn.model_dump())
