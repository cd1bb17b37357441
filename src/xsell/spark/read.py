"""Read the order-line export with Spark (no pandas in between), keeping what the local reader
(``xsell.io.readers.read_export``) keeps: every data row with its file and 1-based row number,
rows that cannot be read flagged with the reader's reason.

- CSV is read with Spark's own parser, every column as text, quoted line breaks allowed
  (``multiLine``: one task per file, so a large export should come as many files, as ERP jobs
  and Spark writers produce it). Separator, encoding and header come from the same per-file
  decisions as the local reader (``encoding: auto``: UTF-8 unless most non-ASCII text is not;
  rows with undecodable bytes are flagged). A row with another number of fields is flagged
  ``wrong number of fields``.
- Parquet keeps its types; zone-aware timestamps keep their local wall-clock time.

Every file must have the same columns (one dataset); a file that cannot be read at all is an
``InputDataError`` naming it, as locally.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from xsell.errors import InputDataError
from xsell.ingest.config import CsvOptions
from xsell.io.readers import _ECHO, UNDECODABLE, WRONG_FIELDS, _check_names, _header, _is_utf8, _mostly_not_utf8, is_parquet
from xsell.spark.parse import SparkDialectError, nanos_to_timestamp

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
REPLACEMENT = "\ufffd"
"""What Spark's decoder writes for bytes that are not valid UTF-8."""
JAVA_CHARSETS: dict[str, str] = {"utf-8": "UTF-8", "cp1252": "windows-1252", "latin-1": "ISO-8859-1", "iso8859-15": "ISO-8859-15", "cp850": "IBM850", "utf-16": "UTF-16", "ascii": "US-ASCII"}
"""Python codec name (``codecs.lookup(...).name``) -> Java charset; other encodings are refused."""


@dataclass
class SparkExport:
    """The order-line files as one Spark DataFrame.

    ``frame`` columns: ``s0 .. s<n-1>`` (the source columns, ``names[i]``), ``source_file``,
    ``file_index`` (position in ``files``), ``source_row`` (1-based data row), and
    ``read_reason`` / ``read_column`` / ``read_value`` (``""`` unless the reader could not read
    the row; such a row's source values are ``""``, as locally)."""

    frame: DataFrame
    names: list[str]
    types: list[T.DataType]
    files: list[Path]
    encodings: list[str | None]
    zones: dict[str, str] = field(default_factory=dict)
    """Source column -> time zone of a zone-aware Parquet timestamp column."""


