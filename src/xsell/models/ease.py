"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"), closed form.

With ``X`` the (n_buying_centers, n_items) matrix and ``G = X'X + l2 I``, ``P = G^-1``, the item x
item weights are ``B = I - P diag(1 / diag(P))`` (``B_ij = -P_ij / P_jj``, zero diagonal); a buyer's
scores are ``x B``. The inverse is dense, so only the ``max_items`` most bought items (distinct
buying centers) take part: ``B`` is (k, k) over those items, the others are neither scored nor
used as evidence (logged). ``G`` is accumulated from sparse column blocks, the inverse is a
Cholesky factorisation + inverse in float64 (LAPACK ``potrf``/``potri``), ``B`` is kept in float32.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from xsell.errors import InputDataError
from xsell.interactions.matrix import TrainingData
from xsell.models.base import Ranking, Recommender, csr_arrays, csr_from_arrays, drop_self, owned_part
from xsell.models.config import EASEConfig
from xsell.parallel import available_cores, ordered_map
from xsell.sparse import dense_top_n
from xsell.vocab import Vocabulary

log = logging.getLogger(__name__)

_CELL_BUDGET = 8_000_000
"""Dense score cells per block of buyers in ``recommend`` and of items in ``similar_items``
(bounds memory)."""


def gram(x: sp.csr_matrix, block: int = 2048, *, workers: int = 1) -> np.ndarray:
    """``x.T @ x`` as a dense float64 (n_cols, n_cols) array, built from sparse column blocks
    (``workers`` blocks at a time: scipy's sparse product runs without the GIL); Fortran-ordered,
    so ``ease_weights`` factorises and inverts it in place (LAPACK's layout)."""
    xc = sp.csc_matrix(x, dtype=np.float64)
    xt = sp.csr_matrix(xc.T)
    n = x.shape[1]
    out = np.zeros((n, n), dtype=np.float64, order="F")

    def fill(start: int) -> None:
        stop = min(n, start + block)
        out[:, start:stop] = (xt @ xc[:, start:stop]).toarray()  # each block its own columns

    for _ in ordered_map(fill, range(0, n, block), workers=workers, name="ease-gram"):
        pass
    return out


