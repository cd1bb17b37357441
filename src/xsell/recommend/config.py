"""Config section ``recommend``: the suggestion tables and the business rules applied to them."""

from __future__ import annotations

from pydantic import Field

from xsell.configbase import StrictModel


class RecommendConfig(StrictModel):
    """Cross-sell, up-sell and buying-center suggestion tables."""

    top_n_product: int = Field(10, ge=1)
    """Rows per (country, product) in ``cross_sell`` and ``up_sell``."""
    top_n_buying_center: int = Field(20, ge=1)
    """Rows per buying center in ``buying_center_suggestions``."""
    upsell_min_price_ratio: float = Field(1.1, gt=0)
    """Up-sell candidates cost at least this multiple of the product's typical price."""
    upsell_max_price_ratio: float = Field(2.5, gt=0)
    """... and at most this multiple."""
