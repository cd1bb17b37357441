"""Small frame computations several stages share, each defined once."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def release_freed_memory() -> None:
    """Hand the memory the allocators keep for reuse back to the system: Arrow's pool (mimalloc)
    holds what freed Arrow data (a frame's text columns) took, which numpy cannot reuse, and
    glibc's heaps (one per thread that allocated) what freed small and mid-sized arrays took.
    Called where large data has just been dropped (at 20M order lines the id texts are ~2 GiB)
    and between stages, so the next one starts from what is held, not from the last one's peak."""
    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (``malloc_trim``), else None (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def text_codes(values: pd.Series, *, empty_is_missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values.astype(str), sort=True)``: int64 codes (missing: -1; also ``""`` with
    ``empty_is_missing``) into the sorted distinct texts (an object array of ``str``). Arrow text
    is factorized as it is; other columns (categoricals, objects) have the text of each distinct
    value made once, never one string per row."""
    if isinstance(values.dtype, pd.StringDtype):
        codes, texts = pd.factorize(values, sort=True)
    else:
        codes, uniques = pd.factorize(values)
        of_unique, texts = pd.factorize(pd.Series(uniques).astype(str), sort=True)  # Arrow text: sorted in Arrow
        codes = np.where(codes >= 0, of_unique[np.maximum(codes, 0)], -1) if len(of_unique) else codes
    texts = np.asarray(texts, dtype=object)
    codes = np.asarray(codes, dtype=np.int64)
    if empty_is_missing and len(texts):
        codes = np.where((codes >= 0) & (texts[np.maximum(codes, 0)] == ""), -1, codes)
    return codes, texts


def most_frequent(frame: pd.DataFrame, key: str, col: str) -> pd.Series:
    """``key`` -> the most frequent non-empty ``col`` value among its rows (ties: the
    alphabetically first), as strings, indexed by ``key`` (sorted)."""
    # codes of the sorted distinct texts: code order is text order (the ties' rule), counting is on ints
    v, v_ids = text_codes(frame[col], empty_is_missing=True)
    k, k_ids = text_codes(frame[key])
    known = (k >= 0) & (v >= 0)
    pair, n = np.unique(k[known].astype(np.int64) * max(len(v_ids), 1) + v[known], return_counts=True)
    pk, pv = pair // max(len(v_ids), 1), pair % max(len(v_ids), 1)
    order = np.lexsort((pv, -n, pk))
    first = order[np.r_[True, pk[order][1:] != pk[order][:-1]]] if len(order) else order
    index = pd.Index(np.asarray(k_ids, dtype=object)[pk[first]], name=key)
    return pd.Series(np.asarray(v_ids, dtype=object)[pv[first]], index=index, name=col, dtype=object)


def rows_at(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[positions]`` for ascending ``positions``: a slice (no copy) when they are one
    run of rows, as in a table sorted by the key that selected them."""
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return frame.iloc[positions[0] : positions[-1] + 1]
    return frame.iloc[positions]


def isin(values: object, candidates: object) -> np.ndarray:
    """Bool array: each of ``values`` is one of ``candidates``, both compared as text (missing
    matches missing). Through pyarrow's ``is_in``: pandas' own ``isin`` on Arrow strings builds a
    pyarrow scalar per candidate in Python, seconds per million candidates."""
    return pc.is_in(_arrow_text(values), value_set=_arrow_text(candidates)).to_numpy(zero_copy_only=False)


def _arrow_text(values: object) -> pa.Array:
    series = values if isinstance(values, pd.Series) else pd.Series(values if isinstance(values, pd.Index) else np.asarray(values, dtype=object))
    return pa.array(series.astype(str), type=pa.large_string(), from_pandas=True)


def dictionary_encoded(values: pd.Series) -> pd.Series:
    """``values`` as a pandas categorical of their texts (``text_codes``; missing stays missing):
    one int code per row instead of a string. The categories are sorted, so code order is text
    order and sorting, grouping and ``pd.factorize(..., sort=True)`` give what they give on the
    strings. For ids with up to a few million distinct values (building the categories hashes them)."""
    codes, texts = text_codes(values)
    categories = pd.Index(texts, dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories, validate=False), index=values.index, name=values.name)
