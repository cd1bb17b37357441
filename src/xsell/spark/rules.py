"""Exact pairwise association rules on Spark: pair counts by a self-join of the baskets, the
metrics of ``xsell.models.rules`` (its module docstring; the equality tests hold both to 1e-9).

Baskets with more than ``engine.spark.max_basket_size`` distinct products are left out of the
rules (pairs, product counts, basket count), counted and logged: a basket of n products makes
n (n - 1) ordered pairs, so one giant basket would dominate the shuffle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from xsell.interactions.matrix import TrainingData
from xsell.models.config import RulesConfig
from xsell.models.rules import AssociationRules
from xsell.vocab import Vocabulary

log = logging.getLogger(__name__)


@dataclass
class PairCounts:
    """What the rules are made of: ordered pair counts, per-product basket counts, N."""

    pairs: DataFrame
    """``antecedent, consequent, count`` for every ordered pair with count >= min_support_count."""
    items: DataFrame
    """``product_id, item_count``."""
    n_baskets: int
    capped_baskets: int
    """Baskets left out for having more than ``max_basket_size`` products."""


def pair_counts(baskets: DataFrame, cfg: RulesConfig, max_basket_size: int) -> PairCounts:
    """Count pairs of ``baskets`` (``basket, product_id``, distinct) by a self-join."""
    sizes = baskets.groupBy("basket").agg(F.count("*").alias("size"))
    stats = sizes.agg(F.count("*").alias("n"), F.sum((F.col("size") > max_basket_size).cast("long")).alias("capped"), F.max("size").alias("largest")).collect()[0]
    capped = int(stats["capped"] or 0)
    if capped:
        log.warning(
            "rules (spark): %d basket(s) with more than engine.spark.max_basket_size=%d products (largest %d) left out of the rules",
            capped, max_basket_size, int(stats["largest"]),
        )  # fmt: skip
        kept = baskets.join(sizes.where(F.col("size") <= max_basket_size).select("basket"), "basket")
    else:
        kept = baskets
    kept = kept.persist()
    items = kept.groupBy("product_id").agg(F.count("*").alias("item_count"))
    a, b = kept.alias("a"), kept.alias("b")
    half = (
        a.join(b, (F.col("a.basket") == F.col("b.basket")) & (F.col("a.product_id") < F.col("b.product_id")))
        .groupBy(F.col("a.product_id").alias("antecedent"), F.col("b.product_id").alias("consequent"))
        .agg(F.count("*").alias("count"))
        .where(F.col("count") >= cfg.min_support_count)
    )
    pairs = half.unionByName(half.select(F.col("consequent").alias("antecedent"), F.col("antecedent").alias("consequent"), "count"))
    return PairCounts(pairs, items, int(stats["n"]) - capped, capped)


def rule_metrics(counts: PairCounts, cfg: RulesConfig) -> DataFrame:
    """``RULE_COLUMNS`` + ``EXTRA_RULE_COLUMNS`` as Spark columns (``_rule_frame`` locally), sorted
    by antecedent, then consequent."""
    n = float(counts.n_baskets)
    ia = counts.items.select(F.col("product_id").alias("antecedent"), F.col("item_count").alias("antecedent_count"))
    ib = counts.items.select(F.col("product_id").alias("consequent"), F.col("item_count").alias("consequent_count"))
    joined = counts.pairs.join(ia, "antecedent").join(ib, "consequent")
    s_ab, s_a, s_b = F.col("count") / n, F.col("antecedent_count") / n, F.col("consequent_count") / n
    confidence = s_ab / s_a
    lift = confidence / s_b
    conviction = F.when(confidence < 1.0, (1.0 - s_b) / (1.0 - confidence)).otherwise(F.lit(float("inf")))
    damped = 1.0 + (lift - 1.0) * F.col("count") / (F.col("count") + F.lit(float(cfg.lift_shrinkage)))
    return joined.select(
        "antecedent", "consequent", F.col("count").cast("long"), s_ab.alias("support"), confidence.alias("confidence"),
        lift.alias("lift"), (s_ab - s_a * s_b).alias("leverage"), conviction.alias("conviction"),
        F.col("antecedent_count").cast("long"), F.col("consequent_count").cast("long"), damped.alias("damped_lift"),
    ).orderBy("antecedent", "consequent")  # fmt: skip


def fit_rules(baskets: DataFrame, data: TrainingData, cfg: RulesConfig, max_basket_size: int) -> AssociationRules:
    """An ``AssociationRules`` model from Spark pair counts: the counts come to the driver (one row
    per pair above ``min_support_count``, one per product), the metrics, top-k and scores are the
    model's own (``AssociationRules`` from counts)."""
    counts = pair_counts(baskets, cfg, max_basket_size)
    items: Vocabulary = data.interactions.buyer_products.cols
    item_count = np.zeros(len(items), dtype=np.int64)
    per_item = counts.items.toArrow().to_pandas()
    item_count[items.index(per_item["product_id"].to_numpy(dtype=object))] = per_item["item_count"].to_numpy()
    pairs = counts.pairs.toArrow().to_pandas()
    a = items.index(pairs["antecedent"].to_numpy(dtype=object))
    b = items.index(pairs["consequent"].to_numpy(dtype=object))
    order = np.lexsort((b, a))
    model = AssociationRules(cfg)
    owned = model._owned(data.interactions.buyer_products, items)
    model._set_learned(a[order], b[order], pairs["count"].to_numpy(dtype=np.int64)[order], item_count, counts.n_baskets, items, owned)
    log.info("rules (spark): %d baskets, %d rules, %d baskets over the size cap", counts.n_baskets, len(pairs), counts.capped_baskets)
    return model
