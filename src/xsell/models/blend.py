"""The blend: a personal model, anchor-based cross-sell and a popularity prior, fused per buyer.

Each component ranks ``depth`` candidates per buying center (owned items excluded as asked).
Rank ``r`` of a component becomes ``1 - (r - 1) / depth`` (best = 1, comparable across
components whose raw scores are not: dot products, lifts, counts) and the blend score of an item
is ``sum_role w_role * norm_role``. With ``prior_shrinkage = s`` the prior's weight for a buyer
with ``h`` owned items is ``w_prior * s / (s + h)``: thin histories lean on popularity, rich ones
on their own signal. The evaluation chooses the components and weights on a validation window
(``xsell.evaluation.tuning``) with the same ``fuse`` that ``recommend`` runs, so what is published
is what was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from xsell.interactions.matrix import TrainingData
from xsell.models.base import Ranking, Recommender, csr_arrays, csr_from_arrays, owned_part
from xsell.models.config import BlendConfig, BlendRole
from xsell.sparse import dense_top_n, distinct
from xsell.vocab import Vocabulary

ROLES: tuple[BlendRole, ...] = get_args(BlendRole)
"""Component roles, in blend order."""

_BUYER_BLOCK = 20_000
"""Buyers fused per block in ``recommend`` (bounds memory at ~block x roles x depth rows)."""


@dataclass(frozen=True)
class FusionPlan:
    """Candidates of every component for one set of buyers, ready to fuse with any weights.

    ``slot_item`` (n_buyers, width): each buyer's distinct candidate item codes (into ``items``)
    in code order, -1 padded; ``role_scores[role]`` (n_buyers, width): that role's
    rank-normalised score of each slot's item, 0 where the role did not rank it; ``history``
    (n_buyers,): owned items per buyer.
    """

    buyers: np.ndarray
    items: Vocabulary
    slot_item: np.ndarray
    role_scores: dict[BlendRole, np.ndarray]
    history: np.ndarray


def plan_fusion(rankings: Mapping[BlendRole, Ranking], history: np.ndarray, depth: int) -> FusionPlan:
    """Fusion plan of the top ``depth`` of each role's ranking (all for the same buyers, in the
    same order); ``history`` (n_buyers,) owned items per buyer."""
    roles = [r for r in ROLES if r in rankings]
    first = rankings[roles[0]] if roles else None
    buyers = first.queries if first is not None else np.array([], dtype=object)
    ids = [np.asarray(rankings[r].ids[:, :depth]) for r in roles]
    present = [x[pd.notna(x)] for x in ids]
    items = Vocabulary.from_values(np.concatenate(present)) if present and sum(map(len, present)) else Vocabulary([])
    n_items = max(len(items), 1)
    per_role = {}
    for role, x in zip(roles, ids):
        ok = pd.notna(x)
        rows, slots = np.nonzero(ok)
        per_role[role] = (rows.astype(np.int64) * n_items + items.index(x[ok]), 1.0 - slots / float(depth))
    keys = distinct(np.concatenate([k for k, _ in per_role.values()])) if per_role else np.array([], dtype=np.int64)
    key_row = keys // n_items
    per_buyer = np.bincount(key_row, minlength=len(buyers)) if len(buyers) else np.zeros(0, dtype=np.int64)
    width = int(per_buyer.max()) if len(per_buyer) else 0
    key_slot = np.arange(len(keys)) - np.searchsorted(key_row, key_row)  # keys are sorted by row, then item
    slot_item = np.full((len(buyers), width), -1, dtype=np.int64)
    slot_item[key_row, key_slot] = keys % n_items
    role_scores = {}
    for role, (k, norm) in per_role.items():
        at = np.searchsorted(keys, k)
        role_scores[role] = np.zeros((len(buyers), width), dtype=np.float64)
        role_scores[role][key_row[at], key_slot[at]] = norm
    return FusionPlan(buyers, items, slot_item, role_scores, np.asarray(history, dtype=np.float64))


def fused_scores(
    role_scores: Mapping[BlendRole, np.ndarray], history: np.ndarray, weights: Mapping[BlendRole, float], prior_shrinkage: float | None
) -> np.ndarray:
    """Blend scores (n_buyers, width) of the slots of ``role_scores`` (rows of a ``FusionPlan``'s,
    ``history`` their owned items), ``-inf`` where not positive (no role with weight ranked it)."""
    dense = np.zeros(next(iter(role_scores.values())).shape if role_scores else (len(history), 0), dtype=np.float64)
    for role, scores in role_scores.items():
        w = float(weights.get(role, 0.0))
        if w <= 0:
            continue
        contribution = w * scores
        if role == "prior" and prior_shrinkage is not None:
            h = history
            contribution *= (prior_shrinkage / (prior_shrinkage + h) if prior_shrinkage > 0 else (h == 0).astype(np.float64))[:, None]
        dense += contribution
    dense[dense <= 0] = -np.inf
    return dense


def fuse(plan: FusionPlan, weights: Mapping[BlendRole, float], prior_shrinkage: float | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_buyers, n) item codes into ``plan.items`` (-1 padded) and float32 blend scores, best
    first; ties go to the smaller item code (= id order)."""
    n_buyers = len(plan.buyers)
    if plan.slot_item.size == 0:
        return np.full((n_buyers, n), -1, dtype=np.int64), np.full((n_buyers, n), np.nan, dtype=np.float32)
    dense = fused_scores(plan.role_scores, plan.history, weights, prior_shrinkage)
    dense[plan.slot_item < 0] = -np.inf
    pos, out = dense_top_n(dense, n)  # slots are in item order: ties by item
    found = pos >= 0
    index = np.full((n_buyers, n), -1, dtype=np.int64)
    index[found] = plan.slot_item[np.nonzero(found)[0], pos[found]]
    return index, out


