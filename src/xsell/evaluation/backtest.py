"""The nested temporal backtest as one pure function: lines in, measured candidates out.

1. ``plan_windows``: validation and test windows adapted to the history (``evaluation.*``).
2. Validation: every model's configurations (``evaluation.sweep``) fitted before the validation
   window and scored on it; the best per model is kept; then the blend's components and weights
   are searched (``xsell.evaluation.tuning``).
3. Test: the tuned candidates (popularity baselines and the blend included) fitted before the
   cutoff and measured on the test window; a model whose validation value is far below the best
   (``evaluation.prune_ratio``) is not fitted again (it cannot win; logged).
4. Champion: the best candidate on the test window; a learned one must beat the best popularity
   baseline by ``evaluation.champion_margin``, otherwise that baseline is champion.

``refit`` then fits the champion (a blend with each component's own tuned configuration) on the
whole history for registration. No files, no MLflow: ``xsell.steps.evaluate`` does that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from xsell.evaluation.config import EvaluationConfig
from xsell.evaluation.core import evaluate_models, sequential_pairs
from xsell.evaluation.selection import Selection, select_champion
from xsell.evaluation.split import FEW_BUYERS, Split, Targets, Windows, build_targets, plan_windows, split_at
from xsell.evaluation.tuning import TrainingSets, TuningResult, tune_blend, tune_models
from xsell.frames import release_freed_memory
from xsell.interactions.build import CodedLines, buyer_countries, encode_lines
from xsell.models.base import Recommender
from xsell.models.blend import Blend
from xsell.models.config import BASELINES, BLEND, BlendConfig, BlendRole, LearningConfig
from xsell.models.registry import build_model
from xsell.progress import stage
from xsell.sparse import distinct

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One model as it competes on the test window: its tuned configuration and its fit."""

    name: str
    learning: LearningConfig
    overrides: dict
    validation: float | None
    model: Recommender


@dataclass(frozen=True)
class BacktestResult:
    """Everything measured at one cutoff (see the module docstring)."""

    windows: Windows
    targets: dict[str, Targets]
    metrics: pd.DataFrame
    """Test-window metrics of every candidate (``METRIC_COLUMNS``)."""
    item_pairs: pd.DataFrame
    tuning: TuningResult
    candidates: dict[str, Candidate]
    champion: Selection
    countries: pd.Series
    coded: CodedLines | None = None
    """``encode_lines`` of all the lines (rolling backtests and the refit reuse it)."""


WINDOW_COLUMNS: tuple[str, ...] = ("order_date", "quantity", "is_return")
"""What ``backtest`` reads of ``lines`` when it is given their codes and countries at product
level (the windows and their purchases); the ids come from the codes."""


def item_level(level: str, lines: pd.DataFrame) -> tuple[str, pd.Series | None]:
    """Item column of the pair check and the variant -> product map of variant-level models."""
    if level != "variant":
        return "product_id", None
    pairs = lines[["variant_id", "product_id"]].astype(str).drop_duplicates("variant_id")
    return "variant_id", pd.Series(pairs["product_id"].to_numpy(), index=pairs["variant_id"].to_numpy())


def candidate_names(enabled: Sequence[str]) -> list[str]:
    """The baselines (always) and the enabled models, blend last."""
    rest = [m for m in enabled if m not in BASELINES and m != BLEND]
    return list(BASELINES) + rest + ([BLEND] if BLEND in enabled else [])


def _targets(
    split: Split, countries: pd.Series, ecfg: EvaluationConfig, seed: int, what: str, coded: CodedLines | None
) -> dict[str, Targets]:
    targets = build_targets(split, countries=countries, max_buyers=ecfg.max_buyers, seed=seed, coded=coded)
    cross = targets["cross_sell"]
    if cross.n_population > 0:
        log.info("%s: %d of %d buying centers sampled (evaluation.max_buyers)", what, len(cross.buyers), cross.n_population)
    if len(cross.buyers) < FEW_BUYERS:
        log.warning(
            "%s: only %d buying centers bought a product new to them in %s..%s: the figures are noisy (a longer history "
            "or a longer evaluation.test_days helps)",
            what, len(cross.buyers), split.cutoff.date(), (split.end - pd.Timedelta(days=1)).date(),
        )  # fmt: skip
    return targets


