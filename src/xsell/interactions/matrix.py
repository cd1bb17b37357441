"""Sparse matrices with their axes: ``InteractionMatrix`` and the ``Interactions`` bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.vocab import Vocabulary


@dataclass(frozen=True)
class InteractionMatrix:
    """A CSR matrix of shape ``(len(rows), len(cols))`` with one vocabulary per axis."""

    matrix: sp.csr_matrix
    rows: Vocabulary
    cols: Vocabulary

    def __post_init__(self) -> None:
        if not sp.issparse(self.matrix):
            raise TypeError("matrix must be a scipy sparse matrix")
        if self.matrix.shape != (len(self.rows), len(self.cols)):
            raise ValueError(
                f"matrix shape {self.matrix.shape} does not match vocabularies ({len(self.rows)}, {len(self.cols)})"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def save(self, path: str | Path) -> None:
        """Write to one ``.npz`` (CSR arrays + both vocabularies; no pickle)."""
        m = sp.csr_matrix(self.matrix)
        with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
            np.savez(
                fh,
                data=m.data,
                indices=m.indices,
                indptr=m.indptr,
                shape=np.asarray(m.shape, dtype=np.int64),
                rows=self.rows.to_array(),
                cols=self.cols.to_array(),
            )

    @classmethod
    def load(cls, path: str | Path) -> InteractionMatrix:
        with np.load(path, allow_pickle=False) as z:
            m = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(m, Vocabulary(z["rows"]), Vocabulary(z["cols"]))


@dataclass(frozen=True)
class Interactions:
    """Everything ``build_interactions`` produces.

    - ``buyer_variants``: (n_buying_centers, n_variants) weighted, net of returns; custom-made
      and low-support variants folded into ``<product_id>`` columns.
    - ``buyer_products``: (n_buying_centers, n_products) weighted, net of returns.
    - ``order_products``: binary (n_baskets, n_products) for basket mining.
    - ``variant_product``: product id of every ``buyer_variants`` column (object array aligned
      to ``buyer_variants.cols``). A column whose id equals its product id is product level
      (custom-made and low-support variants folded into their product).

    ``buyer_variants`` and ``variant_product`` are None when built without variants
    (``build_interactions(..., variants=False)``: product-level training needs neither).
    """

    buyer_variants: InteractionMatrix | None
    buyer_products: InteractionMatrix
    order_products: InteractionMatrix
    variant_product: np.ndarray | None = field(default=None, compare=False)

    @property
    def product_level_columns(self) -> np.ndarray:
        """Boolean mask over ``buyer_variants.cols``: True where the column is a product."""
        if self.variant_product is None or self.buyer_variants is None:
            raise ValueError("variant_product is not set on this Interactions bundle")
        return self.buyer_variants.cols.ids == self.variant_product


def needs_variants(level: str) -> bool:
    """Whether models trained at ``level`` read the buyer x variant matrix (``TrainingData.buyer_items``):
    every level but ``product``."""
    return level != "product"


@dataclass(frozen=True)
class TrainingData:
    """What every model's ``fit`` receives; each model takes what it needs.

    - ``interactions``: the matrices of ``build_interactions``.
    - ``level``: which buyer x item matrix is the models' item axis (``buyer_items``).
    - ``buyer_country`` / ``buyer_segment``: buying_center_id -> country / customer segment
      (``xsell.interactions.build.buyer_countries`` / ``buyer_segments``); ``None`` when unknown.
    """

    interactions: Interactions
    level: str = "product"
    buyer_country: pd.Series | None = None
    buyer_segment: pd.Series | None = None

    @property
    def buyer_items(self) -> InteractionMatrix:
        """(n_buying_centers, n_items) at ``level``: ``buyer_products`` or ``buyer_variants``."""
        if not needs_variants(self.level):
            return self.interactions.buyer_products
        if self.interactions.buyer_variants is None:
            raise ValueError(f"level {self.level!r} needs the variant matrix; these interactions were built without variants")
        return self.interactions.buyer_variants

    @property
    def baskets(self) -> InteractionMatrix:
        """(n_baskets, n_products) binary: ``order_products``."""
        return self.interactions.order_products

    @classmethod
    def of(cls, buyer_items: InteractionMatrix, **fields: pd.Series | None) -> TrainingData:
        """Training data made of one buyer x item matrix (its rows as baskets too): for tests and
        models fitted outside the pipeline."""
        baskets = InteractionMatrix(
            sp.csr_matrix((buyer_items.matrix > 0).astype(np.float32)), buyer_items.rows, buyer_items.cols
        )
        bundle = Interactions(buyer_items, buyer_items, baskets, np.asarray(buyer_items.cols.ids, dtype=object))
        return cls(bundle, "product", **fields)
