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

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def _suspect(text: pd.Series) -> bool:
    """Whether any cell of a text column (strings and missing values) needs ``neutralise``: one
    scan in Arrow (most columns have neither control characters nor a dangerous start)."""
    values = pa.array(text, type=pa.large_string(), from_pandas=True)
    return bool(pc.any(pc.match_substring_regex(values, _SUSPECT)).as_py())
