"""Step ``xsell evaluate``: temporal backtest of every model against the baselines.

split -> build_interactions on the train part -> train_models -> recommend for the evaluated
buying centers -> metrics -> ``<workdir>/evaluation/*.csv`` + printed table -> MLflow
(one parent run, one nested run per model / sweep configuration) -> registry
(best model as ``champion`` or ``challenger``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell.config import Config
from xsell.errors import InputDataError
from xsell.evaluation.config import BASELINES, EvaluationConfig
from xsell.evaluation.core import evaluate_rankings, evaluate_similar_items, sequential_pairs
from xsell.evaluation.report import format_table, metrics_table, plot_metric_vs_k
from xsell.evaluation.selection import Selection, rank_metric_key, rank_values, select_best
from xsell.evaluation.split import Split, Targets, build_targets, evaluation_cutoffs, temporal_split
from xsell.interactions.build import buyer_countries
from xsell.evaluation.sweep import apply_overrides, expand_sweep, sweep_models
from xsell.fingerprint import lines_fingerprint
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.progress import progress, stage
from xsell.schema import METRIC_COLUMNS

if TYPE_CHECKING:
    from xsell.models.base import Recommender
    from xsell.tracking import Registration, Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationResult:
    """What ``run_evaluate`` computed and wrote.

    ``metrics`` (``METRIC_COLUMNS``, targets cross_sell and reorder) and ``item_pairs`` are for
    the main cutoff; ``rolling`` adds a ``cutoff`` column over all cutoffs; ``sweep`` adds a
    ``trial`` column. ``registration`` is set when a model was registered.
    """

    cutoff: pd.Timestamp
    end: pd.Timestamp
    metrics: pd.DataFrame
    item_pairs: pd.DataFrame
    best: Selection | None
    rolling: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    run_id: str | None = None
    registration: Registration | None = None
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Evaluated:
    metrics: pd.DataFrame
    item_pairs: pd.DataFrame
    models: dict[str, Recommender]


# -- pure-ish core: fitted models in, metrics out ---------------------------------------------
def evaluate_models(
    models: Mapping[str, Recommender],
    targets: Mapping[str, Targets],
    cfg: EvaluationConfig,
    *,
    pairs: pd.DataFrame | None = None,
    anchors: Sequence[str] = (),
    countries: pd.Series | None = None,
    item_map: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank every target's buyers with every model and score the rankings.

    ``cross_sell`` rankings exclude owned items (bought before the cutoff, as the model saw them
    in training); ``reorder`` rankings are the model's plain ranking without that exclusion.
    ``pairs`` (from ``sequential_pairs``) are scored on ``similar_items`` of ``anchors``.
    Returns (metrics, item_pairs) frames with ``METRIC_COLUMNS``.
    """
    n = max(cfg.k)
    frames = []
    for target in targets.values():
        buyers = list(target.buyers)
        rankings = {name: model.recommend(buyers, n=n, exclude_owned=target.name == "cross_sell") for name, model in models.items()}
        frames.append(evaluate_rankings(rankings, target, cfg.k, item_map=item_map))
    metrics = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(METRIC_COLUMNS))
    if pairs is None or pairs.empty or not len(anchors):
        return metrics, pd.DataFrame(columns=list(METRIC_COLUMNS))
    similar = {name: model.similar_items(list(anchors), n=cfg.item_pairs.k) for name, model in models.items()}
    return metrics, evaluate_similar_items(similar, pairs, cfg.item_pairs.k, countries=countries)


# -- helpers -------------------------------------------------------------------------------
def _read_lines(wd: Workdir) -> pd.DataFrame:
    return read_canonical(wd.order_lines)


def _fingerprint(path: Path, lines: pd.DataFrame, split: Split, targets: Mapping[str, Targets]) -> dict[str, Any]:
    return {
        **lines_fingerprint(path, lines),
        "cutoff": str(split.cutoff.date()),
        "test_end": str((split.end - pd.Timedelta(days=1)).date()),
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "buyers": {name: len(t.buyers) for name, t in targets.items()},
        "new_buyers": targets["cross_sell"].n_new_buyers,
    }


def _item_level(cfg: Config, lines: pd.DataFrame) -> tuple[str, pd.Series | None]:
    """Item column of the pair check and the variant -> product map of variant-level models."""
    if cfg.models.level != "variant":
        return "product_id", None
    pairs = lines[["variant_id", "product_id"]].astype(str).drop_duplicates("variant_id")
    return "variant_id", pd.Series(pairs["product_id"].to_numpy(), index=pairs["variant_id"].to_numpy())


def _train(train_lines: pd.DataFrame, cfg: Config, countries: pd.Series, enabled: Sequence[str], as_of: pd.Timestamp | None) -> dict[str, Recommender]:
    from xsell.interactions.build import build_interactions
    from xsell.steps.train import train_models

    interactions = build_interactions(train_lines, cfg.interactions, as_of=as_of)
    models_cfg = cfg.models.model_copy(update={"enabled": list(enabled)})
    return train_models(interactions, countries, models_cfg, rules=cfg.rules)


