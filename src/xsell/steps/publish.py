"""Step ``publish``: write the suggestion tables as a versioned, atomic, checked run.

``run_publish`` reads ``<workdir>/tables/*.parquet`` + ``tables.json`` and the product master,
runs the guardrails, writes every file into ``<outputs>/runs/.tmp-<run_id>/`` (each fsynced)
and reads each back from disk once (its sha256 and row count, the rows checked against what the
writer wrote), writes ``manifest.json`` last from what was read, checks that the folder holds no
file it does not list, renames the folder to ``runs/<run_id>`` and, when the guardrails passed, switches ``<outputs>/latest`` (a relative
symlink, replaced atomically). Then the retention removes old runs. A kill at any point
leaves the previous ``latest`` complete; the next publish removes the leftovers (``.tmp-*``)
and marks a complete run that was ``accepted`` but never became ``latest`` (a kill between the
rename and the switch) as ``interrupted`` in its manifest. One publish at a time per outputs
folder (``<outputs>/.publish.lock``, a ``RunLock``; else ``LockedError``).

Test-only hook: with ``XSELL_PUBLISH_TEST_PAUSE_AFTER=<path relative to the run folder>`` (or
``@renamed``: after the rename, before ``latest`` moves) the step sleeps
``XSELL_PUBLISH_TEST_PAUSE_SECONDS`` (default 60) at that point so a test can kill it there
(see ``xsell.faults``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from xsell.config import Config
from xsell.errors import GuardrailError, InputDataError, UsageError
from xsell.faults import pause_env, pause_point
from xsell.fingerprint import sha256_file
from xsell.frames import release_freed_memory
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.io.writers import (
    ensure_dir,
    fsync_path,
    read_state,
    write_json,
    write_symlink,
)
from xsell.io.writers import write_csv as write_plain_csv
from xsell.lock import RunLock
from xsell.parallel import ordered_map
from xsell.progress import progress, stage
from xsell.publish.diff import diff_runs, summarise_diff
from xsell.publish.formats import shop_jobs
from xsell.publish.guardrails import check_guardrails
from xsell.publish.manifest import (
    MANIFEST_NAME,
    RUN_ID_RE,
    ManifestMismatchError,
    build_manifest,
    file_entry,
    make_run_id,
    mismatch,
)
from xsell.publish.sales import OrderFacts, RunFacts, order_facts
from xsell.publish.salesops import listing_rank, sales_jobs
from xsell.publish.shop import shop_context
from xsell.publish.tables import link_columns, prepare_table
from xsell.publish.writers import (
    Written,
    count_rows,
    file_facts,
    read_run_table,
    write_csv,
    write_parquet,
)
from xsell.recommend.context import RecommendContext
from xsell.schema import TABLES

log = logging.getLogger(__name__)

PAUSE_ENV, PAUSE_SECONDS_ENV = pause_env("publish")
RENAMED_POINT = "@renamed"
INTERRUPTED = "interrupted"
"""Manifest status of a complete, accepted run that a kill kept from becoming ``latest``."""
TMP_PREFIX = ".tmp-"
LATEST = "latest"
DIFF_DETAIL_ROWS = 50
CHECK_THREADS = 2
"""Files read back at a time (sha256 and row count) while a run is written, and by ``verify``."""
WRITE_THREADS = 2
"""Files written at a time: the writers spend most of their time in Arrow, zlib and file I/O,
which release the GIL, so a second one uses the second core."""


@dataclass(frozen=True)
class PublishResult:
    """An accepted run: ``latest`` points at it (a rejected run raises ``GuardrailError``)."""

    run_id: str
    run_dir: Path
    files: int
    """Files listed in the manifest."""
    removed_runs: list[str] = field(default_factory=list)
    """Old runs the retention deleted."""


@dataclass
class _Inputs:
    tables: dict[str, pd.DataFrame]
    meta: dict[str, Any]
    products: pd.DataFrame
    customers: pd.DataFrame | None
    digest: str
    today: dt.date | None = None
    """The tables' ``today`` (else the run's date): the guardrails' and the shop files' reference date."""
    previous_dir: Path | None = None
    """Folder of the previous published run (``latest``): the shop formats list what it dropped."""
    facts: OrderFacts = field(default_factory=OrderFacts)
    """Last order per buying center, currency per country, span of the order history."""
    run: RunFacts = field(default_factory=RunFacts)
    """What the workbooks' Read me and the site say about the run."""
    shop: RecommendContext | None = None
    """Product facts as of ``today`` (``shop_context``), built once for the guardrails and the shop files."""


