"""Choosing hyper-parameters and blend weights on the validation window (pure: no I/O).

``tune_models`` tries each model's configurations (``evaluation.sweep``, the configured one first)
on the validation split and keeps the best per model; ``tune_blend`` then searches the blend's
components and weights with the same ``fuse`` the published ranking runs. The test window is never
looked at here, so the figures it reports were not tuned on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.evaluation.config import BlendSearchConfig, SweepConfig
from xsell.evaluation.core import rank_value
from xsell.evaluation.metrics import n_relevant, ndcg_at_k
from xsell.evaluation.split import Targets
from xsell.evaluation.sweep import apply_overrides, expand_sweep
from xsell.interactions.build import CellIndex, CodedLines, build_training_data, cell_index, encode_lines
from xsell.interactions.config import InteractionsConfig
from xsell.interactions.matrix import InteractionMatrix, TrainingData, needs_variants
from xsell.models.base import Ranking, Recommender
from xsell.models.blend import FusionPlan, fuse, fused_scores, plan_fusion
from xsell.models.config import BASELINES, BLEND, BlendConfig, BlendRole, LearningConfig
from xsell.models.registry import build_model
from xsell.parallel import available_cores
from xsell.progress import progress
from xsell.sparse import distinct, keys_in

log = logging.getLogger(__name__)


class TrainingSets:
    """``TrainingData`` of one set of lines per distinct ``interactions`` config (built once), all
    from the lines' ``encode_lines`` (given, or encoded on first use; the frame is not kept).

    Every ``TrainingData`` built is kept until the sets are dropped (a sweep comes back to each
    config); the lines are kept until ``release_lines`` (then no other config can be built). The
    basket matrix (``order_products``) depends only on ``basket_window_days``, so
    the configs that differ in weighting or recency share one: at millions of lines it is the
    largest matrix of the bundle (one row per order) and only the rules read it. Likewise the
    cell of every line (``cell_index``, per ``min_variant_support``): a config that differs in
    weighting, recency or scaling only weighs the cells again; it is dropped with the lines. At
    ``level="product"`` the sets are built without the variant matrix (no model reads it)."""

    def __init__(
        self, lines: pd.DataFrame | CodedLines, customers: pd.DataFrame | None, countries: pd.Series, *, level: str,
        as_of: pd.Timestamp | None,
    ):  # fmt: skip
        self.lines: pd.DataFrame | CodedLines | None = lines
        self.customers, self.countries, self.level, self.as_of = customers, countries, level, as_of
        self._built: dict[str, TrainingData] = {}
        self._baskets: dict[int, InteractionMatrix] = {}
        self._cells: dict[int | None, CellIndex] = {}

    def get(self, cfg: InteractionsConfig) -> TrainingData:
        key = cfg.model_dump_json()
        if key not in self._built:
            if self.lines is None:
                raise ValueError(f"training sets: the lines were released before interactions {key} were built")
            if not isinstance(self.lines, CodedLines):
                self.lines = encode_lines(self.lines)
            variants = needs_variants(self.level)  # product-level models never read the variant matrix
            index = cfg.min_variant_support if variants else None
            if index not in self._cells:
                self._cells[index] = cell_index(self.lines, cfg, variants=variants)
            data = build_training_data(
                self.lines, self.customers, cfg, level=self.level, as_of=self.as_of, countries=self.countries,
                order_products=self._baskets.get(cfg.basket_window_days), cells=self._cells[index], variants=variants,
            )  # fmt: skip
            self._baskets[cfg.basket_window_days] = data.baskets
            self._built[key] = data
        return self._built[key]

    def release_lines(self, still_needed: Iterable[InteractionsConfig]) -> None:
        """Free the lines (their codes: a copy of the window's) and their cell indexes once
        every config in ``still_needed`` is built."""
        if all(cfg.model_dump_json() in self._built for cfg in still_needed):
            self.lines = None
            self._cells = {}


@dataclass
class TunedConfig:
    """The best configuration of one model on the validation window."""

    name: str
    learning: LearningConfig
    """The root training sections with the winning overrides applied."""
    overrides: dict[str, Any]
    value: float


@dataclass
class Tuned(TunedConfig):
    """A ``TunedConfig`` with its validation fit, which the blend search scores."""

    model: Recommender
    """Fitted on the validation split's training part."""
    data: TrainingData

    def config(self) -> TunedConfig:
        """Without the fit and its matrices (what the test window needs; frees their memory)."""
        return TunedConfig(self.name, self.learning, self.overrides, self.value)


@dataclass
class TuningResult:
    """Per model its best configuration; every trial's validation value; the tuned blend."""

    tuned: dict[str, TunedConfig]
    trials: pd.DataFrame
    """``model, trial, overrides, value`` (one row per configuration tried)."""
    blend: BlendConfig | None = None
    blend_value: float | None = None
    blend_trials: pd.DataFrame = field(default_factory=pd.DataFrame)


def tune_models(
    names: Sequence[str],
    base: LearningConfig,
    sets: TrainingSets,
    target: Targets,
    *,
    sweep: SweepConfig | None,
    k: int,
    prune_ratio: float = 0.0,
    item_map: pd.Series | None = None,
) -> tuple[dict[str, Tuned], pd.DataFrame]:
    """Fit configurations of every model on ``sets`` and score them on ``target`` (NDCG@k).

    Round 0 fits every model as configured. A model whose value is below ``prune_ratio`` of the
    best of round 0 cannot win and is not tuned further (logged). The others' configurations are
    then tried round by round (each model's next one in turn), until they run out or
    ``sweep.max_seconds`` is spent (logged), so a time limit shortens every model's search alike.
    The lines of ``sets`` are released (``TrainingSets.release_lines``) once every configuration
    left has its matrices built.
    """
    tuned: dict[str, Tuned] = {}
    rows: list[dict[str, Any]] = []
    trials = {name: _trials(name, base, sweep) for name in names}
    buyers = list(target.buyers)
    started = time.perf_counter()

    def run(name: str, label: str, overrides: dict[str, Any]) -> None:
        learning = apply_overrides(base, overrides)
        data = sets.get(learning.interactions)
        model = build_model(name, learning.models, learning.rules)
        model.fit(data)
        value = rank_value(model.recommend(buyers, n=k), target, k, item_map=item_map)
        rows.append({"model": name, "trial": label, "overrides": dict(overrides), "value": value})
        best = tuned.get(name)
        if best is None or value > best.value:
            tuned[name] = Tuned(name, learning, dict(overrides), value, model, data)

    for name in progress(list(names), desc="tuning: the configured models", logger=log):
        run(name, *trials[name][0])
    best_first = max((t.value for t in tuned.values()), default=0.0)
    searched = [n for n in names if len(trials[n]) > 1 and tuned[n].value >= prune_ratio * best_first]
    for name in sorted(set(n for n in names if len(trials[n]) > 1) - set(searched)):
        log.info("tuning: %s not searched further: %.4f is below %.0f%% of the best configured model (%.4f), it cannot win",
                 name, tuned[name].value, 100 * prune_ratio, best_first)  # fmt: skip
    rounds = [(n, trials[n][i]) for i in range(1, max((len(trials[n]) for n in searched), default=1)) for n in searched if i < len(trials[n])]
    limit = sweep.max_seconds if sweep is not None else None
    interactions = [apply_overrides(base, overrides).interactions for _, (_, overrides) in rounds]
    sets.release_lines(interactions)
    for done, (name, (label, overrides)) in enumerate(progress(rounds, desc="tuning: the search", logger=log)):
        if limit is not None and time.perf_counter() - started > limit:
            log.info("tuning: evaluation.sweep.max_seconds=%s spent; %d of %d search configurations left untried", limit, len(rounds) - done, len(rounds))
            break
        run(name, label, overrides)
        sets.release_lines(interactions[done + 1 :])
    for name, best in tuned.items():
        log.info("tuning: %s best %.4f with %s", name, best.value, best.overrides or "the configured values")
    return tuned, pd.DataFrame(rows, columns=["model", "trial", "overrides", "value"])


def _trials(name: str, base: LearningConfig, sweep: SweepConfig | None) -> list[tuple[str, dict[str, Any]]]:
    if sweep is None or not sweep.params:
        return [(f"{name} t00 as configured", {})]
    return expand_sweep(sweep, base, base.models.seed, name)


def _weighting_scorer(
    plan: FusionPlan, target: Targets, k: int, item_map: pd.Series | None
) -> Callable[[tuple[float, float, float | None]], float]:
    """NDCG@k on ``target`` (its buyers are the plan's, in order) of the results ``fuse`` gives
    ``plan`` with one (anchor weight, prior weight, shrinkage): through ``rank_value`` when
    variant-level ids must map to products first, else by ``_relevant_ranks``."""
    if item_map is None:
        return _relevant_ranks(plan, target, k)
    buyers = np.asarray(target.buyers, dtype=object)

    def value(point: tuple[float, float, float | None]) -> float:
        wa, wp, shrink = point
        idx, sc = fuse(plan, {"personal": 1.0, "anchor": wa, "prior": wp}, shrink, k)
        ids = np.full(idx.shape, None, dtype=object)
        ids[idx >= 0] = plan.items.id_of(idx[idx >= 0])
        return rank_value(Ranking(buyers, ids, sc), target, k, item_map=item_map)

    return value


def _relevant_ranks(plan: FusionPlan, target: Targets, k: int) -> Callable[[tuple[float, float, float | None]], float]:
    """``_weighting_scorer`` on item codes, without ranking every candidate: NDCG@k needs only
    where the relevant candidates land. ``fuse`` orders a buyer's candidates by blend score, ties
    by slot, so a relevant candidate with a positive score is at rank ``r`` = candidates with a
    higher score + candidates with the same score in an earlier slot; it is a hit when ``r < k``.
    Only the buyers holding a relevant candidate are scored (the others have no hit)."""
    n_buyers, width = plan.slot_item.shape
    n_items = np.int64(max(len(plan.items), 1))
    rel = sp.csr_matrix(target.relevant)
    n_rel = n_relevant(rel)
    col = plan.items.index(target.items.ids, missing="ignore")
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    mapped = col[rel.indices]
    relevant_keys = rows[mapped >= 0] * n_items + mapped[mapped >= 0]
    keys = np.arange(n_buyers, dtype=np.int64)[:, None] * n_items + plan.slot_item
    cell_row, cell_slot = np.nonzero(keys_in(keys.ravel(), relevant_keys).reshape(keys.shape) & (plan.slot_item >= 0))
    held = distinct(cell_row)
    at = np.searchsorted(held, cell_row)  # the cell's row among ``held``
    nth = np.arange(len(at)) - np.searchsorted(at, at)  # the cell is its row's nth relevant one (cells are row-major)
    role_scores = {role: scores[held] for role, scores in plan.role_scores.items()}
    history = plan.history[held]
    rounds = [np.flatnonzero(nth == t) for t in range(int(nth.max()) + 1 if len(nth) else 0)]  # round 0: one cell per held row, in order
    earlier = [np.arange(width)[None, :] < cell_slot[cells, None] for cells in rounds]

    def value(point: tuple[float, float, float | None]) -> float:
        if n_buyers == 0:
            return 0.0
        wa, wp, shrink = point
        hits = np.zeros((n_buyers, k), dtype=bool)
        if len(held):
            dense = fused_scores(role_scores, history, {"personal": 1.0, "anchor": wa, "prior": wp}, shrink)
            for t, cells in enumerate(rounds):
                others = dense if t == 0 else dense[at[cells]]
                mine = dense[at[cells], cell_slot[cells]][:, None]
                rank = np.count_nonzero(others > mine, axis=1) + np.count_nonzero((others == mine) & earlier[t], axis=1)
                hit = np.isfinite(mine[:, 0]) & (rank < k)
                hits[cell_row[cells[hit]], rank[hit]] = True
        return float(ndcg_at_k(hits, n_rel, k).mean())

    return value


def _search_weights(
    value: Callable[[tuple[float, float, float | None]], float],
    anchor_grid: list[float],
    prior_grid: list[tuple[float, float | None]],
    *,
    whole: bool,
) -> dict[tuple[float, float, float | None], float]:
    """Validation value of each (anchor weight, prior weight, shrinkage) scored, in scoring order:
    the whole grid, or coordinate ascent from the first anchor weight (the prior weight and its
    shrinkage jointly, then the anchor weight, while the value rises; ties keep the earlier point)."""
    scored: dict[tuple[float, float, float | None], float] = {}

    def best_of(points: list[tuple[float, float, float | None]]) -> tuple[float, float, float | None]:
        todo = list(dict.fromkeys(p for p in points if p not in scored))
        with ThreadPoolExecutor(max_workers=_search_threads()) as pool:  # numpy releases the GIL
            scored.update(zip(todo, pool.map(value, todo)))
        return points[max(range(len(points)), key=lambda i: (scored[points[i]], -i))]

    if whole:
        best_of([(wa, wp, s) for wa in anchor_grid for wp, s in prior_grid])
        return scored
    current: tuple[float, float, float | None] | None = None
    wa = anchor_grid[0]
    while True:
        wp, s = best_of([(wa, p, q) for p, q in prior_grid])[1:]
        found = best_of([(a, wp, s) for a in anchor_grid])
        if current is not None and scored[found] <= scored[current]:
            return scored
        current, wa = found, found[0]


def _search_threads() -> int:
    """Weightings scored at once: one per core this process may use, at most 4 (each holds a
    few dense buyers x candidates arrays)."""
    return min(4, available_cores())


def tune_blend(
    tuned: Mapping[str, Tuned],
    target: Targets,
    search: BlendSearchConfig,
    base: BlendConfig,
    *,
    k: int,
    item_map: pd.Series | None = None,
) -> tuple[BlendConfig | None, float | None, pd.DataFrame]:
    """Best blend on the validation window: personal = one of the ``personal_candidates`` best
    learned models; anchor = ``base.anchor`` (the rules) or, with ``learned_anchor``, the best
    other learned model; prior = the best popularity baseline; weights and prior shrinkage from
    ``search``. ``None`` when no learned model was tuned."""
    learned = sorted((n for n in tuned if n not in BASELINES and n != BLEND), key=lambda n: -tuned[n].value)
    personals = [n for n in learned if n != base.anchor][: search.personal_candidates]
    if not personals:
        return None, None, pd.DataFrame()
    baselines = [n for n in BASELINES if n in tuned]
    prior = max(baselines, key=lambda n: tuned[n].value) if baselines else None
    buyers = list(target.buyers)
    depth = base.depth
    rankings: dict[str, Ranking] = {}

    def ranking(name: str) -> Ranking:
        """The model's top ``depth`` of the buyers, on first use (not every learned model is a component)."""
        if name not in rankings:
            rankings[name] = tuned[name].model.recommend(buyers, n=depth)
        return rankings[name]

    rows = []
    for personal in personals:
        owned = tuned[personal].data.buyer_items
        rows_of = owned.rows.index(buyers, missing="ignore")
        history = np.where(rows_of >= 0, np.diff(owned.matrix.indptr)[np.maximum(rows_of, 0)], 0)
        anchors: list[str | None] = [a for a in (base.anchor if base.anchor in tuned else None,) if a]
        if search.learned_anchor:
            anchors += [n for n in learned if n != personal and n not in anchors][:1]
        for anchor in anchors or [None]:
            roles: dict[BlendRole, Ranking] = {"personal": ranking(personal)}
            if anchor:
                roles["anchor"] = ranking(anchor)
            if prior:
                roles["prior"] = ranking(prior)
            plan = plan_fusion(roles, history, depth)
            value = _weighting_scorer(plan, target, k, item_map)
            anchor_grid = list(search.anchor_weights) if anchor else [0.0]
            prior_grid = [(wp, s) for wp in (search.prior_weights if prior else [0.0]) for s in (search.prior_shrinkage if wp > 0 else [None])]
            whole = search.max_grid_scorings is None or len(buyers) * len(anchor_grid) * len(prior_grid) <= search.max_grid_scorings
            for (wa, wp, shrink), v in _search_weights(value, anchor_grid, prior_grid, whole=whole).items():
                rows.append(
                    {"personal": personal, "anchor": anchor, "prior": prior, "w_anchor": wa, "w_prior": wp,
                     "prior_shrinkage": shrink, "value": v}
                )  # fmt: skip
    trials = pd.DataFrame(rows)
    best = trials.iloc[int(np.argmax(trials["value"].to_numpy()))]
    shrink = best["prior_shrinkage"]
    anchor = best["anchor"] if best["w_anchor"] > 0 and isinstance(best["anchor"], str) else None
    cfg = base.model_copy(
        update={
            "personal": best["personal"],
            "anchor": anchor,
            "prior": prior or base.prior,
            "weights": {"personal": 1.0, "anchor": float(best["w_anchor"]) if anchor else 0.0, "prior": float(best["w_prior"])},
            "prior_shrinkage": None if shrink is None or (isinstance(shrink, float) and np.isnan(shrink)) else float(shrink),
        }
    )
    log.info(
        "tuning: blend best %.4f: personal %s, anchor %s x%.2f, prior %s x%.2f (shrinkage %s); %d weightings tried",
        best["value"], cfg.personal, anchor, cfg.weights["anchor"], prior, best["w_prior"], cfg.prior_shrinkage, len(trials),
    )  # fmt: skip
    return cfg, float(best["value"]), trials
