"""``xsell ingest``: read the ERP export, run the pure ingest stages, write canonical tables.

Writes into the workdir (see ``xsell.io.layout.Workdir``): ``canonical/order_lines.parquet``,
``canonical/products.parquet``, ``canonical/customers.parquet``,
``quarantine/quarantine.parquet`` + ``quarantine.csv`` (rejected rows of the order lines and
the masters, with reason), ``quarantine/excluded.parquet`` (duplicates and non-product lines
with the rule) and ``ingest_summary.json``. The product master is read in batches
(``xsell.io.readers.stream_export``; a CSV it cannot read so exactly is read whole) and its
canonical products are written as they come; only its ids are kept for the order lines.
Order-line files are processed one at a time (a Parquet file in batches of
``xsell.io.readers.BATCH_ROWS`` rows) and their accepted lines are written as they come, by a
background thread, so memory is bounded by a batch, not the export.

The outputs switch together: they are written into a new generation folder
``ingest/<id>/``, which becomes current by one atomic symlink swap (``ingest/current``);
``canonical``, ``quarantine`` and ``ingest_summary.json`` in the workdir are fixed symlinks
into ``ingest/current``. A kill at any point leaves the previous generation whole; the next
ingest removes what the killed one left (temp folders, unfinished generations).

Test-only hook: ``XSELL_INGEST_TEST_PAUSE_AFTER=<path in the generation>`` (or ``@renamed``:
after the generation folder is complete, before it becomes current) pauses there (see
``xsell.faults``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xsell.errors import ConfigError, InputDataError, OutputWriteError
from xsell.faults import pause_point
from xsell.ingest.lines import (
    PRODUCT_COLUMNS_USED,
    PROVENANCE,
    REASON_HINTS,
    PreparedBatch,
    finish_batch,
    merge_sorted,
    prepare_batch,
    with_provenance,
)
from xsell.ingest.masters import (
    MASTER_REASONS,
    MasterResult,
    build_customer_master,
    build_product_master,
    canonical_customer_master,
    canonical_product_master,
)
from xsell.ingest.parse import KeyIndex, lookup_positions
from xsell.ingest.summary import COUNT_KEYS, IngestSummary, LineStats, merge_counts, summary_from_stats
from xsell.io.layout import INGEST_OUTPUTS, Workdir
from xsell.io.readers import NotStreamable, RawFile, expand_files, iter_export, read_export, stream_export
from xsell.io.writers import atomic_write, ensure_dir, remove_leftovers, write_csv, write_json, write_parquet, write_symlink
from xsell.parallel import available_cores, ordered_map
from xsell.progress import progress, stage
from xsell.schema import ORDER_LINE_COLUMNS

if TYPE_CHECKING:
    from xsell.config import Config

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.parquet"
QUARANTINE_CSV = "quarantine.csv"
EXCLUDED_FILE = "excluded.parquet"
RENAMED_POINT = "@renamed"
_STAGED_LINES, _STAGED_PRODUCTS = "order_lines.parquet", "products.parquet"
_GENERATION = re.compile(r"^\d{8}T\d{6}\d{6}Z-\d+$")


def _stack_rejects(frames: list[pd.DataFrame], tail: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate per-file reject frames (their source columns may differ): text, provenance last."""
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*PROVENANCE, *tail])
    first = [c for c in out.columns if c not in PROVENANCE and c not in tail]
    out = out[[*first, *PROVENANCE, *tail]]
    for c in out.columns:
        out[c] = out[c].astype("int64") if c == "source_row" else out[c].fillna("").astype("str")
    return out


def _check_master(path: Path | None, what: str) -> Path | None:
    if path is not None and not path.is_file():
        raise ConfigError(f"{what} master {path} not found", key=f"data.{what}s")
    return path


