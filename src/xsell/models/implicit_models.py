"""Wrappers of the ``implicit`` library (0.7, CPU): ALS, BPR and item-item KNN.

Conventions of implicit >= 0.5 that these wrappers take care of:

- ``fit`` takes a user x item CSR (rows = buying centers); float32.
- ``recommend(userids, user_items[userids], N, filter_already_liked_items=...)`` needs the
  users' rows to filter owned items. Every wrapper keeps the positive part of the fitted
  matrix as ``buyer_items_`` (saved with the model), so ``exclude_owned`` needs no argument.
- Batch calls with arrays of user / item ids; filtered or missing slots come back with
  score ``-FLT_MAX`` or id -1 and are turned into padding here. implicit's KNN scorer also
  returns filtered (owned) items with score 0 when a buyer has too few candidates; they
  are dropped here.
- KNN ``similar_items`` reads the learned similarity rows directly (vectorised), since
  implicit loops over items in Python for it.
- BLAS is limited to one thread around ``fit`` (implicit's own threads do the work).
- Models are built with ``use_gpu=False``; a GPU model would be converted with ``to_cpu``.

Determinism: ALS and KNN give identical results for any ``num_threads``; BPR's Hogwild SGD
only does with ``num_threads=1`` (its config default).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from xsell.interactions.matrix import TrainingData
from xsell.models.base import C, Ranking, Recommender, csr_arrays, csr_from_arrays, drop_self, owned_part
from xsell.models.config import ALSConfig, BPRConfig, ItemKNNConfig
from xsell.parallel import available_cores
from xsell.sparse import cells_in, compact, drop_cells, sparse_top_n
from xsell.vocab import Vocabulary

if TYPE_CHECKING:
    from typing_extensions import Self

FactorConfig = TypeVar("FactorConfig", ALSConfig, BPRConfig)
"""Config of a matrix factorisation model (both have ``num_threads``)."""

_MISSING_SCORE = -np.finfo(np.float32).max / 2
"""implicit marks filtered / missing results with -FLT_MAX; anything below this is padding."""

_ROWS_PER_THREAD = 2_000
"""Buyers an item-KNN ranking needs before it takes a second thread (a thread costs a scorer)."""



def _to_cpu(model: Any) -> Any:
    """implicit GPU models expose ``to_cpu``; CPU ones are returned unchanged."""
    if type(model).__module__.startswith("implicit.gpu") and hasattr(model, "to_cpu"):
        return model.to_cpu()
    return model


def _clean(index: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """implicit output -> (-1 padding, NaN scores) for missing / filtered slots."""
    index = np.asarray(index, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    bad = (index < 0) | ~np.isfinite(scores) | (scores <= _MISSING_SCORE)
    return np.where(bad, -1, index), np.where(bad, np.nan, scores).astype(np.float32)


def _pad_columns(index: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad (n_q, m) results to n columns."""
    extra = n - index.shape[1]
    if extra <= 0:
        return index[:, :n], scores[:, :n]
    return (
        np.pad(index, ((0, 0), (0, extra)), constant_values=-1),
        np.pad(scores, ((0, 0), (0, extra)), constant_values=np.nan),
    )


