"""Hyper-parameter sweeps: expand ``evaluation.sweep`` into named config overrides (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from xsell.config import deep_merge
from xsell.errors import ConfigError
from xsell.evaluation.config import BASELINES, SweepConfig

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


def expand_sweep(sweep: SweepConfig, base: BaseModel, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Configurations of ``sweep`` as ``(name, {dotted key: value})``, each validated against ``base``.

    ``grid``: every combination, in key order. ``random``: ``n_trials`` distinct combinations of the
    grid drawn with ``seed`` (all of them when the grid is smaller). Names look like
    ``t01 als.factors=32 als.regularization=0.1``.
    """
    keys = list(sweep.params)
    if not keys:
        return []
    for key in keys:
        _check_key(base, key)
    grid = list(itertools.product(*(sweep.params[k] for k in keys)))
    if sweep.method == "random" and sweep.n_trials < len(grid):
        picks = np.random.default_rng(seed).choice(len(grid), size=sweep.n_trials, replace=False)
        grid = [grid[i] for i in sorted(picks.tolist())]
    width = len(str(len(grid)))
    trials = []
    for i, values in enumerate(grid, start=1):
        overrides = dict(zip(keys, values))
        apply_overrides(base, overrides)
        name = f"t{i:0{width}d} " + " ".join(f"{_label(k)}={v}" for k, v in overrides.items())
        trials.append((name, overrides))
    return trials


def sweep_models(sweep: SweepConfig, enabled: Iterable[str]) -> list[str]:
    """Models evaluated per configuration: ``sweep.models``, else the models named by
    ``models.<name>.*`` keys, else every enabled non-baseline model."""
    if sweep.models is not None:
        return list(sweep.models)
    enabled = list(enabled)
    named = [name for name in enabled if any(k.startswith(f"models.{name}.") for k in sweep.params)]
    return named or [name for name in enabled if name not in BASELINES]
