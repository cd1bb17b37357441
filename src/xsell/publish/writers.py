"""File writers and readers of published runs: CSV, Parquet, JSONL, XLSX, plain text.

Every writer goes through ``xsell.io.writers.atomic_write`` (durable: fsynced) and returns a
``Written`` record (rows, columns, how many cells were neutralised). The files are
deterministic: the same frame gives the same bytes (XLSX: pinned document timestamps and zip
entry times). The shop formats' own files (ImpEx, BMEcat XML, Shopware delete payload) are
counted by ``xsell.publish.formats``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from xsell.errors import InputDataError
from xsell.io.readers import sniff_separator
from xsell.io.writers import atomic_write
from xsell.publish.safety import CONTROL_CHARS, neutralise

XLSX_TIMESTAMP = dt.datetime(2000, 1, 1)
"""Pinned created/modified time of every workbook, so equal content gives equal bytes."""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
XLSX_MAX_ROWS = 1_048_576
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
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
    details: dict | None = None
    """Format-specific counts for the manifest (e.g. products a mapping file lacks)."""


def safe_file_stem(text: str) -> str:
    """A file-name-safe version of a country code (letters, digits, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(text)) or "_"


def write_csv(frame: pd.DataFrame, path: Path, *, bom: bool, sep: str = ",", details: dict | None = None) -> Written:
    """UTF-8 CSV (``sep``-separated, ``"`` quoting where needed) with header, ``\\n`` line ends,
    dangerous text neutralised."""
    safe, n = neutralise(frame)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
            safe.to_csv(fh, index=False, sep=sep, lineterminator="\n")

    atomic_write(path, write, durable=True)
    return Written(path, len(frame), [str(c) for c in frame.columns], neutralised_cells=n, details=details)


def write_text(text: str | bytes, path: Path, *, rows: int, columns: list[str], details: dict | None = None) -> Written:
    """A whole text file (str as UTF-8, bytes as given), exact: nothing is neutralised."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=True)
    return Written(path, rows, columns, details=details)


def write_parquet(frame: pd.DataFrame, path: Path) -> Written:
    """Parquet with the raw values (no neutralisation), no index."""
    atomic_write(path, lambda tmp: pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp), durable=True)
    return Written(path, len(frame), [str(c) for c in frame.columns])


def write_lines(lines: Iterable[str], path: Path, columns: list[str]) -> Written:
    """UTF-8 text, one record per line (JSONL)."""
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for line in lines:
                fh.write(line)
                rows += 1

    atomic_write(path, write, durable=True)
    return Written(path, rows, columns)


def _column_widths(frame: pd.DataFrame) -> list[float]:
    widths = []
    for col in frame.columns:
        lengths = frame[col].astype(str).str.len()
        longest = int(lengths.max()) if lengths.notna().any() else 0
        widths.append(float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(str(col)) + 2, longest + 2))))
    return widths


def _cells_xml(values: pd.Series, refs: pd.Series) -> pd.Series:
    """SpreadsheetML ``<c>`` elements of one column (empty string for missing values)."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values):
        valid = values.notna()
        body = '" t="b"><v>' + values.fillna(False).astype(bool).astype(int).astype(str) + "</v></c>"
    elif pd.api.types.is_numeric_dtype(values):
        valid = pd.Series(np.isfinite(values.astype("float64").to_numpy()))
        body = '" t="n"><v>' + values.astype(str) + "</v></c>"
    else:
        valid = values.notna()
        text = values.where(valid, "").astype(str).str.replace(CONTROL_CHARS, "", regex=True)
        for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
            text = text.str.replace(raw, escaped, regex=False)
        body = '" t="inlineStr"><is><t xml:space="preserve">' + text + "</t></is></c>"
    return ('<c r="' + refs + body).where(valid, "")


