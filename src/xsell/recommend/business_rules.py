"""Business rules applied last to every table; each rule logs how many rows it removed.

Rules on the recommended product / variant of a row (in this order, a row is counted once, by
the first rule that removes it):

- ``discontinued``: the product has no active standard variant (status ``discontinued`` or
  ``discontinued_on <= today``), or the chosen variant is discontinued.
- ``not_in_assortment``: the product is not sold in the row's country (see ``RecommendContext``).
- ``custom_made``: the product exists only as custom-made variants, or the variant is custom-made.
- ``excluded_family``: the product's family is in ``recommend.exclude_families``.
- ``block_list``: the product or variant id is on ``recommend.block_list``.
- ``no_orderable_variant``: no standard, active variant is sold in the row's country.

Table-specific rules (``self_or_variant``, ``same_family``, ``curated_block``,
``upsell_price_window``, ``upsell_not_higher_price``, ``upsell_cycle``, ``regular_purchase``) use
``drop_rows`` so they are counted and logged the same way.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from xsell.recommend.codes import Coded, pair_map
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext

log = logging.getLogger(__name__)

BUSINESS_RULES: tuple[str, ...] = (
    "discontinued",
    "not_in_assortment",
    "custom_made",
    "excluded_family",
    "block_list",
    "no_orderable_variant",
)


def count_rows(mask: np.ndarray | pd.Series, rule: str, table: str, counts: dict[str, int]) -> np.ndarray:
    """Add the number of rows where ``mask`` holds to ``counts[rule]``, log it; return ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    counts[rule] = counts.get(rule, 0) + n
    log.info("%s: rule %s removed %d row(s)", table, rule, n)
    return mask


def drop_rows(frame: pd.DataFrame, mask: np.ndarray | pd.Series, rule: str, table: str, counts: dict[str, int]) -> pd.DataFrame:
    """Remove rows where ``mask`` holds, add the number to ``counts[rule]`` and log it."""
    return frame.loc[~count_rows(mask, rule, table, counts)]


def blocked_pairs(frame: pd.DataFrame, blocks: pd.DataFrame, product_col: str = "product_id", rec_col: str = "rec_product_id") -> np.ndarray:
    """True where (``product_col``, ``rec_col``) is a blocked (product_id, rec_product_id) pair."""
    if blocks.empty or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    pairs = pd.MultiIndex.from_arrays([frame[product_col].astype(str), frame[rec_col].astype(str)])
    return pairs.isin(pd.MultiIndex.from_frame(blocks[["product_id", "rec_product_id"]].astype(str)))


def apply_business_rules(
    frame: pd.DataFrame,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    *,
    table: str,
    product_col: str = "rec_product_id",
    variant_col: str = "rec_variant_id",
    counts: dict[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply ``BUSINESS_RULES`` to rows with ``country``, ``product_col`` and ``variant_col``.

    Returns the kept rows and ``counts`` (rule -> rows removed) updated in place.
    """
    counts = {} if counts is None else counts
    keep = business_rules_keep(
        ctx, cfg, Coded.of(frame["country"]), Coded.of(frame[product_col]), Coded.of(frame[variant_col]), table=table, counts=counts
    )
    return frame.loc[keep], counts


def business_rules_keep(
    ctx: RecommendContext, cfg: RecommendConfig, country: Coded, product: Coded, variant: Coded, *, table: str, counts: dict[str, int]
) -> np.ndarray:
    """``BUSINESS_RULES`` on coded rows (recommended product and variant, ``""``/-1 = none): the
    mask of rows kept; ``counts`` (rule -> rows removed, each row by the first rule) updated in
    place. Every check runs once per distinct id (or (country, product) pair)."""
    variants = ctx.variant_index
    product, variant = product.used(), variant.used()  # each check once per id a row has

    def product_attr(col: str, default: object) -> np.ndarray:
        return product.map_ids(lambda ids: ctx.product_attr(ids, col, default), default)

    def variant_flag(col: str) -> np.ndarray:
        return variant.map_ids(lambda ids: variants[col].reindex(pd.Index(ids)).fillna(False).to_numpy(dtype=bool), False).astype(bool)

    checks = {
        "discontinued": lambda: product_attr("discontinued", False).astype(bool) | variant_flag("discontinued"),
        "not_in_assortment": lambda: ~pair_map(country, product, ctx.in_assortment).astype(bool),
        "custom_made": lambda: product_attr("custom_only", False).astype(bool) | variant_flag("is_custom"),
        "excluded_family": lambda: np.isin(product_attr("family", ""), list(cfg.exclude_families)),
        "block_list": lambda: product.map_ids(lambda ids: ids.isin(ctx.block_ids).to_numpy(), False).astype(bool)
        | variant.map_ids(lambda ids: ids.isin(ctx.block_ids).to_numpy(), False).astype(bool),
        "no_orderable_variant": lambda: variant.map_ids(lambda ids: (ids == "").to_numpy(), True).astype(bool),
    }
    keep = np.ones(len(product), dtype=bool)
    for rule in BUSINESS_RULES:
        keep &= ~count_rows(checks[rule]() & keep, rule, table, counts)
    return keep
