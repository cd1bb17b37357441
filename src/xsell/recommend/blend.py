"""Score normalisation per source and weighted blending of candidate links.

Scores of different sources (lift, cosine, ALS dot products, switch counts) are not comparable,
so each source is turned into ranks per query first: rank r of ``depth`` kept candidates gets
``1 - (r - 1) / depth`` (best = 1). The blend is ``sum_s w_s * norm_s / sum_s w_s`` over the
configured sources that are present, so a link found by several sources scores higher than one
found by a single source, and the blend stays in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SIMILARITY_COLUMNS: tuple[str, ...] = ("item_id", "rec_item_id", "score")
"""Input of every source: one row per (query item, candidate) with a higher-is-better score."""


def rank_normalise(frame: pd.DataFrame, depth: int, query: str = "item_id", item: str = "rec_item_id") -> pd.DataFrame:
    """Keep the best ``depth`` candidates per ``query``; add ``norm`` = 1 - (rank - 1) / depth.

    Ranks are by ``score`` descending, ties broken by candidate id (deterministic).
    """
    ordered = frame.sort_values([query, "score", item], ascending=[True, False, True], kind="stable")
    rank = ordered.groupby(query, sort=False).cumcount() + 1
    ordered = ordered.assign(rank=rank.to_numpy())
    ordered = ordered[ordered["rank"] <= depth]
    return ordered.assign(norm=1.0 - (ordered["rank"] - 1) / depth).reset_index(drop=True)


def to_product_level(frame: pd.DataFrame, variant_product: pd.Series, cols: tuple[str, ...] = ("item_id", "rec_item_id")) -> pd.DataFrame:
    """Map variant ids in ``cols`` to product ids (ids not in ``variant_product`` already are
    product ids), drop pairs inside one product, keep the best score per pair."""
    out = frame.copy()
    for col in cols:
        ids = out[col].astype(str)
        mapped = ids.map(variant_product)
        out[col] = mapped.where(mapped.notna(), ids).astype(str)
    if len(cols) == 2:
        out = out[out[cols[0]] != out[cols[1]]]
    keys = [c for c in out.columns if c not in ("score", "rank")]
    return out.groupby(keys, as_index=False, sort=False)["score"].max()


def blend(sources: Mapping[str, pd.DataFrame], weights: Mapping[str, float], depth: int) -> pd.DataFrame:
    """Blend per-source candidate frames (``SIMILARITY_COLUMNS``) into one scored link list.

    Returns ``product_id, rec_product_id, score, source, sources`` where ``source`` is the single
    contributing source or ``blend`` and ``sources`` lists all contributors (``+``-joined, by weight).
    Sources with no weight, or weight 0, are ignored.
    """
    used = [s for s in sorted(sources, key=lambda s: (-weights.get(s, 0.0), s)) if weights.get(s, 0.0) > 0]
    parts = []
    for name in used:
        norm = rank_normalise(sources[name][list(SIMILARITY_COLUMNS)], depth)
        parts.append(norm.assign(source=name, contribution=norm["norm"] * weights[name]))
    if not parts:
        return pd.DataFrame(
            {
                "product_id": pd.Series(dtype="str"),
                "rec_product_id": pd.Series(dtype="str"),
                "score": pd.Series(dtype=float),
                "source": pd.Series(dtype="str"),
                "sources": pd.Series(dtype="str"),
            }
        )
    total = sum(weights[s] for s in used)
    long = pd.concat(parts, ignore_index=True).rename(columns={"item_id": "product_id", "rec_item_id": "rec_product_id"})
    long["product_id"] = long["product_id"].astype(str)
    long["rec_product_id"] = long["rec_product_id"].astype(str)
    grouped = long.groupby(["product_id", "rec_product_id"], sort=False)
    out = grouped.agg(contribution=("contribution", "sum"), n=("source", "size")).reset_index()
    out["score"] = out["contribution"] / total
    pairs = pd.MultiIndex.from_frame(out[["product_id", "rec_product_id"]])
    names = np.full(len(out), "", dtype=object)
    for name, part in zip(used, parts):
        has = pairs.isin(pd.MultiIndex.from_arrays([part["item_id"].astype(str), part["rec_item_id"].astype(str)]))
        names = np.where(has, np.where(names == "", name, names + "+" + name), names)
    out["sources"] = pd.Series(names, dtype="str")
    out["source"] = np.where(out["n"] > 1, "blend", out["sources"])
    return out[["product_id", "rec_product_id", "score", "source", "sources"]]
