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
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))
"""The characters of ``CONTROL_CHARS``, listed."""
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


def _neutralise_arrow(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | None, int]:
    """``neutralise`` of one Arrow-backed text column, computed in Arrow: the new values (None
    when no value can change: no control character, no dangerous start) and how many were prefixed."""
    if not _suspect_arrow(text):
        return None, 0
    values = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if _control_bytes(values):
        controlled = pc.match_substring_regex(values, CONTROL_CHARS)
        values = pc.if_else(controlled, pc.replace_substring_regex(values, CONTROL_CHARS, ""), values)
    mask = _dangerous_start(values) & ~values.is_null().to_numpy(zero_copy_only=False)
    return pc.if_else(pa.array(mask), pc.binary_join_element_wise(_QUOTE, values, _EMPTY), values), int(mask.sum())


def _suspect(text: pd.Series) -> bool:
    """Whether any cell of a text column (strings and missing values) needs ``neutralise``."""
    return _suspect_arrow(pa.array(text, type=pa.large_string(), from_pandas=True))


_QUOTE, _EMPTY = pa.scalar("'", pa.large_string()), pa.scalar("", pa.large_string())
_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[ord(c) for c in CONTROL_CHARACTERS]] = True
_DANGEROUS_BYTES = np.zeros(256, dtype=bool)
_DANGEROUS_BYTES[[ord(c) for c in DANGEROUS_PREFIXES]] = True


def _string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of Arrow large strings, without a copy."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64, count=len(values) + 1, offset=values.offset * 8)
    data = values.buffers()[2]
    return offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)


def _dangerous_start(values: pa.Array) -> np.ndarray:
    """Per value of Arrow large strings: whether its first character is one of
    ``DANGEROUS_PREFIXES`` (all ASCII, so its first UTF-8 byte tells; a missing value is
    decided by its bytes, normally none)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    offsets, data = _string_buffers(values)
    nonempty = offsets[1:] > offsets[:-1]
    out = np.zeros(len(values), dtype=bool)
    out[nonempty] = _DANGEROUS_BYTES[data[offsets[:-1][nonempty]]]
    return out


def _control_bytes(values: pa.Array) -> bool:
    """Whether Arrow large strings hold a control character of ``CONTROL_CHARS``: a byte below
    0x20 other than tab, LF and CR (never part of a multi-byte UTF-8 character)."""
    if len(values) == 0:
        return False
    offsets, data = _string_buffers(values)
    body = data[offsets[0] : offsets[-1]]
    low = body < 0x20  # a compare is much faster than a table lookup of every byte
    return bool(low.any() and _CONTROL_BYTES[body[low]].any())


_SCAN_BYTES = 1 << 20
"""Bytes ``values_with_chars`` compares at a time (its temporary arrays stay this small)."""


def values_with_chars(values: pa.Array, chars: str) -> np.ndarray | None:
    """Per value of Arrow large strings (one array): whether it holds one of the ASCII ``chars``
    (never part of a multi-byte UTF-8 character), decided on the bytes, a block at a time, with a
    few compares and one reduction per value; None when no value does (the common case). A
    missing value has no bytes (normally), so it holds none."""
    if not chars.isascii():
        raise ValueError(f"values_with_chars looks for ASCII characters only, not {chars!r}")
    if len(values) == 0:
        return None
    offsets, data = _string_buffers(values)
    starts, ends = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
    body = data[offsets[0] : offsets[-1]]
    codes = sorted({ord(c) for c in chars})
    out: np.ndarray | None = None
    for begin in range(0, len(body), _SCAN_BYTES):
        block = body[begin : begin + _SCAN_BYTES]
        hit = _char_bytes(block, codes)
        if not hit.any():
            continue
        # the non-empty values with bytes in this block: one segment of ``hit`` each
        first, last = np.searchsorted(ends, begin, side="right"), np.searchsorted(starts, begin + len(block), side="left")
        inside = np.arange(first, last)[ends[first:last] > starts[first:last]]
        found = np.maximum.reduceat(hit.view(np.uint8), np.maximum(starts[inside] - begin, 0)).astype(bool)
        out = np.zeros(len(values), dtype=bool) if out is None else out
        out[inside[found]] = True
    return out


def _char_bytes(block: np.ndarray, codes: list[int]) -> np.ndarray:
    """Per byte: whether it is one of ``codes`` (a compare is much faster than a table lookup of
    every byte; control characters, tabs and line ends are rare in cells)."""
    hit = np.zeros(len(block), dtype=bool)
    for code in (c for c in codes if c >= 0x20):
        hit |= block == code
    low = [c for c in codes if c < 0x20]
    if low:
        at = np.flatnonzero(block < 0x20)
        hit[at[np.isin(block[at], low)]] = True
    return hit


def _suspect_arrow(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value of Arrow large strings matches ``_SUSPECT``, decided on the UTF-8 bytes
    (most columns have neither a control character nor a dangerous start). The bytes of a
    missing value (normally none) may give a needless True, never a False."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    return any(_dangerous_start(chunk).any() or _control_bytes(chunk) for chunk in chunks)
