"""Vectorised value parsers: source values (strings from CSV, or typed from Parquet) -> canonical.

Every parser accepts a string column *or* an already typed one (Parquet) and returns NaN/NaT
where a value cannot be parsed, so the caller can mark exactly which rows failed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TRUE_WORDS: frozenset[str] = frozenset({"x", "1", "1.0", "true", "t", "yes", "y", "ja", "j", "wahr"})
"""Case-insensitive values read as True; everything else (empty, ``0``, ``false``, ``no``...) is False."""

_FLOAT_ID = r"^([+-]?\d+)\.0+$"


def as_text(values: pd.Series) -> pd.Series:
    """Any column -> ``str`` dtype with surrounding blanks stripped and missing values as ``""``.

    Typed numbers keep their natural text (``3.5``, ``17850.0``); datetimes are ISO formatted.
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = values.fillna("") if values.hasnans else values
        return text.str.strip()
    if values.dtype == object:
        text = values.astype("str")
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S").astype("str")
    else:
        text = values.astype("str")
    return text.where(values.notna(), "").str.strip()


def is_blank(values: pd.Series) -> np.ndarray:
    """Mask of missing values: NaN/None in typed columns, empty or blank strings in text columns."""
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        return (as_text(values) == "").to_numpy()
    return values.isna().to_numpy()


def parse_ids(values: pd.Series, *, float_ids: bool = True) -> pd.Series:
    """Identifier column -> stripped ``str``; ``""`` where missing.

    With ``float_ids``, integral floats written by spreadsheets (``17850.0``, or a float
    Parquet column) become ``17850``. Ids with letters or other decimals are left alone.
    """
    if pd.api.types.is_float_dtype(values.dtype) and float_ids:
        integral = values.notna() & (values == np.floor(values))
        text = as_text(values)
        ints = values.where(integral, 0).astype("int64").astype("str")
        return ints.where(integral, text)
    text = as_text(values)
    if float_ids and text.str.contains(".", regex=False).any():
        text = text.str.replace(_FLOAT_ID, r"\1", regex=True)
    return text


def parse_numbers(values: pd.Series, *, decimal: str = ".", thousands: str | None = None) -> pd.Series:
    """Numeric column -> float64; NaN where empty or not a number.

    Strings may use a decimal comma, a thousands separator and SAP's trailing minus (``12,50-``).
    """
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    text = as_text(values)
    if thousands:
        text = text.str.replace(thousands, "", regex=False)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    text = text.str.replace(r"^(.+)-$", r"-\1", regex=True)
    return pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")


def parse_dates(values: pd.Series, *, date_format: str | None = None, dayfirst: bool = False) -> pd.Series:
    """Date column -> naive ``datetime64[ns]``; NaT where empty or unparseable.

    ``date_format`` (strftime) wins; else ``dayfirst`` guesses the layout from the data; else
    ISO 8601 (``2024-03-01``, ``2024-03-01 08:26:00``). Time-zone aware values become naive.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values
    else:
        text = as_text(values)
        text = text.where(text != "", None)
        if date_format:
            out = pd.to_datetime(text, format=date_format, errors="coerce")
        elif dayfirst:
            out = pd.to_datetime(text, dayfirst=True, errors="coerce")
        else:
            out = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert(None)
    return out.astype("datetime64[ns]")


def parse_bools(values: pd.Series) -> pd.Series:
    """Flag column -> bool: ``X``, ``1``, ``true``, ``yes``, ``ja``, ``y`` ... are True (see ``TRUE_WORDS``)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype("bool")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return (values.fillna(0) != 0).astype("bool")
    return as_text(values).str.lower().isin(TRUE_WORDS).astype("bool")


def parse_country_lists(values: pd.Series) -> pd.Series:
    """Assortment lists separated by ``;`` ``,`` or ``|`` -> sorted, de-duplicated, ``;``-joined."""
    text = as_text(values)
    codes, uniques = pd.factorize(text)
    canonical = [";".join(sorted({p.strip() for p in u.replace(",", ";").replace("|", ";").split(";")} - {""})) for u in uniques]
    return pd.Series(np.asarray(canonical, dtype=object)[codes] if len(codes) else [], index=values.index, dtype="str")


def _arrow_strings(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype=object) if values.dtype == object else values, type=pa.large_string(), from_pandas=True)


def lookup_positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position of each value in ``keys`` (first occurrence), ``-1`` where absent. Hash join in Arrow."""
    found = pc.index_in(_arrow_strings(values), value_set=_arrow_strings(keys))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")




def text_from_codes(uniques: pd.Series | np.ndarray | list[str], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``uniques[codes]`` as a ``str`` Series, gathered in Arrow (no per-row Python objects)."""
    labels = pa.array(np.asarray(uniques, dtype=object), type=pa.large_string(), from_pandas=True)
    return pd.Series(pd.array(labels.take(pa.array(np.asarray(codes, dtype="int64"))), dtype="str"), index=index)
