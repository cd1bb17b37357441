"""Config section ``engine``: which backend runs the heavy stages, and the Spark session.

Imports no pyspark: the root config always has this section.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from xsell.configbase import StrictModel, _resolve

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class SparkConfig(StrictModel):
    """The SparkSession the ``spark`` backend builds (or joins, under ``spark-submit``)."""

    master: str | None = "local[*]"
    """Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``); ``null``
    leaves it to ``spark-submit --master`` or the session that is already running."""
    app_name: str = "xsell"
    """Application name shown in the Spark UI."""
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Settings passed to the SparkSession builder (``spark.executor.memory: 8g``,
    ``spark.sql.shuffle.partitions: 2000``, ...)."""
    checkpoint_dir: str | None = None
    """Checkpoint folder of ALS (and of long lineages); ``null``: ``<workdir>/spark/checkpoints``.
    On a cluster it must be on storage every executor reaches (``hdfs://...``, ``s3a://...``, a
    shared mount). A relative path resolves against the config file's folder."""
    max_basket_size: int = Field(1000, ge=2)
    """Association rules: baskets with more distinct products than this are left out of the
    rules (their pairs, their products' counts and the basket count), counted and logged, so one
    giant basket (a yearly framework order, a stock transfer) cannot blow up the pair shuffle."""

    @field_validator("checkpoint_dir")
    @classmethod
    def _resolve_local(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or _URI.match(value):
            return value
        return str(_resolve(value, info))


class EngineConfig(StrictModel):
    """Where the heavy stages run. Nothing else in the config changes between the backends."""

    backend: Literal["local", "spark"] = "local"
    """``local``: pandas / scipy / implicit on this machine. ``spark``: ingest, interactions,
    association rules and ALS on Spark (``pip install xsell[spark]`` and a Java 17+ runtime);
    README "Running on Spark" lists what stays on one machine."""
    spark: SparkConfig = Field(default_factory=SparkConfig)
    """The Spark session (``engine.backend: spark`` only)."""
