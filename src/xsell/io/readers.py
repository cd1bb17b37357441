"""Read ERP exports (CSV, CSV.gz, Parquet) into DataFrames without losing a byte of meaning.

CSV is read with every column as a string (``""`` for empty fields) so that parsing happens
later, vectorised, with exact row numbers for whatever fails. Parquet keeps its types; the
parsers in ``xsell.ingest.parse`` accept both.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from xsell.errors import ConfigError, InputDataError
from xsell.ingest.config import CsvOptions

log = logging.getLogger(__name__)

SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
"""Candidates when ``data.csv.sep`` is null, sniffed from the header line."""
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")


def expand_files(pattern: str | Path, *, key: str = "data.order_lines", origin: str | None = None) -> list[Path]:
    """A path or glob -> the sorted list of files it names. None is a ``ConfigError`` (exit 2)
    naming the pattern, the config ``key`` to change and where the export comes from (``origin``)."""
    text = str(pattern)
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    else:
        files = [Path(text)] if Path(text).is_file() else []
    if not files:
        where = f"; it comes from: {origin}" if origin else ""
        raise ConfigError(
            f"no input file matches {text}{where}. Point {key} at the export (relative paths resolve against "
            f"the config file's folder) or override it with --set {key}=PATH",
            key=key,
        )
    return files


def is_parquet(path: Path) -> bool:
    """True for ``.parquet`` / ``.pq`` files; everything else is read as CSV (``.gz`` allowed)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


READ_REASONS: tuple[str, ...] = ("wrong number of fields", "undecodable bytes")
"""Quarantine reasons of rows the reader could not read (see ``RawFile.issues``)."""
WRONG_FIELDS, UNDECODABLE = READ_REASONS
ISSUE_COLUMNS: tuple[str, ...] = ("row", "reason", "column", "value")
_ECHO = 200  # characters of a raw row kept as the quarantined value


@dataclass(frozen=True)
class RawFile:
    """One export file as read, every data row kept in file order."""

    frame: pd.DataFrame
    """CSV: all columns ``str`` (``""`` for empty fields); Parquet: as typed. A row the reader
    could not read is all ``""`` here and listed in ``issues``."""
    encoding: str | None
    """Encoding the CSV was decoded with (``None`` for Parquet)."""
    issues: pd.DataFrame
    """Rows that could not be read: ``row`` (0-based position in ``frame``), ``reason``
    (``READ_REASONS``), ``column`` (where known) and ``value`` (the raw text, cut)."""


def _issues(rows: list[int], reason: str, columns: list[str], values: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": np.asarray(rows, dtype="int64"), "reason": reason, "column": pd.Series(columns, dtype="str"),
         "value": pd.Series([v[:_ECHO] for v in values], dtype="str")},
        columns=list(ISSUE_COLUMNS),
    )  # fmt: skip


def read_export(path: Path, options: CsvOptions) -> RawFile:
    """Read one export file. A row that cannot be read (wrong number of fields, undecodable
    bytes) is kept as an empty row and listed in ``RawFile.issues``, so the ingest quarantines it
    with its row number; only a file that cannot be read at all raises.

    Raises ``InputDataError`` naming the file for an unreadable or truncated file, an empty file
    (no header or no data rows), duplicate column names, or nested (list/struct) Parquet columns.
    """
    path = Path(path)
    raw = RawFile(_read_parquet(path), None, _issues([], "", [], [])) if is_parquet(path) else _read_csv(path, options)
    if raw.frame.empty:
        raise InputDataError("empty file: no data rows", file=path)
    return raw


BATCH_ROWS = 1_000_000
"""Rows per batch when ``iter_export`` reads a Parquet export."""


