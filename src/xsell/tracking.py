"""Experiment tracking and model registry: a small facade over MLflow.

The only module that imports mlflow, always lazily (importing xsell never imports mlflow).
No mlflow type leaks out: run ids are strings and registry entries are ``ModelVersionInfo``.

Our models are ``.npz`` + JSON directories, not MLflow flavours. ``register_best`` logs the
model directory as a run artifact (``recommender/``) and creates a model version whose source
is that artifact folder, so ``models:/<name>@champion`` downloads exactly the directory that
``Recommender.load`` reads. Nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xsell import __version__
from xsell.errors import NoChampionError
from xsell.evaluation.selection import CHALLENGER, CHAMPION, AliasDecision, decide_alias
from xsell.lock import process_alive
from xsell.schema import ALL_COUNTRIES

log = logging.getLogger(__name__)

MODEL_ARTIFACT_PATH = "recommender"
"""Artifact folder (inside a run) holding the registered model directory."""
TAG_METRIC = "xsell.rank_metric"
TAG_VALUE = "xsell.rank_metric_value"
TAG_MODEL = "xsell.model"
TAG_DECISION = "xsell.alias_reason"
TAG_COMPARABLE = "xsell.measured_on"
"""Version tag: data fingerprint + evaluation windows the value was measured on."""
TAG_HOST = "xsell.host"
TAG_PID = "xsell.pid"
"""Host and process of the run's writer: a RUNNING run whose process is gone was killed."""

_MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version."""

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metric_value(self) -> float | None:
        """The ranking metric value stored when the version was registered."""
        raw = self.tags.get(TAG_VALUE)
        return float(raw) if raw is not None else None


@dataclass(frozen=True)
class Registration:
    """What ``register_best`` did."""

    version: ModelVersionInfo
    decision: AliasDecision
    previous_champion: ModelVersionInfo | None


def _mlflow() -> Any:
    """Import mlflow on first use (importing xsell never imports it); its log levels are set
    once by the CLI."""
    import mlflow

    return mlflow


@contextmanager
def _scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sqlite_path(uri: str) -> Path | None:
    """File path of a ``sqlite:///...`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def _client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for tracking and registry at ``tracking_uri`` (SQLite folder created)."""
    mlflow = _mlflow()
    db = _sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"a.b.c": "value"}``; lists and None are JSON-encoded."""
    out: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def metric_key(target: str, metric: str, k: int, country: str = ALL_COUNTRIES, model: str | None = None) -> str:
    """MLflow metric name: ``[model.]target.metric[.atK][.COUNTRY]`` (k = 0 has no ``.atK``)."""
    parts = ([model] if model else []) + [target, metric] + ([f"at{int(k)}"] if int(k) else [])
    if country != ALL_COUNTRIES:
        parts.append(str(country))
    return _BAD_KEY_CHARS.sub("_", ".".join(parts))


def git_commit(path: Path | None = None) -> str | None:
    """Commit of the git checkout holding ``path`` (default: this package), or None."""
    where = path or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version_info(mv: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        aliases=tuple(getattr(mv, "aliases", None) or ()),
        tags=dict(mv.tags or {}),
    )


class Tracker:
    """Runs, params, metrics, artifacts and registry of one MLflow experiment.

    ``with tracker.run("evaluate") as run_id:`` starts a run; the ``log_*`` methods write
    to the innermost open run. A ``nested=True`` run is a child of the enclosing one.
    """

    def __init__(self, tracking_uri: str, experiment: str, *, artifact_location: str | None = None):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_location = artifact_location
        self._client_obj: Any = None
        self._experiment_id: str | None = None
        self._runs: list[str] = []

    # -- plumbing -------------------------------------------------------------------------
    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            self._client_obj = _client(self.tracking_uri)
        return self._client_obj

    def _default_artifact_location(self) -> str | None:
        if self.artifact_location:
            return self.artifact_location
        db = _sqlite_path(self.tracking_uri)
        return (db.parent / "mlartifacts").resolve().as_uri() if db is not None else None

    @property
    def experiment_id(self) -> str:
        """Id of ``experiment`` (created on first use)."""
        if self._experiment_id is None:
            exp = self._client.get_experiment_by_name(self.experiment)
            if exp is None:
                self._experiment_id = self._client.create_experiment(
                    self.experiment, artifact_location=self._default_artifact_location()
                )
            else:
                self._experiment_id = exp.experiment_id
        return self._experiment_id

    @property
    def run_id(self) -> str:
        """Id of the innermost open run."""
        if not self._runs:
            raise RuntimeError("no open tracking run; use `with tracker.run(name):`")
        return self._runs[-1]

    @contextmanager
    def run(self, name: str, *, nested: bool = False, tags: Mapping[str, str] | None = None) -> Iterator[str]:
        """Open a run (child of the enclosing run when ``nested``); yields its id.

        The run ends FINISHED, or FAILED when the body raises.
        """
        all_tags = {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid()), **{str(k): str(v) for k, v in (tags or {}).items()}}
        if nested:
            all_tags["mlflow.parentRunId"] = self.run_id
        run = self._client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        run_id = run.info.run_id
        self._runs.append(run_id)
        status = "FAILED"
        try:
            yield run_id
            status = "FINISHED"
        finally:
            self._runs.pop()
            self._client.set_terminated(run_id, status=status)

    # -- logging --------------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params of the current run (values stringified, truncated to MLflow's limit)."""
        from mlflow.entities import Param

        items = [Param(str(k), (v if isinstance(v, str) else json.dumps(v, default=str))[:_MAX_PARAM_VALUE]) for k, v in params.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(self.run_id, params=items[i : i + _MAX_PARAMS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tags of the current run."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(self.run_id, tags=items[i : i + _MAX_PARAMS_PER_BATCH])

    def log_metric_values(self, values: Mapping[str, float]) -> None:
        """Named scalar metrics of the current run (NaN values are skipped)."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(k, float(v), ts, 0) for k, v in values.items() if not math.isnan(float(v))]
        for i in range(0, len(items), _MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=items[i : i + _MAX_METRICS_PER_BATCH])

    def log_metrics(self, metrics: pd.DataFrame, *, per_country: bool = True, prefix_model: bool | None = None) -> None:
        """Log a long metrics frame (``METRIC_COLUMNS``) as ``[model.]target.metric.atK[.COUNTRY]``.

        ``prefix_model`` defaults to True when the frame holds more than one model.
        """
        frame = metrics if per_country else metrics[metrics["country"] == ALL_COUNTRIES]
        if prefix_model is None:
            prefix_model = frame["model"].nunique() > 1
        keys = [
            metric_key(t, m, k, c, model if prefix_model else None)
            for model, t, c, k, m in zip(frame["model"], frame["target"], frame["country"], frame["k"], frame["metric"])
        ]
        self.log_metric_values(dict(zip(keys, frame["value"].astype(float))))

    def log_config(self, cfg: Any) -> None:
        """Resolved config (a pydantic model) as flattened params plus ``config.yaml`` and ``config.json``."""
        import yaml

        data = cfg.model_dump(mode="json")
        self.log_params(flatten(data))
        hash_fn = getattr(cfg, "hash", None)
        if callable(hash_fn):
            self.set_tags({"xsell.config_hash": hash_fn()})
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            Path(tmp, "config.json").write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            self._client.log_artifacts(self.run_id, tmp, "config")

    def log_fingerprint(self, fingerprint: Mapping[str, Any]) -> None:
        """Input fingerprint (file sha256, row counts, date range) as ``data.*`` params and tags."""
        flat = flatten(fingerprint, "data.")
        self.log_params(flat)
        self.set_tags(flat)

    def log_code_version(self) -> None:
        """Tags ``xsell.version`` and ``xsell.git_commit`` (when inside a git checkout)."""
        tags = {"xsell.version": __version__}
        commit = git_commit()
        if commit:
            tags["xsell.git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        self.set_tags(tags)

    def log_timings(self, timings: Mapping[str, float]) -> None:
        """Stage durations as metrics ``time.<stage>_s``."""
        self.log_metric_values({f"time.{_BAD_KEY_CHARS.sub('_', k)}_s": v for k, v in timings.items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file or a whole directory into the current run's artifacts."""
        path = Path(path)
        if path.is_dir():
            self._client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self._client.log_artifact(self.run_id, str(path), artifact_path)

    # -- registry -------------------------------------------------------------------------
    def _ensure_registered_model(self, name: str) -> None:
        mlflow = _mlflow()
        try:
            self._client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            self._client.create_registered_model(name, description="xsell recommender (npz + JSON directory)")

    def _alias_version(self, name: str, alias: str) -> ModelVersionInfo | None:
        mlflow = _mlflow()
        try:
            return _version_info(self._client.get_model_version_by_alias(name, alias))
        except mlflow.exceptions.MlflowException:
            return None

    def register_best(
        self,
        *,
        registered_model: str,
        model: str,
        model_dir: str | Path,
        value: float,
        metric: str,
        baseline_values: Mapping[str, float],
        margin: float,
        comparable: str,
        tags: Mapping[str, Any] | None = None,
    ) -> Registration:
        """Log ``model_dir`` to the current run, register it as a new version of
        ``registered_model`` and give it ``champion`` or ``challenger`` (``decide_alias``): the
        current champion's value counts only when it was measured on the same data and windows
        (``comparable``, stored as a version tag) with the same ``metric``. A champion registered
        from the same data, windows, config (tag ``xsell.config_hash``) and model is not registered
        again: the existing version is returned with the reason."""
        self._ensure_registered_model(registered_model)
        previous = self._alias_version(registered_model, CHAMPION)
        extra = {str(k): str(v) for k, v in (tags or {}).items()}
        same_data = previous is not None and previous.tags.get(TAG_COMPARABLE) == comparable and previous.tags.get(TAG_METRIC) == metric
        if same_data and previous is not None and previous.tags.get(TAG_MODEL) == model and (
            previous.tags.get("xsell.config_hash") == extra.get("xsell.config_hash")
        ):
            reason = f"unchanged: champion v{previous.version} was registered from the same data, windows, config and model"
            log.info("%s: %s; not registering again", registered_model, reason)
            return Registration(version=previous, decision=AliasDecision(CHAMPION, reason), previous_champion=previous)
        champion_value = previous.metric_value if same_data and previous is not None else None
        decision = decide_alias(value, champion_value, margin)

        self.log_artifact(model_dir, MODEL_ARTIFACT_PATH)
        run = self._client.get_run(self.run_id)
        version_tags = {
            TAG_METRIC: metric,
            TAG_VALUE: repr(float(value)),
            TAG_MODEL: model,
            TAG_DECISION: decision.reason,
            TAG_COMPARABLE: comparable,
            **{f"xsell.baseline.{k}": repr(float(v)) for k, v in baseline_values.items()},
            **extra,
        }
        mv = self._client.create_model_version(
            registered_model,
            source=f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}",
            run_id=self.run_id,
            tags=version_tags,
            description=f"{model}: {metric}={value:.6g} ({decision.alias})",
        )
        self._client.set_registered_model_alias(registered_model, decision.alias, mv.version)
        log.info("registered %s v%s as %s: %s", registered_model, mv.version, decision.alias, decision.reason)
        info = _version_info(self._client.get_model_version(registered_model, mv.version))
        return Registration(version=info, decision=decision, previous_champion=previous)


def get_alias(tracking_uri: str, name: str, alias: str = CHAMPION) -> ModelVersionInfo | None:
    """The version of ``name`` holding ``alias``, or None."""
    mlflow = _mlflow()
    try:
        return _version_info(_client(tracking_uri).get_model_version_by_alias(name, alias))
    except mlflow.exceptions.MlflowException:
        return None


def load_champion(tracking_uri: str, name: str, dst: str | Path | None = None) -> tuple[Path, ModelVersionInfo]:
    """Download ``models:/<name>@champion`` into ``dst`` (default: a new temp folder).

    Returns the local model directory (pass it to ``Recommender.load``) and the version info.
    Raises ``NoChampionError`` when ``name`` has no champion.
    """
    info = get_alias(tracking_uri, name, CHAMPION)
    if info is None:
        raise NoChampionError(
            f"no model version of {name!r} has the alias 'champion' in {tracking_uri}; "
            "run `xsell run retrain --config FILE` first: it evaluates the models against popularity and registers "
            "the best of them (popularity included) as champion"
        )
    mlflow = _mlflow()
    target = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="xsell-champion-"))
    target.mkdir(parents=True, exist_ok=True)
    # ``models:/`` URIs resolve against the process-wide registry URI only (MLflow limitation),
    # so point it at ``tracking_uri`` for this call without touching mlflow's global state.
    # MLFLOW_TRACKING_URI too: otherwise MLflow opens its default store (``./mlflow.db``) on the way
    env = {"MLFLOW_REGISTRY_URI": tracking_uri, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    with _scoped_env(env):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}@{CHAMPION}", dst_path=str(target), tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
    return Path(local), info


