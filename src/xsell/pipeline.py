"""The thin runner behind ``xsell run PIPELINE``: which stages, in which order, with caching.

A pipeline file (``pipelines/<name>.yaml``) names its stages in order and a config overlay.
Each stage is a function of a ``RunContext``; the runner adds what unattended runs need:
a lock per workdir and per outputs folder, one start and one end line per stage (counts,
seconds, peak memory), and a cache keyed by input fingerprint + config hash so unchanged work
is skipped. At the start it tidies what a killed run left: temp files, and MLflow runs still
marked RUNNING (ended as KILLED). A corrupt cache record is discarded with a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from xsell import __version__
from xsell.config import Config, load_config, read_yaml
from xsell.configbase import StrictModel
from xsell.errors import ConfigError
from xsell.io.layout import Workdir, check_folders
from xsell.io.writers import ensure_dir, read_state, remove_leftovers, write_json
from xsell.lock import RunLock
from xsell.progress import stage as stage_lines

log = logging.getLogger(__name__)

RUN_LOCK = ".xsell-run.lock"
"""Lock file of a pipeline run, in the workdir and in the outputs folder."""


class PipelineSpec(StrictModel):
    """One file in ``pipelines/``."""

    name: str
    """Pipeline name (used in lock files, MLflow tags and log lines)."""
    description: str = ""
    """One line for ``--help`` and logs."""
    stages: list[str] = Field(min_length=1)
    """Stage names in run order (see ``STAGES``)."""
    overlay: dict[str, Any] = Field(default_factory=dict)
    """Config values this pipeline applies on top of the config file (``--set`` still wins)."""


def _candidate_dirs(config_path: Path) -> list[Path]:
    here = Path(__file__).resolve()
    dirs = [p / "pipelines" for p in [config_path.resolve().parent, *config_path.resolve().parents][:3]]
    dirs.append(here.parents[2] / "pipelines")  # source checkout / editable install
    dirs.append(Path.cwd() / "pipelines")
    return dirs


def find_pipeline(name_or_path: str, config_path: Path) -> Path:
    """A pipeline file by path, or by name in ``pipelines/`` near the config or the package."""
    direct = Path(name_or_path)
    if direct.suffix in (".yaml", ".yml") or direct.is_file():
        if not direct.is_file():
            raise ConfigError("pipeline file not found", file=direct)
        return direct
    for d in _candidate_dirs(config_path):
        candidate = d / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in _candidate_dirs(config_path) if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"unknown pipeline {name_or_path!r} (known: {', '.join(known) or 'none found'})")


def load_pipeline(path: Path) -> PipelineSpec:
    """Read and validate a pipeline file; stage names must exist."""
    try:
        spec = PipelineSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"invalid pipeline file: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=path) from None
    unknown = [s for s in spec.stages if s not in _stages()]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} (known: {', '.join(_stages())})", file=path)
    return spec


@dataclass
class RunContext:
    """What stages share during one pipeline run."""

    cfg: Config
    pipeline: str
    force: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    """Results handed from stage to stage (JSON-able; restored from the cache on a skip)."""

    @property
    def workdir(self) -> Workdir:
        return Workdir(self.cfg.workdir)


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: ``run`` does the work and returns JSON-able results (incl. ``counts``);
    ``key`` returns what determines its output (``None``: never cached); ``outputs(ctx, result)``
    are the paths (given the cached result) that must still exist for a cache hit."""

    run: Callable[[RunContext], dict[str, Any]]
    key: Callable[[RunContext], Any] | None = None
    outputs: Callable[[RunContext, dict[str, Any]], list[Path]] = lambda ctx, result: []


def _cache_file(ctx: RunContext, name: str) -> Path:
    return ctx.workdir.cache / f"{name}.json"


def run_stage(name: str, ctx: RunContext) -> dict[str, Any]:
    """Run one stage with caching and stage lines; merge its results into ``ctx.values``."""
    from xsell.fingerprint import sha256_json

    st = _stages()[name]
    key = None
    if st.key is not None:
        key = sha256_json({"stage": name, "xsell": __version__, "key": st.key(ctx)})
        record = None if ctx.force else read_state(_cache_file(ctx, name), f"{name} cache record")
        if isinstance(record, dict):
            if record.get("key") == key and all(Path(p).exists() for p in st.outputs(ctx, record.get("result", {}))):
                log.info("%s: skipped, inputs and config unchanged since %s (use --force to recompute)", name, record.get("at"))
                ctx.values.update(record.get("result", {}))
                return record.get("result", {})
    with stage_lines(name, log) as report:
        result = st.run(ctx) or {}
        report.counts.update(result.get("counts", {}))
    ctx.values.update(result)
    if key is not None:
        record = {"key": key, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": result}
        write_json(record, _cache_file(ctx, name), sort_keys=True)
    return result


def run_pipeline(
    name_or_path: str,
    config_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    force: bool = False,
) -> RunContext:
    """Load the pipeline and config, take the lock, run every stage in order."""
    config_path = Path(config_path)
    spec = load_pipeline(find_pipeline(name_or_path, config_path))
    cfg = load_config(config_path, overrides, overlays=[spec.overlay])
    ctx = RunContext(cfg=cfg, pipeline=spec.name, force=force)
    check_folders(cfg)
    t0 = time.perf_counter()
    with ExitStack() as locks:
        # one run at a time per workdir and per outputs folder, whatever the pipeline
        for key, folder in (("workdir", cfg.workdir), ("publish.outputs", cfg.publish.outputs)):
            locks.enter_context(RunLock(ensure_dir(Path(folder), key) / RUN_LOCK, what=spec.name))
        log.info("pipeline %s: %s (config %s, hash %s)", spec.name, " -> ".join(spec.stages), config_path, cfg.hash()[:12])
        _tidy(ctx)
        for name in spec.stages:
            run_stage(name, ctx)
    log.info("pipeline %s: done in %.1f s", spec.name, time.perf_counter() - t0)
    from xsell.stages import summarize

    print(summarize(ctx))
    return ctx


def _tidy(ctx: RunContext) -> None:
    """Remove temp files killed runs left in the workdir, end their MLflow runs as KILLED."""
    wd = ctx.workdir
    for folder in (wd.root, wd.cache, wd.tables, wd.evaluation):
        remove_leftovers(folder)
    if ctx.cfg.mlflow.enabled:
        from xsell.tracking import end_orphaned_runs

        end_orphaned_runs(ctx.cfg.tracking_uri, ctx.cfg.mlflow.experiment)


def _stages() -> Mapping[str, Stage]:
    """The stage registry (``xsell.stages``), imported on first use."""
    from xsell.stages import STAGES

    return STAGES
