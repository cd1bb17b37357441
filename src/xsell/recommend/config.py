"""Config section ``recommend``: the suggestion tables and the business rules applied to them."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from xsell.configbase import ConfigPath, StrictModel


class RecommendConfig(StrictModel):
    """Cross-sell, up-sell and buying-center suggestion tables."""

    top_n_product: int = Field(10, ge=1)
    """Rows per (country, product) in ``cross_sell`` and ``up_sell``."""
    top_n_buying_center: int = Field(20, ge=1)
    """Rows per buying center in ``buying_center_suggestions`` (products new to it, in the champion's order)."""
    upsell_min_price_ratio: float = Field(1.1, gt=0)
    """Up-sell candidates cost at least this multiple of the product's typical price (must be > 1)."""
    upsell_max_price_ratio: float = Field(2.5, gt=0)
    """... and at most this multiple."""

    today: dt.date | None = None
    """Reference date of the business rules (discontinued_on, curated valid_until, time windows).
    ``null``: the last order date in the data + 1 day, so runs on historical data are deterministic."""
    candidates_per_source: int = Field(50, ge=1)
    """Candidates read per item (or buying center) from each source before blending; the rank-based
    normalisation maps rank r of a source to ``1 - (r - 1) / candidates_per_source``."""
    cross_sell_weights: dict[str, float] = Field(default_factory=lambda: {"rules": 1.0, "champion": 0.5})
    """Blend weight per cross-sell source: ``rules`` (association rules of the current baskets),
    ``champion`` (the item-to-item side of the model that ranks the buying centers; skipped when
    popularity is champion) or a model name of the newest ``xsell train`` run; others are unused."""
    upsell_weights: dict[str, float] = Field(default_factory=lambda: {"switch": 1.0, "champion": 0.3})
    """Blend weight per up-sell source: ``switch`` (observed upgrades), ``champion`` or a model name."""
    upsell_min_switchers: int = Field(2, ge=1)
    """A switch pair X -> Y counts as evidence when at least this many buying centers made it."""
    upsell_family_chars: int | None = Field(None, ge=1)
    """Compare only the first N characters of ``family`` for up-sell (a higher level of a
    hierarchical code such as SAP PRODH); ``null``: the whole family."""
    personal_model: str | None = None
    """Model (name under the models run dir) that ranks per buying center in ``xsell recommend``;
    ``null``: the evaluation's champion when it is among them, else the first of ease > rp3beta >
    als > item_knn > bpr > rules. Pipelines always rank with the registry's champion."""
    anchor_months: int = Field(24, ge=1)
    """Products a buying center bought within this many months explain its suggestions (the
    cross-/up-sell link from them, and ``kind``) and bring in curated pins."""
    popularity_months: int = Field(12, ge=1)
    """Window of the popularity fallback for buying centers without history."""
    assortment: Literal["auto", "master", "inferred"] = "auto"
    """Country assortment: ``master`` uses the product master's ``countries`` (empty = everywhere),
    ``inferred`` keeps products sold in the country within ``assortment_months``; ``auto`` uses the
    master when any product has ``countries`` filled in, else infers."""
    assortment_months: int = Field(24, ge=1)
    """Window of the inferred assortment, and of the (country, product) pairs that get country rows."""
    exclude_families: list[str] = Field(default_factory=list)
    """Product families never recommended (e.g. spare parts sold only through service)."""
    block_list: ConfigPath | None = None
    """CSV of product or variant ids never recommended: one id per line, or a ``product_id`` column."""
    curated_links: ConfigPath | None = None
    """``curated_links.csv`` from product management (product_id, rec_product_id, kind, action
    pin|block, note, valid_until); overrides learned links. ``xsell links review`` writes a template."""

    @model_validator(mode="after")
    def _check_price_window(self) -> RecommendConfig:
        if self.upsell_min_price_ratio <= 1.0:
            raise ValueError(
                f"recommend.upsell_min_price_ratio must be > 1 (an up-sell costs more), got {self.upsell_min_price_ratio}"
            )
        if self.upsell_max_price_ratio < self.upsell_min_price_ratio:
            raise ValueError(
                f"recommend.upsell_max_price_ratio ({self.upsell_max_price_ratio}) is below "
                f"upsell_min_price_ratio ({self.upsell_min_price_ratio})"
            )
        return self


CHAMPION_SOURCE = "champion"
"""Blend source name standing for the model that ranks the buying centers."""


def similarity_sources(cfg: RecommendConfig) -> set[str]:
    """Model names the cross-/up-sell blends read besides ``rules``, ``switch`` and ``champion``."""
    from xsell.models.config import MODEL_NAMES

    return (set(cfg.cross_sell_weights) | set(cfg.upsell_weights)) & set(MODEL_NAMES)
