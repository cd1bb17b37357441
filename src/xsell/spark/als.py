"""ALS on Spark: ``pyspark.ml.recommendation.ALS`` (``implicitPrefs=True``) fitted on the
buying center x item matrix, giving an ``xsell.models.implicit_models.ALSRecommender`` (same
artifact, same scoring) whose factors Spark learned.

Indices are the positions of the matrix's ``Vocabulary`` axes: the cells go to Spark as
``(buyer index, item index, weight)``, the factors come back into arrays at those positions
(a buying center or item without cells keeps zero factors). Checkpointing every
``CHECKPOINT_INTERVAL`` iterations (folder: ``engine.spark.checkpoint_dir``) keeps the lineage
of long runs short. ``regularization`` is Spark's ``regParam``, which Spark scales by each
row's number of cells (ALS-WR), unlike implicit: the same value regularises more on Spark.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession

from xsell.interactions.matrix import TrainingData
from xsell.models.base import csr_arrays, owned_part
from xsell.models.config import ALSConfig
from xsell.models.implicit_models import ALSRecommender

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 5
"""ALS iterations between checkpoints."""


def cells_frame(spark: SparkSession, matrix: sp.csr_matrix) -> DataFrame:
    """The stored cells of a CSR matrix as ``(user, item, rating)`` (Arrow, no per-row Python)."""
    coo = sp.coo_matrix(matrix)
    table = pa.table({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "rating": coo.data.astype(np.float32)})
    return spark.createDataFrame(table)


def spark_als(config: ALSConfig, seed: int, spark: SparkSession):
    """The unfitted ``pyspark.ml`` estimator for ``config``."""
    from pyspark.ml.recommendation import ALS

    return ALS(
        rank=config.factors, maxIter=config.iterations, regParam=config.regularization, alpha=config.alpha,
        implicitPrefs=True, userCol="user", itemCol="item", ratingCol="rating", seed=seed,
        checkpointInterval=CHECKPOINT_INTERVAL, coldStartStrategy="drop", nonnegative=False,
    )  # fmt: skip


def _factors(frame: DataFrame, n: int, rank: int) -> np.ndarray:
    table = frame.toArrow()
    out = np.zeros((n, rank), dtype=np.float32)
    ids = table.column("id").to_numpy()
    if len(ids):
        out[ids] = np.asarray(table.column("features").to_pylist(), dtype=np.float32)
    return out


def fit_als(data: TrainingData, config: ALSConfig, seed: int, spark: SparkSession) -> tuple[ALSRecommender, object]:
    """Fit Spark's ALS on ``data.buyer_items``; returns the ``ALSRecommender`` and the Spark model."""
    buyer_items = data.buyer_items
    matrix = sp.csr_matrix(buyer_items.matrix, dtype=np.float32, copy=True)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    fitted = spark_als(config, seed, spark).fit(cells_frame(spark, matrix))
    model = ALSRecommender(config, seed=seed)
    model._restore(
        {
            "items": buyer_items.cols.to_array(),
            "buyers": buyer_items.rows.to_array(),
            **csr_arrays("buyer_items", owned_part(matrix)),
            "user_factors": _factors(fitted.userFactors, len(buyer_items.rows), config.factors),
            "item_factors": _factors(fitted.itemFactors, len(buyer_items.cols), config.factors),
        },
        {},
    )
    log.info("als (spark): %d x %d, rank %d, %d iterations", matrix.shape[0], matrix.shape[1], config.factors, config.iterations)
    return model, fitted