def _evaluate_at(
    lines: pd.DataFrame, cutoff: pd.Timestamp, cfg: Config, countries: pd.Series, enabled: Sequence[str]
) -> tuple[Split, dict[str, Targets], _Evaluated]:
    split = temporal_split(lines, cfg.evaluation, cutoff)
    targets = build_targets(split, item_col="product_id", countries=countries)
    item_col, item_map = _item_level(cfg, lines)
    with stage(f"evaluate: train at cutoff {split.cutoff.date()}", log) as rep:
        models = _train(split.train, cfg, countries, enabled, split.cutoff)
        rep.counts.update(models=len(models), train_lines=len(split.train))
    with stage("evaluate: score", log) as rep:
        pairs = sequential_pairs(split, window_days=cfg.evaluation.item_pairs.window_days, item_col=item_col)
        catalog = set(split.train[item_col].astype(str))
        anchors = sorted(set(pairs["x"]) & catalog)
        metrics, item_pairs = evaluate_models(
            models, targets, cfg.evaluation, pairs=pairs, anchors=anchors, countries=countries, item_map=item_map
        )
        rep.counts.update({f"{k}_buyers": len(t.buyers) for k, t in targets.items()}, pairs=len(pairs))
    return split, targets, _Evaluated(metrics, item_pairs, models)


def _with_baselines(enabled: Sequence[str]) -> list[str]:
    return list(BASELINES) + [m for m in enabled if m not in BASELINES]


# -- the step --------------------------------------------------------------------------------
def run_evaluate(cfg: Config) -> EvaluationResult:
    """Backtest, write ``<workdir>/evaluation/``, print the table, track and register."""
    wd = Workdir(cfg.workdir)
    ecfg = cfg.evaluation
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lines = _read_lines(wd)
    countries = buyer_countries(lines)
    cutoffs = evaluation_cutoffs(lines, ecfg)
    enabled = _with_baselines(cfg.models.enabled)

    t = time.perf_counter()
    split, targets, main = _evaluate_at(lines, cutoffs[-1], cfg, countries, enabled)
    timings["main"] = time.perf_counter() - t
    if len(targets["cross_sell"].buyers) == 0:
        raise InputDataError(
            f"no buying center bought a product new to it in the test window {split.cutoff.date()}.."
            f"{(split.end - pd.Timedelta(days=1)).date()}: nothing to rank models on; set an earlier "
            "evaluation.cutoff or a longer evaluation.test_days",
            file=wd.order_lines,
        )

    rolling = None
    if len(cutoffs) > 1:
        t = time.perf_counter()
        frames = [main.metrics.assign(cutoff=str(split.cutoff.date()))]
        for cut in progress(cutoffs[:-1], desc="rolling cutoffs", logger=log):
            s, _, ev = _evaluate_at(lines, cut, cfg, countries, enabled)
            frames.append(ev.metrics.assign(cutoff=str(s.cutoff.date())))
        rolling = pd.concat(frames, ignore_index=True)
        timings["rolling"] = time.perf_counter() - t

    trials: list[tuple[str, dict[str, Any], Config, _Evaluated]] = []
    if ecfg.sweep is not None and ecfg.sweep.params:
        t = time.perf_counter()
        names = sweep_models(ecfg.sweep, cfg.models.enabled)
        for name, overrides in progress(expand_sweep(ecfg.sweep, cfg, cfg.models.seed), desc="sweep trials", logger=log):
            trial_cfg = apply_overrides(cfg, overrides)
            log.info("sweep %s", name)
            _, _, ev = _evaluate_at(lines, split.cutoff, trial_cfg, countries, names)
            trials.append((name, overrides, trial_cfg, ev))
        timings["sweep"] = time.perf_counter() - t
    sweep = (
        pd.concat([ev.metrics.assign(trial=name) for name, _, _, ev in trials], ignore_index=True) if trials else None
    )

    files = _write_outputs(wd, main, rolling, sweep)
    table = metrics_table(main.metrics, ecfg.rank_k, rank_metric=ecfg.rank_metric)
    title = (
        f"cross_sell, all countries, k={ecfg.rank_k}; cutoff {split.cutoff.date()}, "
        f"test {split.cutoff.date()}..{(split.end - pd.Timedelta(days=1)).date()}, "
        f"{targets['cross_sell'].n_new_buyers} new buying centers not evaluated"
    )
    print(format_table(table, title))
    best = select_best(main.metrics, ecfg.rank_metric, ecfg.rank_k)
    timings["total_before_tracking"] = time.perf_counter() - t0

    run_id = registration = None
    if cfg.mlflow.enabled:
        run_id, registration = _track(cfg, lines, split, targets, main, trials, files, timings)
    return EvaluationResult(
        cutoff=split.cutoff, end=split.end, metrics=main.metrics, item_pairs=main.item_pairs, best=best,
        rolling=rolling, sweep=sweep, run_id=run_id, registration=registration, files=files,
    )


