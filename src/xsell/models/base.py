"""The one small interface every recommender implements (implicit / scikit-learn style).

- The constructor stores hyper-parameters only; ``fit`` sets learned attributes ending in ``_``.
- ``fit(buyer_items)`` takes an ``InteractionMatrix`` of shape (n_buying_centers, n_items).
- ``recommend`` and ``similar_items`` speak ids, not indices, and return a ``Ranking``.
- ``save(dir)`` / ``load(dir)`` use ``.npz`` + JSON only (no pickle).
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

from xsell.errors import ModelNotFittedError
from xsell.interactions.matrix import InteractionMatrix


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