# -- inputs ---------------------------------------------------------------------------------
def _read_inputs(cfg: Config) -> _Inputs:
    wd = Workdir(cfg.workdir)
    digest = hashlib.sha256(cfg.hash().encode())
    tables = {}
    for name in TABLES:
        path = wd.table(name)
        if not path.is_file():
            raise InputDataError(f"table {name} not found; run `xsell recommend` first", file=path)
        tables[name] = prepare_table(name, pd.read_parquet(path), source=str(path))
        digest.update(sha256_file(path).encode())
    meta_path = wd.tables / "tables.json"
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputDataError(f"tables.json is not valid JSON: {exc.msg}", file=meta_path, row=exc.lineno) from None
        if not isinstance(meta, dict):
            raise InputDataError("tables.json must hold a JSON object", file=meta_path)
    else:
        log.warning("publish: %s not found; model and input metadata will be null in the manifest", meta_path)
    if not wd.products.is_file():
        raise InputDataError("product master not found (needed for the guardrails); run `xsell ingest` first", file=wd.products)
    products = pd.read_parquet(wd.products)
    digest.update(sha256_file(wd.products).encode())
    customers = pd.read_parquet(wd.customers) if wd.customers.is_file() else None
    facts = _order_facts(wd.order_lines)
    run = RunFacts(
        as_of=meta.get("today"), data_start=facts.start, data_end=facts.end, lines=facts.lines,
        model=meta.get("personal_model"), model_name=meta.get("model_name"), model_version=meta.get("model_version"),
        evaluation=read_state(wd.champion, "champion record") if wd.champion.is_file() else None,
    )  # fmt: skip
    return _Inputs(tables, meta, products, customers, digest.hexdigest(), today=_tables_today(meta, meta_path), facts=facts, run=run)


def _order_facts(path: Path) -> OrderFacts:
    """``OrderFacts`` of the canonical order lines (none without them: the workbooks then have no
    last-order column and no currency unless ``publish.currencies`` names one)."""
    if not path.exists():  # a file, or a folder where the Spark backend wrote a dataset
        log.warning("publish: %s not found; the sales workbooks show no last order and no data span", path)
        return OrderFacts()
    lines = ds.dataset(path, format="parquet", partitioning="hive")
    columns = [c for c in ("buying_center_id", "order_date", "country", "currency", "is_return") if c in lines.schema.names]
    if not {"buying_center_id", "order_date", "country"} <= set(columns):
        return OrderFacts()
    return order_facts(lines.to_batches(columns=columns))  # batch by batch: memory does not grow with the history


def _tables_today(meta: dict[str, Any], path: Path) -> dt.date | None:
    """The ``today`` the tables were made for (``tables.json``): the one date the business rules,
    the guardrails and the shop files all use (``None``: not recorded, the run's own date)."""
    raw = meta.get("today")
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise InputDataError(f"tables.json has an invalid today {raw!r}", file=path) from None


# -- folders, lock, latest ------------------------------------------------------------------
def _runs_dir(cfg: Config) -> Path:
    return cfg.publish.outputs / "runs"


def list_runs(runs_dir: Path) -> list[str]:
    """Complete run folders (temp folders never count), oldest first."""
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and RUN_ID_RE.match(p.name))


def latest_run(outputs: Path) -> str | None:
    """Run id ``<outputs>/latest`` points to, or None when there is none (or it dangles)."""
    link = outputs / LATEST
    if not link.is_symlink():
        return None
    run_id = Path(os.readlink(link)).name
    if not (outputs / "runs" / run_id / MANIFEST_NAME).is_file():
        log.warning("publish: %s points at %s, which is not a complete run", link, run_id)
        return None
    return run_id


def _mark_interrupted(outputs: Path) -> list[str]:
    """Mark the complete runs newer than ``latest`` still ``accepted``: a kill after their rename
    kept them from becoming ``latest``, so nobody ever used them. Their manifest says
    ``interrupted`` from then on (``publish verify`` still checks their files)."""
    runs_dir = outputs / "runs"
    latest = latest_run(outputs)
    marked = []
    for run_id in list_runs(runs_dir):
        if latest is not None and run_id <= latest:
            continue
        path = runs_dir / run_id / MANIFEST_NAME
        manifest = read_state(path, "manifest")
        if isinstance(manifest, dict) and manifest.get("status") == "accepted":
            manifest["status"] = INTERRUPTED
            manifest["interrupted_note"] = "killed after the run was written, before latest moved to it; never published"
            _write_json(path, manifest)
            marked.append(run_id)
    if marked:
        log.warning("publish: run(s) %s never became latest (a kill); marked %s", ", ".join(marked), INTERRUPTED)
    return marked