def _read_master(path: Path | None, cfg: Config, what: str) -> MasterResult | None:
    path = _check_master(path, what)
    if path is None:
        return None
    with stage(f"ingest: read {what} master", log) as report:
        raw = read_export(path, cfg.data.csv)
        build = canonical_product_master if what == "product" else canonical_customer_master
        result = build(raw.frame, cfg.data, file=str(path), unreadable=raw.issues)
        result.info.update(file=str(path), encoding=raw.encoding)
        report.counts.update(rows=len(raw.frame), kept=len(result.master), quarantined=len(result.quarantine))
    return result


def _date_range(lines: pd.DataFrame) -> dict[str, str | None]:
    """First and last order date of one file's accepted lines (ISO dates; None when empty)."""
    if lines.empty:
        return {"date_min": None, "date_max": None}
    dates = lines["order_date"]
    return {"date_min": str(dates.min().date()), "date_max": str(dates.max().date())}


def _unknown_buying_centers(lines: pd.DataFrame, distinct: pa.Array, customers: pd.DataFrame | None) -> pd.DataFrame:
    """The columns a customer is inferred from, of the lines whose buying center the customer
    master lacks (all lines without a master); ``distinct``: the lines' buying centers."""
    columns = ["buying_center_id", "customer_id", "country"]
    if customers is None:
        return lines[columns]
    unknown = distinct.filter(pa.array(lookup_positions(pd.Series(pd.array(distinct, dtype="str")), customers["buying_center_id"]) < 0))
    if not len(unknown):
        return lines.iloc[:0][columns]
    return lines.loc[pc.is_in(pa.array(lines["buying_center_id"].array), value_set=unknown).to_numpy(zero_copy_only=False), columns]


