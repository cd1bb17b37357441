"""Config sections ``rules`` and ``models``, and the one list of model names.

Every model holds its typed config (``ALSRecommender(ALSConfig(...))``, LensKit style), so
each hyper-parameter's default is written exactly once: here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator

from xsell.configbase import ConfigPath, StrictModel
from xsell.interactions.config import InteractionsConfig

ModelName = Literal[
    "popularity", "popularity_country", "popularity_segment", "rules", "als", "bpr", "item_knn", "ease", "rp3beta", "blend",
]
"""Every model the registry knows (``xsell.models.registry.MODELS``), the values of ``models.enabled``."""

MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
"""``ModelName`` as a tuple, in registry order."""

BASELINES: tuple[str, ...] = ("popularity", "popularity_country", "popularity_segment")
"""The popularity baselines: always evaluated, always candidates for champion, and what every
learned model is compared with."""

BLEND = "blend"
"""The tuned blend (``xsell.models.blend``): built by the evaluation from the other candidates."""

BlendRole = Literal["personal", "anchor", "prior"]
"""The roles of the blend's components (``xsell.models.blend.ROLES``, in blend order)."""

PERSONAL_PREFERENCE: tuple[ModelName, ...] = ("ease", "rp3beta", "als", "item_knn", "bpr", "rules")
"""Learned models in the order they are preferred as the personal ranking when nothing measured
says otherwise (no evaluation yet)."""


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


PopularityScope = Literal["global", "country", "segment"]
"""Whom a popularity baseline ranks alike (``PopularityConfig.scope``)."""


class PopularityConfig(StrictModel):
    """Popularity baseline: most bought (distinct buying centers) first."""

    scope: PopularityScope = "global"
    """Rank within the buying center's country or customer segment (the global order fills the
    rest); ``global`` ranks everybody alike. Registered as ``popularity``, ``popularity_country``
    and ``popularity_segment``."""


class ALSConfig(StrictModel):
    """implicit's AlternatingLeastSquares."""

    factors: int = Field(64, ge=1, le=4096)
    """Latent factors."""
    regularization: float = Field(0.05, ge=0.0)
    """L2 regularization."""
    alpha: float = Field(2.0, gt=0.0)
    """Confidence scaling of the implicit feedback."""
    iterations: int = Field(15, ge=1, le=1000)
    """ALS sweeps."""
    num_threads: int = Field(0, ge=0)
    """implicit threads for fit and batch recommend (0 = all cores); results do not depend on it."""


class BPRConfig(StrictModel):
    """implicit's BayesianPersonalizedRanking."""

    factors: int = Field(64, ge=1, le=4096)
    """Latent factors."""
    learning_rate: float = Field(0.05, gt=0.0)
    """SGD learning rate."""
    regularization: float = Field(0.01, ge=0.0)
    """L2 regularization."""
    iterations: int = Field(100, ge=1, le=10000)
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
    """Threads of the all-pairs neighbour search (implicit) and of ranking the buyers (0 = all cores)."""


class EASEConfig(StrictModel):
    """EASE (Steck 2019): closed-form item x item weights ``B = I - P / diag(P)``, ``P = (X'X + l2 I)^-1``."""

    l2: float = Field(200.0, gt=0.0)
    """L2 penalty ``lambda`` on the weights (larger: closer to popularity-weighted co-occurrence)."""
    max_items: int = Field(5_000, ge=2)
    """EASE inverts a dense (items x items) matrix: only this many most bought items get weights
    (memory ``8 * max_items**2`` bytes, time ~``max_items**3``: about 10 s at 5,000 on one core);
    the others are neither scored nor used as evidence (logged); in a blend other components
    rank them."""
    num_threads: int = Field(0, ge=0)
    """Threads of the item Gram product and BLAS threads of the inversion (0: every core for the
    product, the BLAS library's own setting for the inversion, e.g. ``OPENBLAS_NUM_THREADS``)."""


