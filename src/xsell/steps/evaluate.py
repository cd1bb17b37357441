"""Step ``xsell evaluate``: the nested temporal backtest with its files, MLflow runs and registry.

Reads the canonical tables, runs ``xsell.evaluation.backtest.backtest`` (tune on the validation
window, measure every candidate, popularity included, on the test window, pick the champion),
writes ``<workdir>/evaluation/`` (``metrics.csv``, ``item_pairs.csv``, ``sweep.csv``,
``blend_search.csv``, ``champion.json``, ``rolling.csv`` for rolling backtests, the metric-vs-k plot),
prints the table and tracks it all in MLflow (one parent run, a nested run per candidate and per
tuning trial). The champion is refit on the whole history and registered (``champion`` alias; see
``xsell.evaluation.selection.decide_alias``), so a retrain always leaves a champion to score with.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell.config import Config
from xsell.errors import InputDataError
from xsell.evaluation.backtest import WINDOW_COLUMNS, BacktestResult, backtest, refit
from xsell.evaluation.report import format_table, metrics_table
from xsell.evaluation.selection import Selection, rank_metric_key
from xsell.evaluation.split import evaluation_cutoffs
from xsell.fingerprint import lines_fingerprint, sha256_json
from xsell.frames import release_freed_memory
from xsell.interactions.build import buyer_countries, encode_lines
from xsell.io.layout import Workdir
from xsell.io.plots import plot_metric_vs_k
from xsell.io.readers import read_canonical
from xsell.io.writers import atomic_write, write_json
from xsell.models.config import BASELINES, BLEND
from xsell.progress import progress, stage
from xsell.schema import LEARNING_LINE_COLUMNS, METRIC_COLUMNS
from xsell.steps import handoff

if TYPE_CHECKING:
    from xsell.tracking import Registration, Tracker

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class EvaluationResult:
    """What ``run_evaluate`` computed and wrote.

    ``metrics`` (``METRIC_COLUMNS``, targets cross_sell and reorder) and ``item_pairs`` are for
    the main cutoff; ``rolling`` adds a ``cutoff`` column over all cutoffs; ``sweep`` lists every
    tuning trial. ``registration`` is set when a model was registered.
    """

    cutoff: pd.Timestamp
    end: pd.Timestamp
    metrics: pd.DataFrame
    item_pairs: pd.DataFrame
    champion: Selection
    rolling: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    run_id: str | None = None
    registration: Registration | None = None
    files: dict[str, Path] = field(default_factory=dict)


def _check_targets(res: BacktestResult, wd: Workdir) -> None:
    if len(res.targets["cross_sell"].buyers) == 0:
        raise InputDataError(
            f"no buying center bought a product new to it in the test window {res.windows.cutoff.date()}.."
            f"{(res.windows.end - pd.Timedelta(days=1)).date()}: nothing to rank models on; set an earlier "
            "evaluation.cutoff or a longer evaluation.test_days",
            file=wd.order_lines,
        )


def run_evaluate(cfg: Config) -> EvaluationResult:
    """Backtest, write ``<workdir>/evaluation/``, print the table, track and register."""
    wd = Workdir(cfg.workdir)
    ecfg = cfg.evaluation
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lines = read_canonical(wd.order_lines, columns=list(LEARNING_LINE_COLUMNS))
    assert lines is not None  # required: a missing table raised
    customers = read_canonical(wd.customers, required=False)
    learning = cfg.learning()
    cutoffs = evaluation_cutoffs(lines, ecfg)
    countries = buyer_countries(lines, customers)
    with stage("evaluate: encode the order lines", log):
        coded = encode_lines(lines)
    handoff.offer([wd.order_lines, wd.customers], coded, countries)  # ``score`` encodes the same lines
    if learning.models.level == "product":  # the codes hold the ids: the windows need dates, quantities, returns
        lines = lines[[c for c in WINDOW_COLUMNS if c in lines.columns]]
        release_freed_memory()  # the id texts (~2 GiB at 20M lines)
    main = backtest(lines, customers, learning, ecfg, cutoff=cutoffs[-1], coded=coded, countries=countries)
    timings["main"] = time.perf_counter() - t0
    _check_targets(main, wd)

    rolling = None
    if len(cutoffs) > 1:
        t = time.perf_counter()
        frames = [main.metrics.assign(cutoff=str(main.windows.cutoff.date()))]
        for cut in progress(cutoffs[:-1], desc="rolling cutoffs", logger=log):
            earlier = backtest(lines, customers, learning, ecfg, cutoff=cut, tuning=main.tuning, coded=coded, countries=countries)
            frames.append(earlier.metrics.assign(cutoff=str(earlier.windows.cutoff.date())))
        rolling = pd.concat(frames, ignore_index=True)
        timings["rolling"] = time.perf_counter() - t

    sweep = main.tuning.trials.assign(overrides=main.tuning.trials["overrides"].map(lambda o: json.dumps(o, default=str)))
    files = _write_outputs(wd, main, rolling, sweep, ecfg)
    table = metrics_table(main.metrics, ecfg.rank_k, rank_metric=ecfg.rank_metric)
    w = main.windows
    title = (
        f"cross_sell, all countries, k={ecfg.rank_k}; {w.describe()}; "
        f"{main.targets['cross_sell'].n_new_buyers} new buying centers not evaluated"
    )
    print(format_table(table, title))
    print(f"champion: {main.champion.summary()}")
    timings["total_before_tracking"] = time.perf_counter() - t0

    run_id = registration = None
    if cfg.mlflow.enabled:
        run_id, registration = _track(cfg, lines, customers, main, files, timings)
    return EvaluationResult(
        cutoff=w.cutoff, end=w.end, metrics=main.metrics, item_pairs=main.item_pairs, champion=main.champion,
        rolling=rolling, sweep=sweep, run_id=run_id, registration=registration, files=files,
    )  # fmt: skip


def links_model(res: BacktestResult) -> dict[str, Any] | None:
    """The learned model whose ``similar_items`` held the most "bought X, then Y" pairs of the test
    window (``pair_hit_rate``; rules and the blend aside): the item-to-item source of the link
    tables when popularity is champion (popularity has no item-to-item signal)."""
    pairs = res.item_pairs
    sel = pairs[(pairs["metric"] == "pair_hit_rate") & (pairs["country"] == "ALL")]
    sel = sel[~sel["model"].isin([*BASELINES, BLEND, "rules"])]
    if sel.empty:
        return None
    best = sel.sort_values("value", ascending=False, kind="stable").iloc[0]
    cand = res.candidates[str(best["model"])]
    return {"model": cand.name, "overrides": cand.overrides, "pair_hit_rate": float(best["value"])}


def _champion_record(res: BacktestResult, ecfg: Any) -> dict[str, Any]:
    sel = res.champion
    cand = res.candidates.get(sel.model)
    return {
        "model": sel.model,
        "metric": rank_metric_key(ecfg.rank_metric, ecfg.rank_k),
        "value": sel.value,
        "baselines": sel.baseline_values,
        "best_learned": sel.best_learned,
        "best_learned_value": sel.best_learned_value,
        "popularity_won": sel.is_baseline,
        "summary": sel.summary(),
        "tuned_overrides": cand.overrides if cand is not None else {},
        "blend": res.tuning.blend.model_dump(mode="json") if res.tuning.blend is not None else None,
        "links_model": links_model(res),
        "windows": {
            "validation_start": str(res.windows.validation_start.date()),
            "cutoff": str(res.windows.cutoff.date()),
            "end": str(res.windows.end.date()),
        },
    }


def _write_outputs(
    wd: Workdir, main: BacktestResult, rolling: pd.DataFrame | None, sweep: pd.DataFrame, ecfg: Any
) -> dict[str, Path]:
    wd.evaluation.mkdir(parents=True, exist_ok=True)
    files = {"metrics": wd.metrics, "item_pairs": wd.evaluation / "item_pairs.csv", "sweep": wd.evaluation / "sweep.csv"}
    frames: dict[str, pd.DataFrame] = {
        "metrics": main.metrics[list(METRIC_COLUMNS)],
        "item_pairs": main.item_pairs[list(METRIC_COLUMNS)],
        "sweep": sweep,
    }
    if not main.tuning.blend_trials.empty:
        files["blend_search"] = wd.evaluation / "blend_search.csv"
        frames["blend_search"] = main.tuning.blend_trials
    if rolling is not None:
        files["rolling"] = wd.evaluation / "rolling.csv"
        frames["rolling"] = rolling
    for name, frame in frames.items():
        atomic_write(files[name], partial(frame.to_csv, index=False))
    files["champion"] = write_json(_champion_record(main, ecfg), wd.champion)
    files["plot"] = atomic_write(wd.evaluation / "metrics_vs_k.png", lambda p: plot_metric_vs_k(main.metrics, p))
    for name, path in files.items():
        log.info("wrote %s: %s", name, path)
    return files


def _comparable(lines: pd.DataFrame, path: Path, res: BacktestResult) -> str:
    """What a registered value was measured on: the order lines and the windows."""
    w = res.windows
    return sha256_json({"data": lines_fingerprint(path, lines), "windows": [str(w.validation_start), str(w.cutoff), str(w.end)]})[:16]


def _track(
    cfg: Config,
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    main: BacktestResult,
    files: Mapping[str, Path],
    timings: dict[str, float],
) -> tuple[str, Registration | None]:
    from xsell.tracking import Tracker

    ecfg = cfg.evaluation
    tracker = Tracker(cfg.tracking_uri, cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    registration = None
    both = pd.concat([main.metrics, main.item_pairs])
    with stage("evaluate: track", log), tracker.run(f"evaluate {main.windows.cutoff.date()}", tags={"xsell.step": "evaluate"}) as run_id:
        tracker.log_config(cfg)
        tracker.log_fingerprint({**lines_fingerprint(Workdir(cfg.workdir).order_lines, lines), **_windows(main)})
        tracker.log_code_version()
        tracker.set_tags({"xsell.champion": main.champion.model})
        tracker.log_metrics(both, per_country=False, prefix_model=True)
        for name in files:
            tracker.log_artifact(files[name], "evaluation")
        for name, cand in main.candidates.items():
            with tracker.run(name, nested=True, tags={"xsell.model": name}):
                tracker.log_params({**cand.model.get_params(), **{f"tuned.{k}": v for k, v in cand.overrides.items()}})
                if cand.validation is not None:
                    tracker.log_metric_values({f"validation.{rank_metric_key(ecfg.rank_metric, ecfg.rank_k)}": cand.validation})
                tracker.log_metrics(both[both["model"] == name], prefix_model=False)
        for row in main.tuning.trials.itertuples():
            with tracker.run(str(row.trial), nested=True, tags={"xsell.sweep": "1", "xsell.model": str(row.model)}):
                tracker.log_params(dict(row.overrides) or {"configured": "as given"})
                tracker.log_metric_values({f"validation.{rank_metric_key(ecfg.rank_metric, ecfg.rank_k)}": float(row.value)})
        if ecfg.register_best:
            t = time.perf_counter()
            registration = _register(cfg, tracker, lines, customers, main)
            timings["register"] = time.perf_counter() - t
        tracker.log_timings(timings)
    return run_id, registration


def _windows(res: BacktestResult) -> dict[str, str]:
    w = res.windows
    return {"validation_start": str(w.validation_start.date()), "cutoff": str(w.cutoff.date()), "test_end": str((w.end - pd.Timedelta(days=1)).date())}


def _register(
    cfg: Config, tracker: Tracker, lines: pd.DataFrame, customers: pd.DataFrame | None, main: BacktestResult
) -> Registration:
    """Register the champion (refit on all lines unless ``evaluation.refit_full`` is off)."""
    ecfg = cfg.evaluation
    sel = main.champion
    cand = main.candidates[sel.model]
    key = rank_metric_key(ecfg.rank_metric, ecfg.rank_k)
    with tracker.run(f"register {sel.model}", nested=True, tags={"xsell.model": sel.model}):
        fitted = cand.model
        if ecfg.refit_full:
            with stage(f"evaluate: refit {sel.model} on all lines", log):
                fitted = refit(cand, lines, customers, main.countries, main.candidates, main.coded)
        tracker.log_params(fitted.get_params())
        tracker.log_metric_values({key: sel.value})
        model_dir = Workdir(cfg.workdir).evaluation / "registered" / sel.model
        shutil.rmtree(model_dir, ignore_errors=True)
        fitted.save(model_dir)
        learning_hash = cand.learning.model_dump_json()
        return tracker.register_best(
            registered_model=cfg.mlflow.registered_model,
            model=sel.model,
            model_dir=model_dir,
            value=sel.value,
            metric=key,
            baseline_values=sel.baseline_values,
            margin=ecfg.champion_margin,
            comparable=_comparable(lines, Workdir(cfg.workdir).order_lines, main),
            tags={
                "xsell.refit_full": str(ecfg.refit_full),
                "xsell.config_hash": sha256_json({"learning": learning_hash, "evaluation": ecfg.model_dump(mode="json")})[:16],
                "xsell.popularity_won": str(sel.is_baseline),
                "xsell.summary": sel.summary(),
            },
        )


__all__ = ["EvaluationResult", "run_evaluate"]
