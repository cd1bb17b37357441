"""File writers and readers of published runs: CSV, Parquet, JSONL, XLSX, plain text.

Every writer goes through ``xsell.io.writers.atomic_write`` (durable: fsynced) and returns a
``Written`` record (rows, columns, how many cells were neutralised). The files are
deterministic: the same frame gives the same bytes (XLSX: pinned document timestamps and zip
entry times). The shop formats' own files (ImpEx, BMEcat XML, Shopware delete payload) are
counted by ``xsell.publish.formats``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.writer.excel import ExcelWriter

from xsell.errors import InputDataError
from xsell.fingerprint import sha256_file
from xsell.io.writers import atomic_write
from xsell.publish.safety import CONTROL_CHARACTERS, CONTROL_CHARS, neutralise, values_with_chars

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

XLSX_TIMESTAMP = dt.datetime(2000, 1, 1)
"""Pinned created/modified time of every workbook, so equal content gives equal bytes."""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
XLSX_MAX_ROWS = 1_048_576
"""Rows of an Excel sheet, the header row included."""
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


# -- rendering text in Arrow (CSV fields, sheet XML) ---------------------------------------
def _lit(text: str) -> pa.Scalar:
    """A constant piece of text for Arrow's string joins."""
    return pa.scalar(text, pa.large_string())


