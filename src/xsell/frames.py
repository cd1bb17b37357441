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
    v = pd.DataFrame({"k": frame[key].astype(str).to_numpy(), "v": values.to_numpy()})[(values.str.len() > 0).to_numpy()]
    counts = v.groupby(["k", "v"], observed=True, sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["k", "n", "v"], ascending=[True, False, True], kind="stable")
    first = counts.drop_duplicates("k")
    return pd.Series(first["v"].to_numpy(), index=pd.Index(first["k"].to_numpy(), name=key), name=col, dtype=object)


def isin(values: object, candidates: object) -> np.ndarray:
    """Bool array: each of ``values`` is one of ``candidates``, both compared as text (missing
    matches missing). Through pyarrow's ``is_in``: pandas' own ``isin`` on Arrow strings builds a
    pyarrow scalar per candidate in Python, seconds per million candidates."""
    return pc.is_in(_arrow_text(values), value_set=_arrow_text(candidates)).to_numpy(zero_copy_only=False)


def _arrow_text(values: object) -> pa.Array:
    series = values if isinstance(values, pd.Series) else pd.Series(values if isinstance(values, pd.Index) else np.asarray(values, dtype=object))
    return pa.array(series.astype(str), type=pa.large_string(), from_pandas=True)
