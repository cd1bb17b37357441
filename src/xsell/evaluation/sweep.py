"""Hyper-parameter sweeps: expand ``evaluation.sweep`` into named config overrides (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from xsell.config import deep_merge
from xsell.errors import ConfigError
from xsell.evaluation.config import SweepConfig
from xsell.models.config import BASELINES, BLEND

M = TypeVar("M", bound=BaseModel)


def _check_key(base: BaseModel, key: str) -> None:
    """``key`` must name a leaf field of ``base`` (dotted path through nested sections)."""
    node: Any = base
    for part in key.split("."):
        fields = type(node).model_fields if isinstance(node, BaseModel) else None
        if fields is None or part not in fields:
            raise ConfigError(f"sweep parameter {key!r} is not a config field", key=f"evaluation.sweep.params.{key}")
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        raise ConfigError(f"sweep parameter {key!r} names a section, not a value", key=f"evaluation.sweep.params.{key}")


def _nested(key: str, value: Any) -> dict[str, Any]:
    node: Any = value
    for part in reversed(key.split(".")):
        node = {part: node}
    return node


def apply_overrides(base: M, overrides: Mapping[str, Any]) -> M:
    """A validated copy of ``base`` with dotted-key ``overrides`` applied (``ConfigError`` if invalid)."""
    raw = base.model_dump()
    for key, value in overrides.items():
        _check_key(base, key)
        raw = deep_merge(raw, _nested(key, value))
    try:
        out = type(base).model_validate(raw)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"sweep configuration {dict(overrides)} is invalid: {detail}", key="evaluation.sweep.params") from None
    source = getattr(base, "_source", None)
    if source is not None:
        out._source = source  # type: ignore[attr-defined]
    return out


def _label(key: str) -> str:
    return key.removeprefix("models.")


def model_keys(params: Mapping[str, Any], name: str) -> list[str]:
    """The sweep keys that configure model ``name``: ``models.<name>.*`` (``rules.*`` for
    ``rules``) plus the shared keys (``interactions.*``, which every model's matrices read).
    Baselines and the blend take no keys (popularity counts buyers, whatever the weights)."""
    if name in BASELINES or name == BLEND:
        return []
    own = [k for k in params if k.startswith(f"models.{name}.") or (name == "rules" and k.startswith("rules."))]
    shared = [k for k in params if k.startswith("interactions.")]
    return own + shared


def expand_sweep(sweep: SweepConfig, base: BaseModel, seed: int, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Configurations of model ``name`` as ``(label, {dotted key: value})``, each validated
    against ``base``. The first is always the configuration as given (``{}``); then ``grid``: every
    other combination of the model's keys; ``random``: up to ``n_trials - 1`` distinct others drawn
    with ``seed``. Labels look like ``ease t02 ease.l2=50 interactions.recency_half_life_days=120``."""
    keys = model_keys(sweep.params, name)
    trials: list[tuple[str, dict[str, Any]]] = [(f"{name} t00 as configured", {})]
    if not keys:
        return trials
    for key in keys:
        _check_key(base, key)
    current = tuple(_current(base, k) for k in keys)
    grid = [combo for combo in itertools.product(*(sweep.params[k] for k in keys)) if combo != current]
    if sweep.method == "random" and sweep.n_trials - 1 < len(grid):
        rng = np.random.default_rng([seed, sum(map(ord, name))])
        picks = rng.choice(len(grid), size=max(sweep.n_trials - 1, 0), replace=False)
        grid = [grid[i] for i in sorted(picks.tolist())]
    width = max(2, len(str(len(grid))))
    for i, values in enumerate(grid, start=1):
        overrides = dict(zip(keys, values))
        apply_overrides(base, overrides)
        trials.append((f"{name} t{i:0{width}d} " + " ".join(f"{_label(k)}={v}" for k, v in overrides.items()), overrides))
    return trials


def _current(base: BaseModel, key: str) -> Any:
    node: Any = base
    for part in key.split("."):
        node = getattr(node, part)
    return node
