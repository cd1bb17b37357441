"""The one small interface every recommender implements (implicit / scikit-learn style).

- The constructor stores hyper-parameters only; ``fit`` sets learned attributes ending in ``_``.
- ``fit(buyer_items)`` takes an ``InteractionMatrix`` of shape (n_buying_centers, n_items).
- ``recommend`` and ``similar_items`` speak ids, not indices, and return a ``Ranking``.
- ``save(dir)`` / ``load(dir)`` use ``.npz`` + JSON only (no pickle).
- Fitted models keep their item axis as ``items_`` (a ``Vocabulary``); ``similarity_table``
  uses it to list every item's neighbours.
- "Owned" means a positive cell of the fitted (n_buying_centers, n_items) matrix; models keep
  that matrix (``buyer_items_``) so ``exclude_owned`` needs no extra argument.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.errors import ModelNotFittedError
from xsell.interactions.matrix import InteractionMatrix
from xsell.vocab import Vocabulary


@dataclass(frozen=True)
class Ranking:
    """Top-n ids and scores per query (buyer or item), best first.

    ``ids`` is an object array of shape (n_queries, n); ``scores`` float32 of the same
    shape. Rows with fewer than n results are padded with id ``None`` and score NaN.
    """

    queries: np.ndarray
    ids: np.ndarray
    scores: np.ndarray

    def to_frame(self, query_name: str = "query", item_name: str = "item_id") -> pd.DataFrame:
        """Long form: ``query_name, rank (1-based), item_name, score``; padding dropped."""
        n_q, n = self.ids.shape
        frame = pd.DataFrame(
            {
                query_name: np.repeat(self.queries, n),
                "rank": np.tile(np.arange(1, n + 1), n_q),
                item_name: self.ids.ravel(),
                "score": self.scores.ravel(),
            }
        )
        return frame[frame[item_name].notna()].reset_index(drop=True)

    @classmethod
    def from_indices(
        cls, queries: Sequence[str], index: np.ndarray, scores: np.ndarray, items: Vocabulary
    ) -> Ranking:
        """Build from item positions (n_queries, n); negative positions become padding."""
        index = np.asarray(index, dtype=np.int64)
        pad = index < 0
        ids = np.full(index.shape, None, dtype=object)
        ids[~pad] = items.id_of(index[~pad])
        out_scores = np.asarray(scores, dtype=np.float32).copy()
        out_scores[pad] = np.nan
        return cls(np.asarray(list(queries), dtype=object), ids, out_scores)


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


def drop_self(queries: np.ndarray, index: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own position (``queries`` (n_q,)) from its row of neighbours."""
    return compact(index, scores, np.asarray(index) == np.asarray(queries, dtype=np.int64)[:, None], n)


def owned_cells(index: np.ndarray, owned: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_q, m): is ``index[q, j]`` a stored cell of row ``q`` of ``owned`` (n_q, n_items)?"""
    n_items = owned.shape[1]
    row_keys = np.repeat(np.arange(owned.shape[0], dtype=np.int64), np.diff(owned.indptr)) * n_items
    keys = np.arange(index.shape[0], dtype=np.int64)[:, None] * n_items + np.asarray(index, dtype=np.int64)
    return np.isin(keys, row_keys + owned.indices) & (np.asarray(index) >= 0)


def csr_arrays(prefix: str, matrix: sp.spmatrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays ``<prefix>_data/_indices/_indptr/_shape`` for ``np.savez``."""
    m = sp.csr_matrix(matrix)
    return {
        f"{prefix}_data": m.data,
        f"{prefix}_indices": m.indices,
        f"{prefix}_indptr": m.indptr,
        f"{prefix}_shape": np.asarray(m.shape, dtype=np.int64),
    }


def csr_from_arrays(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    """Inverse of ``csr_arrays``."""
    shape = tuple(int(x) for x in arrays[f"{prefix}_shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]), shape=shape
    )


def owned_part(matrix: sp.spmatrix) -> sp.csr_matrix:
    """The positive cells of ``matrix`` (what a buying center "owns"), CSR with sorted indices."""
    m = sp.csr_matrix(matrix, copy=True)
    m.data[m.data < 0] = 0
    m.eliminate_zeros()
    m.sort_indices()
    return m


class Recommender(ABC):
    """Base class of all recommenders."""

    name: ClassVar[str]
    """Registry key, e.g. ``als``; also the ``source`` written into tables."""

    # -- to implement -------------------------------------------------------------------
    @abstractmethod
    def fit(self, buyer_items: InteractionMatrix, **context: Any) -> Recommender:
        """Learn from a (n_buying_centers, n_items) matrix; return ``self``."""

    @abstractmethod
    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` items per buyer id. Unknown buyers get a padded (empty) row unless the
        model can rank for anyone (popularity)."""

    @abstractmethod
    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """Top ``n`` other items per item id (never the item itself)."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (names without the trailing ``_`` are fine)."""

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Set learned attributes from what ``_arrays`` saved."""

    # -- shared ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, read back from same-named attributes (scikit-learn style)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names}

    def similarity_table(self, items: Sequence[str] | None = None, n: int = 20) -> pd.DataFrame:
        """Item-to-item table ``item_id, rank, rec_item_id, score`` from ``similar_items``.

        ``items`` defaults to every item the model was fitted on (``items_``). Padding is
        dropped, so an item with fewer than ``n`` neighbours has fewer rows.
        """
        self._check_fitted()
        if items is None:
            vocab = getattr(self, "items_", None)
            if not isinstance(vocab, Vocabulary):
                raise TypeError(f"{type(self).__name__} has no items_ vocabulary; pass items explicitly")
            items = vocab.ids
        ranking = self.similar_items(list(items), n=n)
        return ranking.to_frame(query_name="item_id", item_name="rec_item_id")

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ModelNotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def _meta(self) -> dict[str, Any]:
        """Extra JSON metadata to save beside the arrays."""
        return {}

    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` + ``arrays.npz`` into ``directory`` (created)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / "arrays.npz", **self._arrays())
        meta = {"name": self.name, "class": type(self).__name__, "params": self.get_params(), "meta": self._meta()}
        (directory / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load a model saved by ``save``; ``Recommender.load`` dispatches on the saved name."""
        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text())
        target = cls
        if cls is Recommender or getattr(cls, "name", None) != meta["name"]:
            from xsell.models.registry import model_class

            target = model_class(meta["name"])
        model = target(**meta["params"])
        with np.load(directory / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        model._restore(arrays, meta.get("meta", {}))
        return model