def tune(
    lines: pd.DataFrame, customers: pd.DataFrame | None, learning: LearningConfig, ecfg: EvaluationConfig,
    windows: Windows, countries: pd.Series, coded: CodedLines | None = None,
) -> TuningResult:
    """Step 2 of the module docstring: the best configuration per model and the blend on validation."""
    names = candidate_names(learning.models.enabled)
    val = split_at(lines, windows.validation_start, windows.cutoff)
    target = _targets(val, countries, ecfg, learning.models.seed, "validation", coded)["cross_sell"]
    _, item_map = item_level(learning.models.level, lines)
    train = val.train if coded is None else coded.part(val.lines, val.train_rows)
    sets = TrainingSets(train, customers, countries, level=learning.models.level, as_of=val.cutoff)
    del val, train  # the window's positions are not needed again; ``sets`` holds its codes
    with stage("evaluate: tune on the validation window", log) as rep:
        tuned, trials = tune_models(
            [n for n in names if n != BLEND], learning, sets, target, sweep=ecfg.sweep, k=ecfg.rank_k,
            prune_ratio=ecfg.prune_ratio, item_map=item_map,
        )  # fmt: skip
        rep.counts.update(trials=len(trials), buyers=len(target.buyers))
    del sets  # the matrices no best fit uses are freed before the blend search (``tuned`` holds the others)
    release_freed_memory()
    result = TuningResult({name: t.config() for name, t in tuned.items()}, trials)  # the validation fits are not kept
    if BLEND in names:
        blend, value, blend_trials = tune_blend(
            tuned, target, ecfg.blend_search, learning.models.blend, k=ecfg.rank_k, item_map=item_map
        )
        result.blend, result.blend_value, result.blend_trials = blend, value, blend_trials
    return result


def _blend_roles(blend: BlendConfig) -> dict[BlendRole, str]:
    named: tuple[tuple[BlendRole, str | None], ...] = (("personal", blend.personal), ("anchor", blend.anchor), ("prior", blend.prior))
    return {role: name for role, name in named if name}


def _kept(tuning: TuningResult, ecfg: EvaluationConfig) -> list[str]:
    """Candidates fitted for the test window: baselines, blend components, and models whose
    validation value reaches ``prune_ratio`` of the best."""
    values = {n: t.value for n, t in tuning.tuned.items()}
    if tuning.blend_value is not None:
        values[BLEND] = tuning.blend_value
    best = max(values.values(), default=0.0)
    needed = set(BASELINES) | (set(_blend_roles(tuning.blend).values()) if tuning.blend else set())
    kept = [n for n in values if n in needed or n == BLEND or values[n] >= ecfg.prune_ratio * best]
    for name in sorted(set(values) - set(kept)):
        log.info(
            "evaluate: %s skipped on the test window: validation %.4f is below %.0f%% of the best (%.4f), it cannot win",
            name, values[name], 100 * ecfg.prune_ratio, best,
        )  # fmt: skip
    return kept


def fit_candidates(
    names: Sequence[str], tuning: TuningResult, base: LearningConfig, sets: TrainingSets
) -> dict[str, Candidate]:
    """Each candidate fitted on ``sets`` with its tuned configuration; the blend from the fitted
    components (each with its own tuned matrices)."""
    out: dict[str, Candidate] = {}
    for name in [n for n in names if n != BLEND]:
        tuned = tuning.tuned.get(name)
        learning = tuned.learning if tuned else base
        model = build_model(name, learning.models, learning.rules)
        with stage(f"fit {name}", log):
            model.fit(sets.get(learning.interactions))
        out[name] = Candidate(name, learning, tuned.overrides if tuned else {}, tuned.value if tuned else None, model)
    if BLEND in names and tuning.blend is not None:
        roles = _blend_roles(tuning.blend)
        for name in roles.values():
            if name not in out:
                out.update(fit_candidates([name], tuning, base, sets))
        personal = out[roles["personal"]]
        blend = Blend(tuning.blend, seed=base.models.seed, components={role: out[n].model for role, n in roles.items()})
        blend.assemble(sets.get(personal.learning.interactions))
        out[BLEND] = Candidate(BLEND, personal.learning, {}, tuning.blend_value, blend)
    return out