class Blend(Recommender[BlendConfig]):
    """Weighted fusion of ``components`` (role -> fitted or unfitted model; see module docstring).

    ``fit`` fits every component on the same data; ``assemble`` takes components already fitted
    on that data. Learned: ``buyers_`` and ``buyer_items_`` (owned cells; a buyer's history size
    is its row's count) of the fitted matrix, ``items_`` the union of the components' items.
    """

    name = "blend"
    config_class = BlendConfig

    def __init__(
        self, config: BlendConfig | None = None, *, seed: int = 42, components: Mapping[BlendRole, Recommender] | None = None, **fields: Any
    ):
        super().__init__(config, seed=seed, **fields)
        unknown = set(components or {}) - set(ROLES)
        if unknown:
            raise ValueError(f"blend roles are {ROLES}, got {sorted(unknown)}")
        self.components: dict[BlendRole, Recommender] = dict(components or {})
        if self.components:  # the config names what the blend is made of
            names: dict[str, str | None] = {role: self.components[role].name if role in self.components else None for role in ROLES}
            self.config = self.config.model_copy(update=names)

    def fit(self, data: TrainingData) -> Blend:
        for component in self.components.values():
            component.fit(data)
        return self.assemble(data)

    def assemble(self, data: TrainingData) -> Blend:
        """Take the (already fitted) components as they are; learn the buyers' history sizes."""
        for component in self.components.values():
            component._check_fitted()
        self.buyers_ = data.buyer_items.rows
        self.buyer_items_ = owned_part(data.buyer_items.matrix)
        self._set_items()
        return self

    def _set_items(self) -> None:
        vocabularies = [getattr(c, "items_", None) for c in self.components.values()]
        ids = [np.asarray(v.ids, dtype=object) for v in vocabularies if isinstance(v, Vocabulary)]
        self.items_ = Vocabulary(np.sort(pd.unique(np.concatenate(ids)).astype(str))) if ids else Vocabulary([])

    def _history(self, buyers: Sequence[str]) -> np.ndarray:
        rows = self.buyers_.index(buyers, missing="ignore")
        history = np.diff(self.buyer_items_.indptr)
        return np.where(rows >= 0, history[np.maximum(rows, 0)], 0)

    def _active(self) -> dict[BlendRole, Recommender]:
        return {r: m for r, m in self.components.items() if self.config.weights.get(r, 0.0) > 0}

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` items per buyer by the fused score; buyers no component knows get the prior."""
        self._check_fitted()
        buyers = [str(b) for b in buyers]
        index = np.full((len(buyers), n), -1, dtype=np.int64)
        scores = np.full((len(buyers), n), np.nan, dtype=np.float32)
        ids = np.full((len(buyers), n), None, dtype=object)
        depth = max(self.config.depth, n)
        for start in range(0, len(buyers), _BUYER_BLOCK):
            block = buyers[start : start + _BUYER_BLOCK]
            rankings = {r: m.recommend(block, n=depth, exclude_owned=exclude_owned) for r, m in self._active().items()}
            plan = plan_fusion(rankings, self._history(block), depth)
            idx, sc = fuse(plan, self.config.weights, self.config.prior_shrinkage, n)
            index[start : start + len(block)] = idx
            scores[start : start + len(block)] = sc
            ids[start : start + len(block)][idx >= 0] = plan.items.id_of(idx[idx >= 0])
        return Ranking(np.asarray(buyers, dtype=object), ids, scores)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """Fused ``similar_items`` of the personal and anchor components (the prior has no
        item-to-item signal; it is used only when neither exists)."""
        self._check_fitted()
        items = [str(i) for i in items]
        roles = {r: m for r, m in self._active().items() if r != "prior"} or self._active()
        depth = max(self.config.depth, n)
        rankings = {r: m.similar_items(items, n=depth) for r, m in roles.items()}
        plan = plan_fusion(rankings, np.zeros(len(items)), depth)
        idx, sc = fuse(plan, self.config.weights, None, n)
        ids = np.full(idx.shape, None, dtype=object)
        ids[idx >= 0] = plan.items.id_of(idx[idx >= 0])
        return Ranking(np.asarray(items, dtype=object), ids, sc)

    # -- persistence: own arrays + one sub-directory per component ------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {"buyers": self.buyers_.to_array(), **csr_arrays("buyer_items", self.buyer_items_)}

    def _meta(self) -> dict[str, Any]:
        return {"roles": {role: m.name for role, m in self.components.items()}}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.buyers_ = Vocabulary(arrays["buyers"])
        self.buyer_items_ = csr_from_arrays("buyer_items", arrays)

    def save(self, directory: str | Path) -> Path:
        directory = super().save(directory)
        for role, model in self.components.items():
            model.save(directory / "components" / role)
        return directory

    def _loaded_from(self, directory: Path) -> None:
        from xsell.models.registry import load_model  # the registry imports this module

        self.components = {
            role: load_model(directory / "components" / role)
            for role in ROLES
            if (directory / "components" / role / "model.json").is_file()
        }
        self._set_items()