def _java_charset(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    if name not in JAVA_CHARSETS:
        raise SparkDialectError(
            f"data.csv.encoding {encoding!r} is not read by engine.backend spark; use auto or one of {', '.join(JAVA_CHARSETS)}",
            key="data.csv.encoding",
        )
    return JAVA_CHARSETS[name]


def _file_of(message: str, files: list[Path]) -> str:
    """The export file an error message names, else all of them."""
    for path in files:
        if str(path) in message or path.name in message:
            return str(path)
    return ", ".join(str(p) for p in files[:3]) + (" ..." if len(files) > 3 else "")


def guarded(files: list[Path], what: str):
    """Context: a Spark job failure while reading ``files`` -> ``InputDataError`` naming the file."""
    from contextlib import contextmanager

    @contextmanager
    def _ctx():
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - py4j / Spark errors have no common base we may import
            if isinstance(exc, (InputDataError, SparkDialectError)):
                raise
            text = str(exc)
            first = next((line for line in text.splitlines() if "Exception" in line or "Error" in line), text.splitlines()[0] if text else "")
            raise InputDataError(f"cannot read {what}: {first.strip()[:300]}", file=_file_of(text, files)) from None

    return _ctx()


def _locate(frame: DataFrame, files: list[Path], spark: SparkSession, extra: list[Column] | None = None) -> tuple[DataFrame, dict[int, dict]]:
    """Add ``source_file`` and ``file_index`` (from Spark's file path, a URI) and, for CSV
    (``_pos`` present), ``source_row``: one aggregation per file, broadcast back. A file without
    data rows is an ``InputDataError``. Returns the frame and the per-file aggregates by index."""
    by_path = {str(Path(p).resolve()): i for i, p in enumerate(files)}
    csv = "_pos" in frame.columns
    aggs = [F.count("*").alias("_n"), *([F.min("_pos").alias("_first")] if csv else []), *(extra or [])]
    rows, stats = [], {}
    for r in frame.groupBy("_path").agg(*aggs).collect():
        uri = r["_path"]
        local = unquote(urlparse(uri).path) if ":" in uri.split("/")[0] else uri
        index = by_path.get(str(Path(local).resolve()))
        if index is None:
            raise InputDataError(f"Spark read a file xsell did not list: {uri}")
        rows.append((uri, str(files[index]), index, r["_first"] if csv else 0))
        stats[index] = r.asDict()
    paths = spark.createDataFrame(rows, "_path string, source_file string, file_index int, _first long")
    out = frame.join(F.broadcast(paths), "_path")
    if csv:
        # the header is read as the first record of each file (header=False: no header check)
        out = out.withColumn("source_row", (F.col("_pos") - F.col("_first")).cast("long")).where(F.col("source_row") >= 1)
    return out, stats


def _require_rows(files: list[Path], stats: dict[int, dict], header: int = 0) -> None:
    for i, path in enumerate(files):
        if stats.get(i, {}).get("_n", 0) <= header:
            raise InputDataError("empty file: no data rows", file=path)


def _csv(spark: SparkSession, paths: list[Path], names: list[str], sep: str, charset: str) -> DataFrame:
    schema = T.StructType([T.StructField(f"s{i}", T.StringType()) for i in range(len(names))] + [T.StructField(CORRUPT, T.StringType())])
    reader = spark.read.options(
        header=False, sep=sep, encoding=charset, multiLine=True, quote='"', escape='"', mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT, enforceSchema=True, ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False,
    )  # fmt: skip
    frame = reader.schema(schema).csv([str(p) for p in paths])
    return frame.select("*", F.col("_metadata.file_path").alias("_path"), F.monotonically_increasing_id().alias("_pos"))


def _cell_stats(n: int) -> list[Column]:
    """Per-file aggregates: cells with non-ASCII text, cells with a replacement character."""
    text = [F.coalesce(F.col(f"s{i}"), F.lit("")) for i in range(n)]
    non_ascii = sum((t.rlike("[^\\x00-\\x7F]").cast("long") for t in text), F.lit(0))
    bad = sum(((F.instr(t, REPLACEMENT) > 0).cast("long") for t in text), F.lit(0))
    return [F.sum(non_ascii).alias("non_ascii"), F.sum(bad).alias("bad")]


def _field_count(text: Column, sep: str) -> Column:
    """Fields of a raw record: separators outside quoted parts, plus one."""
    unquoted = F.regexp_replace(text, '"([^"]|"")*"', "")
    return F.size(F.split(unquoted, _re_literal(sep))) if sep else F.lit(1)


def _re_literal(sep: str) -> str:
    import re

    return re.escape(sep)


def read_csv_files(spark: SparkSession, files: list[Path], options: CsvOptions) -> SparkExport:
    """Every CSV file as one frame (see ``SparkExport``)."""
    headers = [_header(p, options) for p in files]
    names = headers[0][0]
    for path, (other, _, _) in zip(files, headers):
        if other != names:
            raise SparkDialectError(
                f"engine.backend spark reads the order-line files as one dataset, but {path} has the columns {other} "
                f"and {files[0]} {names}; export them alike or use engine.backend local",
                key="data.order_lines",
            )
    seps = {sep for _, sep, _ in headers}
    if len(seps) > 1:
        raise SparkDialectError(f"the order-line files use different separators {sorted(seps)}; set data.csv.sep or export them alike", key="data.csv.sep")
    sep = seps.pop()
    encoding: dict[Path, str] = {}
    for path, (_, _, head) in zip(files, headers):
        if options.encoding == "auto":
            encoding[path] = "cp1252" if _mostly_not_utf8(head) else "utf-8"
        else:
            encoding[path] = "utf-8" if _is_utf8(options.encoding) else options.encoding
    utf8 = [p for p in files if encoding[p] == "utf-8"]
    frames: list[DataFrame] = []
    stats: dict[int, dict] = {}
    with guarded(files, "CSV"):
        if utf8:
            checked = options.encoding == "auto"
            frame, found = _locate(_csv(spark, utf8, names, sep, "UTF-8"), files, spark, _cell_stats(len(names)) if checked else None)
            switch = [p for p in utf8 if checked and (r := found.get(files.index(p))) and r["non_ascii"] and r["bad"] / r["non_ascii"] > 0.5]
            if switch:
                log.info("%s: most non-ASCII text is not UTF-8; reading as cp1252", ", ".join(str(p) for p in switch))
                for path in switch:
                    encoding[path] = "cp1252"
                utf8 = [p for p in utf8 if p not in switch]
                found = {i: r for i, r in found.items() if files[i] in utf8}
                frame = frame.where(F.col("file_index").isin([files.index(p) for p in utf8]))
            stats.update(found)
            if utf8:
                frames.append(frame.withColumn("_utf8", F.lit(True)))
        by_charset: dict[str, list[Path]] = {}
        for path in files:
            if encoding[path] != "utf-8":
                by_charset.setdefault(_java_charset(encoding[path]), []).append(path)
        for charset, paths in by_charset.items():
            frame, found = _locate(_csv(spark, paths, names, sep, charset), files, spark)
            stats.update(found)
            frames.append(frame.withColumn("_utf8", F.lit(False)))
        _require_rows(files, stats, header=1)
        frame = frames[0]
        for more in frames[1:]:
            frame = frame.unionByName(more)

    corrupt = F.col(CORRUPT).isNotNull()
    first_bad = None
    for i in reversed(range(len(names))):  # the first column with a replacement character
        has = F.col("_utf8") & (F.instr(F.coalesce(F.col(f"s{i}"), F.lit("")), REPLACEMENT) > 0)
        first_bad = F.when(has, F.lit(i)) if first_bad is None else F.when(has, F.lit(i)).otherwise(first_bad)
    bad_col = first_bad if first_bad is not None else F.lit(None)
    raw_text = F.regexp_replace(F.col(CORRUPT), "\r?\n$", "")
    wrong_value = F.substring(F.concat(_field_count(raw_text, sep).cast("string"), F.lit(f" field(s), expected {len(names)}: "), raw_text), 1, _ECHO)
    name_of = F.element_at(F.array(*[F.lit(n) for n in names]), bad_col + 1)
    value_of = F.element_at(F.array(*[F.coalesce(F.col(f"s{i}"), F.lit("")) for i in range(len(names))]), bad_col + 1)
    frame = frame.select(
        *[F.when(corrupt, F.lit("")).otherwise(F.coalesce(F.col(f"s{i}"), F.lit(""))).alias(f"s{i}") for i in range(len(names))],
        "source_file", "file_index", "source_row",
        F.when(corrupt, F.lit(WRONG_FIELDS)).when(bad_col.isNotNull(), F.lit(UNDECODABLE)).otherwise(F.lit("")).alias("read_reason"),
        F.when(corrupt, F.lit("")).when(bad_col.isNotNull(), name_of).otherwise(F.lit("")).alias("read_column"),
        F.when(corrupt, wrong_value).when(bad_col.isNotNull(), F.substring(value_of, 1, _ECHO)).otherwise(F.lit("")).alias("read_value"),
    )  # fmt: skip
    return SparkExport(frame, names, [T.StringType()] * len(names), files, [encoding[p] for p in files])


def read_parquet_files(spark: SparkSession, files: list[Path]) -> SparkExport:
    """Every Parquet file as one frame (see ``SparkExport``); types kept."""
    zones: dict[str, str] = {}
    nanos: set[str] = set()
    names: list[str] | None = None
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputDataError(f"cannot read Parquet: {exc}", file=path) from None
        _check_names(schema.names, path)
        for f in schema:
            if pa.types.is_nested(f.type):
                raise InputDataError(f"nested Parquet column of type {f.type} is not supported; export one value per cell", file=path, column=f.name)
            if pa.types.is_timestamp(f.type) and f.type.tz and f.type.tz not in ("UTC", "+00:00"):
                zones[f.name] = f.type.tz
            if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
                nanos.add(f.name)
        if names is None:
            names = schema.names
        elif schema.names != names:
            raise SparkDialectError(
                f"engine.backend spark reads the order-line files as one dataset, but {path} has the columns {schema.names} "
                f"and {files[0]} {names}; export them alike or use engine.backend local",
                key="data.order_lines",
            )
    assert names is not None
    with guarded(files, "Parquet"):
        frame = spark.read.option("mergeSchema", "false").parquet(*[str(p) for p in files])
        frame = frame.select(
            *[(nanos_to_timestamp(n) if n in nanos else F.col(f"`{n}`")).alias(f"s{i}") for i, n in enumerate(names)],
            F.col("_metadata.file_path").alias("_path"), (F.col("_metadata.row_index") + 1).cast("long").alias("source_row"),
        )  # fmt: skip
        types = [frame.schema[f"s{i}"].dataType for i in range(len(names))]
        frame, stats = _locate(frame, files, spark)
    _require_rows(files, stats)
    frame = frame.select(
        *[f"s{i}" for i in range(len(names))], "source_file", "file_index", "source_row",
        F.lit("").alias("read_reason"), F.lit("").alias("read_column"), F.lit("").alias("read_value"),
    )  # fmt: skip
    return SparkExport(frame, names, types, files, [None] * len(files), zones)


def read_order_lines(spark: SparkSession, files: list[Path], options: CsvOptions) -> SparkExport:
    """The order-line export (all CSV or all Parquet) as one frame."""
    kinds = {is_parquet(p) for p in files}
    if len(kinds) > 1:
        raise SparkDialectError("engine.backend spark reads the order-line files as one dataset: CSV and Parquet files cannot be mixed", key="data.order_lines")
    return read_parquet_files(spark, files) if kinds.pop() else read_csv_files(spark, files, options)