def iter_export(path: Path, options: CsvOptions, batch_rows: int | None = None) -> Iterator[RawFile]:
    """``read_export`` in batches of rows, in file order: a Parquet file is read ``batch_rows``
    (default ``BATCH_ROWS``) rows at a time (memory bounded by the batch, not the file); a CSV
    file is one batch (the rows it cannot read are located over the whole file). Raises as
    ``read_export``."""
    path = Path(path)
    if not is_parquet(path):
        yield read_export(path, options)
        return
    try:
        parquet = pq.ParquetFile(path)
        _check_parquet_schema(parquet.schema_arrow, path)
        if parquet.metadata.num_rows == 0:
            raise InputDataError("empty file: no data rows", file=path)
        batches = parquet.iter_batches(batch_size=batch_rows or BATCH_ROWS)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            table = pa.Table.from_batches([batch], schema=parquet.schema_arrow)
            yield RawFile(_parquet_frame(table), None, _issues([], "", [], []))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"cannot read Parquet: {exc}", file=path) from None


class NotStreamable(Exception):
    """Raised by ``stream_export`` before a batch it cannot give exactly as ``read_export`` would
    give those rows (a row with another number of fields, bytes that are not UTF-8, a read
    error, no data rows): read the file whole instead (``read_export`` then reports the rows or
    raises its error)."""


STREAM_BLOCK_BYTES = 1 << 25
"""Bytes of CSV text per batch when ``stream_export`` reads a CSV file."""


def stream_export(path: Path, options: CsvOptions, block_bytes: int | None = None) -> Iterator[RawFile]:
    """``read_export`` in batches, CSV too (``STREAM_BLOCK_BYTES`` of text a batch, Parquet as
    ``iter_export``): memory bounded by the batch, not the file. A CSV file must be clean to be
    read so; otherwise ``NotStreamable`` is raised, before the batch with the problem (the
    consumer starts again with ``read_export``, which locates such rows over the whole file)."""
    path = Path(path)
    if is_parquet(path):
        yield from iter_export(path, options)
        return
    names, sep, head = _header(path, options)
    if _read_as_utf8(options, head):
        encoding, arrow_encoding, cell_type = "utf-8", "utf8", pa.binary()
    else:
        encoding = _single_byte(options)
        arrow_encoding, cell_type = encoding, pa.string()
    invalid: list[str] = []
    options_ = _arrow_csv_options(names, sep, arrow_encoding, cell_type, invalid, block_bytes or STREAM_BLOCK_BYTES)
    rows = 0
    try:
        with pacsv.open_csv(path, **options_) as reader:
            for batch in reader:
                if invalid:
                    raise NotStreamable(f"{path}: {len(invalid)} row(s) with another number of fields")
                table = pa.Table.from_batches([batch])
                if cell_type == pa.binary():
                    columns, bad, _ = _utf8_columns(table)
                    if bad:
                        raise NotStreamable(f"{path}: bytes that are not UTF-8")
                    table = pa.table(columns)
                frame = table.to_pandas()
                frame.columns = names
                rows += len(frame)
                yield RawFile(frame, encoding, _issues([], "", [], []))
    except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
        raise NotStreamable(f"{path}: {exc}") from None
    if invalid or not rows:
        raise NotStreamable(f"{path}: no data rows" if not rows else f"{path}: {len(invalid)} row(s) with another number of fields")


def _check_parquet_schema(schema: pa.Schema, path: Path) -> None:
    _check_names(schema.names, path)
    for field in schema:
        if pa.types.is_nested(field.type):
            raise InputDataError(
                f"nested Parquet column of type {field.type} is not supported; export one value per cell",
                file=path, column=field.name,
            )  # fmt: skip


def _parquet_frame(table: pa.Table) -> pd.DataFrame:
    return table.combine_chunks().to_pandas(date_as_object=False)  # one chunk per column: cheap row selections


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"cannot read Parquet: {exc}", file=path) from None
    _check_parquet_schema(table.schema, path)
    return _parquet_frame(table)


def _open_text_head(path: Path, n_bytes: int = 65536) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read(n_bytes)


def _decode(raw: bytes, encoding: str) -> str:
    if encoding != "auto":
        return raw.decode(encoding, errors="replace")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("cp1252", errors="replace")