class RP3betaConfig(StrictModel):
    """RP3beta (Paudel et al. 2016): 3-step random walk item -> buyer -> item, popularity penalised."""

    alpha: float = Field(1.0, gt=0.0)
    """Exponent of the transition probabilities (1 = plain random walk)."""
    beta: float = Field(0.5, ge=0.0)
    """Popularity penalty: the walk's arrival probability at item j is divided by ``degree(j) ** beta``."""
    K: int = Field(100, ge=1)
    """Neighbours kept per item."""


# Typed default factories (a lambda's dict or list literal would be typed with plain str keys).
def _blend_weights() -> dict[BlendRole, float]:
    return {"personal": 1.0, "anchor": 0.5, "prior": 0.5}


class BlendConfig(StrictModel):
    """The tuned blend of a personal model, anchor-based cross-sell and a popularity prior.

    Written by the evaluation (weights chosen on the validation window); the defaults here are
    the starting point of that search and what ``xsell train`` uses without an evaluation."""

    personal: ModelName | None = None
    """Learned model that ranks per buying center (``null``: the best one on validation)."""
    anchor: ModelName | None = "rules"
    """Item-to-item model whose links from the products a buying center bought are scored
    (``null``: none)."""
    prior: Literal["popularity", "popularity_country", "popularity_segment"] = "popularity_country"
    """Popularity baseline used as the prior."""
    weights: dict[BlendRole, float] = Field(default_factory=_blend_weights)
    """Weight of each component's rank-normalised score."""
    prior_shrinkage: float | None = Field(None, ge=0.0)
    """History-dependent prior: a buying center with ``h`` bought products weighs the prior by
    ``s / (s + h)`` (``s`` = this value), so thin histories lean on it and rich ones on their own
    signal; ``null``: a constant prior weight."""
    depth: int = Field(100, ge=1)
    """Candidates read from each component per buying center."""

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, weights: dict[BlendRole, float]) -> dict[BlendRole, float]:
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise ValueError(f"blend weights must be >= 0 and not all 0, got {weights}")
        return weights


def _enabled_models() -> list[ModelName]:
    return ["popularity", "popularity_country", "popularity_segment", "rules", "item_knn", "ease", "rp3beta", "blend"]


class ModelsConfig(StrictModel):
    """Which recommenders ``xsell train`` fits, at which level, and where they are saved."""

    dir: ConfigPath = Path("models")
    """Local artifact folder; each training run writes ``<dir>/<run>/``."""
    level: Literal["product", "variant"] = "product"
    """Item axis of the models: products, or variants (custom-made roll up to the product)."""
    seed: int = 42
    """Random seed of every model: same config and data give the same tables."""
    enabled: list[ModelName] = Field(default_factory=_enabled_models)
    """Models to train and evaluate (the popularity baselines are always evaluated). ``bpr`` and
    ``als`` are available but off by default: BPR lost to popularity on every history measured;
    ALS was never champion, blend component or links model on any (five public and synthetic
    histories, the medium and large demo) and is the slowest configured fit at 20M lines."""
    als: ALSConfig = Field(default_factory=ALSConfig)
    """Hyper-parameters of ``als``."""
    bpr: BPRConfig = Field(default_factory=BPRConfig)
    """Hyper-parameters of ``bpr``."""
    item_knn: ItemKNNConfig = Field(default_factory=ItemKNNConfig)
    """Hyper-parameters of ``item_knn``."""
    ease: EASEConfig = Field(default_factory=EASEConfig)
    """Hyper-parameters of ``ease``."""
    rp3beta: RP3betaConfig = Field(default_factory=RP3betaConfig)
    """Hyper-parameters of ``rp3beta``."""
    blend: BlendConfig = Field(default_factory=BlendConfig)
    """Components and weights of ``blend``."""


class LearningConfig(StrictModel):
    """The sections a model's training reads, as one view of the root config (same dotted keys:
    ``interactions.*``, ``models.*``, ``rules.*``), so a tuned configuration is one object."""

    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)
    """Matrix construction."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Recommenders."""
    rules: RulesConfig = Field(default_factory=RulesConfig)
    """Association rules."""
