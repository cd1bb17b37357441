"""Config sections ``rules`` and ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from xsell.configbase import ConfigPath, StrictModel


class RulesConfig(StrictModel):
    """Pairwise association rules over ``order_products``."""

    min_support_count: int = Field(5, ge=1)
    """Keep product pairs that occur together in at least this many baskets."""
    metric: Literal["lift", "confidence", "leverage", "conviction", "damped_lift"] = "damped_lift"
    """Metric that ranks consequents per antecedent."""
    top_k: int = Field(20, ge=1)
    """Consequents kept per antecedent."""
    lift_shrinkage: float = Field(10.0, ge=0.0)
    """Pseudo-count of ``damped_lift``: lift shrunk towards 1 by count / (count + shrinkage)."""


class ALSConfig(StrictModel):
    """implicit's AlternatingLeastSquares."""

    factors: int = Field(64, ge=1)
    """Latent factors."""
    regularization: float = Field(0.05, ge=0.0)
    """L2 regularization."""
    alpha: float = Field(2.0, gt=0.0)
    """Confidence scaling of the implicit feedback."""
    iterations: int = Field(15, ge=1)
    """ALS sweeps."""
    num_threads: int = Field(0, ge=0)
    """implicit threads for fit and batch recommend (0 = all cores); results do not depend on it."""


class BPRConfig(StrictModel):
    """implicit's BayesianPersonalizedRanking."""

    factors: int = Field(64, ge=1)
    """Latent factors."""
    learning_rate: float = Field(0.05, gt=0.0)
    """SGD learning rate."""
    regularization: float = Field(0.01, ge=0.0)
    """L2 regularization."""
    iterations: int = Field(100, ge=1)
    """Epochs."""
    num_threads: int = Field(1, ge=0)
    """implicit threads (0 = all cores). Keep 1 for reproducible factors: with more threads
    the lock-free (Hogwild) SGD updates interleave differently on every run."""


class ItemKNNConfig(StrictModel):
    """implicit's item-item nearest neighbours."""

    similarity: Literal["cosine", "bm25", "tfidf"] = "cosine"
    """Neighbourhood similarity."""
    K: int = Field(50, ge=1)
    """Neighbours kept per item."""
    bm25_k1: float = 1.2
    """BM25 k1 (``similarity: bm25`` only)."""
    bm25_b: float = 0.75
    """BM25 b (``similarity: bm25`` only)."""
    num_threads: int = Field(0, ge=0)
    """implicit threads for the all-pairs neighbour search (0 = all cores)."""


class PopularityConfig(StrictModel):
    """Popularity baseline."""

    by_country: bool = False
    """Make the ``popularity`` entry rank within the buying center's country too.
    ``popularity_country`` is always per country; keep this false so ``popularity`` stays
    the global baseline."""


class ModelsConfig(StrictModel):
    """Which recommenders ``xsell train`` fits, at which level, and where they are saved."""

    dir: ConfigPath = Path("models")
    """Local artifact folder; each training run writes ``<dir>/<run>/``."""
    level: Literal["product", "variant"] = "product"
    """Item axis of the models: products, or variants (custom-made roll up to the product)."""
    seed: int = 42
    """Random seed of every model: same config and data give the same tables."""
    enabled: list[Literal["popularity", "popularity_country", "rules", "als", "bpr", "item_knn"]] = Field(
        default_factory=lambda: ["popularity", "popularity_country", "rules", "als", "bpr", "item_knn"]
    )
    """Models to train."""
    als: ALSConfig = Field(default_factory=ALSConfig)
    """Hyper-parameters of ``als``."""
    bpr: BPRConfig = Field(default_factory=BPRConfig)
    """Hyper-parameters of ``bpr``."""
    item_knn: ItemKNNConfig = Field(default_factory=ItemKNNConfig)
    """Hyper-parameters of ``item_knn``."""
    popularity: PopularityConfig = Field(default_factory=PopularityConfig)
    """Options of the ``popularity`` baseline."""
