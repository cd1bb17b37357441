"""xsell.sparse against brute force on random small matrices (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xsell.sparse import (
    cells_in,
    dense_top_n,
    distinct,
    drop_cells,
    first_occurrence,
    group_keys,
    in_sorted,
    keys_in,
    lexsort_ints,
    pair_overlap,
    ranges,
    run_starts,
    scored_top_n,
    sorted_csr,
    sparse_top_n,
    stable_argsort,
    stored_top_n,
)


def _reference(row: np.ndarray, n: int) -> list[int]:
    """Best n finite columns of one row, ties by column."""
    finite = [(-row[j], j) for j in range(len(row)) if np.isfinite(row[j])]
    return [j for _, j in sorted(finite)[:n]]


def test_dense_top_n_is_exact_with_ties_at_the_cut() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        r, c, n = (int(v) for v in (rng.integers(1, 6), rng.integers(1, 40), rng.integers(1, 12)))
        x = rng.integers(0, 4, size=(r, c)).astype(float)  # few distinct values: many ties
        x[rng.random((r, c)) < 0.2] = -np.inf
        exclude = rng.random((r, c)) < 0.2
        idx, scores = dense_top_n(x, n, exclude=exclude)
        assert idx.shape == scores.shape == (r, n)
        for i in range(r):
            expected = _reference(np.where(exclude[i], -np.inf, x[i]), n)
            assert [j for j in idx[i] if j >= 0] == expected
            assert np.isnan(scores[i][len(expected):]).all()


def test_sparse_and_scored_top_n_match_dense_references() -> None:
    rng = np.random.default_rng(1)
    for trial in range(100):
        owned = sp.random(7, 15, density=0.3, random_state=int(rng.integers(1 << 30)), format="csr")
        owned.data[:] = 1.0
        weights = sp.random(15, 15, density=0.3, random_state=int(rng.integers(1 << 30)), format="csr")
        # ties, and stored zeros that still "reach"; every other trial all positive (the sums are the reach)
        weights.data = np.round(weights.data * 3) + (trial % 2)
        n = int(rng.integers(1, 8))
        idx, _ = sparse_top_n(weights, n)
        for i in range(15):
            row = np.full(15, -np.inf)
            row[weights[i].indices] = weights[i].data
            assert [j for j in idx[i] if j >= 0] == _reference(row, n)
        for exclude in (True, False):
            got, _ = scored_top_n(owned, weights, n, exclude_owned=exclude, cell_budget=20)
            sums = (owned @ weights).toarray()
            structure = weights.copy()
            structure.data[:] = 1.0  # a stored weight reaches, even a zero one
            reached = ((owned > 0).astype(float) @ structure).toarray() > 0
            for i in range(7):
                row = np.where(reached[i], sums[i], -np.inf)
                if exclude:
                    row[owned[i].indices] = -np.inf
                assert [j for j in got[i] if j >= 0] == _reference(row, n)


def test_cells_in_and_drop_cells() -> None:
    index = np.array([[1, 2, -1], [0, 2, 1]])
    stored = sp.csr_matrix(([0.0, 1, 2, 3], ([0, 0, 0, 1], [0, 1, 2, 2])), shape=(2, 3))  # (0, 0) a stored zero
    assert cells_in(index, stored).tolist() == [[True, True, False], [False, True, False]]
    assert cells_in(np.array([[0]]), stored[:1]).tolist() == [[True]]
    scores = sp.csr_matrix(np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]]))
    assert drop_cells(scores, stored).toarray().tolist() == [[0, 0, 0], [8, 9, 0]]


def test_distinct_and_run_starts_match_numpy() -> None:
    rng = np.random.default_rng(3)
    for size in (0, 1, 7, 1000):
        keys = rng.integers(-5, 50, size=size, dtype=np.int64)
        assert np.array_equal(distinct(keys), np.unique(keys))
        s = np.sort(keys)
        assert np.array_equal(np.flatnonzero(run_starts(s)), np.unique(s, return_index=True)[1])


@pytest.mark.parametrize("pairs_per_thread", [100_000, 7])  # one thread; the cores (chunks over threads)
def test_pair_overlap_counts_rows_holding_both_items_in_any_block_size(pairs_per_thread, monkeypatch) -> None:
    from xsell import sparse

    monkeypatch.setattr(sparse, "_PAIRS_PER_THREAD", pairs_per_thread)
    monkeypatch.setattr(sparse, "available_cores", lambda: 3)
    rng = np.random.default_rng(4)
    x = sp.random(300, 40, density=0.1, random_state=5, format="csr")
    x.data = rng.choice([1.0, 3.0, 0.0], size=x.nnz)  # any stored value counts, even a stored zero
    stored = x.copy()
    stored.data[:] = 1.0
    gram = (stored.T @ stored).toarray()
    a, b = rng.integers(0, 40, 500), rng.integers(0, 40, 500)
    assert gram[a, b].sum() > 0
    for budget in (1 << 30, 2_000, 64):  # one block, some, one word of rows per block
        assert pair_overlap(x, a, b, budget_bytes=budget).tolist() == gram[a, b].astype(int).tolist()
    assert pair_overlap(x, a[:0], b[:0]).tolist() == []


def test_in_sorted_is_keys_in_for_sorted_candidates() -> None:
    rng = np.random.default_rng(4)
    for size in (0, 1, 50, 5000):
        candidates = np.sort(rng.integers(-20, 400, size=size))
        keys = rng.integers(-30, 420, size=(300,))
        np.testing.assert_array_equal(in_sorted(keys, candidates), keys_in(keys, candidates))


def test_ranges_concatenate_aranges() -> None:
    rng = np.random.default_rng(5)
    start, count = rng.integers(-5, 50, size=40), rng.integers(0, 4, size=40)
    want = np.concatenate([np.arange(s, s + c) for s, c in zip(start, count)])
    np.testing.assert_array_equal(ranges(start, count), want)
    assert ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).size == 0


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).integers(-50, 50, 10_000),  # many ties, negative values
        np.random.default_rng(2).integers(0, 2**40, 100_000),  # value and position fill 57 bits: packed
        np.random.default_rng(3).integers(-(2**62), 2**62, 1_000),  # too wide to pack: numpy's argsort
        np.random.default_rng(4).integers(0, 300, 5_000).astype(np.uint16),
        np.random.default_rng(5).integers(0, 3, 7).astype(np.int32),
        np.array([], dtype=np.int64),
        np.array([7]),
        np.array([2**63 + 5, 2**63 + 1, 2**63 + 5], dtype=np.uint64),  # above int64: numpy's argsort
    ],
    ids=["ties", "packed", "wide", "uint16", "int32", "empty", "one", "uint64-high"],
)
def test_stable_argsort_is_numpys_stable_argsort(values: np.ndarray) -> None:
    np.testing.assert_array_equal(stable_argsort(values), np.argsort(values, kind="stable"))
    keys, codes = group_keys(values)
    np.testing.assert_array_equal(keys, np.unique(values))
    np.testing.assert_array_equal(keys[codes], values)


@pytest.mark.parametrize("seed", range(5))
def test_lexsort_ints_is_numpys_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    scores = rng.choice(np.array([0.5, -0.0, 0.0, 1.25, np.nan, np.inf, -np.inf, 3.0]), n)  # ties, NaN, both zeros
    keys = [
        rng.integers(0, 7, n),  # least significant
        scores,
        -rng.integers(0, 4, n),
        rng.integers(-(2**40), 2**40, n) // 2**35,  # negative, wide spread, ties
        rng.integers(0, 2**61, n) >> rng.integers(0, 62, n),  # too wide to pack: ranked
        rng.random(n) < 0.5,
        rng.integers(0, 5, n).astype(np.uint8),  # primary
    ]
    for k in range(1, len(keys) + 1):
        np.testing.assert_array_equal(lexsort_ints(keys[:k]), np.lexsort(keys[:k]))
    assert len(lexsort_ints([np.zeros(0, dtype=np.int64)])) == 0
    np.testing.assert_array_equal(lexsort_ints([np.full(n, 3), np.ones(n, dtype=bool)]), np.arange(n))  # constants: stable


def test_first_occurrence_is_what_drop_duplicates_keeps() -> None:
    rng = np.random.default_rng(9)
    for size in (0, 1, 2, 1000):
        for high in (3, 10**12):
            keys = rng.integers(-high, high, size=size, dtype=np.int64)
            expected = [k not in set(keys[:i].tolist()) for i, k in enumerate(keys.tolist())]
            assert first_occurrence(keys).tolist() == expected
            if size == 1000 and high == 3:
                assert sum(expected) < 10  # repeats, first ones not all at the start


def test_stored_top_n_is_sparse_top_n_with_ties_in_any_column_order() -> None:
    rng = np.random.default_rng(7)
    for trial in range(200):
        rows, cols = int(rng.integers(1, 30)), int(rng.integers(1, 60))
        matrix = sp.random(rows, cols, density=float(rng.uniform(0.05, 0.9)), random_state=int(rng.integers(1 << 30)), format="csr")
        matrix.data = np.round(matrix.data * 4) - (trial % 3)  # few distinct values (ties at the cut), zeros and negatives
        if trial % 5 == 0:
            matrix.data[rng.random(matrix.nnz) < 0.1] = -np.inf
        shuffled = matrix.copy()  # the same cells, columns out of order within the rows
        for i in range(rows):
            lo, hi = shuffled.indptr[i], shuffled.indptr[i + 1]
            perm = lo + rng.permutation(hi - lo)
            shuffled.indices[lo:hi], shuffled.data[lo:hi] = shuffled.indices[perm], shuffled.data[perm]
        n = int(rng.integers(1, 12))
        budget = int(rng.integers(1, 200))  # one row per block up to all rows in one
        idx, scores = stored_top_n(shuffled, n, cell_budget=budget)
        ref_idx, ref_scores = sparse_top_n(matrix, n)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores)
        drop = sp.random(rows, cols, density=0.3, random_state=int(rng.integers(1 << 30)), format="csr")  # some stored, some not
        idx, scores = stored_top_n(shuffled, n, drop=drop, cell_budget=budget)
        ref_idx, ref_scores = sparse_top_n(drop_cells(matrix, drop), n)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores)


def test_scored_top_n_on_the_products_stored_cells_is_the_reached_cells_ranking() -> None:
    """Positive values: ``scored_top_n`` ranks the product's stored cells (``_stored_scored_top_n``),
    the same result as ranking the reached cells (``_reached_scored_top_n``, the path for stored
    zeros and negatives)."""
    from xsell.sparse import _reached_scored_top_n
    rng = np.random.default_rng(11)
    for trial in range(120):
        n_rows, n_items = int(rng.integers(1, 25)), int(rng.integers(1, 40))
        owned = sp.random(n_rows, n_items, density=float(rng.uniform(0.02, 0.4)), random_state=int(rng.integers(1 << 30)), format="csr")
        owned.data[:] = 1.0
        weights = sp.random(n_items, n_items, density=float(rng.uniform(0.05, 0.6)), random_state=int(rng.integers(1 << 30)), format="csr")
        weights.data = (np.round(weights.data * 3) + 1).astype(np.float32)  # positive, few values: ties
        if trial % 4 == 0:
            weights.data[0 : weights.nnz : 3] = 0.0  # stored zeros: the reach differs from the sums (scored_top_n's path)
        n, budget = int(rng.integers(1, 9)), int(rng.integers(1, 300))
        for exclude_owned in (True, False):
            got = scored_top_n(owned, weights, n, exclude_owned=exclude_owned, cell_budget=budget)
            want = _reached_scored_top_n(sp.csr_matrix(owned), sp.csr_matrix(weights), n, exclude_owned, 8_000_000)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed", range(4))
def test_sorted_csr_equals_scipys_coo_construction(seed: int) -> None:
    """Cells from sorted distinct keys (empty rows, explicit zeros, last rows empty) give the
    same matrix as scipy's COO path: indptr, indices, data and their dtypes."""
    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    keys = distinct(rng.integers(0, n_rows * n_cols, size=int(rng.integers(0, 200))))
    rows, cols = keys // n_cols, keys % n_cols
    data = rng.choice(np.array([0.0, 0.5, 1.0, 2.5], dtype=np.float32), size=len(keys))
    got = sorted_csr(rows, cols, data, (n_rows, n_cols))
    want = sp.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols))
    for a, b in ((got.indptr, want.indptr), (got.indices, want.indices), (got.data, want.data)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert got.has_canonical_format and got.nnz == len(keys)