def _rows_xml(frame: pd.DataFrame, first_row: int, chunk: int = 50_000) -> Iterator[str]:
    """``<row>`` elements of ``frame`` from sheet row ``first_row`` on, rendered column-wise in chunks."""
    letters = [get_column_letter(i) for i in range(1, frame.shape[1] + 1)]
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        numbers = pd.Series(np.arange(first_row + start, first_row + start + len(part)).astype(str), dtype="str")
        row = '<row r="' + numbers + '">'
        for letter, col in zip(letters, part.columns):
            row = row + _cells_xml(part[col], letter + numbers)
        yield "".join((row + "</row>").tolist())


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> Written:
    """Workbook with one sheet per frame: bold frozen header row, autofilter, column widths.

    openpyxl (write-only mode) writes the workbook with the header rows; the data rows are
    rendered as SpreadsheetML column-wise in chunks and streamed into each sheet, since
    openpyxl's per-cell writer manages only a few thousand rows a second. Text is neutralised,
    NaN cells stay empty, zip entries and document properties carry fixed timestamps.
    """
    wb = openpyxl.Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = XLSX_TIMESTAMP
    wb.properties.creator = "xsell"
    bold = Font(bold=True)
    info: dict[str, dict] = {}
    data: dict[str, pd.DataFrame] = {}
    neutralised = 0
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
        data[name] = safe
        info[name] = {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
    skeleton = io.BytesIO()
    with zipfile.ZipFile(skeleton, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    sheet_paths = {ws.path.lstrip("/"): ws.title for ws in wb.worksheets}
    atomic_write(path, lambda tmp: _fill_sheets(skeleton, tmp, sheet_paths, data), durable=True)
    return Written(path, sum(len(f) for f in sheets.values()), [], sheets=info, neutralised_cells=neutralised)


def _fill_sheets(skeleton: io.BytesIO, path: Path, sheet_paths: dict[str, str], data: dict[str, pd.DataFrame]) -> None:
    """Copy the workbook skeleton to ``path``, streaming each sheet's data rows into its XML."""
    with zipfile.ZipFile(skeleton) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        for entry in src.infolist():
            content = src.read(entry)
            with dst.open(_zip_info(entry.filename), "w", force_zip64=True) as out:
                if entry.filename not in sheet_paths:
                    out.write(content)
                    continue
                frame = data[sheet_paths[entry.filename]]
                head, tail = content.split(b"</sheetData>", 1)
                last = f"{get_column_letter(max(1, frame.shape[1]))}{len(frame) + 1}"
                out.write(head.replace(b"<sheetViews>", f'<dimension ref="A1:{last}" /><sheetViews>'.encode(), 1))
                for block in _rows_xml(frame, first_row=2):
                    out.write(block.encode("utf-8"))
                out.write(b"</sheetData>" + tail)


# -- reading back ------------------------------------------------------------------------
def count_rows(path: Path) -> int | dict[str, int]:
    """Data rows of a published file read from disk (XLSX: per sheet, header not counted)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            sep = sniff_separator(fh.readline())
        return len(pd.read_csv(path, sep=sep, usecols=[0], dtype=str, keep_default_na=False, encoding="utf-8-sig"))
    if suffix == ".jsonl":
        with open(path, "rb") as fh:
            return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    from xsell.publish.formats import count_format_rows  # the formats import this module

    return count_format_rows(path)


def _xlsx_sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> zip member of its XML, from ``xl/workbook.xml`` and its relationships."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    members = {}
    for sheet in workbook.iter(f"{{{_NS_MAIN}}}sheet"):
        target = targets[sheet.get(f"{{{_NS_REL}}}id")]
        members[sheet.get("name")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return members


def _xlsx_rows(path: Path) -> dict[str, int]:
    """Data rows per sheet: ``<row `` elements of each sheet's XML, streamed, minus the header."""
    counts = {}
    with zipfile.ZipFile(path) as archive:
        for title, member in _xlsx_sheet_members(archive).items():
            n, carry = 0, b""
            with archive.open(member) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    data = carry + block
                    n += data.count(b"<row ") - carry.count(b"<row ")
                    carry = data[-4:]
            counts[title] = max(0, n - 1)
    return counts


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


def read_text_csv(path: Path, *, sep: str = ",") -> pd.DataFrame:
    """A CSV written by ``write_csv`` read back as text: every cell ``str``, empty cells ``""``."""
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