def backtest(
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    learning: LearningConfig,
    ecfg: EvaluationConfig,
    *,
    cutoff: pd.Timestamp | None = None,
    tuning: TuningResult | None = None,
    coded: CodedLines | None = None,
    countries: pd.Series | None = None,
) -> BacktestResult:
    """Steps 1-4 of the module docstring at ``cutoff`` (default: ``evaluation.cutoff`` or the
    adaptive one). ``tuning`` reuses an earlier tuning (rolling backtests) instead of tuning again;
    ``coded`` an earlier ``encode_lines(lines)`` (every window's matrices are built from it);
    ``countries`` an earlier ``buyer_countries(lines, customers)``. With both, at product level,
    ``lines`` needs only ``order_date``, ``quantity`` and ``is_return``: the ids come from the codes."""
    windows = plan_windows(lines, ecfg, cutoff)
    log.info("evaluate: %s", windows.describe())
    if countries is None:
        countries = buyer_countries(lines, customers)
    if coded is None:
        with stage("evaluate: encode the order lines", log):
            coded = encode_lines(lines)
    if tuning is None:
        tuning = tune(lines, customers, learning, ecfg, windows, countries, coded)
    test = split_at(lines, windows.cutoff, windows.end)
    targets = _targets(test, countries, ecfg, learning.models.seed, "test", coded)
    item_col, item_map = item_level(learning.models.level, lines)
    n_train = len(test.train_rows)
    sets = TrainingSets(coded.part(test.lines, test.train_rows), customers, countries, level=learning.models.level, as_of=test.cutoff)
    with stage("evaluate: item pairs of the test window", log) as rep:
        pairs = sequential_pairs(test, window_days=ecfg.item_pairs.window_days, item_col=item_col, coded=coded)
        anchors = sorted(set(pd.unique(pairs["x"].astype(str))) & _trained_items(test, item_col, coded))
        rep.counts.update(pairs=len(pairs), anchors=len(anchors))
    del test  # the window's positions are not needed again (its codes are in ``sets``)
    with stage(f"evaluate: fit at cutoff {windows.cutoff.date()}", log) as rep:
        candidates = fit_candidates(_kept(tuning, ecfg), tuning, learning, sets)
        rep.counts.update(models=len(candidates), train_lines=n_train)
    del sets  # the window's codes and the matrices the fits did not keep are freed before the scoring
    release_freed_memory()
    with stage("evaluate: score the test window", log) as rep:
        models = {name: c.model for name, c in candidates.items()}
        metrics, item_pairs = evaluate_models(
            models, targets, ecfg, pairs=pairs, anchors=anchors, countries=countries, item_map=item_map
        )
        rep.counts.update({f"{k}_buyers": len(t.buyers) for k, t in targets.items()}, pairs=len(pairs))
    champion = select_champion(metrics, ecfg.rank_metric, ecfg.rank_k, margin=ecfg.champion_margin)
    return BacktestResult(windows, targets, metrics, item_pairs, tuning, candidates, champion, countries, coded)


def _trained_items(split: Split, item_col: str, coded: CodedLines) -> set[str]:
    """The ids of ``item_col`` in the split's train lines (from the codes where they hold the column)."""
    rows, encoded = coded.rows(split.lines), coded.column(item_col)
    if rows is None or encoded is None:
        return set(pd.unique(split.lines[item_col].take(split.train_rows).astype(str)))
    return set(encoded[1][distinct(encoded[0][rows[split.train_rows]])])


def refit(
    candidate: Candidate,
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    countries: pd.Series,
    candidates: Mapping[str, Candidate],
    coded: CodedLines | None = None,
) -> Recommender:
    """``candidate`` fitted again, with its tuned configuration, on all ``lines`` (a blend: each
    component with its own configuration, from ``candidates``; components with the same
    interaction settings share one set of matrices). ``coded``: ``encode_lines(lines)`` if known."""
    sets = TrainingSets(lines if coded is None else coded, customers, countries, level=candidate.learning.models.level, as_of=None)
    return _refit(candidate, sets, candidates)


def _refit(candidate: Candidate, sets: TrainingSets, candidates: Mapping[str, Candidate]) -> Recommender:
    if candidate.name != BLEND:
        return build_model(candidate.name, candidate.learning.models, candidate.learning.rules).fit(
            sets.get(candidate.learning.interactions)
        )
    blend = candidate.model
    assert isinstance(blend, Blend)
    roles = _blend_roles(blend.config)
    parts = {role: _refit(candidates[name], sets, candidates) for role, name in roles.items()}
    fresh = Blend(blend.config, seed=blend.seed, components=parts)
    return fresh.assemble(sets.get(candidates[roles["personal"]].learning.interactions))
