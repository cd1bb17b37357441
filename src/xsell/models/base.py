"""The one small interface every recommender implements (implicit / scikit-learn / LensKit style).

- The constructor stores the model's typed config (``ALSRecommender(ALSConfig(factors=32))``;
  keyword arguments override single fields: ``ALSRecommender(factors=32)``) and the random
  ``seed``; ``fit`` sets learned attributes ending in ``_``.
- ``fit(data)`` takes one ``TrainingData`` (interactions, baskets, buyer countries / segments);
  each model takes what it needs from it.
- ``recommend`` and ``similar_items`` speak ids, not indices, and return a ``Ranking``.
- ``save(dir)`` / ``load(dir)`` use ``.npz`` + JSON only (no pickle);
  ``xsell.models.registry.load_model`` loads any saved model by its saved name.
- Fitted models keep their item axis as ``items_`` (a ``Vocabulary``); ``similarity_table``
  uses it to list every item's neighbours.
- "Owned" means a positive cell of the fitted (n_buying_centers, n_items) matrix; models keep
  that matrix (``buyer_items_``) so ``exclude_owned`` needs no extra argument.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.configbase import StrictModel
from xsell.errors import ModelNotFittedError
from xsell.interactions.matrix import TrainingData
from xsell.io.writers import atomic_write
from xsell.sparse import compact
from xsell.vocab import Vocabulary

if TYPE_CHECKING:
    from typing_extensions import Self

C = TypeVar("C", bound=StrictModel)


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
        cls, queries: Sequence[str] | np.ndarray, index: np.ndarray, scores: np.ndarray, items: Vocabulary
    ) -> Ranking:
        """Build from item positions (n_queries, n); negative positions become padding."""
        index = np.asarray(index, dtype=np.int64)
        pad = index < 0
        ids = np.full(index.shape, None, dtype=object)
        ids[~pad] = items.id_of(index[~pad])
        out_scores = np.asarray(scores, dtype=np.float32).copy()
        out_scores[pad] = np.nan
        return cls(np.asarray(list(queries), dtype=object), ids, out_scores)


def drop_self(queries: np.ndarray, index: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own position (``queries`` (n_q,)) from its row of neighbours."""
    return compact(index, scores, np.asarray(index) == np.asarray(queries, dtype=np.int64)[:, None], n)


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


class Recommender(ABC, Generic[C]):
    """Base class of all recommenders; ``C`` is the model's config section."""

    name: ClassVar[str]
    """Registry key, e.g. ``als``; also the ``source`` written into tables."""
    config_class: type[C]  # set on each model class (ClassVar cannot hold the type variable)
    """The typed config section the model holds (defaults live there, once)."""

    def __init__(self, config: C | None = None, *, seed: int = 42, **fields: Any):
        base = config if config is not None else self.config_class()
        if fields:
            base = self.config_class.model_validate({**base.model_dump(), **fields})
        self.config: C = base
        self.seed = int(seed)

    # -- to implement -------------------------------------------------------------------
    @abstractmethod
    def fit(self, data: TrainingData) -> Self:
        """Learn from ``data`` (each model reads the parts it needs); return ``self``."""

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
        """The config's fields plus ``seed`` (flat, for tracking)."""
        return {**self.config.model_dump(mode="json"), "seed": self.seed}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

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
            queries = list(vocab.ids)
        else:
            queries = list(items)
        ranking = self.similar_items(queries, n=n)
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
        """Write ``model.json`` + ``arrays.npz`` into ``directory`` (created), each atomically."""
        self._check_fitted()
        directory = Path(directory)
        arrays = self._arrays()
        atomic_write(directory / "arrays.npz", lambda tmp: _savez(tmp, arrays))
        meta = {
            "name": self.name, "class": type(self).__name__, "config": self.config.model_dump(mode="json"),
            "seed": self.seed, "meta": self._meta(),
        }  # fmt: skip
        atomic_write(directory / "model.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str)))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Load a model of this class saved by ``save`` (any class: ``registry.load_model``)."""
        directory = Path(directory)
        meta = read_model_meta(directory)
        if meta["name"] not in cls._names():
            raise ValueError(f"{directory} holds a {meta['name']!r} model, not {cls.__name__}")
        model = cls._from_meta(meta)
        with np.load(directory / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        model._restore(arrays, meta.get("meta", {}))
        model._loaded_from(directory)
        return model

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        """Registry names this class is saved under."""
        return (cls.name,)

    @classmethod
    def _from_meta(cls, meta: dict[str, Any]) -> Self:
        """An unfitted instance with the saved config (models saved before configs were held
        kept flat ``params`` with ``random_state``: read those too)."""
        if "config" in meta:
            return cls(cls.config_class.model_validate(meta["config"]), seed=meta.get("seed", 42))
        params = dict(meta.get("params", {}))
        seed = params.pop("random_state", 42)
        known = {k: v for k, v in params.items() if k in cls.config_class.model_fields}
        return cls(cls.config_class.model_validate(known), seed=seed)

    def _loaded_from(self, directory: Path) -> None:
        """Hook after ``_restore`` (composite models load their parts from ``directory``)."""


def read_model_meta(directory: str | Path) -> dict[str, Any]:
    """``model.json`` of a saved model directory."""
    path = Path(directory) / "model.json"
    if not path.is_file():
        raise FileNotFoundError(f"no saved model in {directory} (model.json missing)")
    return json.loads(path.read_text())


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a path
        # numpy's stub types **kwds like its allow_pickle keyword (bool): our keys are array names
        np.savez(fh, **arrays)  # type: ignore[arg-type]
