"""The Spark backend (``engine.backend: spark``): the stages whose cost grows with the number of
order lines, on Apache Spark.

- ``xsell.spark.ingest``: the ingest (mapping, parsing, validation, quarantine, dedupe, variant
  -> product, returns) reading CSV / Parquet with Spark, writing the canonical layout.
- ``xsell.spark.interactions``: buying center x item cells, baskets.
- ``xsell.spark.rules``: exact pair counts by a basket self-join, the rules' metrics.
- ``xsell.spark.als``: ``pyspark.ml.recommendation.ALS`` -> an ``ALSRecommender``.
- ``xsell.spark.topk``: top-k per buying center by window functions.
- ``xsell.spark.submit``: the command line as the ``.py`` file ``spark-submit`` runs.

Nothing here imports pyspark at import time of ``xsell``: ``xsell.spark.config`` holds the
config section (pydantic only) and every other module is imported only when the backend is
``spark``. ``xsell.spark.session`` checks for pyspark and Java and says which is missing.
"""
