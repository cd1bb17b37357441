"""Spreadsheet safety: neutralise CSV / formula injection (OWASP "CSV Injection").

A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return may be run as a
formula by Excel or LibreOffice. Such cells get a leading ``'`` in the CSV and XLSX outputs, so
they show as text. Control characters (``CONTROL_CHARS``: XML cannot hold them, so the XLSX
writer would drop them and ``\x01=3+3`` would become ``=3+3``) are removed first, then the
first character is checked. Only text cells change: a negative number stays a number. Parquet
and JSONL keep the raw values.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

DANGEROUS_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula."""

_PATTERN = "^[" + re.escape("".join(DANGEROUS_PREFIXES)) + "]"
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
"""Control characters other than tab, LF and CR: not allowed in XML, removed from CSV and XLSX text."""
_SUSPECT = f"{CONTROL_CHARS}|{_PATTERN}"
"""Text that ``neutralise`` changes: a control character anywhere or a dangerous first character."""


def neutralise(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return a copy of ``frame`` whose text cells have no control characters and whose
    dangerous ones start with ``'``, and how many cells were prefixed.

    Numeric, boolean and datetime columns are returned unchanged; in text (``str``/object)
    columns only string values are looked at.
    """
    out = frame.copy(deep=False)  # columns are replaced, never changed in place (copy-on-write): no copy of the data
    changed = 0
    for col in out.columns:
        series = out[col]
        if isinstance(series.array, ArrowStringArray):
            values, n = _neutralise_arrow(pa.array(series, type=pa.large_string(), from_pandas=True))
            if values is not None:
                out[col] = pd.Series(pd.array(values, dtype=series.dtype), index=series.index)
                changed += n
            continue
        if pd.api.types.is_string_dtype(series) and series.dtype != object:
            text = series
        elif series.dtype == object:
            if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
                text = series
            else:
                text = series.where(series.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool))
        else:
            continue
        if not _suspect(text):
            continue
        controlled = text.str.contains(CONTROL_CHARS, regex=True, na=False).to_numpy(dtype=bool)
        if controlled.any():
            text = text.where(~controlled, text.str.replace(CONTROL_CHARS, "", regex=True))
        mask = text.str.contains(_PATTERN, regex=True, na=False).to_numpy(dtype=bool)
        n = int(mask.sum())
        if n or controlled.any():
            values = series.to_numpy(dtype=object, copy=True)
            values[controlled] = text.to_numpy(dtype=object)[controlled]
            values[mask] = ["'" + v for v in values[mask]]
            out[col] = pd.Series(values, index=series.index).astype(series.dtype)
            changed += n
    return out, changed


def _neutralise_arrow(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray | None, int]:
    """``neutralise`` of one Arrow-backed text column, computed in Arrow: the new values (None
    when nothing changes) and how many were prefixed."""
    if not _suspect_arrow(text):
        return None, 0
    controlled = pc.match_substring_regex(text, CONTROL_CHARS)
    if pc.any(controlled).as_py():
        text = pc.if_else(controlled, pc.replace_substring_regex(text, CONTROL_CHARS, ""), text)
    mask = pc.fill_null(pc.match_substring_regex(text, _PATTERN), False)
    return pc.if_else(mask, pc.binary_join_element_wise(_QUOTE, text, _EMPTY), text), int(pc.sum(mask).as_py() or 0)


def _suspect(text: pd.Series) -> bool:
    """Whether any cell of a text column (strings and missing values) needs ``neutralise``."""
    return _suspect_arrow(pa.array(text, type=pa.large_string(), from_pandas=True))


_QUOTE, _EMPTY = pa.scalar("'", pa.large_string()), pa.scalar("", pa.large_string())
_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]] = True
_DANGEROUS_BYTES = np.zeros(256, dtype=bool)
_DANGEROUS_BYTES[[ord(c) for c in DANGEROUS_PREFIXES]] = True


def _suspect_arrow(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value of Arrow large strings matches ``_SUSPECT``, decided on the UTF-8 bytes
    (most columns have neither a control character nor a dangerous start): a control character
    is a byte below 0x20 (never part of a multi-byte character) and the dangerous first
    characters are ASCII, so the first byte of each value tells. The bytes of a missing value
    (normally none) may give a needless True, never a False."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        if len(chunk) == 0 or chunk.buffers()[2] is None:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        starts = offsets[:-1][offsets[1:] > offsets[:-1]]
        if _DANGEROUS_BYTES[data[starts]].any():
            return True
        body = data[offsets[0] : offsets[-1]]
        low = body < 0x20  # a compare is much faster than a table lookup of every byte
        if low.any() and _CONTROL_BYTES[body[low]].any():
            return True
    return False