def _clean_leftovers(outputs: Path) -> list[str]:
    """Remove temp run folders and temp ``latest`` links a killed publish left behind."""
    removed = []
    for path in sorted(_dir_entries(outputs / "runs")) + sorted(_dir_entries(outputs)):
        if path.name.startswith(TMP_PREFIX) or path.name.startswith(f".{LATEST}.tmp-"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
    if removed:
        log.info("publish: removed %d leftover temp entr%s: %s", len(removed), "y" if len(removed) == 1 else "ies", ", ".join(removed))
    return removed


def _dir_entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def _switch_latest(outputs: Path, run_id: str) -> None:
    write_symlink(outputs / LATEST, Path("runs") / run_id)
    fsync_path(outputs)


def _apply_retention(runs_dir: Path, keep: int, protect: str | None) -> list[str]:
    """Delete all but the newest ``keep`` runs, never ``protect``; a folder is renamed to a temp
    name before it is deleted, so a half-deleted run never looks like a run."""
    runs = list_runs(runs_dir)
    doomed = [r for r in runs[: max(0, len(runs) - keep)] if r != protect]
    for run_id in doomed:
        trash = runs_dir / f"{TMP_PREFIX}del-{run_id}"
        os.rename(runs_dir / run_id, trash)
        shutil.rmtree(trash)
    if doomed:
        log.info("publish: retention removed %d run(s): %s", len(doomed), ", ".join(doomed))
    return doomed


def _pause_point(name: str) -> None:
    pause_point("publish", name)


# -- writing --------------------------------------------------------------------------------
def _jobs(cfg: Config, inputs: _Inputs, root: Path) -> Iterator[tuple[int, str, Callable[[], Written]]]:
    """(listing rank, relative path, writer) for every file the configured formats ask for, in
    write order, made as they are asked for (the sales files one country at a time). The
    manifest lists the files by rank, in write order within a rank: the tables, the sales files
    and the site (``listing_rank``), the shop files."""
    pc = cfg.publish
    for name, frame in inputs.tables.items():
        if "csv" in pc.formats:
            yield 0, f"{name}.csv", partial(write_csv, frame, root / f"{name}.csv", bom=pc.csv_bom)
        if "parquet" in pc.formats:
            yield 0, f"{name}.parquet", partial(write_parquet, frame, root / f"{name}.parquet")
    for rel, job in sales_jobs(pc, inputs.tables, inputs.products, inputs.customers, inputs.facts, inputs.run, root=root):
        yield 1 + listing_rank(rel), rel, job
    for rel, job in shop_jobs(pc, inputs.tables, inputs.products, root=root, today=inputs.today, previous_run=inputs.previous_dir, context=inputs.shop):
        yield 5, rel, job


def _check_dir(run_dir: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(relative path, problem) for every file that differs from the manifest or is not in it."""
    entries = manifest.get("files", [])
    with ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="publish-check") as pool:  # hashing and inflating release the GIL
        found = list(pool.map(partial(_check_file, run_dir), entries))
    problems = [(entry["path"], why) for entry, why in zip(entries, found) if why]
    return problems + _unlisted(run_dir, manifest)


def _unlisted(run_dir: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(relative path, problem) for every file in ``run_dir`` the manifest does not list."""
    listed = {entry["path"] for entry in manifest.get("files", [])}
    problems = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_file() and rel != MANIFEST_NAME and rel not in listed:
            problems.append((rel, "is not in the manifest"))
    return problems


def _check_file(run_dir: Path, entry: dict[str, Any]) -> str | None:
    """What is wrong with one manifest entry's file on disk (None: it matches)."""
    path = run_dir / entry["path"]
    sha = sha256_file(path) if path.is_file() else None
    rows = count_rows(path) if sha == entry["sha256"] else None
    return mismatch(entry, sha256=sha, rows=rows)


def _raise_problems(run_id: str, run_dir: Path, problems: list[tuple[str, str]]) -> None:
    rel, why = problems[0]
    more = f" (+{len(problems) - 1} more: {', '.join(p for p, _ in problems[1:])})" if len(problems) > 1 else ""
    raise ManifestMismatchError(f"run {run_id}: {rel} {why}{more}", file=run_dir / rel)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    write_json(payload, path, durable=True, ensure_ascii=False)


def _new_run_id(runs_dir: Path, now: dt.datetime, digest: str) -> str:
    """A run id not used yet: same-second clashes move on to the next second."""
    while True:
        run_id = make_run_id(now, digest)
        if not (runs_dir / run_id).exists() and not (runs_dir / f"{TMP_PREFIX}{run_id}").exists():
            return run_id
        now += dt.timedelta(seconds=1)


def _write_run(
    cfg: Config, inputs: _Inputs, runs_dir: Path, run_id: str, manifest_fields: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write every file and the manifest (``build_manifest`` + the ``extra`` keys) into
    ``runs/.tmp-<run_id>``, fsync, and rename the folder to ``runs/<run_id>``; returns the
    manifest. ``WRITE_THREADS`` files are written at a time, the jobs made and taken in
    ``_jobs``' order (the manifest lists them by rank); each file is
    read back from disk once, on a worker thread while the next ones are written
    (``file_facts``): the manifest lists the sha256 of the bytes on disk, and a row count on disk
    other than the writer's is an error, as is a file the manifest does not list. On any error
    the temp folder is removed (after a kill, the next publish removes it)."""
    tmp = runs_dir / f"{TMP_PREFIX}{run_id}"
    tmp.mkdir()

    def write(job: tuple[int, str, Callable[[], Written]]) -> tuple[int, str, Written]:
        rank, rel, writer = job
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        return rank, rel, writer()

    try:
        entries: list[tuple[int, dict[str, Any]]] = []
        problems = []
        with ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="publish-check") as pool:  # hashing and inflating release the GIL
            read_back: list[tuple[int, Written, Future[tuple[str, int | dict[str, int]]]]] = []
            files = ordered_map(write, _jobs(cfg, inputs, tmp), workers=WRITE_THREADS, name="publish-write")  # jobs made as they are taken
            for rank, rel, written in progress(files, desc="publish: files", logger=log):
                read_back.append((rank, written, pool.submit(file_facts, written.path)))
                _pause_point(rel)
            for rank, written, facts in read_back:
                sha, rows = facts.result()
                entry = file_entry(written, tmp, sha, written.path.stat().st_size)
                entries.append((rank, entry))
                if why := mismatch(entry, sha256=sha, rows=rows):
                    problems.append((entry["path"], why))
        if problems:
            _raise_problems(run_id, tmp, problems)
        listed = [entry for _, entry in sorted(entries, key=lambda e: e[0])]  # stable: write order within a rank
        manifest = {**build_manifest(run_id=run_id, files=listed, **manifest_fields), **(extra or {})}
        _write_json(tmp / MANIFEST_NAME, manifest)
        _pause_point(MANIFEST_NAME)
        problems = _unlisted(tmp, manifest)
        if problems:
            _raise_problems(run_id, tmp, problems)
        for folder in sorted({(tmp / e["path"]).parent for e in listed} | {tmp}, reverse=True):
            fsync_path(folder)
        os.rename(tmp, runs_dir / run_id)
        fsync_path(runs_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def run_publish(cfg: Config, *, now: dt.datetime | None = None) -> PublishResult:
    """Publish the workdir's tables as a new run (``now``: the run's time, default the clock).

    Raises ``GuardrailError`` (exit 4) after writing a ``rejected`` run when a guardrail fails;
    ``latest`` then stays where it was.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    pc = cfg.publish
    with stage("publish", log) as report:
        inputs = _read_inputs(cfg)
        release_freed_memory()  # the tables' Arrow buffers before their reordering
        runs_dir = _runs_dir(cfg)
        ensure_dir(runs_dir, "publish.outputs")
        with RunLock(pc.outputs / ".publish.lock", what="publish"):
            _clean_leftovers(pc.outputs)
            _mark_interrupted(pc.outputs)
            previous = latest_run(pc.outputs)
            inputs.today = inputs.today or now.date()
            inputs.previous_dir = runs_dir / previous if previous is not None else None
            prev_tables = None
            if previous is not None:
                prev_tables = {n: t for n in TABLES if (t := read_run_table(runs_dir / previous, n, link_columns(n))) is not None}  # what churn compares
            inputs.shop = shop_context(inputs.products, inputs.today)
            guard = check_guardrails(inputs.tables, inputs.products, inputs.customers, prev_tables, pc.guardrails, inputs.today, inputs.shop)
            del prev_tables  # the previous run's link columns (~0.4 GiB at large) are not held through the writing
            release_freed_memory()
            run_id = _new_run_id(runs_dir, now, inputs.digest)
            manifest = _write_run(
                cfg, inputs, runs_dir, run_id,
                {
                    "created_at": now,
                    "status": "accepted" if guard.passed else "rejected",
                    "config_hash": cfg.hash(),
                    "tables_meta": inputs.meta,
                    "settings": pc.model_dump(mode="json"),
                    "previous_run": previous,
                    "guardrails": guard.to_dict(),
                },
                {"data_end": _data_end(cfg), "monitoring": _monitoring(cfg)},
            )
            _pause_point(RENAMED_POINT)
            if guard.passed:
                _switch_latest(pc.outputs, run_id)
            removed = _apply_retention(runs_dir, pc.keep_runs, latest_run(pc.outputs))
        report.counts.update(run=run_id, status=manifest["status"], files=len(manifest["files"]), rows=sum(len(t) for t in inputs.tables.values()))
    if not guard.passed:
        for reason in guard.reasons:
            log.error("publish: guardrail failed: %s", reason)
        raise GuardrailError(f"run {run_id} rejected, latest still {previous or 'unset'}: " + "; ".join(guard.reasons), guard.reasons)
    return PublishResult(run_id, runs_dir / run_id, len(manifest["files"]), removed)


def _data_end(cfg: Config) -> str | None:
    """Last order date of the workdir's canonical order lines (the history the tables were made
    from): what ``xsell monitor`` measures after. None when there are none."""
    lines = read_canonical(Workdir(cfg.workdir).order_lines, required=False, columns=["order_date"])
    if lines is None:
        return None
    dates = lines["order_date"]
    return None if dates.empty or pd.isna(dates.max()) else str(pd.Timestamp(dates.max()).date())


def _monitoring(cfg: Config) -> dict[str, Any] | None:
    """The newest uptake measurement and its trend (``xsell monitor``), None before the first."""
    from xsell.steps.monitor import monitoring_for_manifest

    return monitoring_for_manifest(cfg.publish.outputs, cfg.monitor.trend_runs)


# -- verify and diff ------------------------------------------------------------------------
def _resolve_run(cfg: Config, run_id: str | None) -> tuple[str, Path]:
    """(run id, folder) of ``run_id``; None or ``latest`` means what ``latest`` points to."""
    outputs = cfg.publish.outputs
    if run_id in (None, LATEST):
        resolved = latest_run(outputs)
        if resolved is None:
            raise InputDataError("no published run: latest is not set", file=outputs / LATEST)
        run_id = resolved
    run_dir = outputs / "runs" / run_id
    if not RUN_ID_RE.match(run_id) or not run_dir.is_dir():
        known = list_runs(outputs / "runs")
        raise UsageError(f"unknown run {run_id!r} in {outputs / 'runs'} (newest: {', '.join(known[-5:]) or 'none'})")
    return run_id, run_dir


def verify(cfg: Config, run_id: str | None) -> int:
    """Re-check a published run (default: latest) against its manifest; 0 when every file matches.

    Raises ``ManifestMismatchError`` (exit 3) naming the first file that is missing, has another
    sha256 or row count, or is not listed in the manifest.
    """
    run_id, run_dir = _resolve_run(cfg, run_id)
    path = run_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestMismatchError(f"run {run_id} has no manifest", file=path) from None
    except json.JSONDecodeError as exc:
        raise ManifestMismatchError(f"run {run_id}: manifest is not valid JSON: {exc.msg}", file=path, row=exc.lineno) from None
    problems = _check_dir(run_dir, manifest)
    if problems:
        _raise_problems(run_id, run_dir, problems)
    print(f"run {run_id} ({manifest.get('status')}): {len(manifest.get('files', []))} files match the manifest")
    return 0


def diff(cfg: Config, run_a: str, run_b: str, *, out: Path | None = None) -> int:
    """Print the links added, dropped and moved from run A to run B per table and country;
    ``out``: also write every changed link (``DIFF_COLUMNS``) to that CSV file."""
    loaded = []
    for run in (run_a, run_b):
        run_id, run_dir = _resolve_run(cfg, run)
        loaded.append((run_id, {n: t for n in TABLES if (t := read_run_table(run_dir, n)) is not None}))
    (id_a, tables_a), (id_b, tables_b) = loaded
    changes = diff_runs(tables_a, tables_b)
    if out is not None:
        write_plain_csv(changes, out)
    print(f"diff {id_a} -> {id_b}: {len(changes):,} links changed" + (f" (all in {out})" if out is not None else ""))
    if changes.empty:
        return 0
    print(summarise_diff(changes).to_string(index=False))
    print()
    shown = changes.head(DIFF_DETAIL_ROWS)
    print(shown.to_string(index=False))
    if len(changes) > DIFF_DETAIL_ROWS:
        print(f"... {len(changes) - DIFF_DETAIL_ROWS:,} more")
    return 0
