"""Sparse and dense matrix helpers every stage shares, each defined once: top-n per row,
which (row, column) cells a sparse matrix stores, and distinct integer keys."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Bool mask: True where a run of equal values starts in a sorted array."""
    starts = np.ones(len(sorted_values), dtype=bool)
    starts[1:] = sorted_values[1:] != sorted_values[:-1]
    return starts


def distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int array (sort-based; numpy 2.4's hash ``np.unique`` is
    several times slower on millions of int64 keys)."""
    s = np.sort(keys)
    return s[run_starts(s)]


def cells_in(index: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_rows, m): is column ``index[i, j]`` a stored cell of row ``i`` of ``matrix``
    (n_rows, n_cols)? Negative positions (padding) are never stored."""
    matrix = sp.csr_matrix(matrix)
    index = np.asarray(index, dtype=np.int64)
    if index.shape[0] != matrix.shape[0]:
        raise ValueError(f"index has {index.shape[0]} rows, the matrix has {matrix.shape[0]}")
    n_cols = np.int64(matrix.shape[1])
    row_keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * n_cols
    keys = np.arange(index.shape[0], dtype=np.int64)[:, None] * n_cols + index
    return np.isin(keys, row_keys + matrix.indices) & (index >= 0)


def drop_cells(matrix: sp.spmatrix, cells: sp.spmatrix) -> sp.csr_matrix:
    """``matrix`` without the entries stored where ``cells`` (same shape) stores one (even zero)."""
    n_cols = matrix.shape[1]
    s, o = sp.csr_matrix(matrix), sp.csr_matrix(cells)
    s.sort_indices()
    o.sort_indices()
    s, o = s.tocoo(), o.tocoo()
    s_keys = s.row.astype(np.int64) * n_cols + s.col
    o_keys = o.row.astype(np.int64) * n_cols + o.col  # both increasing: membership by bisection
    pos = np.minimum(np.searchsorted(o_keys, s_keys), max(len(o_keys) - 1, 0))
    keep = ~(o_keys[pos] == s_keys) if len(o_keys) else np.ones(len(s_keys), dtype=bool)
    return sp.csr_matrix((s.data[keep], (s.row[keep], s.col[keep])), shape=matrix.shape)


def sparse_top_n(matrix: sp.spmatrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a sparse matrix: the ``n`` stored columns with the highest values, ties by
    column position; (n_rows, n) positions (-1 padded) and float32 scores (NaN padded)."""
    matrix = sp.csr_matrix(matrix)
    counts = np.diff(matrix.indptr)
    row = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((matrix.indices, -matrix.data, row))
    rank = np.arange(len(order)) - matrix.indptr[row]
    keep = rank < n
    index = np.full((matrix.shape[0], n), -1, dtype=np.int64)
    scores = np.full((matrix.shape[0], n), np.nan, dtype=np.float32)
    index[row[keep], rank[keep]] = matrix.indices[order][keep]
    scores[row[keep], rank[keep]] = matrix.data[order][keep]
    return index, scores


def dense_top_n(scores: np.ndarray, n: int, *, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a dense (n_rows, n_items) score array: the ``n`` best finite columns, ties by
    column position (exactly, also at the cut: the k-th best value's ties are taken from the left);
    ``exclude`` (bool, same shape) removes cells. Returns (n_rows, n) positions (-1 padded) and
    float32 scores (NaN padded)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        scores[exclude] = -np.inf
    scores[np.isnan(scores)] = -np.inf
    n_rows, n_items = scores.shape
    k = min(n, n_items)
    index = np.full((n_rows, n), -1, dtype=np.int64)
    out = np.full((n_rows, n), np.nan, dtype=np.float32)
    if k == 0 or n_rows == 0:
        return index, out
    if k < n_items:
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # the k-th best value per row
        above = scores > kth
        tied = scores == kth
        take = above | tied
        n_above = above.sum(axis=1)
        over = np.flatnonzero(n_above + tied.sum(axis=1) > k)  # rows whose ties at the cut overflow
        if over.size:
            t = tied[over]
            take[over] = above[over] | (t & (np.cumsum(t, axis=1) <= (k - n_above[over])[:, None]))
        part = np.nonzero(take)[1].reshape(n_rows, k)  # exactly k per row, in column order
    else:
        part = np.tile(np.arange(n_items), (n_rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")  # columns are ascending: ties by position
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    ok = np.isfinite(top_scores)
    index[:, :k] = np.where(ok, top, -1)
    out[:, :k] = np.where(ok, top_scores, np.nan)
    return compact(index, out, np.zeros(index.shape, dtype=bool), n)


def scored_top_n(owned: sp.csr_matrix, weights: sp.csr_matrix, n: int, *, exclude_owned: bool, cell_budget: int = 8_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``owned`` (n_rows, n_items): the ``n`` best items by ``owned_row @ weights``
    (weights (n_items, n_items)), among the items the row's owned items reach (a stored weight),
    ties by item position; with ``exclude_owned`` never an owned item. Dense blocks of about
    ``cell_budget`` cells. Returns (n_rows, n) positions (-1 padded) and float32 scores."""
    owned, weights = sp.csr_matrix(owned), sp.csr_matrix(weights)
    n_rows, n_items = owned.shape[0], weights.shape[1]
    index = np.full((n_rows, n), -1, dtype=np.int64)
    scores = np.full((n_rows, n), np.nan, dtype=np.float32)
    reach = weights.copy()
    reach.data = np.ones_like(reach.data)
    step = max(1, cell_budget // max(n_items, 1))
    for start in range(0, n_rows, step):
        block = owned[start : start + step]
        present = block.copy()
        present.data = np.ones_like(present.data)
        dense = np.asarray((block @ weights).toarray(), dtype=np.float64)
        dense[(present @ reach).toarray() <= 0] = -np.inf
        exclude = present.toarray() > 0 if exclude_owned else None
        index[start : start + step], scores[start : start + step] = dense_top_n(dense, n, exclude=exclude)
    return index, scores


def compact(index: np.ndarray, scores: np.ndarray, drop: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove the ``drop`` cells of (n_q, m) results, shift the rest left keeping their order,
    and return ``n`` columns (-1 / NaN padded)."""
    keep = ~drop & (np.asarray(index) >= 0)
    order = np.argsort(~keep, axis=1, kind="stable")
    index = np.take_along_axis(np.where(keep, index, -1), order, axis=1).astype(np.int64)
    scores = np.take_along_axis(np.where(keep, scores, np.nan), order, axis=1).astype(np.float32)
    if index.shape[1] < n:
        extra = n - index.shape[1]
        index = np.pad(index, ((0, 0), (0, extra)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, extra)), constant_values=np.nan)
    return index[:, :n], scores[:, :n]
