"""The SparkSession of the ``spark`` backend: checks that pyspark and Java are there, builds or
joins the session from ``engine.spark``, sets the checkpoint folder.

``spark_missing()`` says what is missing (``None`` when Spark can start): the tests skip with
that reason, the pipeline raises ``SparkUnavailableError`` (exit 2) with it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xsell.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from xsell.spark.config import SparkConfig

log = logging.getLogger(__name__)

JAVA_PACKAGE = "openjdk-17-jre-headless"
"""Debian / Ubuntu package of the Java runtime Spark 4 needs (Java 17 or 21)."""

DEFAULT_CONF: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",  # dates are local calendar dates: no zone ever applies
    "spark.sql.parquet.outputTimestampType": "INT96",  # read by pandas / pyarrow as datetime64[ns], like the local tables
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",  # proleptic calendar, no rebase
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",  # no _SUCCESS files
    "spark.sql.legacy.parquet.nanosAsLong": "true",  # pandas' ns timestamps read as long, then converted (xsell.spark.parse)
    "spark.sql.legacy.javaCharsets": "true",  # windows-1252 & co. (Spark 4 alone allows only UTF-* / ISO-8859-1 / US-ASCII)
}
"""Builder settings xsell needs; ``engine.spark.conf`` can override them, except ``RUNTIME_CONF``."""
RUNTIME_CONF: tuple[str, ...] = (
    "spark.sql.session.timeZone", "spark.sql.parquet.outputTimestampType", "spark.sql.parquet.int96RebaseModeInWrite",
    "spark.sql.legacy.javaCharsets", "spark.sql.legacy.parquet.nanosAsLong",
)  # fmt: skip
"""Settings xsell sets on every session it uses, a joined one too (the time zone, the charsets,
the Parquet timestamp types); ``nanosAsLong`` takes effect only in a session xsell starts."""


class SparkUnavailableError(ConfigError):
    """``engine.backend: spark`` but pyspark or a Java runtime is missing (exit 2)."""


def java_binary() -> str | None:
    """Path of the ``java`` Spark would start: ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def spark_missing() -> str | None:
    """What keeps Spark from starting here (pyspark not installed, no Java), or ``None``."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'xsell[spark]')"
    if java_binary() is None:
        return f"no Java runtime (java on PATH or JAVA_HOME); on Debian/Ubuntu: apt-get install {JAVA_PACKAGE}"
    return None


def spark_session(cfg: SparkConfig, workdir: Path) -> SparkSession:
    """The session of ``engine.spark``: the active one when xsell runs inside ``spark-submit`` or
    a notebook (its master and settings stay as they are), else a new one from ``master`` and
    ``conf``. Its checkpoint folder is ``checkpoint_dir`` or ``<workdir>/spark/checkpoints``."""
    missing = spark_missing()
    if missing:
        raise SparkUnavailableError(f"engine.backend is spark, but {missing}", key="engine.backend")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers (basket sessions) run in xsell's environment
    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.appName(cfg.app_name)
        if cfg.master is not None:
            builder = builder.master(cfg.master)
        for key, value in {**DEFAULT_CONF, **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in cfg.conf.items()}}.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        log.info("spark: session on %s (Spark %s)", spark.sparkContext.master, spark.version)
    else:
        log.info("spark: using the running session on %s (Spark %s)", spark.sparkContext.master, spark.version)
    for key in RUNTIME_CONF:  # a running session (spark-submit, notebook) gets them too
        spark.conf.set(key, DEFAULT_CONF[key])
    checkpoints = cfg.checkpoint_dir or str(Path(workdir) / "spark" / "checkpoints")
    spark.sparkContext.setCheckpointDir(checkpoints)
    return spark
