"""Model names -> classes (imported lazily), construction from the typed config, and loading.

The registry depends on the model modules, never the other way round: ``load_model`` is the
one place that turns a saved directory of any model into an instance.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from xsell.configbase import StrictModel
from xsell.errors import ConfigError
from xsell.models.base import Recommender, read_model_meta
from xsell.models.config import BLEND, MODEL_NAMES, PERSONAL_PREFERENCE, ModelsConfig, PopularityConfig, PopularityScope, RulesConfig

MODELS: dict[str, str] = {
    "popularity": "xsell.models.popularity:Popularity",
    "popularity_country": "xsell.models.popularity:Popularity",
    "popularity_segment": "xsell.models.popularity:Popularity",
    "rules": "xsell.models.rules:AssociationRules",
    "als": "xsell.models.implicit_models:ALSRecommender",
    "bpr": "xsell.models.implicit_models:BPRRecommender",
    "item_knn": "xsell.models.implicit_models:ItemKNNRecommender",
    "ease": "xsell.models.ease:EASERecommender",
    "rp3beta": "xsell.models.rp3beta:RP3betaRecommender",
    "blend": "xsell.models.blend:Blend",
}
"""Registry key -> ``module:Class``, one entry per ``ModelName``. The popularity keys are one
class (``PopularityConfig.scope``)."""

assert tuple(MODELS) == MODEL_NAMES, "MODELS and ModelName must list the same names"

_POPULARITY_SCOPE: dict[str, PopularityScope] = {"popularity": "global", "popularity_country": "country", "popularity_segment": "segment"}


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name`` (imported on first use)."""
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}", key="models.enabled") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def model_config(name: str, cfg: ModelsConfig, rules: RulesConfig | None = None) -> StrictModel:
    """The config section model ``name`` holds: ``models.<name>``, ``rules`` (the root config's
    section) or the popularity scope."""
    if name in _POPULARITY_SCOPE:
        return PopularityConfig(scope=_POPULARITY_SCOPE[name])
    if name == "rules":
        return rules or RulesConfig()
    section = getattr(cfg, name, None)
    if not isinstance(section, StrictModel):
        raise ConfigError(f"model {name!r} has no config section models.{name}", key="models.enabled")
    return section


def build_model(
    name: str, cfg: ModelsConfig, rules: RulesConfig | None = None, *, fitted: Mapping[str, Recommender] | None = None
) -> Recommender:
    """An unfitted model ``name`` holding its config section and ``cfg.seed``.

    ``blend`` gets its components built the same way, or taken from ``fitted`` (name -> model
    fitted with this same ``cfg``) where present; its ``personal`` component defaults to the
    first enabled model of ``PERSONAL_PREFERENCE``."""
    if name != BLEND:
        return model_class(name)(model_config(name, cfg, rules), seed=cfg.seed)
    bc = cfg.blend
    personal = bc.personal or next((m for m in PERSONAL_PREFERENCE if m in cfg.enabled), PERSONAL_PREFERENCE[0])
    names = {"personal": personal, "anchor": bc.anchor, "prior": bc.prior}
    components = {
        role: fitted[m] if fitted is not None and m in fitted else build_model(m, cfg, rules)
        for role, m in names.items()
        if m is not None
    }
    return model_class(BLEND)(bc.model_copy(update={"personal": personal}), seed=cfg.seed, components=components)


def load_model(directory: str | Path) -> Recommender:
    """Any model saved by ``Recommender.save``, by the name recorded in its ``model.json``."""
    return model_class(read_model_meta(directory)["name"]).load(directory)
