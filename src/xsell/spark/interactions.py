"""Buying center x item cells and baskets of canonical order lines on Spark, with the weighting
and recency decay of ``xsell.interactions.build`` (its module docstring is the contract).

The aggregation over the order lines (the part that grows with history) runs on Spark; the
cells, one per buying center and item it owns, come to the driver as the same CSR matrices
with ``Vocabulary`` axes that ``build_interactions`` returns (scaling by the local ``_scale``).
Baskets stay on Spark for the association rules (``xsell.spark.rules``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from xsell.interactions.build import _scale, buyer_countries, buyer_segments
from xsell.interactions.config import InteractionsConfig
from xsell.interactions.matrix import InteractionMatrix, Interactions, TrainingData
from xsell.vocab import Vocabulary

log = logging.getLogger(__name__)

_DAY_MICROS = 86_400_000_000


def prepare_lines(lines: DataFrame, cfg: InteractionsConfig, as_of: pd.Timestamp | None = None) -> DataFrame:
    """Per line: signed quantity (returns negative), ``purchase``, signed ``value`` and ``decay``."""
    q = F.col("quantity").cast("double")
    ret = F.col("is_return")
    signed = F.when(ret, -F.abs(q)).otherwise(q)
    value = F.coalesce(F.when(F.isnan("net_value"), None).otherwise(F.col("net_value")), F.lit(0.0))
    micros = F.unix_micros(F.col("order_date").cast("timestamp"))
    out = lines.select(
        "buying_center_id", "product_id", "variant_id", "order_id", "order_date", "is_custom", "source_file", "source_row",
        signed.alias("q"), (~ret & (q > 0)).alias("purchase"), F.when(signed < 0, -F.abs(value)).otherwise(value).alias("value"),
        micros.alias("micros"),
    )  # fmt: skip
    if cfg.recency_half_life_days is None:
        return out.withColumn("decay", F.lit(1.0))
    ref = int(pd.Timestamp(as_of).value // 1000) if as_of is not None else out.agg(F.max("micros")).collect()[0][0]
    age = F.greatest((F.lit(ref) - F.col("micros")) / F.lit(float(_DAY_MICROS)), F.lit(0.0))
    return out.withColumn("decay", F.pow(F.lit(0.5), age / F.lit(float(cfg.recency_half_life_days))))


def cells(prepared: DataFrame, item: str, cfg: InteractionsConfig) -> DataFrame:
    """Positive buyer x item cells ``(buying_center_id, <item>, weight)`` (``_cells`` locally)."""
    key = ["buying_center_id", item]
    purchase, q, decay = F.col("purchase"), F.col("q"), F.col("decay")
    aggs: list[Column] = [F.sum(q).alias("net_q")]
    if cfg.weighting == "order_count":
        first = prepared.where(purchase).groupBy(*key, "order_id").agg(
            F.min_by(decay, F.struct("source_file", "source_row")).alias("d")
        )
        orders = first.groupBy(*key).agg(F.sum("d").alias("weight"))
        net = prepared.groupBy(*key).agg(*aggs)
        out = net.join(orders, key, "left").withColumn("weight", F.coalesce("weight", F.lit(0.0)))
    else:
        if cfg.weighting == "binary":
            aggs.append(F.coalesce(F.max(F.when(purchase, decay)), F.lit(0.0)).alias("weight"))
        else:
            gross = F.sum(F.when(purchase, q).otherwise(0.0))
            decayed = F.sum(F.when(purchase, q * decay).otherwise(0.0))
            mean_decay = F.when(gross > 0, decayed / gross).otherwise(0.0)
            if cfg.weighting == "log_quantity":
                aggs.append(F.log1p(F.greatest(F.sum(q), F.lit(0.0)) * mean_decay).alias("weight"))
            else:
                aggs.append((F.greatest(F.sum("value"), F.lit(0.0)) * mean_decay).alias("weight"))
        out = prepared.groupBy(*key).agg(*aggs)
    return out.where(F.col("net_q") > 0).select(*key, "weight")


def variant_columns(prepared: DataFrame, cfg: InteractionsConfig) -> DataFrame:
    """Per line the ``column`` of the variant matrix (``_variant_columns`` locally): custom-made
    and low-support variants fold into their product; a column's product is the smallest
    product id seen with it."""
    positive = prepared.groupBy("buying_center_id", "variant_id").agg(F.sum("q").alias("n")).where(F.col("n") > 0)
    support = positive.groupBy("variant_id").agg(F.count("*").alias("support"))
    with_support = prepared.join(support, "variant_id", "left")
    fold = F.col("is_custom") | (F.coalesce(F.col("support"), F.lit(0)) < cfg.min_variant_support)
    lines = with_support.withColumn("column", F.when(fold, F.col("product_id")).otherwise(F.col("variant_id")))
    col_product = lines.groupBy("column").agg(F.min("product_id").alias("column_product"))
    return lines.join(col_product, "column")


def _collect(frame: DataFrame) -> pd.DataFrame:
    """A Spark result on the driver, through Arrow."""
    return frame.toArrow().to_pandas()


def _csr(frame: pd.DataFrame, item: str, buyers: Vocabulary, items: Vocabulary, cfg: InteractionsConfig) -> sp.csr_matrix:
    rows = buyers.index(frame["buying_center_id"].to_numpy(dtype=object))
    cols = items.index(frame[item].to_numpy(dtype=object))
    m = sp.csr_matrix((frame["weight"].to_numpy(dtype=np.float32), (rows, cols)), shape=(len(buyers), len(items)))
    return _scale(m, cfg)


def baskets(prepared: DataFrame, cfg: InteractionsConfig) -> DataFrame:
    """Distinct ``(basket, product_id)`` of the purchase lines (the rows of ``order_products``):
    one basket per order, or greedy ``basket_window_days`` sessions per buying center."""
    buys = prepared.where(F.col("purchase"))
    if cfg.basket_window_days == 0:
        return buys.select(F.col("order_id").alias("basket"), "product_id").distinct()
    window = cfg.basket_window_days
    days = buys.select("buying_center_id", F.to_date("order_date").alias("day")).distinct()

    def sessions(frame: pd.DataFrame) -> pd.DataFrame:
        day = np.sort(frame["day"].to_numpy(dtype="datetime64[D]"))
        start = np.empty_like(day)
        current = day[0]
        for i, d in enumerate(day):  # greedy: a basket takes every day within N days of its start
            if d > current + np.timedelta64(window, "D"):
                current = d
            start[i] = current
        bc = frame["buying_center_id"].iloc[0]
        return pd.DataFrame({"buying_center_id": bc, "day": day, "basket": [f"{bc}|{s}" for s in start.astype(str)]})

    labelled = days.groupBy("buying_center_id").applyInPandas(sessions, "buying_center_id string, day date, basket string")
    return buys.withColumn("day", F.to_date("order_date")).join(labelled, ["buying_center_id", "day"]).select("basket", "product_id").distinct()


def buyer_country_frame(prepared_lines: DataFrame) -> pd.DataFrame:
    """One row per buying center with its most frequent non-empty line country (ties:
    alphabetical), the input ``buyer_countries`` reduces to the same answer."""
    counts = prepared_lines.where(F.length("country") > 0).groupBy("buying_center_id", "country").count()
    best = Window.partitionBy("buying_center_id").orderBy(F.desc("count"), F.asc("country"))
    top = counts.withColumn("_r", F.row_number().over(best)).where(F.col("_r") == 1).select("buying_center_id", "country")
    return _collect(top)


def spark_training_data(
    lines: DataFrame, customers: pd.DataFrame | None, cfg: InteractionsConfig, *, level: str = "product", as_of: pd.Timestamp | None = None
) -> tuple[TrainingData, DataFrame]:
    """``build_training_data`` with the line aggregations on Spark: the ``TrainingData`` (its
    ``order_products`` has the product axis and no rows: the baskets stay on Spark) and the
    basket frame ``(basket, product_id)``."""
    prepared = prepare_lines(lines, cfg, as_of).persist()
    product_cells = _collect(cells(prepared, "product_id", cfg))
    with_columns = variant_columns(prepared, cfg)
    variant_cells = _collect(cells(with_columns, "column", cfg))
    column_product = _collect(with_columns.select("column", "column_product").distinct()).sort_values("column")
    products = Vocabulary(np.sort(prepared.select("product_id").distinct().toArrow().column(0).to_numpy(zero_copy_only=False).astype(object)))
    columns = Vocabulary(column_product["column"].to_numpy(dtype=object))
    buyers = Vocabulary(np.union1d(product_cells["buying_center_id"].to_numpy(dtype=str), variant_cells["buying_center_id"].to_numpy(dtype=str)).astype(object))
    interactions = Interactions(
        buyer_variants=InteractionMatrix(_csr(variant_cells, "column", buyers, columns, cfg), buyers, columns),
        buyer_products=InteractionMatrix(_csr(product_cells, "product_id", buyers, products, cfg), buyers, products),
        order_products=InteractionMatrix(sp.csr_matrix((0, len(products)), dtype=np.float32), Vocabulary([]), products),
        variant_product=column_product["column_product"].to_numpy(dtype=object),
    )
    log.info("interactions (spark): %d buying centers, %d products, %d variant columns", len(buyers), len(products), len(columns))
    countries = buyer_countries(buyer_country_frame(lines), customers)
    data = TrainingData(interactions=interactions, level=level, buyer_country=countries, buyer_segment=buyer_segments(customers))
    return data, baskets(prepared, cfg)
