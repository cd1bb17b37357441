"""The stages pipelines are made of: each wires one step into the runner and declares its I/O.

A stage reads what earlier stages left in ``ctx.values`` (models folder, champion, MLflow ids),
calls its step (``xsell.steps.*``) and returns JSON-able results plus ``counts`` for its end line.
Its ``Stage`` declaration names the config sections, the files it reads, any other state (the
registry's champion) and the files it writes; the runner derives the cache key from that, so an
unchanged ``nightly`` skips straight through and no input is forgotten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xsell.fingerprint import expand_inputs
from xsell.pipeline import RunContext, Stage


def _canonical(ctx: RunContext) -> list[Path]:
    wd = ctx.workdir
    return [wd.order_lines, wd.products, wd.customers]


# -- ingest -----------------------------------------------------------------------------------
def _export_files(ctx: RunContext) -> list[Path]:
    data = ctx.cfg.data
    return expand_inputs(data.order_lines) + expand_inputs(data.products) + expand_inputs(data.customers)


def _ingest(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.ingest import run_ingest

    summary = run_ingest(ctx.cfg)
    per_file = {Path(f["file"]).resolve().as_posix(): f for f in summary.files}
    prints = []
    for p in ctx.fingerprints(_export_files(ctx)):
        f = per_file.get(Path(p["path"]).as_posix(), {})  # order-line files; masters have no dates
        prints.append(
            {"path": p["path"], "sha256": p["sha256"], "rows": f.get("rows_read"), "date_min": f.get("date_min"), "date_max": f.get("date_max")}
        )
    counts = {"read": summary.rows_read, "accepted": summary.rows_accepted, "quarantined": summary.rows_quarantined, "excluded": summary.rows_excluded}
    return {"input_fingerprints": prints, "counts": counts}


def _ingest_writes(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    wd = ctx.workdir
    return [wd.order_lines, wd.products, wd.customers, wd.ingest_summary]


# -- train / evaluate / backtest --------------------------------------------------------------
def _train(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.train import run_train

    result = run_train(ctx.cfg)
    return {"models_dir": str(result.run_dir), "train_dir": str(result.run_dir), "counts": {"models": len(result.models)}}


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


def _tracking(ctx: RunContext) -> Any:
    return {"tracking_uri": ctx.cfg.tracking_uri}


# -- score: the registry's champion + fresh rules on the current history ----------------------
def _champion_state(ctx: RunContext) -> Any:
    from xsell.steps.score import newest_train_run
    from xsell.tracking import get_alias

    info = get_alias(ctx.cfg.tracking_uri, ctx.cfg.mlflow.registered_model)
    train = newest_train_run(ctx.cfg, Path(ctx.values["train_dir"]) if ctx.values.get("train_dir") else None)
    return {"champion": None if info is None else [info.name, info.version, info.run_id], "train_run": None if train is None else str(train)}


def _score(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.score import run_score

    train_dir = ctx.values.get("train_dir")
    res = run_score(ctx.cfg, train_dir=Path(train_dir) if train_dir else None)
    return {
        "models_dir": str(res.models_dir),
        "champion_model": res.champion_model,
        "model_name": res.model_name,
        "model_version": res.model_version,
        "champion_run_id": res.run_id,
        "counts": {"champion": f"{res.model_name} v{res.model_version} ({res.champion_model})"},
    }


def _score_writes(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(result.get("models_dir", ctx.workdir.root / "scoring" / "missing"))]


# -- monitor: uptake of the published runs on the order lines that came after them ----------
def _monitor_reads(ctx: RunContext) -> list[Path]:
    block_list = ctx.cfg.recommend.block_list
    return [*_canonical(ctx), *([block_list] if block_list else [])]


def _monitor_state(ctx: RunContext) -> Any:
    from xsell.steps.publish import list_runs

    return {"runs": list_runs(Path(ctx.cfg.publish.outputs) / "runs"), "tracking_uri": ctx.cfg.tracking_uri}


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


def _models_dir(ctx: RunContext) -> Path:
    return Path(ctx.values.get("models_dir", ctx.cfg.models.dir))


def _recommend_reads(ctx: RunContext) -> list[Path]:
    rc = ctx.cfg.recommend
    champion = ctx.workdir.champion
    return [*_canonical(ctx), _models_dir(ctx) / "train.json", champion, *(p for p in (rc.curated_links, rc.block_list) if p)]


def _recommend_state(ctx: RunContext) -> Any:
    return {"models_dir": str(_models_dir(ctx)), "meta": _meta(ctx), "personal_model": ctx.values.get("champion_model")}


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


def _recommend_writes(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(p) for p in result.get("tables", {}).values()] or [ctx.workdir.tables / "missing"]


def _publish_reads(ctx: RunContext) -> list[Path]:
    from xsell.schema import TABLES

    wd = ctx.workdir
    pc = ctx.cfg.publish
    mappings = [p for p in (pc.shopware.product_ids, pc.shopify.handles) if p is not None]
    return [*(wd.table(name) for name in TABLES), wd.tables / "tables.json", wd.products, wd.customers, *mappings]


def _publish(ctx: RunContext) -> dict[str, Any]:
    from xsell.steps.publish import run_publish

    res = run_publish(ctx.cfg)
    return {"published_run": res.run_id, "published_dir": str(res.run_dir), "counts": {"run": res.run_id}}


def _publish_writes(ctx: RunContext, result: dict[str, Any]) -> list[Path]:
    return [Path(ctx.cfg.publish.outputs) / "latest", Path(result.get("published_dir", "/nonexistent"))]


LEARNING = ("interactions", "rules", "models")
"""Config sections every fit reads."""

STAGES: dict[str, Stage] = {
    "ingest": Stage(_ingest, config=("data", "ingest"), reads=_export_files, writes=_ingest_writes),
    "train": Stage(_train, config=(*LEARNING, "engine"), reads=_canonical, writes=lambda ctx, r: [Path(r.get("models_dir", "/nonexistent"))]),
    "evaluate": Stage(
        _evaluate, config=(*LEARNING, "evaluation", "mlflow"), reads=_canonical, state=_tracking,
        writes=lambda ctx, r: [ctx.workdir.metrics, ctx.workdir.champion],
    ),
    "backtest": Stage(
        _evaluate, config=(*LEARNING, "evaluation", "mlflow"), reads=_canonical, state=_tracking,
        writes=lambda ctx, r: [ctx.workdir.metrics],
    ),
    "monitor": Stage(_monitor, config=("monitor", "recommend", "mlflow"), reads=_monitor_reads, state=_monitor_state, writes=_monitor_outputs),
    "score": Stage(_score, config=(*LEARNING, "recommend", "mlflow"), reads=_canonical, state=_champion_state, writes=_score_writes),
    "recommend": Stage(_recommend, config=("recommend", "models"), reads=_recommend_reads, state=_recommend_state, writes=_recommend_writes),
    "publish": Stage(_publish, config=("publish",), reads=_publish_reads, writes=_publish_writes),
}
"""The stage registry ``xsell run`` hands to ``xsell.pipeline.run_pipeline``."""
