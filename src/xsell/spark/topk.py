"""Top-k per buying center on Spark by window functions: the best ``k`` items of each buying
center that it does not own, best score first, ties by item position (``dense_top_n``'s rule).

``als_top_k`` asks Spark's ``recommendForUserSubset`` (blocked matrix products, never all
scores at once) for ``k`` plus as many items as the buying center may own: buying centers
are grouped by how many items they own (powers of 4), each group asks for ``k`` + its
largest count, so removing the owned items always leaves ``k`` and the output stays within
``users * k + 4 * owned cells`` rows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def top_k_per_buying_center(scores: DataFrame, owned: DataFrame, k: int, *, user: str = "user", item: str = "item") -> DataFrame:
    """``scores`` (user, item, score) without the ``owned`` (user, item) pairs, the best ``k``
    per user: ``user, rank, item, score`` with rank 1..k."""
    candidates = scores.join(owned.select(user, item), [user, item], "left_anti")
    best = Window.partitionBy(user).orderBy(F.desc("score"), F.asc(item))
    return candidates.withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= k).select(user, "rank", item, "score")


def als_top_k(model, owned: DataFrame, users: DataFrame, k: int) -> DataFrame:
    """Top ``k`` items per user of ``users`` (column ``user``) by a fitted Spark ``ALSModel``,
    without the ``owned`` (user, item) cells; see the module docstring."""
    counts = users.join(owned.groupBy("user").agg(F.count("*").alias("n_owned")), "user", "left").fillna(0, ["n_owned"])
    stratum = F.when(F.col("n_owned") == 0, F.lit(0)).otherwise(F.ceil(F.log(4.0, F.col("n_owned").cast("double")) + 1e-9))
    counts = counts.withColumn("stratum", stratum.cast("int")).persist()
    parts = []
    for row in counts.groupBy("stratum").agg(F.max("n_owned").alias("most")).collect():
        subset = counts.where(F.col("stratum") == row["stratum"]).select("user")
        recs = model.recommendForUserSubset(subset, k + int(row["most"]))
        parts.append(recs.select("user", F.explode("recommendations").alias("r")).select("user", F.col("r.item").alias("item"), F.col("r.rating").alias("score")))
    scores = parts[0]
    for other in parts[1:]:
        scores = scores.unionByName(other)
    return top_k_per_buying_center(scores, owned, k)