def _join(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """``parts`` concatenated element-wise (Arrow large strings; a null part gives null)."""
    return pc.binary_join_element_wise(*parts, _lit(""))


def _text_array(values: pd.Series) -> pa.Array:
    """A column as Arrow large strings (missing: null); values that are not strings as ``str``."""
    try:
        raw = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        objects = values.to_numpy(dtype=object)
        missing = pd.isna(objects)
        raw = pa.array(np.where(missing, "", objects).astype(str), type=pa.large_string(), mask=missing)
    return raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw


def _float_text(numbers: np.ndarray) -> pa.Array:
    """Floats as pandas writes them (numpy's ``str``, which for float64 is Python's ``repr``;
    NaN: empty), each distinct value formatted once."""
    codes, uniques = pd.factorize(numbers, use_na_sentinel=True)
    shown = list(map(float.__repr__, uniques.tolist())) if numbers.dtype == np.float64 else uniques.astype(str).tolist()
    return pa.array(shown, type=pa.large_string()).take(pa.array(codes, mask=codes < 0)).fill_null("")


def _string_bytes(text: pa.Array) -> pa.Buffer:
    """The concatenated values of an Arrow large string array (no nulls), without a copy."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=len(text) + 1, offset=text.offset * 8)
    return text.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


_CSV_CHUNK_ROWS = 50_000
"""Rows rendered at a time by ``write_csv``."""


def write_csv(frame: pd.DataFrame, path: Path, *, bom: bool, sep: str = ",", details: dict | None = None) -> Written:
    """UTF-8 CSV (``sep``-separated, ``"`` quoting where needed) with header, ``\\n`` line ends,
    dangerous text neutralised.

    The bytes are pandas' ``to_csv`` (``index=False``, minimal quoting, missing values empty,
    floats as ``repr``), rendered column-wise in Arrow in chunks of rows (several times faster);
    a frame with a column of another kind (dates, mixed objects, ...) or a single column is
    written by pandas itself."""
    safe, n = neutralise(frame)
    fast = safe.shape[1] > 1 and all(_csv_field_kind(safe[c]) for c in safe.columns)

    def write(tmp: Path) -> None:
        if fast:
            with open(tmp, "wb") as fh:
                fh.write(b"\xef\xbb\xbf" if bom else b"")
                for block in _csv_blocks(safe, sep):
                    fh.write(block)
            return
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
            safe.to_csv(fh, index=False, sep=sep, lineterminator="\n")

    atomic_write(path, write, durable=True)
    return Written(path, len(frame), [str(c) for c in frame.columns], neutralised_cells=n, details=details)


def _csv_field_kind(values: pd.Series) -> str | None:
    """How ``_csv_fields`` renders a column: ``int``, ``float``, ``bool`` or ``text`` (strings and
    missing values only); None: not at all (pandas writes the file)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iu":
            return "int"
        if dtype.kind == "f":
            return "float"
        if dtype.kind == "b":
            return "bool"
        if dtype.kind != "O":
            return None
        present = values.dropna()
        return "text" if present.map(type).isin([str]).all() else None
    return "text" if isinstance(dtype, pd.StringDtype) else None


@lru_cache(maxsize=8)
def _csv_quote_chars(sep: str) -> str:
    """The characters that make Python's csv writer (pandas' ``to_csv``) quote a field with
    ``sep`` and ``\\n`` line ends, found by asking that writer."""
    probe = [sep, '"', "\n", "\r", "\t", " ", "'", "\\", "\x0b", "\x0c"]
    quoted = []
    for char in dict.fromkeys(probe):
        out = io.StringIO()
        csv.writer(out, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow([f"a{char}b", "x"])
        if out.getvalue().startswith('"'):
            quoted.append(char)
    return "".join(quoted)


def _csv_quote_pattern(sep: str) -> str:
    """RE2 pattern of ``_csv_quote_chars``."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _csv_quote_chars(sep)) + "]"


def _csv_fields(values: pd.Series, kind: str, sep: str) -> pa.Array:
    """One column's CSV fields as Arrow (large) strings, as pandas writes them (missing: empty)."""
    if kind == "float":
        text = _float_text(np.asarray(values, dtype=values.dtype))
    elif kind == "bool":
        text = pa.array(np.where(np.asarray(values, dtype=bool), "True", "False"), type=pa.large_string())
    elif kind == "int":
        text = pc.cast(pa.array(np.asarray(values)), pa.large_string())
    else:
        text = _text_array(values)
        quote = _needs_quotes(text, sep)
        if quote is not None:
            text = _rewritten(text, quote, lambda t: _join(_lit('"'), pc.replace_substring(t, '"', '""'), _lit('"')))
    return pc.fill_null(text, "")


def _needs_quotes(text: pa.Array, sep: str) -> np.ndarray | None:
    """Per value: whether the CSV field is quoted (``_csv_quote_chars``); None: none is."""
    chars = _csv_quote_chars(sep)
    if chars.isascii():
        return values_with_chars(text, chars)
    found = pc.fill_null(pc.match_substring_regex(text, _csv_quote_pattern(sep)), False).to_numpy(zero_copy_only=False)
    return found if found.any() else None


def _rewritten(text: pa.Array, mask: np.ndarray, rewrite: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``text`` with ``rewrite`` applied to the values where ``mask`` is True (to those alone
    when they are few, else to every value and kept where ``mask`` is True)."""
    selected = pa.array(mask)
    if int(mask.sum()) * 4 < len(mask):
        return pc.replace_with_mask(text, selected, rewrite(text.filter(selected)))
    return pc.if_else(selected, rewrite(text), text)


def _csv_blocks(frame: pd.DataFrame, sep: str, chunk: int = _CSV_CHUNK_ROWS) -> Iterator[bytes | pa.Buffer]:
    """The header line, then the data lines of ``frame`` in chunks of rows, as UTF-8 bytes."""
    kinds = [_csv_field_kind(frame[c]) or "text" for c in frame.columns]
    header = _csv_fields(pd.Series([str(c) for c in frame.columns], dtype=object), "text", sep)
    yield (sep.join(header.to_pylist()) + "\n").encode("utf-8")
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        fields = [_csv_fields(part[c], kind, sep) for c, kind in zip(frame.columns, kinds)]
        lines = _join(pc.binary_join_element_wise(*fields, _lit(sep)), _lit("\n"))
        yield _string_bytes(lines)


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


@dataclass(frozen=True)
class XlsxColumn:
    """One column of a sheet: the frame column it shows, its header and how its cells look."""

    key: str
    header: str
    width: float | None = None
    """Column width in characters; None: from the header and the longest value (8 to 60)."""
    number_format: str | None = None
    """Excel number format (``0%``, ``#,##0 "€"``, ``yyyy-mm-dd``); dates need one."""
    wrap: bool = False
    """Wrap long text inside the cell (the row grows) instead of running over."""
    bold: bool = False


@dataclass
class XlsxSheet:
    """One sheet: a header row, then one row per frame row, streamed."""

    title: str
    frame: pd.DataFrame
    columns: list[XlsxColumn] | None = None
    """None: every frame column under its own name, widths from the content."""
    group_start: np.ndarray | None = None
    """True on the first row of each group (a line above it separates the groups)."""
    filter: bool = True
    """Header row with autofilter and frozen under the title bar."""


_HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")
_GROUP_LINE = Side(style="thin", color="808080")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_XML_SPECIAL_CHARS = CONTROL_CHARACTERS + "&<>\r"
"""Characters ``_xml_text`` removes (``CONTROL_CHARS``) or escapes."""
_LINE_HEIGHT = 15.0
"""Points per line of text in the default font (Calibri 11)."""
_MAX_LINES = 15
_SHEET_DEFLATE_LEVEL = 3
"""Deflate level of the sheets' XML: 2.6x faster than zlib's default 6 for 18% more bytes."""


def _content_width(values: pd.Series, header: str, sample: int = 20_000) -> float:
    lengths = values.iloc[:sample].astype(str).str.len()
    longest = int(lengths.max()) if len(lengths) and lengths.notna().any() else 0
    return float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(header) + 2, longest + 2)))


def _style_id(ws: object, column: XlsxColumn, *, line_above: bool = False) -> int:
    """Index of the cell format (``cellXfs``) of ``column``'s cells, registered in the workbook."""
    cell = WriteOnlyCell(ws)
    if column.number_format:
        cell.number_format = column.number_format
    cell.alignment = Alignment(vertical="top", wrap_text=column.wrap)
    if column.bold:
        cell.font = Font(bold=True)
    if line_above:
        cell.border = Border(top=_GROUP_LINE)
    return cell.style_id


def _xml_text(text: pa.Array) -> pa.Array:
    """Text of cells as XML character data: control characters removed, markup escaped (only
    the values holding such a character are rewritten, found on the bytes)."""
    special = values_with_chars(text, _XML_SPECIAL_CHARS)
    if special is None:
        return text
    return _rewritten(text, special, _xml_escaped)


def _xml_escaped(text: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(text, CONTROL_CHARS, "")
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        text = pc.replace_substring(text, char, entity)
    return text


def _number_text(values: pd.Series) -> pa.Array:
    """Numbers as numpy's ``str`` writes them (float64: Python's ``repr``)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        return pc.cast(pa.array(values.to_numpy()), pa.large_string())
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        return _float_text(values.to_numpy())
    return pa.array(values.to_numpy().astype(str), type=pa.large_string())


def _is_text(values: pd.Series) -> bool:
    """Whether a column's cells are text (else booleans, dates or numbers)."""
    return not (pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values))


def _cell_body(values: pd.Series, shared: pa.Array | None = None) -> tuple[np.ndarray, list[str | pa.Array]]:
    """(which rows have a value, the parts of their ``<c>`` element after the style attribute:
    type, value, closing tags) of one column; literal parts as ``str``. ``shared``: a text
    column's positions in the workbook's shared-string table (``SharedStrings``; null: no value)."""
    if shared is not None:
        return shared.is_valid().to_numpy(zero_copy_only=False), [' t="s"><v>', pc.cast(shared, pa.large_string()), "</v></c>"]
    if pd.api.types.is_bool_dtype(values):
        valid = values.notna().to_numpy()
        return valid, [' t="b"><v>', _number_text(values.fillna(False).astype(bool).astype(int)), "</v></c>"]
    if pd.api.types.is_datetime64_any_dtype(values):
        valid = values.notna().to_numpy()
        days = ((values.dt.tz_localize(None) if values.dt.tz is not None else values) - _EXCEL_EPOCH) / pd.Timedelta(days=1)
        return valid, [' t="n"><v>', _float_text(days.to_numpy(dtype=float)), "</v></c>"]
    if pd.api.types.is_numeric_dtype(values):
        return np.isfinite(values.to_numpy(dtype=float)), [' t="n"><v>', _number_text(values), "</v></c>"]
    text = _text_array(values)
    valid = ~text.is_null().to_numpy(zero_copy_only=False)
    return valid, [' t="inlineStr"><is><t xml:space="preserve">', _xml_text(text), "</t></is></c>"]


def _joined(parts: list[str | pa.Array]) -> pa.Array:
    """``parts`` (literal ``str`` or Arrow strings) joined element-wise in one pass, runs of
    literals merged first."""
    merged: list[str | pa.Array] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return _join(*(_lit(p) if isinstance(p, str) else p for p in merged))


def _cells_xml(values: pd.Series, letter: str, numbers: pa.Array, style: str | pa.Array, shared: pa.Array | None = None) -> list[str | pa.Array]:
    """SpreadsheetML ``<c>`` elements of one column as parts for ``_joined`` (an empty string
    for a missing value); ``numbers``: the rows' numbers as text, ``style``: the ``s="N"``
    attribute text of each cell (or of all); ``shared``: see ``_cell_body``. A column without
    missing values gives its parts as they are (the row's join copies their bytes once); else
    one array of whole cells."""
    valid, body = _cell_body(values, shared)
    parts = ['<c r="', letter, numbers, '"', style, *body]
    if valid.all():
        return parts
    return [pc.if_else(pa.array(valid), _joined(parts), _lit(""))]


def text_lines(values: pd.Series, width: float) -> np.ndarray:
    """About how many lines wrapped text takes in a column ``width`` characters wide."""
    lengths = values.astype(str).str.len().fillna(0).to_numpy(dtype=float) if len(values) else np.zeros(0)
    return np.clip(np.ceil(lengths / max(width - 1.0, 1.0)), 1, _MAX_LINES).astype(int)


def _row_heights(frame: pd.DataFrame, wrapped: dict[str, float]) -> np.ndarray:
    """Height (points) of each row whose wrapped text needs more than one line, else 0: neither
    Excel nor LibreOffice grows rows when it opens a file, so the height is written."""
    lines = np.ones(len(frame), dtype=int)
    for key, width in wrapped.items():
        lines = np.maximum(lines, text_lines(frame[key], width))
    return np.where(lines > 1, lines * _LINE_HEIGHT, 0.0)


def _rows_xml(
    frame: pd.DataFrame, styles: list[tuple[str, str]], group_start: np.ndarray | None, heights: np.ndarray, first_row: int,
    chunk: int = 50_000, shared: dict[int, pa.Array] | None = None,
) -> Iterator[pa.Buffer]:
    """``<row>`` elements of ``frame`` from sheet row ``first_row`` on, rendered column-wise in
    Arrow in chunks of rows, as UTF-8 bytes; ``styles``: per column the style attribute of a
    plain cell and of a group's first; ``heights``: row height in points (0: the default);
    ``shared``: per text column (by position) its cells' shared-string positions (``SharedStrings``)."""
    shared = shared or {}
    letters = [get_column_letter(i) for i in range(1, frame.shape[1] + 1)]
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        numbers = pc.cast(pa.array(np.arange(first_row + start, first_row + start + len(part))), pa.large_string())
        first = None if group_start is None else pa.array(group_start[start : start + len(part)])
        height = heights[start : start + len(part)]
        tall: str | pa.Array = '">'
        if (height > 0).any():
            tall = pc.if_else(pa.array(height > 0), _join(_lit('" ht="'), _float_text(height), _lit('" customHeight="1">')), _lit('">'))
        row: list[str | pa.Array] = ['<row r="', numbers, tall]
        lined: dict[tuple[str, str], pa.Array] = {}  # columns of the same look share their style attributes
        for at, (letter, (plain, line)) in enumerate(zip(letters, styles)):
            style: str | pa.Array = plain
            if first is not None and plain != line:
                if (plain, line) not in lined:
                    lined[plain, line] = pc.if_else(first, _lit(line), _lit(plain))
                style = lined[plain, line]
            codes = shared.get(at)
            row += _cells_xml(part.iloc[:, at], letter, numbers, style, None if codes is None else codes.slice(start, len(part)))
        yield _string_bytes(_joined([*row, "</row>"]))


def _zip_info(name: str, level: int | None = None) -> zipfile.ZipInfo:
    """Zip entry with the pinned time; ``level``: deflate level (default zlib's 6)."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    if level is not None:
        for attr in ("compress_level", "_compresslevel"):  # Python 3.13+ / 3.10-3.12
            try:
                setattr(info, attr, level)
                break
            except AttributeError:
                continue
    return info


_SheetData = tuple[pd.DataFrame, list[tuple[str, str]], np.ndarray | None, np.ndarray]
"""A sheet's data rows for ``_fill_sheets``: neutralised frame, (plain, line above) style
attributes per column, group starts (or None) and row heights."""


def _print_setup(ws: WriteOnlyWorksheet) -> None:
    """Landscape A4, all columns on the page width, header row on every page, page numbers."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.6, header=0.2, footer=0.3)
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.right.text = "&P / &N"


def write_workbook(sheets: list[XlsxSheet], path: Path, *, max_rows: int = XLSX_MAX_ROWS - 1) -> Written:
    """Workbook of ``sheets``: bold header row (frozen, autofilter, repeated on every printed
    page), column widths and cell formats, print setup (landscape, fit to width).

    openpyxl (write-only mode) writes the workbook with the header rows; the data rows are
    rendered as SpreadsheetML column-wise in chunks and streamed into each sheet, since
    openpyxl's per-cell writer manages only a few thousand rows a second. Text is neutralised,
    NaN cells stay empty, zip entries and document properties carry fixed timestamps. A sheet
    of more than ``max_rows`` data rows is an error: split it first (``xsell.publish.sales``).
    """
    wb = openpyxl.Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = XLSX_TIMESTAMP
    wb.properties.creator = "xsell"
    header_cell = {"font": Font(bold=True), "fill": _HEADER_FILL, "alignment": Alignment(vertical="top", wrap_text=True),
                   "border": Border(bottom=Side(style="thin"))}  # fmt: skip
    info: dict[str, dict] = {}
    data: dict[str, _SheetData] = {}
    neutralised = 0
    for sheet in sheets:
        if len(sheet.frame) > max_rows:
            raise InputDataError(f"{len(sheet.frame):,} rows do not fit one Excel sheet ({max_rows:,} max)", file=path, column=sheet.title)
        columns = sheet.columns if sheet.columns is not None else [XlsxColumn(str(c), str(c)) for c in sheet.frame.columns]
        safe, n = neutralise(sheet.frame[[c.key for c in columns]])
        neutralised += n
        ws = wb.create_sheet(title=sheet.title)
        for idx, (column, key) in enumerate(zip(columns, safe.columns), 1):
            width = column.width if column.width is not None else _content_width(safe[key], column.header)
            ws.column_dimensions[get_column_letter(idx)].width = width
        last = f"{get_column_letter(max(1, len(columns)))}{len(safe) + 1}"
        if sheet.filter:
            ws.freeze_panes = "A2"
            ws.auto_filter.ref = f"A1:{last}"
        ws.print_title_rows = "1:1"
        _print_setup(ws)
        header = []
        for column in columns:
            cell = WriteOnlyCell(ws, value=column.header)
            for attr, value in header_cell.items():
                setattr(cell, attr, value)
            header.append(cell)
        widths = [ws.column_dimensions[get_column_letter(i)].width for i in range(1, len(columns) + 1)]
        header_lines = max((int(text_lines(pd.Series([c.header]), w)[0]) for c, w in zip(columns, widths)), default=1)
        if header_lines > 1:
            ws.row_dimensions[1].height = header_lines * _LINE_HEIGHT
        ws.append(header)
        styles = [(f' s="{_style_id(ws, c)}"', f' s="{_style_id(ws, c, line_above=sheet.group_start is not None)}"') for c in columns]
        heights = _row_heights(safe, {key: w for c, key, w in zip(columns, safe.columns, widths) if c.wrap})
        data[sheet.title] = (safe, styles, sheet.group_start, heights)
        info[sheet.title] = {"rows": len(safe), "columns": [c.header for c in columns]}
    skeleton = io.BytesIO()
    with zipfile.ZipFile(skeleton, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    sheet_paths = {ws.path.lstrip("/"): ws.title for ws in wb.worksheets}
    atomic_write(path, lambda tmp: _fill_sheets(skeleton, tmp, sheet_paths, data), durable=True)
    return Written(path, sum(len(s.frame) for s in sheets), [], sheets=info, neutralised_cells=neutralised)


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> Written:
    """Workbook with one plain sheet per frame (every column under its own name): ``write_workbook``."""
    return write_workbook([XlsxSheet(name, frame) for name, frame in sheets.items()], path)


@dataclass
class SharedStrings:
    """The workbook's shared-string table (``xl/sharedStrings.xml``): every distinct text of
    the data cells once, the cells holding its position. Excel writes text this way; inline
    strings repeated every customer's name, product and label on each of its rows, so the
    sheets' XML (and its deflate and read-back) was about twice as large."""

    texts: pa.Array
    """Distinct texts (Arrow large strings), in order of first appearance by sheet and column."""
    codes: dict[str, dict[int, pa.Array]]
    """Per sheet title, per text column (by position): each cell's position in ``texts`` (null: no value)."""
    count: int
    """Text cells referring to the table."""

    @classmethod
    def of(cls, data: dict[str, _SheetData]) -> SharedStrings:
        encoded: list[tuple[str, int, pa.DictionaryArray]] = []
        for title, (frame, *_rest) in data.items():
            for at in range(frame.shape[1]):
                if _is_text(frame.iloc[:, at]):
                    encoded.append((title, at, pc.dictionary_encode(_text_array(frame.iloc[:, at]))))
        if not encoded:
            return cls(pa.array([], type=pa.large_string()), {}, 0)
        merged = pc.dictionary_encode(pa.concat_arrays([e.dictionary for *_key, e in encoded]))
        codes: dict[str, dict[int, pa.Array]] = {}
        offset = 0
        for title, at, column in encoded:
            to_merged = merged.indices.slice(offset, len(column.dictionary))
            codes.setdefault(title, {})[at] = to_merged.take(column.indices)
            offset += len(column.dictionary)
        count = sum(len(c) - c.null_count for sheet in codes.values() for c in sheet.values())
        return cls(merged.dictionary, codes, count)

    def xml(self, chunk: int = 100_000) -> Iterator[bytes | pa.Buffer]:
        """``xl/sharedStrings.xml`` as UTF-8 bytes, a chunk of texts at a time (``xml:space``
        kept where a text starts or ends with white space, as openpyxl and Excel write it)."""
        yield (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_NS_MAIN}" count="{self.count}" '
            f'uniqueCount="{len(self.texts)}">'
        ).encode()
        for start in range(0, len(self.texts), chunk):
            text = self.texts.slice(start, chunk)
            spaced = pc.not_equal(pc.utf8_trim_whitespace(text), text)
            opening = pc.if_else(spaced, _lit('<si><t xml:space="preserve">'), _lit("<si><t>"))
            yield _string_bytes(_join(opening, _xml_text(text), _lit("</t></si>")))
        yield b"</sst>"


_SHARED_STRINGS_PART = "xl/sharedStrings.xml"
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _with_shared_strings(name: str, content: bytes) -> bytes:
    """The skeleton's content types and workbook relationships with the shared-string table
    added (openpyxl's write-only workbook has none: it writes its header cells inline)."""
    if name == "[Content_Types].xml":
        part = f'<Override PartName="/{_SHARED_STRINGS_PART}" ContentType="{_SHARED_STRINGS_TYPE}" />'
        return content.replace(b"</Types>", part.encode() + b"</Types>", 1)
    if name == "xl/_rels/workbook.xml.rels":
        used = set(re.findall(rb'Id="([^"]+)"', content))
        rid = next(f"rId{i}" for i in range(len(used) + 1, len(used) + 100) if f"rId{i}".encode() not in used)
        rel = f'<Relationship Type="{_SHARED_STRINGS_REL}" Target="sharedStrings.xml" Id="{rid}" />'
        return content.replace(b"</Relationships>", rel.encode() + b"</Relationships>", 1)
    return content


def _fill_sheets(skeleton: io.BytesIO, path: Path, sheet_paths: dict[str, str], data: dict[str, _SheetData]) -> None:
    """Copy the workbook skeleton to ``path``, streaming each sheet's data rows into its XML,
    their text through the workbook's ``SharedStrings`` (written last)."""
    shared = SharedStrings.of(data)
    with zipfile.ZipFile(skeleton) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        for entry in src.infolist():
            content = src.read(entry)
            level = _SHEET_DEFLATE_LEVEL if entry.filename in sheet_paths else None
            with dst.open(_zip_info(entry.filename, level), "w", force_zip64=True) as out:
                if entry.filename not in sheet_paths:
                    out.write(_with_shared_strings(entry.filename, content) if shared.codes else content)
                    continue
                title = sheet_paths[entry.filename]
                frame, styles, group_start, heights = data[title]
                head, tail = content.split(b"</sheetData>", 1)
                last = f"{get_column_letter(max(1, frame.shape[1]))}{len(frame) + 1}"
                out.write(head.replace(b"<sheetViews>", f'<dimension ref="A1:{last}" /><sheetViews>'.encode(), 1))
                _write_behind(out, _rows_xml(frame, styles, group_start, heights, first_row=2, shared=shared.codes.get(title)))
                out.write(b"</sheetData>" + tail)
        if shared.codes:
            with dst.open(_zip_info(_SHARED_STRINGS_PART, _SHEET_DEFLATE_LEVEL), "w", force_zip64=True) as out:
                _write_behind(out, shared.xml())


def _write_behind(out: IO[bytes], blocks: Iterable[bytes | pa.Buffer], ahead: int = 2) -> None:
    """Write ``blocks`` to ``out`` in order on one worker thread while the next ones are rendered
    (deflate and Arrow both release the GIL, so the sheet's compression overlaps its rendering);
    at most ``ahead`` blocks wait. Returns when all are written; a write error is raised here."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-deflate") as pool:
        pending: deque[Future[int]] = deque()
        for block in blocks:
            pending.append(pool.submit(out.write, memoryview(block)))
            if len(pending) > ahead:
                pending.popleft().result()
        for future in pending:
            future.result()


# -- reading back ------------------------------------------------------------------------
def count_rows(path: Path) -> int | dict[str, int]:
    """Data rows of a published file read from disk (XLSX: per sheet, header not counted)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix == ".jsonl":
        return sum(block.count(b"\n") for block in _blocks(path))
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    if suffix in (".html", ".css", ".js"):
        from xsell.publish.site import count_chunk_rows  # the site imports this module

        return count_chunk_rows(path.read_text(encoding="utf-8"))
    from xsell.publish.formats import count_format_rows  # the formats import this module

    return count_format_rows(path)


_READ_BLOCK = 1 << 22
"""Bytes read at a time by the row counts and ``file_facts`` (4 MiB: the read-back of a run runs
beside its writers, on two threads, so its buffers add to the peak memory)."""


def _blocks(path: Path, block: int = _READ_BLOCK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(block), b"")


def _csv_rows(path: Path, block: int = _READ_BLOCK) -> int:
    """Data rows of a CSV file (``CsvRecords``), read as bytes in blocks."""
    counter = CsvRecords()
    for data in _blocks(path, block):
        counter.feed(data)
    return counter.rows()


class CsvRecords:
    """Counts the data rows of a CSV file fed as bytes, block by block: its records after the
    header, blank lines not counted. A record ends at a ``\\n`` outside quotes (``write_csv``
    quotes every field holding a quote or a line end and doubles its quotes, so the quotes before
    a line end are even exactly when it is outside a field)."""

    def __init__(self) -> None:
        self._records, self._inside, self._last_end, self._offset = 0, 0, -1, 0

    def feed(self, block: bytes) -> None:
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        quotes = np.flatnonzero(data == 34)
        if self._inside or len(quotes):
            ends = ends[(np.searchsorted(quotes, ends) + self._inside) % 2 == 0]  # quotes before each line end
            self._inside = (self._inside + len(quotes)) % 2
        ends += self._offset
        previous = np.concatenate([[self._last_end], ends[:-1]])
        self._records += int(np.count_nonzero(ends - previous > 1))  # a record of no bytes is a blank line
        self._last_end = int(ends[-1]) if len(ends) else self._last_end
        self._offset += len(data)

    def rows(self) -> int:
        """Data rows of the bytes fed so far (a last record without a line end counts)."""
        records = self._records + int(self._offset - 1 > self._last_end)
        return max(0, records - 1)


def file_facts(path: Path) -> tuple[str, int | dict[str, int]]:
    """(sha256, ``count_rows``) of a published file on disk; a CSV or JSONL file is read once
    for both (the others: hashed, then counted)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        return sha256_file(path), count_rows(path)
    digest = hashlib.sha256()
    csv_records = CsvRecords() if suffix == ".csv" else None
    lines = 0
    for data in _blocks(path):
        digest.update(data)
        if csv_records is not None:
            csv_records.feed(data)
        else:
            lines += data.count(b"\n")
    return digest.hexdigest(), csv_records.rows() if csv_records is not None else lines


def _xlsx_sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> zip member of its XML, from ``xl/workbook.xml`` and its relationships."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    members = {}
    for sheet in workbook.iter(f"{{{_NS_MAIN}}}sheet"):
        target = targets[sheet.attrib[f"{{{_NS_REL}}}id"]]
        members[sheet.attrib["name"]] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
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


def read_run_table(run_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """Table ``name`` of a published run (Parquet, else the CSV), or None when neither exists;
    ``columns``: only those of them the file has (default all)."""
    parquet, csv = run_dir / f"{name}.parquet", run_dir / f"{name}.csv"
    if parquet.is_file():
        names = pq.read_schema(parquet).names
        return pd.read_parquet(parquet, columns=None if columns is None else [c for c in columns if c in names])
    if csv.is_file():
        header = pd.read_csv(csv, nrows=0, encoding="utf-8-sig").columns
        usecols = list(header) if columns is None else [c for c in header if c in columns]
        text = {c: str for c in usecols if c in _TEXT_COLUMNS}
        return pd.read_csv(csv, encoding="utf-8-sig", dtype=text, keep_default_na=False, na_values=[""], usecols=usecols)
    return None


def read_text_csv(path: Path, *, sep: str = ",") -> pd.DataFrame:
    """A CSV written by ``write_csv`` read back as text: every cell ``str``, empty cells ``""``."""
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
