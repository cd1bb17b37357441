"""``xsell train``: build the interaction matrices and fit every enabled model.

Layout written under ``<models.dir>/<run>/`` (run = UTC timestamp + short config hash)::

    train.json              run name, config hash, level, models, fit seconds, matrix shapes
    buyer_items.npz         the (n_buying_centers, n_items) matrix the models were fitted on
    order_products.npz      the (n_baskets, n_products) basket matrix of the rules
    <model name>/           model.json + arrays.npz (``Recommender.save``)

The pure part, ``xsell.models.training.train_models`` (training data in, fitted models out),
is shared with the evaluation, which retrains the same configuration on the pre-cutoff history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xsell.config import Config
from xsell.interactions.build import build_training_data
from xsell.interactions.matrix import InteractionMatrix, TrainingData
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.io.writers import atomic_write, write_json
from xsell.models.base import Recommender
from xsell.models.config import ModelsConfig
from xsell.models.training import train_models
from xsell.progress import stage
from xsell.schema import LEARNING_LINE_COLUMNS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What ``run_train`` produced."""

    run_dir: Path
    """``<models.dir>/<run>/``."""
    models: dict[str, Recommender]
    """Fitted models by registry name, in ``models.enabled`` order."""
    timings: dict[str, float] = field(default_factory=dict)
    """Fit seconds per model."""


def run_name(config_hash: str, now: datetime | None = None) -> str:
    """``YYYYmmddTHHMMSSZ-<first 8 hex of the config hash>``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{config_hash[:8]}"


def _shape(m: InteractionMatrix) -> dict[str, object]:
    return {"shape": list(m.shape), "nnz": int(m.matrix.nnz)}


def write_run(
    run_dir: Path,
    models: dict[str, Recommender],
    data: TrainingData,
    cfg: ModelsConfig,
    *,
    config_hash: str,
    timings: dict[str, float],
) -> Path:
    """Save every model, the matrices and ``train.json`` (written last: its presence marks a
    complete run) under ``run_dir`` (created)."""
    run_dir.mkdir(parents=True, exist_ok=False)
    buyer_items = data.buyer_items
    atomic_write(run_dir / "buyer_items.npz", lambda tmp: buyer_items.save(tmp))
    atomic_write(run_dir / "order_products.npz", lambda tmp: data.baskets.save(tmp))
    for name, model in models.items():
        model.save(run_dir / name)
    summary = {
        "run": run_dir.name,
        "config_hash": config_hash,
        "level": cfg.level,
        "seed": cfg.seed,
        "models": list(models),
        "fit_seconds": timings,
        "matrices": {"buyer_items": _shape(buyer_items), "order_products": _shape(data.baskets)},
    }
    write_json(summary, run_dir / "train.json")
    return run_dir


def run_train(cfg: Config) -> TrainResult:
    """Read the canonical tables, build the matrices, fit and save every enabled model."""
    workdir = Workdir(cfg.workdir)
    timings: dict[str, float] = {}
    if cfg.engine.backend == "spark":  # interactions, rules and ALS on Spark (xsell.spark.train)
        from xsell.spark.train import train_on_spark

        data, models = train_on_spark(cfg, timings)
        lines = None
    else:
        lines = read_canonical(workdir.order_lines, columns=list(LEARNING_LINE_COLUMNS))
        customers = read_canonical(workdir.customers, required=False)
        with stage("interactions", log) as report:
            data = build_training_data(lines, customers, cfg.interactions, level=cfg.models.level)
            report.counts.update(buyers=data.buyer_items.shape[0], items=data.buyer_items.shape[1])
        models = train_models(data, cfg.models, cfg.rules, timings=timings)
    config_hash = cfg.hash()
    run_dir = write_run(
        Path(cfg.models.dir) / run_name(config_hash), models, data, cfg.models, config_hash=config_hash, timings=timings,
    )  # fmt: skip
    log.info("train: saved %d models to %s", len(models), run_dir)
    if cfg.mlflow.enabled:
        _track(cfg, workdir, lines if lines is not None else read_canonical(workdir.order_lines, columns=["order_date"]), run_dir, timings)
    return TrainResult(run_dir, models, timings)


def _track(cfg: Config, workdir: Workdir, lines: pd.DataFrame, run_dir: Path, timings: dict[str, float]) -> str:
    """One MLflow run per training: resolved config, data fingerprint, code version, fit
    timings and the saved run folder (models + matrices) as artifacts."""
    from xsell.fingerprint import lines_fingerprint
    from xsell.tracking import Tracker

    tracker = Tracker(cfg.tracking_uri, cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    with stage("train: track", log), tracker.run(f"train {run_dir.name}", tags={"xsell.step": "train"}) as run_id:
        tracker.log_config(cfg)
        tracker.log_fingerprint(lines_fingerprint(workdir.order_lines, lines))
        tracker.log_code_version()
        tracker.log_timings({f"fit.{name}": seconds for name, seconds in timings.items()})
        tracker.log_artifact(run_dir, f"models/{run_dir.name}")
    return run_id