def tag_model_version(tracking_uri: str, name: str, version: str, tags: Mapping[str, Any]) -> bool:
    """Set ``tags`` on version ``version`` of registered model ``name`` (e.g. the uptake a
    monitor run measured for it); False, with a warning, when the registry lacks that version."""
    mlflow = _mlflow()
    client = _client(tracking_uri)
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), str(key), str(value))
    except mlflow.exceptions.MlflowException as exc:
        log.warning("cannot tag %s v%s in %s: %s", name, version, tracking_uri, exc)
        return False
    return True


def end_orphaned_runs(tracking_uri: str, experiment: str) -> list[str]:
    """End as KILLED the runs of ``experiment`` still RUNNING whose process (tags ``xsell.host`` /
    ``xsell.pid``, this host) is gone: a killed pipeline leaves them so. Returns their ids.
    Creates nothing: a SQLite store that does not exist yet has no runs."""
    db = _sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        return []
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname()
    ended = []
    for run in client.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid = tags.get(TAG_PID, "")
        if tags.get(TAG_HOST) != host or not pid.isdigit() or process_alive(int(pid)):
            continue
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    if ended:
        log.warning("ended %d MLflow run(s) left RUNNING by a killed process as KILLED: %s", len(ended), ", ".join(ended))
    return ended


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelVersionInfo",
    "Registration",
    "Tracker",
    "end_orphaned_runs",
    "flatten",
    "get_alias",
    "git_commit",
    "load_champion",
    "metric_key",
    "tag_model_version",
]
