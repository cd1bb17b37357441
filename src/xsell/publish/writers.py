"""File writers and readers of published runs: CSV, Parquet, JSONL, XLSX.

Every writer fsyncs the file it wrote and returns a ``Written`` record (rows, columns, how many
cells were neutralised). The files are deterministic: the same frame gives the same bytes
(XLSX: pinned document timestamps and zip entry times).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from xsell.errors import InputDataError
from xsell.publish.safety import neutralise

XLSX_TIMESTAMP = dt.datetime(2000, 1, 1)
"""Pinned created/modified time of every workbook, so equal content gives equal bytes."""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
XLSX_MAX_ROWS = 1_048_576
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_TEXT_COLUMNS = frozenset(
    {"country", "customer_id", "buying_center_id", "kind", "product_id", "variant_id", "rec_product_id",
     "rec_variant_id", "anchor_product_id", "source", "reason"}
)


@dataclass
class Written:
    """What a writer put on disk."""

    path: Path
    rows: int
    columns: list[str]
    sheets: dict[str, dict] | None = None
    """XLSX only: sheet name -> {"rows", "columns"} (rows without the header)."""
    neutralised_cells: int = 0


def fsync_path(path: Path) -> None:
    """Flush a file or folder to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safe_file_stem(text: str) -> str:
    """A file-name-safe version of a country code (letters, digits, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(text)) or "_"


def write_csv(frame: pd.DataFrame, path: Path, *, bom: bool) -> Written:
    """Comma-separated UTF-8 CSV with header, ``\\n`` line ends, dangerous text neutralised."""
    safe, n = neutralise(frame)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        safe.to_csv(fh, index=False, lineterminator="\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Written(path, len(frame), [str(c) for c in frame.columns], neutralised_cells=n)


def write_parquet(frame: pd.DataFrame, path: Path) -> Written:
    """Parquet with the raw values (no neutralisation), no index."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    fsync_path(path)
    return Written(path, len(frame), [str(c) for c in frame.columns])


def write_lines(lines: Iterable[str], path: Path, columns: list[str]) -> Written:
    """UTF-8 text, one record per line (JSONL)."""
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for line in lines:
            fh.write(line)
            rows += 1
        fh.flush()
        os.fsync(fh.fileno())
    return Written(path, rows, columns)


class _ReproducibleZip(zipfile.ZipFile):
    """ZipFile whose entries all carry a fixed timestamp (openpyxl otherwise stamps 'now')."""

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = self.compression
        info.external_attr = 0o644 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):  # type: ignore[override]
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):  # type: ignore[override]
        with open(filename, "rb") as src, self.open(self._info(arcname or os.path.basename(filename)), "w") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _column_widths(frame: pd.DataFrame) -> list[float]:
    widths = []
    for col in frame.columns:
        values = frame[col]
        longest = int(values.astype(str).str.len().max()) if len(values) else 0
        widths.append(float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(str(col)) + 2, longest + 2))))
    return widths


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> Written:
    """Workbook with one sheet per frame: bold frozen header row, autofilter, column widths.

    Written in openpyxl's streaming write-only mode; text is neutralised; NaN cells are empty.
    """
    wb = openpyxl.Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = XLSX_TIMESTAMP
    wb.properties.creator = "xsell"
    bold = Font(bold=True)
    info: dict[str, dict] = {}
    total, neutralised = 0, 0
    for name, frame in sheets.items():
        if len(frame) >= XLSX_MAX_ROWS:
            raise InputDataError(f"{len(frame):,} rows do not fit one Excel sheet ({XLSX_MAX_ROWS - 1:,} max)", file=path, column=name)
        safe, n = neutralise(frame)
        neutralised += n
        ws = wb.create_sheet(title=name)
        for idx, width in enumerate(_column_widths(safe), 1):
            ws.column_dimensions[get_column_letter(idx)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(max(1, safe.shape[1]))}{len(safe) + 1}"
        header = []
        for col in safe.columns:
            cell = WriteOnlyCell(ws, value=str(col))
            cell.font = bold
            header.append(cell)
        ws.append(header)
        values = safe.astype(object).where(safe.notna(), None)
        for row in values.itertuples(index=False, name=None):
            ws.append(row)
        info[name] = {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
        total += len(frame)
    with _ReproducibleZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    fsync_path(path)
    return Written(path, total, [], sheets=info, neutralised_cells=neutralised)


# -- reading back ------------------------------------------------------------------------
def count_rows(path: Path) -> int | dict[str, int]:
    """Data rows of a published file read from disk (XLSX: per sheet, header not counted)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix == ".csv":
        return len(pd.read_csv(path, usecols=[0], dtype=str, keep_default_na=False, encoding="utf-8-sig"))
    if suffix == ".jsonl":
        with open(path, "rb") as fh:
            return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    if suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return {ws.title: max(0, sum(1 for _ in ws.iter_rows(values_only=True)) - 1) for ws in wb.worksheets}
        finally:
            wb.close()
    raise ValueError(f"cannot count rows of {path}")


def read_run_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    """Table ``name`` of a published run (Parquet, else the CSV), or None when neither exists."""
    parquet, csv = run_dir / f"{name}.parquet", run_dir / f"{name}.csv"
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        header = pd.read_csv(csv, nrows=0, encoding="utf-8-sig").columns
        text = {c: str for c in header if c in _TEXT_COLUMNS}
        return pd.read_csv(csv, encoding="utf-8-sig", dtype=text, keep_default_na=False, na_values=[""])
    return None
