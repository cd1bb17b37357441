"""Pure top-k ranking metrics, vectorised over buyers.

Inputs everywhere:

- ``recommended``: int array of shape (n_buyers, n) with item indices, best first; ``-1``
  marks padding (fewer than n recommendations) and never counts as a hit.
- ``relevant``: CSR matrix of shape (n_buyers, n_items); a stored cell is a relevant item
  (its value is ignored).
- ``values``: optional CSR of the same shape, the test-window net value of each relevant item
  (used by the revenue-weighted hit rate only).

Definitions at cut-off k (``hits[i, j]``: the j-th recommendation of buyer i is relevant;
``R_i``: number of relevant items of buyer i):

- precision@k = hits in the top k / k (padding counts as a miss)
- recall@k = hits in the top k / R_i
- hit_rate@k = 1 when the top k holds at least one relevant item
- AP@k = sum_j precision@j * hits[i, j] / min(k, R_i); MAP = mean of AP
- NDCG@k = sum_j hits[i, j] / log2(j + 1) / IDCG, IDCG = sum_{j <= min(k, R_i)} 1 / log2(j + 1)
- coverage@k = distinct items in all top-k lists / catalog size
- revenue_hit_rate@k = value of the relevant items hit in the top k / value of all relevant items
  (a ratio of sums over the buyers of a group, not a mean of per-buyer ratios)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.sparse import cells_in

PER_BUYER_METRICS: tuple[str, ...] = ("precision", "recall", "map", "ndcg", "hit_rate")
"""Metrics averaged over buyers."""


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Bool array (n_buyers, n): is ``recommended[i, j]`` a relevant item of buyer i."""
    return cells_in(recommended, relevant)


def n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    """Relevant items per buyer, shape (n_buyers,)."""
    return np.diff(sp.csr_matrix(relevant).indptr).astype(np.float64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-buyer precision@k, shape (n_buyers,)."""
    return hits[:, :k].sum(axis=1) / float(k)


def recall_at_k(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    """Per-buyer recall@k; 0 for a buyer without relevant items."""
    return _safe_div(hits[:, :k].sum(axis=1).astype(np.float64), n_rel)


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-buyer 1.0 when the top k holds a relevant item, else 0.0."""
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def average_precision_at_k(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    """Per-buyer AP@k (normalised by min(k, R_i)); MAP is its mean."""
    h = hits[:, :k].astype(np.float64)
    ranks = np.arange(1, h.shape[1] + 1, dtype=np.float64)
    precision_at_j = np.cumsum(h, axis=1) / ranks
    return _safe_div((precision_at_j * h).sum(axis=1), np.minimum(float(k), n_rel))


def ndcg_at_k(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    """Per-buyer NDCG@k with binary gains."""
    h = hits[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (h * discounts[: h.shape[1]]).sum(axis=1)
    ideal_cum = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_cum[np.minimum(n_rel, k).astype(np.int64)]
    return _safe_div(dcg, idcg)


def hit_value(recommended: np.ndarray, hits: np.ndarray, values: sp.csr_matrix, k: int) -> np.ndarray:
    """Per-buyer summed ``values`` of the hit items in the top k."""
    rec = np.asarray(recommended, dtype=np.int64)[:, :k]
    h = hits[:, :k]
    rows = np.broadcast_to(np.arange(rec.shape[0])[:, None], rec.shape)
    out = np.zeros(rec.shape, dtype=np.float64)
    if h.any():
        out[h] = np.asarray(sp.csr_matrix(values)[rows[h], rec[h]]).ravel()
    return out.sum(axis=1)


def catalog_coverage(recommended: np.ndarray, k: int, n_catalog: int) -> float:
    """Distinct items in the top-k lists of all rows / ``n_catalog``."""
    if n_catalog <= 0:
        return 0.0
    top = np.asarray(recommended, dtype=np.int64)[:, :k]
    return float(np.unique(top[top >= 0]).size) / float(n_catalog)


def ranking_metrics(
    recommended: np.ndarray,
    relevant: sp.csr_matrix,
    ks: Iterable[int],
    *,
    values: sp.csr_matrix | None = None,
    groups: np.ndarray | None = None,
    n_catalog: int,
    all_label: str = "ALL",
) -> pd.DataFrame:
    """Every metric at every k, overall (group ``all_label``) and per group (e.g. country).

    Returns a long frame ``group, k, metric, value`` including ``n_buyers`` per group (k = 0);
    ``revenue_hit_rate`` only when ``values`` is given.
    """
    rec = np.asarray(recommended, dtype=np.int64)
    n_buyers = rec.shape[0]
    ks = sorted(set(int(k) for k in ks))
    max_k = max(ks)
    if rec.shape[1] < max_k:
        rec = np.hstack([rec, np.full((n_buyers, max_k - rec.shape[1]), -1, dtype=np.int64)])
    group_arr = np.full(n_buyers, all_label, dtype=object) if groups is None else np.asarray(groups, dtype=object)
    labels = [all_label] + sorted(set(group_arr.tolist()) - {all_label})
    masks = {label: np.ones(n_buyers, bool) if label == all_label else group_arr == label for label in labels}

    hits = hit_matrix(rec, relevant)
    n_rel = n_relevant(relevant)
    total_value = None if values is None else np.asarray(sp.csr_matrix(values).sum(axis=1)).ravel()
    rows: list[tuple[str, int, str, float]] = []
    for label in labels:
        rows.append((label, 0, "n_buyers", float(masks[label].sum())))
    for k in ks:
        per_buyer = {
            "precision": precision_at_k(hits, k),
            "recall": recall_at_k(hits, n_rel, k),
            "map": average_precision_at_k(hits, n_rel, k),
            "ndcg": ndcg_at_k(hits, n_rel, k),
            "hit_rate": hit_rate_at_k(hits, k),
        }
        value_hit = None if values is None else hit_value(rec, hits, values, k)
        for label in labels:
            m = masks[label]
            if not m.any():
                continue
            for name, per_buyer_values in per_buyer.items():
                rows.append((label, k, name, float(per_buyer_values[m].mean())))
            rows.append((label, k, "coverage", catalog_coverage(rec[m], k, n_catalog)))
            if value_hit is None or total_value is None:
                continue
            den = total_value[m].sum()
            rows.append((label, k, "revenue_hit_rate", float(value_hit[m].sum() / den) if den > 0 else 0.0))
    return pd.DataFrame(rows, columns=["group", "k", "metric", "value"])