def _concat(frames: list[pd.DataFrame], template: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else template


class _StagedFile:
    """An output file written before its generation folder exists (a temp entry of the ingest
    folder, removed by the next run if this one is killed); ``place`` moves it into the
    generation (see ``output_jobs``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def place(self, path: Path) -> Path:
        """Move the staged file to ``path`` (atomically)."""
        return atomic_write(path, lambda tmp: os.replace(self.path, tmp))


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class _RowGroupSink(_StagedFile):
    """Frames written as they come (a Parquet row group per batch) into a staged file by a
    background thread: one batch (the accepted order lines of one, the canonical products of
    the product master's) is written while the next is parsed, and the batches are never held
    together."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-lines")
        self._pending: Future[None] | None = None
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _RowGroupSink:
        return self

    def write(self, lines: pd.DataFrame) -> None:
        """Queue one batch (the previous one written first, so at most one waits)."""
        self._wait()
        self._pending = self._pool.submit(self._write, lines)

    def _write(self, lines: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(lines, preserve_index=False)  # as DataFrame.to_parquet(index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(_fresh(self.path), table.schema)
        elif not table.schema.equals(self._writer.schema):
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except OSError as exc:
                raise OutputWriteError(self.path, exc) from exc

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown()
            if self._writer is not None:
                self._writer.close()



def _stream_product_master(path: Path, cfg: Config, staged: Path) -> tuple[MasterResult, KeyIndex, tuple[int, dict[str, Any]]]:
    """Read the product master in batches (``stream_export``) and write its canonical products
    into ``staged`` as they come: with a product master no line adds a product (a variant it
    lacks is quarantined), so the canonical products are the master's, and the order lines
    need only its ids and custom flag (``PRODUCT_COLUMNS_USED``): the master's text columns
    are never held whole. Returns the master (those columns), the ``KeyIndex`` of its variants
    (hashed once for all order-line batches) and the canonical products' count and info. A
    file that cannot be streamed (``NotStreamable``) is read whole."""
    no_lines = pd.DataFrame({c: pd.Series(dtype="str") for c in ORDER_LINE_COLUMNS})
    with stage("ingest: read product master", log) as report:
        try:
            batches = list(_product_batches(stream_export(path, cfg.data.csv), path, cfg, staged, no_lines))
        except NotStreamable as why:
            log.info("product master read whole (%s)", why)
            raw = read_export(path, cfg.data.csv)
            batches = list(_product_batches(iter([raw]), path, cfg, staged, no_lines))
        parts, infos, products_infos, encoding, index = zip(*batches, strict=True)
        info = merge_counts(infos)
        info["quarantined_by_reason"] = {r: info["quarantined_by_reason"][r] for r in MASTER_REASONS if r in info["quarantined_by_reason"]}
        info.update(file=str(path), encoding=encoding[-1])
        result = MasterResult(_concat([p.master for p in parts], parts[0].master), info, _concat([p.quarantine for p in parts], parts[0].quarantine))
        products_info = {**products_infos[0], **{k: sum(i[k] for i in products_infos) for k in ("from_master", "inferred_rows")}}
        report.counts.update(rows=info["rows"], kept=len(result.master), quarantined=len(result.quarantine))
    return result, index[-1], (products_info["from_master"] + products_info["inferred_rows"], products_info)


def _product_batches(
    reads: Iterator[RawFile], path: Path, cfg: Config, staged: Path, no_lines: pd.DataFrame
) -> Iterator[tuple[MasterResult, dict[str, Any], dict[str, Any], str | None, KeyIndex]]:
    """Per batch of the product master: its canonical rows (``PRODUCT_COLUMNS_USED``) and
    quarantine, its info, its products' info, the encoding and the variants so far; the
    canonical products are written as row groups of ``staged``."""
    known, first_row = KeyIndex(), 1
    with _RowGroupSink(staged) as sink:
        for read in reads:
            result = canonical_product_master(read.frame, cfg.data, file=str(path), unreadable=read.issues, first_row=first_row, known=known)
            first_row += len(read.frame)
            known.add(result.master["variant_id"])
            products, products_info = build_product_master(no_lines, result.master, cfg.data)
            sink.write(products)
            master = result.master[list(PRODUCT_COLUMNS_USED)]
            yield result._replace(master=master), result.info, products_info, read.encoding, known


def _write_table(data: pd.DataFrame | _StagedFile, path: Path) -> Path:
    return data.place(path) if isinstance(data, _StagedFile) else write_parquet(data, path)


def _merge_ranges(ranges: list[dict[str, str | None]]) -> dict[str, str | None]:
    """The date range of a file from those of its batches (``_date_range``)."""
    firsts = [r["date_min"] for r in ranges if r["date_min"] is not None]
    lasts = [r["date_max"] for r in ranges if r["date_max"] is not None]
    return {"date_min": min(firsts) if firsts else None, "date_max": max(lasts) if lasts else None}


def _batches(files: list[Path], cfg: Config) -> Iterator[tuple[int, RawFile, pd.DataFrame]]:
    """(file number, read, raw frame with provenance) of every batch of every order-line file, in order."""
    for at, path in enumerate(files):
        first_row = 1
        for read in iter_export(path, cfg.data.csv):  # Parquet in batches of rows, CSV whole
            raw = with_provenance(read.frame, str(path), first_row=first_row)
            first_row += len(raw)
            yield at, read, raw


class _Lookahead:
    """An iterator whose next item can be looked at before it is taken."""

    _END = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self._items, self._next = items, self._END

    def peek(self) -> Any:
        """The next item, left to be taken (None at the end)."""
        if self._next is self._END:
            self._next = next(self._items, self._END)
        return None if self._next is self._END else self._next

    def take(self) -> Any:
        """The next item (after ``peek`` found one)."""
        item, self._next = self._next, self._END
        return item

    def close(self) -> None:
        """Stop the iterator (a generator runs its ``finally``: a pool waits for its threads)."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


class _StatsThread:
    """A ``LineStats`` fed on a thread of its own, one batch after another (at most one waits):
    its hashing of the distinct ids runs beside the main thread's next batch."""

    def __init__(self, stats: LineStats) -> None:
        self._stats, self._pool = stats, ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-stats")
        self._pending: Future[LineStats] | None = None

    def add(self, lines: pd.DataFrame, distinct: Mapping[str, pa.Array]) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._stats.add, lines, distinct)

    def done(self) -> LineStats:
        """The stats with every batch added (the thread is stopped)."""
        try:
            if self._pending is not None:
                self._pending.result()
        finally:
            self._pool.shutdown()
        return self._stats

    def close(self) -> None:
        """Stop the thread (after an error: the batch being added is finished, nothing waits)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def run_ingest(cfg: Config) -> IngestSummary:
    """Ingest the configured export into the workdir; return the summary (also written as JSON).

    Raises ``InputDataError`` (exit 3) for unreadable input, and after writing quarantine and
    summary when the quarantined share exceeds ``ingest.max_rejected_share``. With
    ``engine.backend: spark`` the ingest runs on Spark (``xsell.spark.ingest``).
    """
    if cfg.engine.backend == "spark":
        from xsell.spark.ingest import run_spark_ingest

        return run_spark_ingest(cfg)
    wd, files, _, customer_file = prepare_inputs(cfg, read_products=False)
    customer_master = customer_file.master if customer_file else None
    staged_products = _StagedFile(wd.ingest / f".{_STAGED_PRODUCTS}.tmp-{os.getpid()}")
    product_file, product_index, products_early = None, None, None
    if cfg.data.products is not None:
        product_file, product_index, products_early = _stream_product_master(cfg.data.products, cfg, staged_products.path)
    product_master = product_file.master if product_file else None
    quarantined_masters = [m.quarantine for m in (product_file, customer_file) if m is not None]

    counts: list[dict[str, Any]] = []
    file_rows: list[dict[str, Any]] = []
    rejects: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    stats = _StatsThread(LineStats())
    # what completes the masters: without a product master every line (products are inferred
    # from them); with one none (a variant it lacks is quarantined, so no line infers a
    # product); for customers the lines of buying centers the customer master lacks
    product_lines: list[pd.DataFrame] = []
    customer_lines: list[pd.DataFrame] = []
    seen = np.empty(0, dtype="uint64")
    prepared: _Lookahead | None = None
    staged = wd.ingest / f".{_STAGED_LINES}.tmp-{os.getpid()}"
    try:
        # the next batches are prepared (read, encoded, parsed, checked) on a second thread while
        # this one is finished: finishing needs the fingerprints of every earlier batch
        def prepare(item: tuple[int, RawFile, pd.DataFrame]) -> tuple[int, str | None, PreparedBatch]:
            at, read, raw = item
            return at, read.encoding, prepare_batch(raw, cfg.data, cfg.ingest, product_master, unreadable=read.issues, product_index=product_index)

        prepared = _Lookahead(ordered_map(prepare, _batches(files, cfg), workers=min(2, available_cores()), name="ingest-prepare"))
        with _RowGroupSink(staged) as sink:
            for at, path in enumerate(progress(files, desc="ingest files", logger=log)):
                with stage(f"ingest: {path.name}", log) as report:
                    parts: list[dict[str, Any]] = []
                    ranges: list[dict[str, str | None]] = []
                    encoding = None
                    while (following := prepared.peek()) is not None and following[0] == at:
                        _, encoding, batch = prepared.take()
                        result = finish_batch(batch, seen_fingerprints=seen)
                        del batch
                        # kept sorted for ``in_sorted``
                        seen = merge_sorted(seen, result.fingerprints)
                        lines = result.lines
                        empty = lines.iloc[:0]
                        sink.write(lines)
                        stats.add(lines, result.distinct)  # on its own thread, batch after batch
                        if product_master is None:
                            product_lines.append(lines)
                        customer_lines.append(_unknown_buying_centers(lines, result.distinct["buying_center_id"], customer_master))
                        rejects.append((result.quarantine, result.excluded))
                        parts.append(result.counts)
                        ranges.append(_date_range(lines))
                        del result, lines
                    file_counts = merge_counts(parts)
                    counts.append(file_counts)
                    file_rows.append({"file": str(path), "encoding": encoding, **{k: file_counts[k] for k in COUNT_KEYS}, **_merge_ranges(ranges)})
                    report.counts.update({k: file_counts[k] for k in COUNT_KEYS})

        with stage("ingest: masters", log) as report:
            products: pd.DataFrame | _StagedFile
            if products_early is None:
                products, product_info = build_product_master(_concat(product_lines, empty), product_master, cfg.data)
                n_products = len(products)
            else:
                products, (n_products, product_info) = staged_products, products_early
            customers, customer_info = build_customer_master(_concat(customer_lines, empty), customer_master)
            del product_lines, customer_lines
            log_inferred(product_info, customer_info)
            report.counts.update(products=n_products, customers=len(customers))

        summary = summary_from_stats(
            merge_counts(counts),
            stats.done().result(),
            files=file_rows,
            products={**(product_file.info if product_file else {}), **product_info},
            customers={**(customer_file.info if customer_file else {}), **customer_info},
            max_rejected_share=cfg.ingest.max_rejected_share,
        )
        with stage("ingest: write", log) as report:
            quarantine = _stack_rejects([q for q, _ in rejects] + quarantined_masters, ("reason", "column", "value"))
            excluded = _stack_rejects([e for _, e in rejects], ("rule", "column", "value", "pattern"))
            _write_generation(wd, output_jobs(summary, lines=sink, products=products, customers=customers, quarantine=quarantine, excluded=excluded, table=_write_table))
            report.counts.update(lines=summary.rows_accepted, quarantined=len(quarantine), excluded=len(excluded))
    finally:
        if prepared is not None:
            prepared.close()
        stats.close()
        staged.unlink(missing_ok=True)
        staged_products.path.unlink(missing_ok=True)
    report_outcome(summary, cfg, wd)
    return summary


def prepare_inputs(cfg: Config, *, read_products: bool = True) -> tuple[Workdir, list[Path], MasterResult | None, MasterResult | None]:
    """What both backends do first: the workdir (created, killed runs' leftovers removed), the
    order-line files (a ``ConfigError`` when none matches) and the masters, read and checked
    (the product master only checked for presence without ``read_products``: the local ingest
    streams it, ``_stream_product_master``)."""
    wd = Workdir(Path(cfg.workdir))
    ensure_dir(wd.root, "workdir")
    _clean_generations(wd)
    files = expand_files(cfg.data.order_lines, origin=cfg.data.origin)
    log.info("ingest (%s): %d order-line file(s) from %s", cfg.engine.backend, len(files), cfg.data.order_lines)
    _check_master(cfg.data.products, "product")
    products = _read_master(cfg.data.products, cfg, "product") if read_products else None
    return wd, files, products, _read_master(_check_master(cfg.data.customers, "customer"), cfg, "customer")


def output_jobs(
    summary: IngestSummary, *, lines: Any, products: pd.DataFrame | _StagedFile, customers: pd.DataFrame, quarantine: Any, excluded: Any,
    table: Callable[[Any, Path], Path] = write_parquet, csv: Callable[[Any, Path], Path] = write_csv,
) -> list[Callable[[Workdir], Path]]:
    """The writers of one ingest generation, the layout of both backends: ``table`` writes the
    order lines, quarantine and excluded rows (pandas frames here, Spark datasets on Spark),
    ``csv`` the quarantine CSV; masters and summary are written alike."""
    return [
        lambda w: table(lines, w.order_lines),
        lambda w: _write_table(products, w.products),
        lambda w: write_parquet(customers, w.customers),
        lambda w: table(quarantine, w.quarantine / QUARANTINE_FILE),
        lambda w: csv(quarantine, w.quarantine / QUARANTINE_CSV),
        lambda w: table(excluded, w.quarantine / EXCLUDED_FILE),
        lambda w: write_json(summary.to_dict(), w.ingest_summary),
    ]


def log_inferred(product_info: dict[str, Any], customer_info: dict[str, Any]) -> None:
    """Say which master was inferred from the order lines (none configured)."""
    if product_info["inferred"]:
        log.info("ingest: no product master configured; family, list price and assortment inferred from order lines")
    if customer_info["inferred"]:
        log.info("ingest: no customer master configured; buying centers inferred from order lines")


def report_outcome(summary: IngestSummary, cfg: Config, wd: Workdir) -> None:
    """Log what the ingest kept and why; ``InputDataError`` (exit 3) when more than
    ``ingest.max_rejected_share`` was quarantined (outputs are written by then)."""
    log.info(
        "ingest: %s rows read, %s accepted, %s quarantined %s, %s excluded %s",
        f"{summary.rows_read:,}", f"{summary.rows_accepted:,}", f"{summary.rows_quarantined:,}",
        {k: v for k, v in summary.quarantined_by_reason.items() if v}, f"{summary.rows_excluded:,}",
        {k: v for k, v in summary.excluded_by_rule.items() if v},
    )
    if summary.quarantine_share > cfg.ingest.max_rejected_share:
        raise InputDataError(
            f"{summary.quarantine_share:.1%} of the order lines were quarantined, more than "
            f"ingest.max_rejected_share={cfg.ingest.max_rejected_share:.1%}: {top_reasons(summary.quarantined_by_reason)}; "
            f"see {wd.quarantine / QUARANTINE_CSV} and {wd.ingest_summary}",
            file=str(cfg.data.order_lines),
        )


def top_reasons(by_reason: dict[str, int], n: int = 3) -> str:
    """``"unparseable date 1,234 (check data.csv.date_format / ...), ..."``: the ``n`` most
    frequent quarantine reasons with the config key that usually fixes each."""
    ranked = sorted(((c, r) for r, c in by_reason.items() if c), key=lambda t: (-t[0], t[1]))[:n]
    parts = [f"{r} {c:,}" + (f" (check {REASON_HINTS[r]})" if r in REASON_HINTS else "") for c, r in ranked]
    return "top reasons " + ", ".join(parts) if parts else "no reasons recorded"


# -- one generation of outputs, switched by one rename ----------------------------------------
def _generation_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%fZ}-{os.getpid()}"


def _write_generation(wd: Workdir, jobs: list[Callable[[Workdir], Path]]) -> Path:
    """Run every writer job into a new generation folder (a ``Workdir`` rooted there), make it
    current, drop the old one."""
    generation = wd.ingest / _generation_id()

    def write(tmp: Path) -> None:
        tmp.mkdir()
        for job in jobs:
            path = job(Workdir(tmp))
            pause_point("ingest", path.relative_to(tmp).as_posix())

    atomic_write(generation, write)
    pause_point("ingest", RENAMED_POINT)
    write_symlink(wd.ingest_current, generation.name)  # the commit point
    for name in INGEST_OUTPUTS:
        link, target = wd.root / name, Path(wd.ingest.name) / wd.ingest_current.name / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() and not link.is_symlink():  # a workdir written before generations existed
            aside = wd.ingest / f".{name}-old.tmp-{os.getpid()}"
            os.rename(link, aside)
            write_symlink(link, target)
            if aside.is_dir():
                shutil.rmtree(aside)
            else:
                aside.unlink()
        else:
            write_symlink(link, target)
    _clean_generations(wd)
    return generation


def _clean_generations(wd: Workdir) -> None:
    """Remove temp entries of killed ingests and every generation but the current one."""
    remove_leftovers(wd.ingest)
    current = os.readlink(wd.ingest_current) if wd.ingest_current.is_symlink() else None
    stale = [p for p in wd.ingest.iterdir() if _GENERATION.match(p.name) and p.name != current] if wd.ingest.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    if stale:
        log.info("ingest: removed %d old or unfinished output generation(s): %s", len(stale), ", ".join(p.name for p in stale))
