"""Integer codes for the string ids the suggestion tables are keyed by.

The tables join, filter and rank millions of candidate rows (buying centers x ~100 candidates,
links x countries). Doing that on ``str`` columns hashes and copies strings at every merge, so
rows are carried as int codes instead and mapped back to strings only for the rows that are
written. ``Coded`` holds one column as codes into its distinct values; ``ids`` are sorted, so
sorting codes sorts the ids (ties broken by id stay the same as on the strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsell.frames import isin
from xsell.interactions.build import purchases


def sorted_ids(*columns: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Sorted distinct non-missing values of all ``columns`` as an object array of ``str``."""
    parts = [np.asarray(pd.unique(pd.Series(c).dropna()), dtype=object) for c in columns if len(c)]
    if not parts:
        return np.array([], dtype=object)
    uniq = pd.unique(np.concatenate(parts))
    return np.sort(pd.unique(np.asarray([str(v) for v in uniq], dtype=object)))


def encode(values: pd.Series | pd.Index | np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted ``ids`` (int64; -1 where absent or missing), with one
    lookup per distinct value rather than one per row."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
    if len(uniques) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    pos = pd.Index(ids, dtype=object).get_indexer(pd.Index([str(u) for u in uniques], dtype=object))
    return np.where(codes >= 0, pos[np.maximum(codes, 0)], -1).astype(np.int64)


def purchase_codes(lines: pd.DataFrame, column: str, ids: np.ndarray | None = None) -> np.ndarray:
    """Int codes of one column of the purchases of ``lines`` (``interactions.build.purchases``):
    positions in the sorted ``ids`` (-1 where absent or missing), or first-appearance codes
    without ``ids``. One column is read at a time: the history's string columns are never copied
    together (at 20M lines each is ~300 MB) and never turned into Python strings per row."""
    values = purchases(lines, [column])[column]
    return encode(values, ids) if ids is not None else pd.factorize(values)[0].astype(np.int64)


def member(values: pd.Series | pd.Index | np.ndarray, of: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """``values.isin(of)`` for string ids (missing values are never members), by a hash of the
    distinct ``of`` (``frames.isin``; sorting ``of`` first was most of the time at 5M ids)."""
    return isin(values, pd.Series(of).dropna()) & np.asarray(pd.notna(values), dtype=bool)


@dataclass(frozen=True)
class Coded:
    """One column as ``codes`` (int64, -1 = missing) into its sorted distinct ``ids`` (object array)."""

    codes: np.ndarray
    ids: np.ndarray

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> Coded:
        """Code a column of string ids (missing values get -1)."""
        codes, uniques = pd.factorize(values, sort=True)
        return cls(np.asarray(codes, dtype=np.int64), np.asarray([str(u) for u in uniques], dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    def strings(self, missing: str = "") -> np.ndarray:
        """The ids as an object array, ``missing`` where the code is -1."""
        if len(self.ids) == 0:
            return np.full(len(self.codes), missing, dtype=object)
        return np.where(self.codes >= 0, self.ids[np.maximum(self.codes, 0)], missing)

    def used(self) -> Coded:
        """The same column coded into only the ids its rows use (still sorted): ``map_ids`` then
        evaluates nothing for ids no row has (a resolver's variant ids are every eligible variant)."""
        present = self.codes >= 0
        if len(self.ids) > 8 * len(self.codes) + 1024:  # few rows, many ids: sort the rows' codes
            ids, inverse = np.unique(self.codes[present], return_inverse=True)
            codes = np.full(len(self.codes), -1, dtype=np.int64)
            codes[present] = inverse
            return Coded(codes, self.ids[ids] if len(self.ids) else self.ids)
        # otherwise mark the codes used: no sort (np.unique was a fifth of the business rules' time)
        used = np.zeros(len(self.ids), dtype=bool)
        used[self.codes[present]] = True
        new_code = np.cumsum(used) - 1
        codes = np.where(present, new_code[np.maximum(self.codes, 0)] if len(self.ids) else -1, -1).astype(np.int64)
        return Coded(codes, self.ids[used])

    def map_ids(self, fn: Callable[[pd.Series], np.ndarray], missing: object) -> np.ndarray:
        """``fn`` evaluated once per distinct id (a ``str`` Series in, an array out) and spread to
        the rows; ``missing`` where the code is -1."""
        per_id = np.asarray(fn(pd.Series(self.ids, dtype="str"))) if len(self.ids) else np.array([], dtype=object)
        per_id = np.append(per_id, np.asarray([missing], dtype=per_id.dtype))
        return per_id[np.where(self.codes >= 0, self.codes, len(self.ids))]


def pair_map(a: Coded, b: Coded, fn: Callable[[pd.Series, pd.Series], np.ndarray]) -> np.ndarray:
    """``fn(a_ids, b_ids)`` evaluated once per distinct (a, b) pair of rows and spread to the rows;
    missing codes are passed as ``""``."""
    key = (a.codes + 1) * (len(b.ids) + 1) + (b.codes + 1)
    inverse, uniq = pd.factorize(key)
    ua, ub = uniq // (len(b.ids) + 1) - 1, uniq % (len(b.ids) + 1) - 1
    left = pd.Series(Coded(ua, a.ids).strings(), dtype="str")
    right = pd.Series(Coded(ub, b.ids).strings(), dtype="str")
    return np.asarray(fn(left, right))[inverse] if len(uniq) else np.zeros(0, dtype=bool)
