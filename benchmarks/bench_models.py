"""Benchmark: fit + batch recommend of every recommender on a demo-``medium``-sized matrix.

Script mode builds a synthetic heavy-tailed (n_buyers, n_products) matrix (~20k x 50k,
~1.5M nnz by default), then times for each model ``fit`` and ``recommend`` for all buyers
(n=10, owned items excluded), printing seconds and the process's peak RSS so far.
Target: ALS (64 factors, 15 iterations) fits in < 60 s on 2 cores (``benchmarks/run.py
--scale medium`` checks it on the demo data; this script adds batch recommend).

    python benchmarks/bench_models.py
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import scipy.sparse as sp

from common import measure  # sets OPENBLAS_NUM_THREADS=1 unless set
from xsell.interactions.matrix import InteractionMatrix, TrainingData
from xsell.models.base import Recommender
from xsell.models.ease import EASERecommender
from xsell.models.implicit_models import ALSRecommender, BPRRecommender, ItemKNNRecommender
from xsell.models.popularity import Popularity
from xsell.models.rp3beta import RP3betaRecommender
from xsell.vocab import Vocabulary


def synthetic_buyer_items(
    n_buyers: int = 20_000, n_items: int = 50_000, nnz: int = 1_500_000, seed: int = 0
) -> InteractionMatrix:
    """Heavy-tailed (n_buyers, n_items) order-count matrix: log-normal buyer activity and
    Zipf-like item popularity; roughly ``nnz`` distinct cells after duplicates merge."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_buyers)
    # draws are merged into cells, so draw a little more than the target
    draws = np.maximum(1, np.round(activity / activity.sum() * nnz * 1.15)).astype(np.int64)
    popularity = 1.0 / (np.arange(n_items) + 10.0) ** 0.9
    rows = np.repeat(np.arange(n_buyers), draws)
    cols = rng.permutation(n_items)[rng.choice(n_items, size=len(rows), p=popularity / popularity.sum())]
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_buyers, n_items))
    matrix.sum_duplicates()
    return InteractionMatrix(
        matrix,
        Vocabulary([f"BC{i:06d}" for i in range(n_buyers)]),
        Vocabulary([f"P{i:06d}" for i in range(n_items)]),
    )


def default_models() -> dict[str, Recommender]:
    """The models timed, with the production default hyper-parameters."""
    return {
        "popularity": Popularity(),
        "als": ALSRecommender(factors=64, iterations=15),
        "bpr": BPRRecommender(factors=64, iterations=100),
        "item_knn": ItemKNNRecommender(similarity="cosine", K=50),
        "ease": EASERecommender(),
        "rp3beta": RP3betaRecommender(),
    }


def main(buyer_items: InteractionMatrix, models: dict[str, Recommender] | None = None, n: int = 10) -> dict:
    """Time fit and all-buyer recommend per model; returns ``{model: {fit_s, recommend_s, peak_mib}}``."""
    buyers = list(buyer_items.rows.ids)
    results: dict[str, dict[str, float]] = {}
    for name, model in (models or default_models()).items():
        with measure() as fit:
            model.fit(TrainingData.of(buyer_items))
        with measure() as rec:
            model.recommend(buyers, n=n, exclude_owned=True)
        results[name] = {"fit_s": round(fit.seconds, 2), "recommend_s": round(rec.seconds, 2), "peak_mib": round(rec.peak_mib)}
        print(f"{name:12s} fit {fit.seconds:7.2f} s  recommend({len(buyers)} buyers) {rec.seconds:6.2f} s  peak {rec.peak_mib:6.0f} MiB", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=1_500_000)
    args = parser.parse_args()
    with measure() as built:
        data = synthetic_buyer_items(args.buyers, args.items, args.nnz)
    print(f"matrix {data.shape[0]} x {data.shape[1]}, nnz {data.matrix.nnz:,} built in {built.seconds:.1f} s, cores {os.cpu_count()}")
    main(data)
