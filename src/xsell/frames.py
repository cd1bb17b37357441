"""Small frame computations several stages share, each defined once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def most_frequent(frame: pd.DataFrame, key: str, col: str) -> pd.Series:
    """``key`` -> the most frequent non-empty ``col`` value among its rows (ties: the
    alphabetically first), as strings, indexed by ``key`` (sorted)."""
    values = frame[col].fillna("").astype(str)
    filled = (values.str.len() > 0).to_numpy()
    # codes of the sorted distinct ids: code order is id order (the ties' rule), counting is on ints
    k, k_ids = pd.factorize(frame[key].astype(str)[filled], sort=True)
    v, v_ids = pd.factorize(values[filled], sort=True)
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
