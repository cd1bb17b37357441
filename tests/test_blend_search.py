"""The blend search's NDCG of a weighting against fusing and ranking it in full (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xsell.evaluation.core import rank_value
from xsell.evaluation.split import Targets
from xsell.evaluation.tuning import _weighting_scorer
from xsell.models.base import Ranking
from xsell.models.blend import fuse, plan_fusion
from xsell.vocab import Vocabulary


def _ranking(rng: np.random.Generator, buyers: np.ndarray, catalog: np.ndarray, depth: int) -> Ranking:
    """Distinct random items per buyer, best first, sometimes fewer than ``depth`` (padded)."""
    ids = np.full((len(buyers), depth), None, dtype=object)
    for i in range(len(buyers)):
        m = int(rng.integers(0, depth + 1))
        ids[i, :m] = rng.choice(catalog, size=m, replace=False)
    return Ranking(buyers, ids, np.where(ids == None, np.nan, 1.0).astype(np.float32))  # noqa: E711


def _targets(rng: np.random.Generator, buyers: np.ndarray, catalog: np.ndarray) -> Targets:
    items = Vocabulary(np.concatenate([catalog, np.array(["never-ranked"], dtype=object)]))
    relevant = sp.random(len(buyers), len(items), density=0.25, random_state=int(rng.integers(1 << 30)), format="csr")
    relevant.data[:] = 1.0
    return Targets("cross_sell", buyers, np.full(len(buyers), "DE", dtype=object), items, relevant, relevant.copy(), len(items), 0)


@pytest.mark.parametrize("seed", range(8))
def test_weighting_value_is_ndcg_of_the_fused_ranking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    buyers = np.array([f"b{i}" for i in range(int(rng.integers(1, 40)))], dtype=object)
    catalog = np.array([f"i{j:02d}" for j in range(int(rng.integers(3, 25)))], dtype=object)
    depth, k = int(rng.integers(1, 8)), int(rng.integers(1, 6))
    roles = {"personal": _ranking(rng, buyers, catalog, depth), "anchor": _ranking(rng, buyers, catalog, depth)}
    if seed % 2:
        roles["prior"] = _ranking(rng, buyers, catalog, depth)
    plan = plan_fusion(roles, rng.integers(0, 4, size=len(buyers)), depth)  # rank-normalised scores: many equal sums
    target = _targets(rng, buyers, catalog)
    value = _weighting_scorer(plan, target, k, None)
    for point in [(0.0, 0.0, None), (1.0, 0.0, None), (0.5, 1.0, None), (1.0, 1.0, 2.0), (0.25, 4.0, 0.0), (1.0, 0.5, 10.0)]:
        wa, wp, shrink = point
        idx, sc = fuse(plan, {"personal": 1.0, "anchor": wa, "prior": wp}, shrink, k)
        ids = np.full(idx.shape, None, dtype=object)
        ids[idx >= 0] = plan.items.id_of(idx[idx >= 0])
        assert value(point) == rank_value(Ranking(buyers, ids, sc), target, k)
