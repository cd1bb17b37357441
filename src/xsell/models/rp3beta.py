"""RP3beta (Paudel, Christoffel, Newell, Bernstein 2016, "Updatable, accurate, diverse, and
scalable recommendations for interactive applications"), as in Dacrema et al. 2019's reference
implementation.

A three-step random walk item -> buying center -> item on the bipartite purchase graph:
``P_ui`` is the row-normalised (n_buying_centers, n_items) matrix, ``P_iu`` the row-normalised
transpose; both are raised element-wise to ``alpha``. The item x item weight ``W_ij`` is
``(P_iu P_ui)_ij / degree(j) ** beta``: ``beta`` > 0 penalises popular destinations. Each row keeps
its ``K`` largest weights (no self-loop). A buyer's scores are ``x W`` over its owned items ``x``
(binary). Sparse throughout; the item x item product is computed in row blocks and pruned to
``K`` per row on the fly, so memory stays ~``n_items * K`` plus one block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell.interactions.matrix import TrainingData
from xsell.models.base import Ranking, Recommender, csr_arrays, csr_from_arrays, owned_part
from xsell.models.config import RP3betaConfig
from xsell.parallel import available_cores, ordered_map
from xsell.sparse import scored_top_n, sparse_top_n, stored_top_n
from xsell.vocab import Vocabulary

_CELL_BUDGET = 8_000_000
"""Cells of one row block of the item x item product before pruning (bounds memory)."""


def _row_normalised(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Rows scaled to sum 1, then every stored value raised to ``alpha``."""
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    out = sp.csr_matrix(sp.diags(inv) @ matrix, dtype=np.float64)
    if alpha != 1.0:
        out.data = np.power(out.data, alpha)
    return out


def rp3beta_weights(binary: sp.csr_matrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """(n_items, n_items) CSR of RP3beta weights with at most ``k`` per row, no diagonal, from a
    binary (n_buyers, n_items) matrix. Rows are computed in blocks of at most ``_CELL_BUDGET``
    cells of the sparse product and pruned to ``k`` right away, on the stored cells only (a
    cell the walk never reaches has weight 0 and is never kept); one block per core at a time
    (the sparse product and the partition run without the GIL), concatenated in row order."""
    n_items = binary.shape[1]
    p_ui = _row_normalised(binary, alpha)
    p_iu = _row_normalised(sp.csr_matrix(binary.T), alpha)
    degree = np.asarray(binary.sum(axis=0)).ravel()
    penalty = np.divide(1.0, np.power(degree, beta), out=np.zeros(n_items), where=degree > 0)
    step = max(1, min(n_items, _CELL_BUDGET // max(n_items, 1)))

    def block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stop = min(n_items, start + step)
        product = sp.csr_matrix(p_iu[start:stop] @ p_ui)
        product.data *= penalty[product.indices]
        own = np.repeat(np.arange(start, stop), np.diff(product.indptr))
        product.data[(product.indices == own) | ~(product.data > 0)] = 0.0  # no self-loop, positive weights only
        product.eliminate_zeros()
        top, top_scores = stored_top_n(product, k)
        ok = top >= 0
        return np.nonzero(ok)[0] + start, top[ok], top_scores[ok]

    rows, cols, vals = [], [], []
    for r, c, v in ordered_map(block, range(0, n_items, step), workers=available_cores(), name="rp3beta"):
        rows.append(r)
        cols.append(c)
        vals.append(v)
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )


class RP3betaRecommender(Recommender[RP3betaConfig]):
    """RP3beta item-item model (see the module docstring). Learned ``similarity_`` (n_items,
    n_items) CSR and ``buyer_items_`` (owned cells)."""

    name = "rp3beta"
    config_class = RP3betaConfig

    def fit(self, data: TrainingData) -> RP3betaRecommender:
        """Fit on the structure of ``data.buyer_items`` (a positive cell is one edge)."""
        buyer_items = data.buyer_items
        owned = owned_part(buyer_items.matrix)
        binary = owned.copy()
        binary.data = np.ones_like(binary.data, dtype=np.float64)
        c = self.config
        self.similarity_ = rp3beta_weights(binary, c.alpha, c.beta, c.K)
        self.items_ = buyer_items.cols
        self.buyers_ = buyer_items.rows
        self.buyer_items_ = sp.csr_matrix(binary, dtype=np.float32)
        return self

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` items per buyer by the summed weights from its owned items."""
        self._check_fitted()
        buyers = [str(b) for b in buyers]
        rows = self.buyers_.index(buyers, missing="ignore")
        index = np.full((len(buyers), n), -1, dtype=np.int64)
        scores = np.full((len(buyers), n), np.nan, dtype=np.float32)
        known = np.flatnonzero(rows >= 0)
        if len(known):
            owned = self.buyer_items_[rows[known]]
            index[known], scores[known] = scored_top_n(owned, self.similarity_, n, exclude_owned=exclude_owned)
        return Ranking.from_indices(buyers, index, scores, self.items_)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """The item's strongest ``K`` walk destinations, best first (never itself)."""
        self._check_fitted()
        items = [str(i) for i in items]
        pos = self.items_.index(items, missing="ignore")
        index = np.full((len(items), n), -1, dtype=np.int64)
        scores = np.full((len(items), n), np.nan, dtype=np.float32)
        known = np.flatnonzero(pos >= 0)
        if len(known):
            index[known], scores[known] = sparse_top_n(self.similarity_[pos[known]], n)
        return Ranking.from_indices(items, index, scores, self.items_)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "items": self.items_.to_array(),
            "buyers": self.buyers_.to_array(),
            **csr_arrays("similarity", self.similarity_),
            **csr_arrays("buyer_items", self.buyer_items_),
        }

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.items_ = Vocabulary(arrays["items"])
        self.buyers_ = Vocabulary(arrays["buyers"])
        self.similarity_ = csr_from_arrays("similarity", arrays)
        self.buyer_items_ = csr_from_arrays("buyer_items", arrays)