def ease_weights(g: np.ndarray, l2: float, block: int = 2048) -> np.ndarray:
    """``B = I - P / diag(P)`` with ``P = (g + l2 I)^-1`` (float32, zero diagonal); ``g`` is
    overwritten. ``g`` must be symmetric positive semi-definite (a Gram matrix).

    Fortran-ordered ``g`` (``gram``) is factorised, inverted and turned into ``B`` in place: the
    float64 (n, n) array and the float32 result are all this holds (LAPACK copies a C-ordered one)."""
    g[np.diag_indices_from(g)] += l2
    chol, info = lapack.dpotrf(g, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise InputDataError(f"EASE: the item Gram matrix + l2 is not positive definite (LAPACK info {info}); raise models.ease.l2")
    p, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise InputDataError(f"EASE: inverting the item Gram matrix failed (LAPACK info {info}); raise models.ease.l2")
    del chol
    n = p.shape[0]
    for start in range(0, n, block):  # P is in the upper triangle: mirror it into the lower one
        stop = min(n, start + block)
        p[start:stop, :start] = p[:start, start:stop].T
        corner = p[start:stop, start:stop]
        corner[...] = np.triu(corner) + np.triu(corner, 1).T
    p += 0.0  # -0.0 -> 0.0, as the sum of the two triangles gives (the same weights bit for bit)
    diag = np.diag(p).copy()
    p /= -diag[None, :]
    np.fill_diagonal(p, 0.0)
    return p.astype(np.float32, order="C")


class EASERecommender(Recommender[EASEConfig]):
    """EASE on the ``max_items`` most bought items (see the module docstring).

    Learned: ``kept_`` (positions of the modelled items in ``items_``), ``weights_`` (k, k)
    float32 ``B``, ``buyer_items_`` (owned cells of the fitted matrix).
    """

    name = "ease"
    config_class = EASEConfig

    def fit(self, data: TrainingData) -> EASERecommender:
        """Fit on ``data.buyer_items`` (its cell values weigh the evidence)."""
        buyer_items = data.buyer_items
        matrix = sp.csr_matrix(buyer_items.matrix, dtype=np.float32)
        owned = owned_part(matrix)
        n_items = matrix.shape[1]
        buyers_per_item = owned.getnnz(axis=0)
        ranked = np.lexsort((np.arange(n_items), -buyers_per_item))
        kept = np.sort(ranked[: self.config.max_items][buyers_per_item[ranked[: self.config.max_items]] > 0])
        if len(kept) < int((buyers_per_item > 0).sum()):
            log.info(
                "ease: %d of %d bought items modelled (models.ease.max_items=%d); the other %d are left to the other models",
                len(kept), int((buyers_per_item > 0).sum()), self.config.max_items, int((buyers_per_item > 0).sum()) - len(kept),
            )  # fmt: skip
        x = sp.csr_matrix(owned[:, kept])
        threads = self.config.num_threads or None  # None: the BLAS library's own setting (e.g. OPENBLAS_NUM_THREADS)
        with threadpool_limits(threads, "blas"):
            self.weights_ = ease_weights(gram(x, workers=threads or available_cores()), self.config.l2)
        self.kept_ = kept.astype(np.int64)
        self.items_ = buyer_items.cols
        self.buyers_ = buyer_items.rows
        self.buyer_items_ = owned
        return self

    def _kept_columns(self, rows: np.ndarray) -> sp.csr_matrix:
        """The buyers' owned rows restricted to the modelled items, (len(rows), k)."""
        return sp.csr_matrix(self.buyer_items_[rows][:, self.kept_])

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` modelled items per buyer by ``x B``; unknown buyers get padded rows."""
        self._check_fitted()
        buyers = [str(b) for b in buyers]
        rows = self.buyers_.index(buyers, missing="ignore")
        index = np.full((len(buyers), n), -1, dtype=np.int64)
        scores = np.full((len(buyers), n), np.nan, dtype=np.float32)
        known = np.flatnonzero(rows >= 0)
        k = len(self.kept_)
        step = max(1, _CELL_BUDGET // max(k, 1))
        for start in range(0, len(known), step):
            sel = known[start : start + step]
            x = self._kept_columns(rows[sel])
            dense = np.asarray(x @ self.weights_, dtype=np.float64)
            exclude = x.toarray() > 0 if exclude_owned else None
            top, top_scores = dense_top_n(dense, n, exclude=exclude)
            index[sel] = np.where(top >= 0, self.kept_[np.maximum(top, 0)], -1)
            scores[sel] = top_scores
        return Ranking.from_indices(buyers, index, scores, self.items_)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """Items ``j`` with the largest weight ``B_ij`` (how much owning ``i`` raises ``j``)."""
        self._check_fitted()
        items = [str(i) for i in items]
        pos = self.items_.index(items, missing="ignore")
        slot = np.full(len(self.items_), -1, dtype=np.int64)
        slot[self.kept_] = np.arange(len(self.kept_))
        rows = np.where(pos >= 0, slot[np.maximum(pos, 0)], -1)
        index = np.full((len(items), n), -1, dtype=np.int64)
        scores = np.full((len(items), n), np.nan, dtype=np.float32)
        known = np.flatnonzero(rows >= 0)
        step = max(1, _CELL_BUDGET // max(len(self.kept_), 1))
        for start in range(0, len(known), step):  # blocks of items: a dense row per item
            sel = known[start : start + step]
            weights = np.asarray(self.weights_[rows[sel]], dtype=np.float64)
            weights[weights <= 0] = -np.inf  # only items the weights point towards
            top, top_scores = dense_top_n(weights, n + 1)
            top = np.where(top >= 0, self.kept_[np.maximum(top, 0)], -1)
            index[sel], scores[sel] = drop_self(pos[sel], top, top_scores, n)
        return Ranking.from_indices(items, index, scores, self.items_)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "items": self.items_.to_array(),
            "buyers": self.buyers_.to_array(),
            "kept": self.kept_,
            "weights": self.weights_,
            **csr_arrays("buyer_items", self.buyer_items_),
        }

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.items_ = Vocabulary(arrays["items"])
        self.buyers_ = Vocabulary(arrays["buyers"])
        self.kept_ = arrays["kept"]
        self.weights_ = arrays["weights"]
        self.buyer_items_ = csr_from_arrays("buyer_items", arrays)
