"""``xsell train`` with ``engine.backend: spark``: interactions, association rules and ALS on
Spark, every other enabled model on the driver from the same matrices (``train_models``)."""

from __future__ import annotations

import logging
import time

import pandas as pd

from xsell.config import Config
from xsell.interactions.matrix import TrainingData
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.models.base import Recommender
from xsell.models.training import train_models
from xsell.progress import stage
from xsell.spark.session import spark_session

log = logging.getLogger(__name__)

SPARK_MODELS: tuple[str, ...] = ("rules", "als")
"""Models Spark fits; the others are fitted on the driver."""


def read_lines(spark, cfg: Config):
    """The canonical order lines (a file, or the dataset folder the Spark ingest writes)."""
    path = Workdir(cfg.workdir).order_lines
    if not path.exists():
        read_canonical(path)  # the local error naming the file and the fix
    from pyspark.sql import types as T

    from xsell.spark.parse import nanos_to_timestamp

    lines = spark.read.parquet(str(path))
    if isinstance(lines.schema["order_date"].dataType, T.LongType):  # written by the local ingest (ns)
        lines = lines.withColumn("order_date", nanos_to_timestamp("order_date"))
    return lines


def train_on_spark(cfg: Config, timings: dict[str, float]) -> tuple[TrainingData, dict[str, Recommender]]:
    """The training data (matrices) and every enabled model, fitted (see module docstring)."""
    from xsell.spark.als import fit_als
    from xsell.spark.interactions import spark_training_data
    from xsell.spark.rules import fit_rules

    spark = spark_session(cfg.engine.spark, cfg.workdir)
    customers: pd.DataFrame | None = read_canonical(Workdir(cfg.workdir).customers, required=False)
    with stage("interactions (spark)", log) as report:
        data, baskets = spark_training_data(read_lines(spark, cfg), customers, cfg.interactions, level=cfg.models.level)
        report.counts.update(buyers=data.buyer_items.shape[0], items=data.buyer_items.shape[1])
    fitted: dict[str, Recommender] = {}
    for name in SPARK_MODELS:
        if name not in cfg.models.enabled and not (name == "rules" and "blend" in cfg.models.enabled and cfg.models.blend.anchor == "rules"):
            continue
        with stage(f"fit {name} (spark)", log) as report:
            start = time.perf_counter()
            if name == "rules":
                fitted[name] = fit_rules(baskets, data, cfg.rules, cfg.engine.spark.max_basket_size)
            else:
                fitted[name], _ = fit_als(data, cfg.models.als, cfg.models.seed, spark)
            timings[name] = round(time.perf_counter() - start, 3)
            report.counts.update(buyers=data.buyer_items.shape[0], items=data.buyer_items.shape[1])
    models = train_models(data, cfg.models, cfg.rules, timings=timings, fitted=fitted)
    return data, models
