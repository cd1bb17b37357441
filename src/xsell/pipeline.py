"""The thin runner behind ``xsell run PIPELINE``: which stages, in which order, with caching.

A pipeline file (``pipelines/<name>.yaml``) names its stages in order and a config overlay.
Each ``Stage`` declares what its output depends on (config sections, files it reads, other
state) and what it writes; the runner receives the stage registry (``run_pipeline(...,
stages=...)``, the CLI passes ``xsell.stages.STAGES``) and adds what unattended runs need: a
lock per workdir and per outputs folder, one start and one end line per stage (counts, seconds,
peak memory), and a cache whose key is derived from the declaration, so unchanged work is
skipped. At the start it tidies what a killed run left: temp files, and MLflow runs still
marked RUNNING (ended as KILLED). A corrupt cache record is discarded with a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from xsell import __version__
from xsell.config import Config, load_config, read_yaml
from xsell.configbase import StrictModel
from xsell.errors import ConfigError
from xsell.fingerprint import file_fingerprints, sha256_json
from xsell.frames import release_freed_memory
from xsell.io.layout import Workdir, check_folders
from xsell.io.writers import ensure_dir, read_state, remove_leftovers, write_json
from xsell.lock import RunLock
from xsell.progress import stage as stage_lines
from xsell.steps import handoff

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


def load_pipeline(path: Path, stages: Mapping[str, Stage]) -> PipelineSpec:
    """Read and validate a pipeline file; its stage names must be in ``stages``."""
    try:
        spec = PipelineSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"invalid pipeline file: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=path) from None
    unknown = [s for s in spec.stages if s not in stages]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} (known: {', '.join(stages)})", file=path)
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

    def sections(self, *names: str) -> dict[str, Any]:
        """The named config sections as JSON values."""
        dumped = self.cfg.model_dump(mode="json")
        return {name: dumped[name] for name in names}

    def fingerprints(self, paths: Sequence[Path]) -> list[dict[str, Any]]:
        """sha256 (+ size, mtime) of every existing file or dataset folder of ``paths``; a memo in the workdir cache
        keyed by size + mtime avoids re-hashing big files that did not change."""
        memo_file = self.workdir.cache / "file_hashes.json"
        memo = read_state(memo_file, "file-hash memo")
        memo = memo if isinstance(memo, dict) else {}
        prints = file_fingerprints([Path(p) for p in paths if Path(p).exists()], memo)
        fresh = {p["path"]: p for p in prints}
        if any(memo.get(k) != v for k, v in fresh.items()):
            write_json({**memo, **fresh}, memo_file, indent=1)
        return prints


def _nothing(ctx: RunContext) -> Sequence[Path]:
    return ()


def _no_state(ctx: RunContext) -> Any:
    return None


def _no_outputs(ctx: RunContext, result: dict[str, Any]) -> Sequence[Path]:
    return ()


@dataclass(frozen=True)
class Stage:
    """A pipeline stage and its declared inputs and outputs.

    - ``run(ctx)`` does the work and returns JSON-able results (``counts`` for its end line);
    - ``config``: the config sections its output depends on;
    - ``reads(ctx)``: the files it reads (their content is part of the cache key; absent ones count
      as absent);
    - ``state(ctx)``: what else it depends on that is not a file (e.g. the registry's champion);
    - ``writes(ctx, result)``: its outputs, which must still exist for a cache hit;
    - ``cached``: ``False`` runs it every time.
    """

    run: Callable[[RunContext], dict[str, Any]]
    config: tuple[str, ...] = ()
    reads: Callable[[RunContext], Sequence[Path]] = _nothing
    state: Callable[[RunContext], Any] = _no_state
    writes: Callable[[RunContext, dict[str, Any]], Sequence[Path]] = _no_outputs
    cached: bool = True

    def key(self, name: str, ctx: RunContext) -> str:
        """The cache key: the stage, the code version and everything the declaration names."""
        reads = [Path(p) for p in self.reads(ctx)]
        hashes = {p["path"]: p["sha256"] for p in ctx.fingerprints(reads)}
        files = {str(Path(p).resolve()): hashes.get(str(Path(p).resolve())) for p in reads}
        return sha256_json(
            {"stage": name, "xsell": __version__, "config": ctx.sections(*self.config), "reads": files, "state": self.state(ctx)}
        )


def _cache_file(ctx: RunContext, name: str) -> Path:
    return ctx.workdir.cache / f"{name}.json"


def run_stage(name: str, stage: Stage, ctx: RunContext) -> dict[str, Any]:
    """Run ``stage`` (named ``name``) with caching and stage lines; merge its results into ``ctx.values``.
    After every stage but a successful ``evaluate`` or ``score`` the encoded lines they hand on
    (``evaluate`` to ``score``, ``score`` to ``recommend``) are dropped (``xsell.steps.handoff``):
    held for the next stage only."""
    try:
        result = _run_stage(name, stage, ctx)
    except BaseException:
        handoff.drop()
        raise
    if name not in _HANDING_ON:
        handoff.drop()
    return result


_HANDING_ON = ("evaluate", "score")
"""Stages whose encoded order lines the next stage may take (``xsell.steps.handoff``)."""


def _run_stage(name: str, stage: Stage, ctx: RunContext) -> dict[str, Any]:
    key = stage.key(name, ctx) if stage.cached else None
    if key is not None and not ctx.force:
        record = read_state(_cache_file(ctx, name), f"{name} cache record")
        if isinstance(record, dict) and record.get("key") == key:
            result = record.get("result", {})
            if all(Path(p).exists() for p in stage.writes(ctx, result)):
                log.info("%s: skipped, inputs and config unchanged since %s (use --force to recompute)", name, record.get("at"))
                ctx.values.update(result)
                return result
    with stage_lines(name, log) as report:
        result = stage.run(ctx) or {}
        report.counts.update(result.get("counts", {}))
    release_freed_memory()  # what the stage's frames took: the next stage starts from what is held
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
    stages: Mapping[str, Stage],
    force: bool = False,
) -> RunContext:
    """Load the pipeline and config, take the locks, run every stage (from ``stages``) in order;
    returns the context (its ``values`` hold what the stages reported)."""
    config_path = Path(config_path)
    spec = load_pipeline(find_pipeline(name_or_path, config_path), stages)
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
            run_stage(name, stages[name], ctx)
    log.info("pipeline %s: done in %.1f s", spec.name, time.perf_counter() - t0)
    return ctx


def _tidy(ctx: RunContext) -> None:
    """Remove temp files killed runs left in the workdir, end their MLflow runs as KILLED."""
    wd = ctx.workdir
    for folder in (wd.root, wd.cache, wd.tables, wd.evaluation):
        remove_leftovers(folder)
    if ctx.cfg.mlflow.enabled:
        from xsell.tracking import end_orphaned_runs

        end_orphaned_runs(ctx.cfg.tracking_uri, ctx.cfg.mlflow.experiment)
