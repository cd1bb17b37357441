"""Spreadsheet safety: neutralise CSV / formula injection (OWASP "CSV Injection").

A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return may be run as a
formula by Excel or LibreOffice. Such cells get a leading ``'`` in the CSV and XLSX outputs, so
they show as text. Only text cells change: a negative number stays a number. Parquet and JSONL
keep the raw values.
"""

from __future__ import annotations

import re

import pandas as pd

DANGEROUS_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula."""

_PATTERN = "^[" + re.escape("".join(DANGEROUS_PREFIXES)) + "]"


def neutralise(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return a copy of ``frame`` whose dangerous text cells start with ``'``, and how many changed.

    Numeric, boolean and datetime columns are returned unchanged; in text (``str``/object)
    columns only string values are looked at.
    """
    out = frame.copy()
    changed = 0
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_string_dtype(series) and series.dtype != object:
            text = series
        elif series.dtype == object:
            text = series.where(series.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool))
        else:
            continue
        mask = text.str.contains(_PATTERN, regex=True, na=False).to_numpy(dtype=bool)
        n = int(mask.sum())
        if n:
            values = series.to_numpy(dtype=object, copy=True)
            values[mask] = ["'" + v for v in values[mask]]
            out[col] = pd.Series(values, index=series.index).astype(series.dtype)
            changed += n
    return out, changed
