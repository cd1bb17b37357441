"""``Vocabulary``: the one immutable id <-> index mapping used for every matrix axis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd


def _as_str_objects(values: Iterable[object]) -> np.ndarray:
    """``values`` as an object array of ``str``: as they are when they already are all strings
    (a C-level check), else each through ``str()``."""
    if isinstance(values, np.ndarray):
        arr = values
    elif isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        arr = np.asarray(values, dtype=object)
    else:
        arr = np.asarray(list(values), dtype=object)
    if arr.dtype.kind == "U":
        return arr.astype(object)
    if arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=False) in ("string", "empty"):
        return arr
    return np.asarray([str(i) for i in arr], dtype=object)


class Vocabulary:
    """Immutable, ordered set of string ids; position = matrix row/column index.

    >>> v = Vocabulary(["b", "a"])
    >>> v.index(["a", "b"]).tolist(), v.ids[0]
    ([1, 0], 'b')
    """

    __slots__ = ("_ids", "_index")

    def __init__(self, ids: Iterable[object]):
        arr = _as_str_objects(ids).copy()
        index = pd.Index(arr, dtype=object)
        if not index.is_unique:
            dupes = index[index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"vocabulary ids must be unique; duplicated: {dupes}")
        arr.setflags(write=False)
        self._ids = arr
        self._index = index

    @classmethod
    def from_values(cls, values: Iterable[object]) -> Vocabulary:
        """Sorted unique ids of ``values`` (deterministic order)."""
        return cls(np.sort(pd.unique(_as_str_objects(values))))

    @property
    def ids(self) -> np.ndarray:
        """Read-only object array of ids, position = index."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        return str(item) in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._index.equals(other._index)

    def __hash__(self) -> int:
        return hash(tuple(self._ids))

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} ids)"

    def index(self, ids: Iterable[object], *, missing: Literal["raise", "ignore"] = "raise") -> np.ndarray:
        """Positions of ``ids``. ``missing="ignore"`` returns -1 for unknown ids."""
        keys = pd.Index(_as_str_objects(ids), dtype=object)
        pos = self._index.get_indexer(keys)
        if missing == "raise" and (pos < 0).any():
            unknown = keys[pos < 0][:5].tolist()
            raise KeyError(f"ids not in vocabulary: {unknown}")
        return pos.astype(np.int64)

    def id_of(self, positions: Iterable[int] | np.ndarray) -> np.ndarray:
        """Ids at ``positions`` (object array)."""
        return self._ids[np.asarray(positions, dtype=np.int64)]

    def to_array(self) -> np.ndarray:
        """Unicode array for ``np.savez`` (no pickle)."""
        return np.asarray(self._ids, dtype=str) if len(self) else np.array([], dtype="<U1")
