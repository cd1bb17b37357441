"""Read ERP exports (CSV, CSV.gz, Parquet) into DataFrames without losing a byte of meaning.

CSV is read with every column as a string (``""`` for empty fields) so that parsing happens
later, vectorised, with exact row numbers for whatever fails. Parquet keeps its types; the
parsers in ``xsell.ingest.parse`` accept both.
"""

from __future__ import annotations

import csv
import glob
import gzip
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from xsell.errors import InputDataError
from xsell.ingest.config import CsvOptions

log = logging.getLogger(__name__)

SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
"""Candidates when ``data.csv.sep`` is null, sniffed from the header line."""
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
_AUTO_ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252")


def expand_files(pattern: str | Path) -> list[Path]:
    """A path or glob -> the sorted list of files it names; none is an ``InputDataError``."""
    text = str(pattern)
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    else:
        files = [Path(text)] if Path(text).is_file() else []
    if not files:
        raise InputDataError("no input file matches", file=text)
    return files


def is_parquet(path: Path) -> bool:
    """True for ``.parquet`` / ``.pq`` files; everything else is read as CSV (``.gz`` allowed)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def read_table(path: Path, options: CsvOptions) -> pd.DataFrame:
    """Read one export file. CSV: all columns ``str``, empty fields ``""``. Parquet: as typed.

    Raises ``InputDataError`` naming the file for an empty file (no header or no data rows),
    duplicate column names, or a CSV that cannot be parsed.
    """
    path = Path(path)
    frame = _read_parquet(path) if is_parquet(path) else _read_csv(path, options)
    if frame.empty:
        raise InputDataError("empty file: no data rows", file=path)
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"cannot read Parquet: {exc}", file=path) from None
    _check_names(table.column_names, path)
    return table.to_pandas(date_as_object=False)


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


def _header(path: Path, options: CsvOptions) -> tuple[list[str], str]:
    try:
        head = _open_text_head(path)
    except (OSError, EOFError) as exc:
        raise InputDataError(f"cannot read file: {exc}", file=path) from None
    text = _decode(head, options.encoding).lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise InputDataError("empty file: no header line", file=path)
    sep = options.sep or sniff_separator(first)
    names = next(csv.reader([first], delimiter=sep))
    _check_names(names, path)
    return names, sep


def _check_names(names: list[str], path: Path) -> None:
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dups:
        raise InputDataError(f"duplicate column names {dups}", file=path)


def _read_csv(path: Path, options: CsvOptions) -> pd.DataFrame:
    names, sep = _header(path, options)
    encodings = _AUTO_ENCODINGS if options.encoding == "auto" else (options.encoding,)
    for i, encoding in enumerate(encodings):
        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) and i + 1 < len(encodings):
                log.info("%s is not UTF-8; reading it as %s", path, encodings[i + 1])
                continue
            raise InputDataError(f"cannot parse CSV (separator {sep!r}, encoding {encoding}): {exc}", file=path) from None
        break
    frame = table.to_pandas()
    frame.columns = [str(c).lstrip("\ufeff").strip() for c in frame.columns]
    _check_names(list(frame.columns), path)
    return frame


def read_canonical(path: Path, *, required: bool = True, columns: list[str] | None = None) -> pd.DataFrame | None:
    """A canonical Parquet table of the workdir (written by ``xsell ingest``).

    A missing required table is an ``InputDataError`` naming the file and the fix; a missing
    optional one (the masters) is ``None``.
    """
    if Path(path).is_file():
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
