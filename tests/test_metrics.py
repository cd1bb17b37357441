"""Ranking metrics on tiny cases worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from xsell.evaluation import metrics as M


def csr(rows: list[list[int]], n_items: int, values: list[list[float]] | None = None) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in items]
    v = [x for vals in values for x in vals] if values is not None else [1.0] * len(c)
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), n_items))


# Buyer 0 is recommended [3, 1, 4] and bought {1, 4}: hits at ranks 2 and 3.
# Buyer 1 is recommended [0, 2, -1] (only two items, padded) and bought {2, 5, 6}: hit at rank 2.
REC = np.array([[3, 1, 4], [0, 2, -1]])
REL = csr([[1, 4], [2, 5, 6]], n_items=7)
HITS = np.array([[False, True, True], [False, True, False]])
N_REL = np.array([2.0, 3.0])


def test_hit_matrix_marks_relevant_positions_and_never_padding() -> None:
    assert (M.hit_matrix(REC, REL) == HITS).all()
    # item index 0 is relevant for buyer 0 here, padding (-1) must still not hit
    rel0 = csr([[0], [0]], n_items=3)
    assert M.hit_matrix(np.array([[-1, 0], [-1, -1]]), rel0).tolist() == [[False, True], [False, False]]


def test_precision() -> None:
    # @1: buyer0 0/1, buyer1 0/1 -> [0, 0]
    # @3: buyer0 2/3, buyer1 1/3 (padding counts as a miss)
    assert M.precision_at_k(HITS, 1).tolist() == [0.0, 0.0]
    assert M.precision_at_k(HITS, 3) == pytest.approx([2 / 3, 1 / 3])


def test_recall() -> None:
    # @2: buyer0 1 hit of 2 relevant = 0.5; buyer1 1 of 3 = 1/3
    # @3: buyer0 2/2 = 1; buyer1 1/3
    assert M.recall_at_k(HITS, N_REL, 2) == pytest.approx([0.5, 1 / 3])
    assert M.recall_at_k(HITS, N_REL, 3) == pytest.approx([1.0, 1 / 3])


def test_hit_rate() -> None:
    # @1 nobody hits; @2 both hit
    assert M.hit_rate_at_k(HITS, 1).tolist() == [0.0, 0.0]
    assert M.hit_rate_at_k(HITS, 2).tolist() == [1.0, 1.0]


def test_average_precision() -> None:
    # buyer0 @3: hits at 2 (P@2 = 1/2) and 3 (P@3 = 2/3); sum = 7/6; / min(3, 2) = 7/12
    # buyer1 @3: hit at 2 (P@2 = 1/2); / min(3, 3) = 1/6
    # buyer0 @2: hit at 2 (1/2) / min(2, 2) = 1/4
    assert M.average_precision_at_k(HITS, N_REL, 3) == pytest.approx([7 / 12, 1 / 6])
    assert M.average_precision_at_k(HITS, N_REL, 2)[0] == pytest.approx(1 / 4)


def test_ndcg() -> None:
    # buyer0 @3: DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093
    #            IDCG (2 relevant) = 1/log2(2) + 1/log2(3) = 1 + 0.63093 = 1.63093 -> 0.69342
    # buyer1 @3: DCG = 1/log2(3) = 0.63093; IDCG (3 relevant) = 1 + 0.63093 + 0.5 = 2.13093 -> 0.29608
    d3, d4 = 1 / math.log2(3), 1 / math.log2(4)
    assert M.ndcg_at_k(HITS, N_REL, 3) == pytest.approx([(d3 + d4) / (1 + d3), d3 / (1 + d3 + d4)])
    # perfect ranking -> 1; buyer without relevant items -> 0
    assert M.ndcg_at_k(np.array([[True, True, False]]), np.array([2.0]), 3) == pytest.approx([1.0])
    assert M.ndcg_at_k(np.array([[False, False]]), np.array([0.0]), 2).tolist() == [0.0]


def test_catalog_coverage() -> None:
    # @1: items {3, 0} of a 10-item catalog = 0.2; @3: {3, 1, 4, 0, 2} = 0.5 (padding ignored)
    assert M.catalog_coverage(REC, 1, 10) == pytest.approx(0.2)
    assert M.catalog_coverage(REC, 3, 10) == pytest.approx(0.5)


def test_ranking_metrics_groups_and_revenue() -> None:
    # values: buyer0 item1 = 10, item4 = 30; buyer1 item2 = 5, item5 = 5, item6 = 50
    values = csr([[1, 4], [2, 5, 6]], n_items=7, values=[[10.0, 30.0], [5.0, 5.0, 50.0]])
    out = M.ranking_metrics(REC, REL, [2, 3], values=values, groups=np.array(["DE", "FR"]), n_catalog=10)
    get = out.set_index(["group", "k", "metric"])["value"]
    # revenue @2: hits buyer0 item1 (10), buyer1 item2 (5) -> 15 / (40 + 60) = 0.15
    # revenue @3: + buyer0 item4 (30) -> 45 / 100 = 0.45; DE alone @3: 40/40 = 1; FR @3: 5/60
    assert get[("ALL", 2, "revenue_hit_rate")] == pytest.approx(0.15)
    assert get[("ALL", 3, "revenue_hit_rate")] == pytest.approx(0.45)
    assert get[("DE", 3, "revenue_hit_rate")] == pytest.approx(1.0)
    assert get[("FR", 3, "revenue_hit_rate")] == pytest.approx(5 / 60)
    # ALL averages over buyers: recall@3 = (1 + 1/3) / 2 = 2/3; MAP@3 = (7/12 + 1/6) / 2 = 3/8
    assert get[("ALL", 3, "recall")] == pytest.approx(2 / 3)
    assert get[("ALL", 3, "map")] == pytest.approx(3 / 8)
    assert get[("FR", 3, "precision")] == pytest.approx(1 / 3)
    # coverage per group: DE's list {3, 1, 4} = 0.3 of 10; FR @2: {0, 2} = 0.2
    assert get[("DE", 3, "coverage")] == pytest.approx(0.3)
    assert get[("FR", 2, "coverage")] == pytest.approx(0.2)
    assert get[("ALL", 0, "n_buyers")] == 2 and get[("DE", 0, "n_buyers")] == 1


def test_ranking_metrics_pads_short_rankings_to_max_k() -> None:
    # one recommendation [1] for relevant {1}; at k=5 precision = 1/5, recall = 1
    out = M.ranking_metrics(np.array([[1]]), csr([[1]], 3), [5], n_catalog=3)
    get = out.set_index(["group", "k", "metric"])["value"]
    assert get[("ALL", 5, "precision")] == pytest.approx(0.2)
    assert get[("ALL", 5, "recall")] == 1.0
    assert "revenue_hit_rate" not in set(out["metric"])