class ImplicitRecommender(Recommender[C]):
    """Shared fit / recommend / save logic; subclasses build the implicit model."""

    name: ClassVar[str]
    _scorer: Any = None

    # -- subclass hooks ---------------------------------------------------------------------
    @abstractmethod
    def _new_model(self) -> Any:
        """A fresh, unfitted implicit model from the hyper-parameters."""

    @abstractmethod
    def _learned(self, model: Any) -> dict[str, Any]:
        """Learned attributes (names ending in ``_``) taken from a fitted implicit model."""

    @abstractmethod
    def _rebuild(self) -> Any:
        """An implicit model able to score, built from the learned attributes."""

    def _implicit(self) -> Any:
        """The scoring implicit model, rebuilt on first use after ``fit`` or ``load``."""
        if self._scorer is None:
            self._scorer = self._rebuild()
        return self._scorer

    @abstractmethod
    def _learned_arrays(self) -> dict[str, np.ndarray]:
        """Model-specific learned arrays to save."""

    @abstractmethod
    def _restore_learned(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of ``_learned_arrays``."""

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: TrainingData) -> Self:
        """Fit on ``data.buyer_items`` (n_buying_centers, n_items); BLAS limited to one thread."""
        buyer_items = data.buyer_items
        matrix = sp.csr_matrix(buyer_items.matrix, dtype=np.float32, copy=True)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's KNN weighting hands itself a COO matrix and warns about it
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model = self._new_model()
            model.fit(matrix, show_progress=False)
        model = _to_cpu(model)
        for key, value in self._learned(model).items():
            setattr(self, key, value)
        self.items_ = buyer_items.cols
        self.buyers_ = buyer_items.rows
        self.buyer_items_ = owned_part(matrix)
        self._scorer = None
        return self

    # -- predict --------------------------------------------------------------------------
    @abstractmethod
    def _recommend_rows(self, rows: np.ndarray, n: int, exclude_owned: bool) -> tuple[np.ndarray, np.ndarray]:
        """Item positions (len(rows), <= n), -1 padded, and scores for known buyer rows."""

    @abstractmethod
    def _similar_rows(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour positions (len(items), <= n) without the item itself, -1 padded."""

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` items per buyer in one batch; unknown buyers get padded rows."""
        self._check_fitted()
        buyers = [str(b) for b in buyers]
        rows = self.buyers_.index(buyers, missing="ignore")
        known = np.flatnonzero(rows >= 0)
        index = np.full((len(buyers), n), -1, dtype=np.int64)
        scores = np.full((len(buyers), n), np.nan, dtype=np.float32)
        n_call = min(n, len(self.items_))
        if len(known) and n_call > 0:
            ids, sc = self._recommend_rows(rows[known], n_call, exclude_owned)
            index[known], scores[known] = _pad_columns(ids, sc, n)
        return Ranking.from_indices(buyers, index, scores, self.items_)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """Top ``n`` neighbours per item (never the item itself); unknown items padded."""
        self._check_fitted()
        items = [str(i) for i in items]
        queries = self.items_.index(items, missing="ignore")
        known = np.flatnonzero(queries >= 0)
        index = np.full((len(items), n), -1, dtype=np.int64)
        scores = np.full((len(items), n), np.nan, dtype=np.float32)
        if len(known) and n > 0:
            ids, sc = self._similar_rows(queries[known], n)
            index[known], scores[known] = _pad_columns(ids, sc, n)
        return Ranking.from_indices(items, index, scores, self.items_)

    # -- persistence ----------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "items": self.items_.to_array(),
            "buyers": self.buyers_.to_array(),
            **csr_arrays("buyer_items", self.buyer_items_),
            **self._learned_arrays(),
        }

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.items_ = Vocabulary(arrays["items"])
        self.buyers_ = Vocabulary(arrays["buyers"])
        self.buyer_items_ = csr_from_arrays("buyer_items", arrays)
        self._restore_learned(arrays)
        self._scorer = None


class _FactorModel(ImplicitRecommender[FactorConfig]):
    """Matrix factorisation: learned ``user_factors_`` / ``item_factors_``; similar_items is
    the cosine of item factors (implicit's ``similar_items``)."""

    def _learned(self, model: Any) -> dict[str, Any]:
        return {
            "user_factors_": np.ascontiguousarray(model.user_factors),
            "item_factors_": np.ascontiguousarray(model.item_factors),
        }

    def _rebuild(self) -> Any:
        # any CPU factor model scores the same way (dot products, factor cosine): ALS and BPR
        from implicit.cpu.als import AlternatingLeastSquares

        scorer = AlternatingLeastSquares(factors=self.user_factors_.shape[1], num_threads=self.config.num_threads)
        scorer.user_factors = self.user_factors_
        scorer.item_factors = self.item_factors_
        return scorer

    def _recommend_rows(self, rows: np.ndarray, n: int, exclude_owned: bool) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self._implicit().recommend(
            rows.astype(np.int32), self.buyer_items_[rows], N=n, filter_already_liked_items=exclude_owned
        )
        return _clean(np.atleast_2d(ids), np.atleast_2d(scores))

    def _similar_rows(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self._implicit().similar_items(items.astype(np.int32), N=min(n + 1, len(self.items_)))
        ids, scores = _clean(np.atleast_2d(ids), np.atleast_2d(scores))
        return drop_self(items, ids, scores, n)

    def _learned_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore_learned(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]


class ALSRecommender(_FactorModel[ALSConfig]):
    """implicit's AlternatingLeastSquares (conjugate gradient), seeded by ``seed``."""

    name = "als"
    config_class = ALSConfig

    def _new_model(self) -> Any:
        from implicit.als import AlternatingLeastSquares

        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors, regularization=c.regularization, alpha=c.alpha, iterations=c.iterations,
            random_state=self.seed, num_threads=c.num_threads, use_gpu=False,
        )  # fmt: skip


class BPRRecommender(_FactorModel[BPRConfig]):
    """implicit's BayesianPersonalizedRanking; deterministic only with ``num_threads=1``."""

    name = "bpr"
    config_class = BPRConfig

    def _new_model(self) -> Any:
        from implicit.bpr import BayesianPersonalizedRanking

        c = self.config
        return BayesianPersonalizedRanking(
            factors=c.factors, learning_rate=c.learning_rate, regularization=c.regularization,
            iterations=c.iterations, random_state=self.seed, num_threads=c.num_threads, use_gpu=False,
        )  # fmt: skip


class ItemKNNRecommender(ImplicitRecommender[ItemKNNConfig]):
    """implicit's item-item nearest neighbours (cosine, BM25 or TF-IDF weighting).

    Learned ``similarity_``: (n_items, n_items) CSR with at most ``K`` neighbours per item
    (the diagonal included, as implicit computes it). A buyer's score for an item is the sum
    of similarities to the items it owns, weighted by its cells.
    """

    name = "item_knn"
    config_class = ItemKNNConfig

    def _new_model(self) -> Any:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

        c = self.config
        if c.similarity == "cosine":
            return CosineRecommender(K=c.K, num_threads=c.num_threads)
        if c.similarity == "tfidf":
            return TFIDFRecommender(K=c.K, num_threads=c.num_threads)
        return BM25Recommender(K=c.K, K1=c.bm25_k1, B=c.bm25_b, num_threads=c.num_threads)

    def _learned(self, model: Any) -> dict[str, Any]:
        return {"similarity_": sp.csr_matrix(model.similarity)}

    def _recommend_rows(self, rows: np.ndarray, n: int, exclude_owned: bool) -> tuple[np.ndarray, np.ndarray]:
        """implicit's scorer (C++ top-n of owned row @ similarity per buyer). With filtering it
        still returns owned items, scored 0, when a buyer has fewer than ``n`` candidates;
        those are dropped here."""
        ids, scores = _clean(*self._scorer_top_n(rows, n, exclude_owned))
        if not exclude_owned:
            return ids, scores
        return compact(ids, scores, cells_in(ids, self.buyer_items_[rows]), n)

    def _scorer_top_n(self, rows: np.ndarray, n: int, exclude_owned: bool) -> tuple[np.ndarray, np.ndarray]:
        """What implicit's batch ``ItemItemRecommender.recommend`` returns for the buyer ``rows``
        (ids -1 and scores -float32 max where a buyer has fewer than ``n``), by calling its scorer
        per buyer on the cells of ``buyer_items_`` in place: the scorer reads a row from
        ``indptr[0]`` to ``indptr[1]`` of the arrays it is given, so each call gets the buyer's
        two bounds, not the one-row sparse matrix implicit's loop slices per buyer in Python (at
        20k buyers half the ranking's time went to those slices). Same scorer, same cells in the
        same order: the same ids and scores (tests compare it with implicit's own call).

        The buyers are split over ``num_threads`` threads (0: the cores), each with a scorer of
        its own (implicit's scorer takes a lock around its C++ loop, which runs without the GIL)."""
        from implicit.nearest_neighbours import NearestNeighboursScorer

        matrix = self.buyer_items_
        indptr = np.asarray(matrix.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(matrix.indices, dtype=np.int32)
        data = np.ascontiguousarray(matrix.data)
        rows = np.asarray(rows, dtype=np.int64)
        ids = np.full((len(rows), n), -1, dtype=np.int64)
        scores = np.full((len(rows), n), -np.finfo(np.float32).max, dtype=np.float64)

        def score(part: slice, scorer: Any) -> None:
            bounds = np.zeros(2, dtype=np.int32)
            for i in range(part.start, part.stop):
                bounds[0], bounds[1] = indptr[rows[i]], indptr[rows[i] + 1]
                got, got_scores = scorer.recommend(bounds, indices, data, K=n, remove_own_likes=exclude_owned)
                k = min(len(got), n)
                ids[i, :k], scores[i, :k] = got[:k], got_scores[:k]

        threads = max(1, min(self.config.num_threads or available_cores(), len(rows) // _ROWS_PER_THREAD))
        if threads == 1:
            score(slice(0, len(rows)), self._implicit().scorer)
            return ids, scores
        bounds = np.linspace(0, len(rows), threads + 1).astype(np.int64)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="item-knn") as pool:
            done = [pool.submit(score, slice(int(lo), int(hi)), NearestNeighboursScorer(self.similarity_)) for lo, hi in zip(bounds[:-1], bounds[1:])]
            for future in done:
                future.result()
        return ids, scores

    def _rebuild(self) -> Any:
        from implicit.nearest_neighbours import ItemItemRecommender, NearestNeighboursScorer

        scorer = ItemItemRecommender(K=self.config.K, num_threads=self.config.num_threads)
        scorer.similarity = self.similarity_
        scorer.scorer = NearestNeighboursScorer(self.similarity_)
        return scorer

    def _similar_rows(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The item's row of ``similarity_`` without its diagonal cell, best first."""
        own = sp.csr_matrix(
            (np.ones(len(items), dtype=np.float32), (np.arange(len(items)), items)), shape=(len(items), len(self.items_))
        )
        return sparse_top_n(drop_cells(self.similarity_[items], own), n)

    def _learned_arrays(self) -> dict[str, np.ndarray]:
        return csr_arrays("similarity", self.similarity_)

    def _restore_learned(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = csr_from_arrays("similarity", arrays)
