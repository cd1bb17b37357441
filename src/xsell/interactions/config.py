"""Config section ``interactions``: how order lines become sparse matrices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xsell.configbase import StrictModel


class InteractionsConfig(StrictModel):
    """Weighting and basket construction for the buying-center x item matrices."""

    weighting: Literal["binary", "order_count", "log_quantity", "net_value"] = "binary"
    """Cell value of buyer x item matrices before optional recency and BM25/TF-IDF. ``binary``
    (bought, net of returns) ranked best on cross-sell NDCG@10 on both the demo data and Online
    Retail; ``order_count`` / ``net_value`` let heavy repeat buying dominate."""
    recency_half_life_days: float | None = Field(180.0, gt=0.0)
    """Exponential time decay of each line's weight; ``null`` disables it."""
    scaling: Literal["none", "bm25", "tfidf"] = "none"
    """Optional re-weighting of the whole matrix."""
    basket_window_days: int = Field(0, ge=0)
    """0: a basket is one order. N>0: a basket is all orders of a buying center within N days."""
    min_variant_support: int = Field(3, ge=1)
    """Variants bought by fewer buying centers than this fall back to their product."""
    bm25_k1: float = Field(100.0, gt=0.0)
    """BM25 saturation ``K1`` (``scaling: bm25`` only; implicit's ``bm25_weight`` default)."""
    bm25_b: float = Field(0.8, ge=0.0, le=1.0)
    """BM25 length normalisation ``B`` (``scaling: bm25`` only; implicit's default)."""