def _write_outputs(wd: Workdir, main: _Evaluated, rolling: pd.DataFrame | None, sweep: pd.DataFrame | None) -> dict[str, Path]:
    wd.evaluation.mkdir(parents=True, exist_ok=True)
    files = {"metrics": wd.metrics, "item_pairs": wd.evaluation / "item_pairs.csv"}
    main.metrics[list(METRIC_COLUMNS)].to_csv(files["metrics"], index=False)
    main.item_pairs[list(METRIC_COLUMNS)].to_csv(files["item_pairs"], index=False)
    if rolling is not None:
        files["rolling"] = wd.evaluation / "rolling.csv"
        rolling.to_csv(files["rolling"], index=False)
    if sweep is not None:
        files["sweep"] = wd.evaluation / "sweep.csv"
        sweep.to_csv(files["sweep"], index=False)
    files["plot"] = plot_metric_vs_k(main.metrics, wd.evaluation / "metrics_vs_k.png")
    for name, path in files.items():
        log.info("wrote %s: %s", name, path)
    return files


def _track(
    cfg: Config,
    lines: pd.DataFrame,
    split: Split,
    targets: Mapping[str, Targets],
    main: _Evaluated,
    trials: Sequence[tuple[str, dict[str, Any], Config, _Evaluated]],
    files: Mapping[str, Path],
    timings: dict[str, float],
) -> tuple[str, Registration | None]:
    from xsell.tracking import Tracker

    ecfg = cfg.evaluation
    tracker = Tracker(cfg.tracking_uri, cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    key = rank_metric_key(ecfg.rank_metric, ecfg.rank_k)
    registration = None
    with stage("evaluate: track", log), tracker.run(f"evaluate {split.cutoff.date()}", tags={"xsell.step": "evaluate"}) as run_id:
        tracker.log_config(cfg)
        tracker.log_fingerprint(_fingerprint(Workdir(cfg.workdir).order_lines, lines, split, targets))
        tracker.log_code_version()
        tracker.log_metrics(pd.concat([main.metrics, main.item_pairs]), per_country=False, prefix_model=True)
        for name in files:
            tracker.log_artifact(files[name], "evaluation")
        for name, model in main.models.items():
            with tracker.run(name, nested=True, tags={"xsell.model": name}):
                tracker.log_params(model.get_params())
                both = pd.concat([main.metrics, main.item_pairs])
                tracker.log_metrics(both[both["model"] == name], prefix_model=False)
        for trial, overrides, _, ev in trials:
            with tracker.run(trial, nested=True, tags={"xsell.sweep": "1"}):
                tracker.log_params(overrides)
                tracker.log_metrics(pd.concat([ev.metrics, ev.item_pairs]), per_country=False)
        if ecfg.register_best:
            t = time.perf_counter()
            registration = _register(cfg, tracker, lines, main, trials, key)
            timings["register"] = time.perf_counter() - t
        tracker.log_timings(timings)
    return run_id, registration


def _register(
    cfg: Config,
    tracker: Tracker,
    lines: pd.DataFrame,
    main: _Evaluated,
    trials: Sequence[tuple[str, dict[str, Any], Config, _Evaluated]],
    key: str,
) -> Registration | None:
    """Register the best non-baseline model of the main run and the sweep (refit on all lines)."""
    ecfg = cfg.evaluation
    candidates: list[tuple[float, str, Config, str, Recommender]] = []
    best = select_best(main.metrics, ecfg.rank_metric, ecfg.rank_k)
    if best is None:
        log.warning("no non-baseline model evaluated: nothing to register")
        return None
    candidates.append((best.value, best.model, cfg, "main", main.models[best.model]))
    for trial, _, trial_cfg, ev in trials:
        values = rank_values(ev.metrics, ecfg.rank_metric, ecfg.rank_k)
        values = values[~values.index.isin(list(BASELINES))]
        if not values.empty:
            model = str(values.index[0])
            candidates.append((float(values.iloc[0]), model, trial_cfg, trial, ev.models[model]))
    value, model_name, model_cfg, origin, fitted = max(candidates, key=lambda c: c[0])
    with tracker.run(f"register {model_name}", nested=True, tags={"xsell.model": model_name, "xsell.origin": origin}):
        if ecfg.refit_full:
            countries = buyer_countries(lines)
            with stage(f"evaluate: refit {model_name} on all lines", log):
                fitted = _train(lines, model_cfg, countries, [model_name], None)[model_name]
        tracker.log_params(fitted.get_params())
        tracker.log_metric_values({key: value})
        model_dir = Workdir(cfg.workdir).evaluation / "registered" / model_name
        fitted.save(model_dir)
        return tracker.register_best(
            registered_model=cfg.mlflow.registered_model,
            model=model_name,
            model_dir=model_dir,
            value=value,
            metric=key,
            baseline_values=best.baseline_values,
            margin=ecfg.champion_margin,
            tags={"xsell.origin": origin, "xsell.refit_full": str(ecfg.refit_full), "xsell.config_hash": model_cfg.hash()},
        )


__all__ = ["EvaluationResult", "evaluate_models", "run_evaluate"]
