"""RP3beta's pruned item x item weights against the plain dense computation (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xsell.models import rp3beta
from xsell.models.rp3beta import _row_normalised, rp3beta_weights


def _dense_weights(binary: sp.csr_matrix, alpha: float, beta: float, k: int) -> np.ndarray:
    """The whole (n_items, n_items) walk matrix, penalised, without the diagonal; per row the
    ``k`` largest positive weights (ties by column), everything else 0."""
    p_ui = _row_normalised(binary, alpha)
    p_iu = _row_normalised(sp.csr_matrix(binary.T), alpha)
    degree = np.asarray(binary.sum(axis=0)).ravel()
    penalty = np.divide(1.0, np.power(degree, beta), out=np.zeros(len(degree)), where=degree > 0)
    full = (p_iu @ p_ui).toarray() * penalty[None, :]
    np.fill_diagonal(full, 0.0)
    out = np.zeros(full.shape, dtype=np.float32)
    for i, row in enumerate(full):
        ranked = sorted((-v, j) for j, v in enumerate(row) if v > 0)[:k]
        for v, j in ranked:
            out[i, j] = np.float32(-v)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_rp3beta_weights_are_the_dense_top_k(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    n_buyers, n_items = int(rng.integers(5, 60)), int(rng.integers(2, 40))
    binary = sp.random(n_buyers, n_items, density=float(rng.uniform(0.05, 0.5)), random_state=seed, format="csr")
    binary.data[:] = 1.0  # 0/1 walks: many equal weights, so ties at the cut
    alpha, beta, k = float(rng.choice([0.5, 1.0])), float(rng.choice([0.0, 0.5])), int(rng.integers(1, 8))
    monkeypatch.setattr(rp3beta, "_CELL_BUDGET", int(rng.integers(1, 4)) * n_items)  # several row blocks
    weights = rp3beta_weights(binary, alpha, beta, k)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights.toarray(), _dense_weights(binary, alpha, beta, k))
    assert (np.diff(weights.indptr) <= k).all()
