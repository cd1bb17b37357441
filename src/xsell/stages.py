"""The stages pipelines are made of: each wires one step runner into the pipeline runner.

A stage reads what earlier stages left in ``ctx.values`` (models folder, champion, MLflow
ids), calls the step, and returns JSON-able results plus ``counts`` for its end line. Its
cache key names everything its output depends on: input file hashes and the config
sections it reads, so an unchanged ``nightly`` skips straight through.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from xsell.fingerprint import expand_inputs, file_fingerprints, sha256_file
from xsell.pipeline import RunContext, Stage

log = logging.getLogger(__name__)


def _sections(ctx: RunContext, *names: str) -> dict[str, Any]:
    dumped = ctx.cfg.model_dump(mode="json")
    return {name: dumped[name] for name in names}


def _hash_if_file(path: Path | None) -> str | None:
    return sha256_file(path) if path is not None and Path(path).is_file() else None


def _canonical_hashes(ctx: RunContext) -> dict[str, str | None]:
    wd = ctx.workdir
    return {p.name: _hash_if_file(p) for p in (wd.order_lines, wd.products, wd.customers)}


# -- ingest -----------------------------------------------------------------------------------
def _input_files(ctx: RunContext) -> list[Path]:
    data = ctx.cfg.data
    return expand_inputs(data.order_lines) + expand_inputs(data.products) + expand_inputs(data.customers)


def _input_fingerprints(ctx: RunContext) -> list[dict[str, Any]]:
    """sha256 of every input file; a memo keyed by size + mtime avoids re-hashing big exports."""
    from xsell.io.writers import read_state, write_json

    memo_file = ctx.workdir.cache / "file_hashes.json"
    memo = read_state(memo_file, "file-hash memo")
    prints = file_fingerprints(_input_files(ctx), memo if isinstance(memo, dict) else {})
    write_json({p["path"]: p for p in prints}, memo_file, indent=1)
    return prints


def _ingest_key(ctx: RunContext) -> Any:
    return {"inputs": [(p["path"], p["sha256"]) for p in _input_fingerprints(ctx)], **_sections(ctx, "data", "ingest")}


def _ingest(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.ingest import run_ingest

    summary = run_ingest(ctx.cfg)
    per_file = {Path(f["file"]).resolve().as_posix(): f for f in summary.files}
    prints = []
    for p in _input_fingerprints(ctx):
        f = per_file.get(Path(p["path"]).as_posix(), {})  # order-line files; masters have no dates
        prints.append(
            {"path": p["path"], "sha256": p["sha256"], "rows": f.get("rows_read"), "date_min": f.get("date_min"), "date_max": f.get("date_max")}
        )
    return {
        "input_fingerprints": prints,
        "counts": {
            "read": summary.rows_read,
            "accepted": summary.rows_accepted,
            "quarantined": summary.rows_quarantined,
            "excluded": summary.rows_excluded,
        },
    }


def _ingest_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    wd = ctx.workdir
    return [wd.order_lines, wd.products, wd.customers, wd.ingest_summary]


# -- train / evaluate / backtest --------------------------------------------------------------
def _train_key(ctx: RunContext) -> Any:
    return {"canonical": _canonical_hashes(ctx), **_sections(ctx, "interactions", "rules", "models")}


def _train(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.train import run_train

    result = run_train(ctx.cfg)
    return {"models_dir": str(result.run_dir), "train_dir": str(result.run_dir), "counts": {"models": len(result.models)}}


def _evaluate_key(ctx: RunContext) -> Any:
    return {
        "canonical": _canonical_hashes(ctx),
        "tracking_uri": ctx.cfg.tracking_uri,
        **_sections(ctx, "interactions", "rules", "models", "evaluation", "mlflow"),
    }


def _evaluate(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.evaluate import run_evaluate

    res = run_evaluate(ctx.cfg)
    out: dict[str, Any] = {"evaluation_run_id": res.run_id, "counts": {"cutoff": str(res.cutoff.date())}}
    out["counts"].update(champion=res.champion.model, value=round(res.champion.value, 4))
    if res.registration is not None:
        version = res.registration.version
        out["registration"] = {"version": version.version, "alias": res.registration.decision.alias, "model": version.tags.get("xsell.model")}
        out["counts"].update(registered=f"v{version.version} {res.registration.decision.alias}")
    return out


def _evaluate_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [ctx.workdir.metrics]


# -- score: the registry's champion + fresh rules on the current history ----------------------
def _champion(ctx: RunContext):
    from xsell.tracking import get_alias

    return get_alias(ctx.cfg.tracking_uri, ctx.cfg.mlflow.registered_model)


def _similarity_sources(ctx: RunContext) -> set[str]:
    """Models whose item similarity the cross-/up-sell blend reads (``recommend.*_weights``)."""
    from xsell.recommend.config import similarity_sources

    return similarity_sources(ctx.cfg.recommend)


def _newest_train_run(ctx: RunContext) -> Path | None:
    """The training run of this pipeline, else the newest one under ``models.dir``."""
    from xsell.errors import ConfigError
    from xsell.steps.recommend import resolve_models_dir

    if ctx.values.get("train_dir"):
        return Path(ctx.values["train_dir"])
    try:
        return resolve_models_dir(ctx.cfg, None)
    except ConfigError:
        return None


def _score_key(ctx: RunContext) -> Any:
    info = _champion(ctx)
    train = _newest_train_run(ctx)
    return {
        "champion": None if info is None else [info.name, info.version, info.run_id],
        "canonical": _canonical_hashes(ctx),
        "train_run": None if train is None else str(train),
        **_sections(ctx, "interactions", "rules", "recommend"),
    }


def _score(ctx: RunContext) -> dict[str, Any]:
    """Assemble the models the tables are made from in ``<workdir>/scoring/v<version>/``:
    ``models:/<name>@champion`` (personal ranking), association rules fitted on the current
    history, and the other similarity sources of ``recommend.*_weights`` from the newest
    training run (``xsell train`` / the ``train`` stage)."""
    from xsell.interactions.build import build_training_data
    from xsell.io.readers import read_canonical
    from xsell.models.registry import build_model, load_model
    from xsell.tracking import load_champion

    cfg = ctx.cfg
    wd = ctx.workdir
    download = wd.root / "scoring" / "download"
    shutil.rmtree(download, ignore_errors=True)
    local, info = load_champion(cfg.tracking_uri, cfg.mlflow.registered_model, download)
    champion = load_model(local)
    scoring = wd.root / "scoring" / f"v{info.version}"
    shutil.rmtree(scoring, ignore_errors=True)
    scoring.mkdir(parents=True)
    shutil.copytree(local, scoring / champion.name)
    shutil.rmtree(download, ignore_errors=True)
    models = [champion.name]
    if champion.name != "rules":  # similarity only: ownership comes from the champion
        lines = read_canonical(wd.order_lines)
        customers = read_canonical(wd.customers, required=False)
        data = build_training_data(lines, customers, cfg.interactions, level=cfg.models.level)
        build_model("rules", cfg.models, cfg.rules).fit(data).save(scoring / "rules")
        models.append("rules")
    train = _newest_train_run(ctx)
    for name in sorted(_similarity_sources(ctx) - set(models)):
        saved = train / name if train is not None else None
        if saved is not None and (saved / "model.json").is_file():
            shutil.copytree(saved, scoring / name)
            models.append(name)
        else:
            log.warning("score: no trained %s model (run `xsell train`); the blend goes on without it", name)
    marker = {
        "source": "registry", "registered_model": info.name, "version": info.version, "run_id": info.run_id,
        "train_run": None if train is None else str(train), "models": models,
    }  # fmt: skip
    (scoring / "train.json").write_text(json.dumps(marker, indent=2))
    log.info("score: champion %s v%s (%s), similarity from %s in %s", info.name, info.version, champion.name, models[1:], scoring)
    return {
        "models_dir": str(scoring),
        "champion_model": champion.name,
        "model_name": info.name,
        "model_version": info.version,
        "champion_run_id": info.run_id,
        "counts": {"champion": f"{info.name} v{info.version} ({champion.name})"},
    }


def _score_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(result.get("models_dir", ctx.workdir.root / "scoring" / "missing"))]


# -- monitor: uptake of the published runs on the order lines that came after them ----------
def _monitor_key(ctx: RunContext) -> Any:
    from xsell.steps.publish import list_runs

    return {
        "canonical": _canonical_hashes(ctx),
        "runs": list_runs(Path(ctx.cfg.publish.outputs) / "runs"),
        "tracking_uri": ctx.cfg.tracking_uri,
        "block_list": _hash_if_file(ctx.cfg.recommend.block_list),
        **_sections(ctx, "monitor", "recommend", "mlflow"),
    }


def _monitor(ctx: RunContext) -> dict[str, Any]:
    """Measure the published runs that have order lines after their data end (a run without
    any says so in a log line; not an error)."""
    from xsell.steps.monitor import run_monitor

    res = run_monitor(ctx.cfg)
    return {"monitored": [str(r.folder) for r in res.measured], "counts": res.counts}


def _monitor_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(p) for p in result.get("monitored", [])]


# -- recommend / publish ----------------------------------------------------------------------
def _meta(ctx: RunContext) -> dict[str, Any]:
    v = ctx.values
    return {
        "mlflow_run_id": v.get("champion_run_id"),
        "tracking_uri": ctx.cfg.tracking_uri,
        "model_name": v.get("model_name"),
        "model_version": v.get("model_version"),
        "input_fingerprints": v.get("input_fingerprints", []),
    }


def _recommend_key(ctx: RunContext) -> Any:
    rc = ctx.cfg.recommend
    models_dir = Path(ctx.values.get("models_dir", ctx.cfg.models.dir))
    marker = models_dir / "train.json"
    return {
        "canonical": _canonical_hashes(ctx),
        "models_dir": str(models_dir),
        "models": marker.read_text() if marker.is_file() else None,
        "curated": _hash_if_file(rc.curated_links),
        "block_list": _hash_if_file(rc.block_list),
        "meta": _meta(ctx),
        **_sections(ctx, "recommend", "models"),
    }


def _recommend(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.recommend import run_recommend

    models_dir = ctx.values.get("models_dir")
    res = run_recommend(
        ctx.cfg,
        models_dir=Path(models_dir) if models_dir else None,
        meta=_meta(ctx),
        personal_model=ctx.values.get("champion_model"),
    )
    return {"tables": {k: str(v) for k, v in res.paths.items()}, "personal_model": res.personal_model, "counts": res.counts}


def _recommend_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(p) for p in result.get("tables", {}).values()] or [ctx.workdir.tables / "missing"]


def _publish_key(ctx: RunContext) -> Any:
    tables = ctx.workdir.tables
    files = sorted(tables.glob("*.parquet")) + [tables / "tables.json"]
    return {"tables": {p.name: _hash_if_file(p) for p in files}, **_sections(ctx, "publish")}


def _publish(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.publish import run_publish

    res = run_publish(ctx.cfg)
    return {"published_run": res.run_id, "published_dir": str(res.run_dir), "counts": {"run": res.run_id}}


def _publish_outputs(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(ctx.cfg.publish.outputs) / "latest", Path(result.get("published_dir", "/nonexistent"))]


STAGES: dict[str, Stage] = {
    "ingest": Stage(_ingest, _ingest_key, _ingest_outputs),
    "train": Stage(_train, _train_key, lambda ctx, r: [Path(r.get("models_dir", "/nonexistent"))]),
    "evaluate": Stage(_evaluate, _evaluate_key, _evaluate_outputs),
    "backtest": Stage(_evaluate, _evaluate_key, _evaluate_outputs),
    "monitor": Stage(_monitor, _monitor_key, _monitor_outputs),
    "score": Stage(_score, _score_key, _score_outputs),
    "recommend": Stage(_recommend, _recommend_key, _recommend_outputs),
    "publish": Stage(_publish, _publish_key, _publish_outputs),
}


# -- the closing summary ----------------------------------------------------------------------
def summarize(ctx: RunContext) -> str:
    """What a person running ``make demo`` or reading a cron mail wants to know."""
    cfg = ctx.cfg
    v = ctx.values
    lines = [f"xsell {ctx.pipeline}: done"]
    if "published_dir" in v:
        run = Path(v["published_dir"])
        lines.append(f"  published run:   {run}")
        lines.append(f"  latest:          {Path(cfg.publish.outputs) / 'latest'}")
        if (run / "sales").is_dir():
            lines.append(f"  sales:           {run / 'sales'}/  (one workbook per country, for sales ops)")
        if (run / "shop").is_dir():
            lines.append(f"  shop:            {run / 'shop'}/  (product_links.jsonl, magento_product_links.csv)")
    if "tables" in v:
        lines.append(f"  tables:          {ctx.workdir.tables}")
    if "model_version" in v:
        lines.append(f"  champion:        {v.get('model_name')} v{v['model_version']} ({v.get('champion_model')})")
    metrics = ctx.workdir.metrics
    if metrics.is_file():
        ecfg = cfg.evaluation
        m = pd.read_csv(metrics)
        m = m[(m["target"] == "cross_sell") & (m["country"] == "ALL") & (m["metric"] == ecfg.rank_metric) & (m["k"] == ecfg.rank_k)]
        values = m.groupby("model")["value"].mean().sort_values(ascending=False)
        best = v.get("champion_model") or next((k for k in values.index if not str(k).startswith("popularity")), None)
        shown = values[values.index.isin([best, "popularity", "popularity_country"])]
        if len(shown):
            label = f"cross-sell {ecfg.rank_metric}@{ecfg.rank_k}"
            lines.append(f"  {label}:  " + ", ".join(f"{k} {val:.4f}" for k, val in shown.items()))
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        beside = Path(sys.executable).parent / "mlflow"  # the venv's mlflow, if not on PATH
        mlflow = "mlflow" if shutil.which("mlflow") or not beside.exists() else str(beside)
        lines.append(f"  MLflow UI:       {mlflow} ui --backend-store-uri {uri}")
    if ctx.pipeline == "retrain" and "published_dir" in v and cfg.source is not None:
        lines.append(f"  next:            schedule `xsell run nightly --config {cfg.source}` (README: Pipelines and scheduling)")
    return "\n".join(lines)