def sniff_separator(header_line: str) -> str:
    """The candidate separator that occurs most often in the header line (``,`` if none)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _header(path: Path, options: CsvOptions) -> tuple[list[str], str, bytes]:
    try:
        head = _open_text_head(path)
    except (OSError, EOFError) as exc:
        raise InputDataError(f"cannot read file: {exc}", file=path) from None
    text = _decode(head, options.encoding).lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise InputDataError("empty file: no header line", file=path)
    sep = options.sep or sniff_separator(first)
    names = [n.lstrip("\ufeff").strip() for n in next(csv.reader([first], delimiter=sep))]
    _check_names(names, path)
    return names, sep, head


def _check_names(names: list[str], path: Path) -> None:
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dups:
        raise InputDataError(f"duplicate column names {dups}", file=path)


def _is_utf8(encoding: str) -> bool:
    return encoding == "auto" or codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _arrow_csv(path: Path, names: list[str], sep: str, encoding: str, cell_type: pa.DataType, invalid: list[str]) -> pa.Table:
    """pyarrow's reader with our column names (the header row skipped); rows with another number
    of fields are skipped and their text appended to ``invalid``."""
    try:
        return pacsv.read_csv(path, **_arrow_csv_options(names, sep, encoding, cell_type, invalid, 1 << 24))
    except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
        raise InputDataError(f"cannot read CSV (separator {sep!r}, encoding {encoding}): {exc}", file=path) from None


def _arrow_csv_options(names: list[str], sep: str, encoding: str, cell_type: pa.DataType, invalid: list[str], block_size: int) -> dict[str, Any]:
    """The options of pyarrow's CSV readers (whole file or streamed) for ``_arrow_csv``."""

    def skip(row: Any) -> str:
        invalid.append(str(row.text))
        return "skip"

    return {
        "read_options": pacsv.ReadOptions(encoding=encoding, block_size=block_size, column_names=names, skip_rows=1),
        "parse_options": pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=skip),
        "convert_options": pacsv.ConvertOptions(
            column_types={n: cell_type for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    }


def _utf8_columns(table: pa.Table) -> tuple[dict[str, pa.ChunkedArray], dict[int, tuple[str, str]], float]:
    """Binary columns -> UTF-8 strings. Returns the columns (undecodable cells replaced by U+FFFD),
    ``{row: (column, text)}`` of the first undecodable cell per row, and the share of undecodable
    cells among the non-ASCII cells of the failing columns (a stray byte vs. another encoding)."""
    columns: dict[str, pa.ChunkedArray] = {}
    bad: dict[int, tuple[str, str]] = {}
    non_ascii = undecodable = 0
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            columns[name] = column.cast(pa.string())
            continue
        except pa.ArrowInvalid:
            pass
        texts = []
        for row, value in enumerate(column.to_pylist()):
            if value is None or value.isascii():
                texts.append(None if value is None else value.decode("ascii"))
                continue
            non_ascii += 1
            try:
                texts.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                text = value.decode("utf-8", errors="replace")
                texts.append(text)
                bad.setdefault(row, (name, text))
                undecodable += 1
        columns[name] = pa.chunked_array([pa.array(texts, type=pa.string())])
    return columns, bad, undecodable / non_ascii if non_ascii else 0.0


def _locate_invalid(path: Path, sep: str, encoding: str, n_fields: int) -> list[int]:
    """0-based data-row positions of the rows whose number of fields is not ``n_fields``, by a
    second pass with Python's csv module (only for files where pyarrow skipped rows)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    codec = "utf-8-sig" if encoding == "auto" else encoding
    positions = []
    with opener(path, "rt", encoding=codec, errors="replace", newline="") as fh:
        records = (r for r in csv.reader(fh, delimiter=sep) if r)  # pyarrow ignores empty lines too
        next(records, None)
        for i, record in enumerate(records):
            if len(record) != n_fields:
                positions.append(i)
    return positions


def _mostly_not_utf8(head: bytes) -> bool:
    """Whether most lines with non-ASCII bytes in the first block of a file are not UTF-8 (then
    ``encoding: auto`` reads it as cp1252 without decoding the whole file as UTF-8 first)."""
    lines = [line for line in head.split(b"\n")[:-1] if not line.isascii()]
    bad = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    return bad * 2 > len(lines) > 0


def _read_as_utf8(options: CsvOptions, head: bytes) -> bool:
    """Whether a CSV file is first read as UTF-8 (cells as bytes, decoded per column)."""
    return _is_utf8(options.encoding) and not (options.encoding == "auto" and _mostly_not_utf8(head))


def _single_byte(options: CsvOptions) -> str:
    """The encoding of a file not read as UTF-8."""
    return "cp1252" if options.encoding == "auto" else options.encoding


def _read_csv(path: Path, options: CsvOptions) -> RawFile:
    names, sep, head = _header(path, options)
    invalid: list[str] = []
    bad: dict[int, tuple[str, str]] = {}
    if _read_as_utf8(options, head):
        encoding = "utf-8"
        table = _arrow_csv(path, names, sep, "utf8", pa.binary(), invalid)
        columns, bad, bad_share = _utf8_columns(table)
        if options.encoding == "auto" and bad_share > 0.5:
            log.info("%s: most non-ASCII text is not UTF-8; reading the file as cp1252", path)
            encoding, bad, invalid = "cp1252", {}, []
            table = _arrow_csv(path, names, sep, "cp1252", pa.string(), invalid)
        else:
            table = pa.table(columns)
    else:
        encoding = _single_byte(options)
        table = _arrow_csv(path, names, sep, encoding, pa.string(), invalid)
    frame = table.combine_chunks().to_pandas()  # one chunk per column: cheap row selections
    frame.columns = names
    fields: list[int] = []
    if invalid:
        fields = _locate_invalid(path, sep, "auto" if encoding == "utf-8" else encoding, len(names))
        if len(fields) != len(invalid):
            raise InputDataError(
                f"cannot read CSV: {len(invalid)} row(s) have a number of fields other than {len(names)} "
                f"and could not be located (separator {sep!r}); first: {invalid[0][:_ECHO]!r}",
                file=path,
            )
        good = np.setdiff1d(np.arange(len(frame) + len(fields)), fields)
        frame.index = good
        frame = frame.reindex(np.arange(len(good) + len(fields)), fill_value="")
        bad = {int(good[r]): v for r, v in bad.items()}
        log.warning("%s: %d row(s) with a number of fields other than %d are quarantined", path, len(fields), len(names))
    if bad:
        log.warning("%s: %d row(s) with bytes that are not UTF-8 are quarantined (file read as UTF-8)", path, len(bad))
    rows = sorted(bad)
    issues = pd.concat(
        [
            _issues(rows, UNDECODABLE, [bad[r][0] for r in rows], [bad[r][1] for r in rows]),
            _issues(fields, WRONG_FIELDS, [""] * len(fields), [f"{len(next(csv.reader([t], delimiter=sep), []))} field(s), expected {len(names)}: {t}" for t in invalid]),
        ],
        ignore_index=True,
    )
    return RawFile(frame.reset_index(drop=True), encoding, issues.sort_values("row", kind="stable").reset_index(drop=True))


def read_canonical(path: Path, *, required: bool = True, columns: list[str] | None = None) -> pd.DataFrame | None:
    """A canonical Parquet table of the workdir (written by ``xsell ingest``).

    A missing required table is an ``InputDataError`` naming the file and the fix; a missing
    optional one (the masters) is ``None``. ``columns``: only those (the ones the table has).
    A folder is a Parquet dataset (the Spark backend writes ``order_lines.parquet`` as one).
    """
    if Path(path).exists():
        if columns is not None:  # the ones the table has (tests and older workdirs may lack some)
            names = set(pq.read_schema(path).names) if Path(path).is_file() else set(pq.ParquetDataset(path).schema.names)
            columns = [c for c in columns if c in names]
        return pd.read_parquet(path, columns=columns)
    if required:
        raise InputDataError("canonical table not found; run `xsell ingest` first", file=path)
    return None


def read_champion(workdir: Path) -> dict | None:
    """``<workdir>/evaluation/champion.json`` (None when no evaluation ran or it is unreadable)."""
    import json

    from xsell.io.layout import Workdir

    path = Workdir(workdir).champion
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", path)
        return None
    return record if isinstance(record, dict) else None
