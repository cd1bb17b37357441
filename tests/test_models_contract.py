"""Contract suite run against every recommender, plus tests that each one learns real structure.

The data is generated here with a planted truth: two groups of buying centers buy from two
disjoint groups of items, so a model that learned anything recommends (unowned) items of the
buyer's own group and finds neighbours inside an item's own group.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from xsell.errors import ModelNotFittedError  # noqa: E402
from xsell.interactions.matrix import InteractionMatrix, TrainingData  # noqa: E402
from xsell.models.base import Recommender  # noqa: E402
from xsell.models.blend import Blend  # noqa: E402
from xsell.models.config import MODEL_NAMES  # noqa: E402
from xsell.models.ease import EASERecommender  # noqa: E402
from xsell.models.implicit_models import ALSRecommender, BPRRecommender, ItemKNNRecommender  # noqa: E402
from xsell.models.popularity import Popularity  # noqa: E402
from xsell.models.registry import MODELS as REGISTRY  # noqa: E402
from xsell.models.registry import load_model  # noqa: E402
from xsell.models.rp3beta import RP3betaRecommender  # noqa: E402
from xsell.models.rules import AssociationRules  # noqa: E402
from xsell.vocab import Vocabulary  # noqa: E402

N_PER_GROUP = 30
ITEMS_PER_GROUP = 10


def planted_blocks(seed: int = 0) -> tuple[InteractionMatrix, pd.Series]:
    """(60 buyers, 20 items): buyers g0_* buy 4-7 of items A*, buyers g1_* buy 4-7 of items B*.

    Weights are order counts 1-4. Also returns buyer -> country (group 0 DE, group 1 FR).
    """
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for group in (0, 1):
        for b in range(N_PER_GROUP):
            k = rng.integers(4, 8)
            items = rng.choice(ITEMS_PER_GROUP, size=k, replace=False) + group * ITEMS_PER_GROUP
            rows += [group * N_PER_GROUP + b] * k
            cols += items.tolist()
            vals += rng.integers(1, 5, size=k).tolist()
    buyers = [f"g{g}_{b:02d}" for g in (0, 1) for b in range(N_PER_GROUP)]
    items = [f"{'AB'[g]}{i:02d}" for g in (0, 1) for i in range(ITEMS_PER_GROUP)]
    matrix = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(len(buyers), len(items))
    )
    country = pd.Series(["DE"] * N_PER_GROUP + ["FR"] * N_PER_GROUP, index=buyers)
    return InteractionMatrix(matrix, Vocabulary(buyers), Vocabulary(items)), country


def small_blend() -> Blend:
    """EASE personal ranking + lift rules as anchors + per-country popularity prior."""
    return Blend(
        components={
            "personal": EASERecommender(l2=10.0),
            "anchor": AssociationRules(min_support_count=2, metric="lift", top_k=10),
            "prior": Popularity(scope="country"),
        },
        weights={"personal": 1.0, "anchor": 0.5, "prior": 0.3},
        prior_shrinkage=5.0,
        depth=20,
    )


# name -> (factory with small, test-sized hyper-parameters, what an unknown buyer gets:
# "popular" = the popularity counts, "prior" = a non-empty list, "none" = padding)
MODELS: dict[str, tuple[Callable[[], Recommender], str]] = {
    "popularity": (lambda: Popularity(), "popular"),
    "popularity_country": (lambda: Popularity(scope="country"), "popular"),
    "popularity_segment": (lambda: Popularity(scope="segment"), "popular"),
    "als": (lambda: ALSRecommender(factors=8, iterations=10, regularization=5.0, seed=7), "none"),
    "bpr": (lambda: BPRRecommender(factors=8, iterations=100, learning_rate=0.05, seed=7), "none"),
    "item_knn_cosine": (lambda: ItemKNNRecommender(similarity="cosine", K=10), "none"),
    "item_knn_bm25": (lambda: ItemKNNRecommender(similarity="bm25", K=10), "none"),
    "item_knn_tfidf": (lambda: ItemKNNRecommender(similarity="tfidf", K=10), "none"),
    "rules": (lambda: AssociationRules(min_support_count=2, metric="lift", top_k=10), "none"),
    "ease": (lambda: EASERecommender(l2=10.0), "none"),
    "rp3beta": (lambda: RP3betaRecommender(alpha=1.0, beta=0.3, K=10), "none"),
    "blend": (small_blend, "prior"),
}
LEARNERS = ["als", "bpr", "item_knn_cosine", "item_knn_bm25", "item_knn_tfidf", "rules", "ease", "rp3beta", "blend"]


def training_data(buyer_items: InteractionMatrix, country: pd.Series) -> TrainingData:
    """The matrix as training data; each buyer's items are also one basket (what the rules mine).
    Segments: the country's group name (the planted groups), so segment popularity has groups."""
    segment = country.map({"DE": "metal", "FR": "wood"})
    return TrainingData.of(buyer_items, buyer_country=country, buyer_segment=segment)


def fit(name: str, model: Recommender, buyer_items: InteractionMatrix, country: pd.Series) -> Recommender:
    """The one ``fit(data)`` every model has."""
    return model.fit(training_data(buyer_items, country))


def test_every_registered_model_is_in_this_suite():
    suite = {name.split("_")[0] if name.startswith("item_knn") else name for name in MODELS}
    suite = {"item_knn" if n == "item" else n for n in suite}
    assert tuple(REGISTRY) == MODEL_NAMES
    assert set(MODEL_NAMES) == suite


@pytest.fixture(scope="module")
def data() -> tuple[InteractionMatrix, pd.Series]:
    return planted_blocks()


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, data) -> tuple[str, Recommender]:
    buyer_items, country = data
    model = MODELS[request.param][0]()
    assert fit(request.param, model, buyer_items, country) is model
    return request.param, model


def owned_ids(buyer_items: InteractionMatrix, buyer: str) -> set[str]:
    row = buyer_items.matrix[buyer_items.rows.index([buyer])[0]]
    return set(buyer_items.cols.id_of(row.indices[row.data > 0]))


def assert_well_formed(ranking, n_queries: int, n: int) -> None:
    assert ranking.ids.shape == ranking.scores.shape == (n_queries, n)
    for ids, scores in zip(ranking.ids, ranking.scores):
        present = np.array([i is not None for i in ids])
        # padding only at the end, never holes in the middle
        assert not np.any(present[1:] & ~present[:-1])
        assert np.all(np.isnan(scores[~present]))
        kept = scores[present]
        assert np.all(np.isfinite(kept))
        assert np.all(np.diff(kept) <= 1e-6), "best first"
        assert len(set(ids[present])) == present.sum(), "no duplicates"


# -- contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_unfitted_model_raises(name, tmp_path):
    model = MODELS[name][0]()
    assert not model.is_fitted
    with pytest.raises(ModelNotFittedError):
        model.recommend(["g0_00"], n=3)
    with pytest.raises(ModelNotFittedError):
        model.similar_items(["A00"], n=3)
    with pytest.raises(ModelNotFittedError):
        model.save(tmp_path / "m")


def test_fit_sets_learned_attributes(fitted):
    _, model = fitted
    learned = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert {"items_", "buyers_", "buyer_items_"} <= set(learned)
    assert model.is_fitted


def test_recommend_shapes_order_and_owned_excluded(fitted, data):
    buyer_items, _ = data
    _, model = fitted
    buyers = list(buyer_items.rows.ids[::7])
    ranking = model.recommend(buyers, n=5, exclude_owned=True)
    assert_well_formed(ranking, len(buyers), 5)
    assert ranking.queries.tolist() == buyers
    for buyer, ids in zip(buyers, ranking.ids):
        recs = {i for i in ids if i is not None}
        assert recs, f"{buyer} got nothing"
        assert not recs & owned_ids(buyer_items, buyer)


def test_recommend_without_exclusion_may_return_owned(fitted, data):
    buyer_items, _ = data
    name, model = fitted
    buyer = "g0_00"
    ranking = model.recommend([buyer], n=20, exclude_owned=False)
    assert_well_formed(ranking, 1, 20)
    recs = {i for i in ranking.ids[0] if i is not None}
    # with 20 slots and nothing filtered the owned items are candidates again
    assert recs & owned_ids(buyer_items, buyer)


def test_n_larger_than_catalogue_is_padded(fitted, data):
    buyer_items, _ = data
    _, model = fitted
    ranking = model.recommend(["g1_03"], n=len(buyer_items.cols) + 5)
    assert_well_formed(ranking, 1, len(buyer_items.cols) + 5)
    assert ranking.ids[0][-1] is None


def test_unknown_buyers_padded_or_popular(fitted, data):
    buyer_items, _ = data
    name, model = fitted
    ranking = model.recommend(["nobody", "g0_01"], n=4)
    assert_well_formed(ranking, 2, 4)
    unknown = MODELS[name][1]
    if unknown == "popular":
        counts = np.asarray((buyer_items.matrix > 0).sum(axis=0)).ravel()
        assert ranking.scores[0].tolist() == sorted(counts.tolist(), reverse=True)[:4]
    elif unknown == "prior":
        assert all(i is not None for i in ranking.ids[0])
    else:
        assert all(i is None for i in ranking.ids[0])
    assert ranking.ids[1][0] is not None


def test_similar_items_never_self(fitted, data):
    buyer_items, _ = data
    _, model = fitted
    items = list(buyer_items.cols.ids)
    ranking = model.similar_items(items + ["no-such-item"], n=4)
    assert_well_formed(ranking, len(items) + 1, 4)
    for item, ids in zip(items, ranking.ids):
        assert item not in set(ids)
        assert ids[0] is not None


def test_similarity_table(fitted, data):
    buyer_items, _ = data
    _, model = fitted
    table = model.similarity_table(n=3)
    # the contract's four columns first; a model may add its evidence after them (rules do)
    assert list(table.columns[:4]) == ["item_id", "rank", "rec_item_id", "score"]
    assert set(table["item_id"]) == set(buyer_items.cols.ids)
    assert (table["item_id"] != table["rec_item_id"]).all()
    assert table.groupby("item_id")["rank"].max().max() <= 3


def test_save_load_roundtrip_without_pickle(fitted, data, tmp_path):
    buyer_items, _ = data
    _, model = fitted
    model.save(tmp_path)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["name"] == model.name
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.name == model.name
    assert loaded.get_params() == model.get_params()
    buyers = list(buyer_items.rows.ids) + ["nobody"]
    for exclude in (True, False):
        a = model.recommend(buyers, n=6, exclude_owned=exclude)
        b = loaded.recommend(buyers, n=6, exclude_owned=exclude)
        assert (a.ids == b.ids).all()
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    items = list(buyer_items.cols.ids)
    a, b = model.similar_items(items, n=5), loaded.similar_items(items, n=5)
    assert (a.ids == b.ids).all()
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_same_params_same_data_same_output(fitted, data):
    buyer_items, country = data
    name, model = fitted
    again = fit(name, MODELS[name][0](), buyer_items, country)
    buyers = list(buyer_items.rows.ids)
    a, b = model.recommend(buyers, n=5), again.recommend(buyers, n=5)
    assert (a.ids == b.ids).all()
    np.testing.assert_array_equal(a.scores, b.scores)


def test_get_params_roundtrip(fitted):
    _, model = fitted
    params = model.get_params()
    json.dumps(params)
    clone = type(model)(**params)
    assert clone.get_params() == params
    assert not clone.is_fitted and clone.name == model.name


# -- learning: planted structure ----------------------------------------------------------
def group_of(item_or_buyer: str) -> int:
    """Planted group: items A* and buyers g0_* are group 0."""
    return 0 if item_or_buyer.startswith(("A", "g0")) else 1


@pytest.fixture(scope="module", params=LEARNERS)
def learner(request, data) -> Recommender:
    """Each learning model fitted once on the planted blocks."""
    buyer_items, country = data
    return fit(request.param, MODELS[request.param][0](), buyer_items, country)


def test_recommends_unowned_items_of_own_group(learner, data):
    buyer_items, _ = data
    model = learner
    buyers = list(buyer_items.rows.ids)
    ranking = model.recommend(buyers, n=2)
    for buyer, ids in zip(buyers, ranking.ids):
        assert all(i is not None and group_of(i) == group_of(buyer) for i in ids), (buyer, ids)


def test_similar_items_stay_in_group(learner, data):
    buyer_items, _ = data
    model = learner
    items = list(buyer_items.cols.ids)
    ranking = model.similar_items(items, n=3)
    for item, ids in zip(items, ranking.ids):
        assert all(i is not None and group_of(i) == group_of(item) for i in ids), (item, ids)


# -- popularity: expected values worked out by hand ----------------------------------------
@pytest.fixture()
def small() -> tuple[InteractionMatrix, pd.Series]:
    """b1: A x5, B x1 | b2: A, C | b3: B x2, C x3 | b4: D x10, A -1 (returned) | b5: C.

    Distinct positive buyers: A 2 (b4's net return does not count), B 2, C 3, D 1; summed
    weights would put D (10) first. Countries: b1, b2 DE; b3, b4, b5 FR; b6 FR (no history).
    """
    cells = {("b1", "A"): 5, ("b1", "B"): 1, ("b2", "A"): 1, ("b2", "C"): 1, ("b3", "B"): 2,
             ("b3", "C"): 3, ("b4", "D"): 10, ("b4", "A"): -1, ("b5", "C"): 1}  # fmt: skip
    buyers, items = Vocabulary(["b1", "b2", "b3", "b4", "b5"]), Vocabulary(["A", "B", "C", "D"])
    r = buyers.index([b for b, _ in cells])
    c = items.index([i for _, i in cells])
    matrix = sp.csr_matrix((np.asarray(list(cells.values()), dtype=np.float32), (r, c)), shape=(5, 4))
    country = pd.Series(["DE", "DE", "FR", "FR", "FR", "FR"], index=["b1", "b2", "b3", "b4", "b5", "b6"])
    return InteractionMatrix(matrix, buyers, items), country


def test_popularity_counts_distinct_buyers_ties_by_id(small):
    buyer_items, _ = small
    model = Popularity().fit(TrainingData.of(buyer_items))
    r = model.recommend(["b1", "b4", "stranger"], n=3)
    # b4 owns only D: its returned A is not owned, so A stays recommendable
    assert r.ids.tolist() == [["C", "D", None], ["C", "A", "B"], ["C", "A", "B"]]
    assert r.scores[2].tolist() == [3, 2, 2]
    assert model.recommend(["b1"], n=3, exclude_owned=False).ids.tolist() == [["C", "A", "B"]]
    assert model.similar_items(["C", "A"], n=2).ids.tolist() == [["A", "B"], ["C", "B"]]


def test_popularity_by_country(small):
    buyer_items, country = small
    model = Popularity(scope="country").fit(TrainingData.of(buyer_items, buyer_country=country))
    r = model.recommend(["b2", "b6", "b1", "stranger"], n=4, exclude_owned=True)
    # DE: A 2, B 1, C 1 then D (nobody in DE: score 0); FR: C 2, B 1, D 1 then A
    assert r.ids.tolist() == [
        ["B", "D", None, None],
        ["C", "B", "D", "A"],
        ["C", "D", None, None],
        ["C", "A", "B", "D"],
    ]
    assert r.scores[1].tolist() == [2, 1, 1, 0]
    assert r.scores[0].tolist()[:2] == [1, 0]


def test_popularity_without_groups_is_the_global_list(small):
    buyer_items, _ = small
    glob = Popularity().fit(TrainingData.of(buyer_items)).recommend(["b1", "b3"], n=3)
    for scope in ("country", "segment"):
        grouped = Popularity(scope=scope).fit(TrainingData.of(buyer_items)).recommend(["b1", "b3"], n=3)
        assert grouped.ids.tolist() == glob.ids.tolist()


def test_popularity_by_segment(small):
    buyer_items, country = small
    # b1, b3 "metal"; b2, b5 "wood"; b4 and b6 have no segment (global list)
    segment = pd.Series(["metal", "wood", "metal", "", "wood", ""], index=["b1", "b2", "b3", "b4", "b5", "b6"])
    model = Popularity(scope="segment").fit(TrainingData.of(buyer_items, buyer_country=country, buyer_segment=segment))
    assert model.name == "popularity_segment"
    r = model.recommend(["b2", "b3", "b6"], n=4)
    # wood: C 2, A 1 then B, D (global order, score 0); metal: B 2, A 1, C 1 then D
    assert r.ids.tolist() == [["B", "D", None, None], ["A", "D", None, None], ["C", "A", "B", "D"]]
    assert r.scores[0].tolist()[:2] == [0, 0]


# -- against references: dense numpy scoring, numpy factor cosine --------------------------
@pytest.mark.parametrize("similarity", ["cosine", "bm25", "tfidf"])
@pytest.mark.parametrize("exclude_owned", [True, False])
def test_item_knn_recommend_equals_dense_scoring(similarity, exclude_owned, data):
    """score(buyer, item) = sum over owned items of weight x similarity, computed densely."""
    buyer_items, _ = data
    model = ItemKNNRecommender(similarity=similarity, K=6).fit(TrainingData.of(buyer_items))
    dense = buyer_items.matrix.toarray() @ model.similarity_.toarray()
    if exclude_owned:
        dense[buyer_items.matrix.toarray() > 0] = 0
    got = model.recommend(list(buyer_items.rows.ids), n=5, exclude_owned=exclude_owned)
    for row in range(buyer_items.shape[0]):
        candidates = np.sort(dense[row][dense[row] > 0])[::-1][:5]
        present = [i is not None for i in got.ids[row]]
        np.testing.assert_allclose(got.scores[row][present], candidates, rtol=1e-5)
        cols = buyer_items.cols.index([i for i in got.ids[row] if i is not None])
        np.testing.assert_allclose(dense[row][cols], candidates, rtol=1e-5)


def test_als_similar_items_is_factor_cosine(data):
    buyer_items, _ = data
    model = MODELS["als"][0]().fit(TrainingData.of(buyer_items))
    unit = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    expected = np.argsort(-cosine, axis=1)[:, :3]
    got = model.similar_items(list(buyer_items.cols.ids), n=3)
    assert got.ids.tolist() == buyer_items.cols.id_of(expected.ravel()).reshape(expected.shape).tolist()
    np.testing.assert_allclose(got.scores, np.take_along_axis(cosine, expected, axis=1), rtol=1e-4)


def test_ease_equals_the_closed_form_in_numpy(data):
    """B = I - P / diag(P), P = (X'X + l2 I)^-1, scores x B (Steck 2019), computed densely."""
    buyer_items, _ = data
    model = EASERecommender(l2=10.0).fit(TrainingData.of(buyer_items))
    x = buyer_items.matrix.toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 10.0 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, rtol=1e-4, atol=1e-6)
    dense = x @ b
    dense[x > 0] = -np.inf
    got = model.recommend(list(buyer_items.rows.ids), n=4)
    expected = np.argsort(-dense, axis=1, kind="stable")[:, :4]
    np.testing.assert_allclose(got.scores, np.take_along_axis(dense, expected, axis=1), rtol=1e-4)


def test_ease_gram_in_column_blocks_on_threads_equals_the_product(data):
    """``gram`` builds X'X from column blocks, several at a time: the same numbers as one product."""
    from xsell.models.ease import gram

    buyer_items, _ = data
    x = sp.csr_matrix(buyer_items.matrix, dtype=np.float64)
    expected = (x.T @ x).toarray()
    for block, workers in ((3, 1), (3, 2), (2, 4), (1000, 2)):
        got = gram(x, block, workers=workers)
        assert got.flags.f_contiguous
        np.testing.assert_array_equal(got, expected)


def test_ease_models_only_the_most_bought_items(data):
    buyer_items, _ = data
    model = EASERecommender(l2=10.0, max_items=5).fit(TrainingData.of(buyer_items))
    buyers_per_item = np.asarray((buyer_items.matrix > 0).sum(axis=0)).ravel()
    top5 = set(buyer_items.cols.id_of(np.lexsort((np.arange(len(buyers_per_item)), -buyers_per_item))[:5]))
    assert set(buyer_items.cols.id_of(model.kept_)) == top5
    recs = model.recommend(list(buyer_items.rows.ids), n=10)
    assert {i for i in recs.ids.ravel() if i is not None} <= top5


def test_rp3beta_equals_the_random_walk_in_numpy(data):
    """W = (P_iu^a P_ui^a) / degree^beta without the diagonal, K kept per row, scores x W."""
    buyer_items, _ = data
    alpha, beta = 0.8, 0.4
    model = RP3betaRecommender(alpha=alpha, beta=beta, K=1000).fit(TrainingData.of(buyer_items))
    x = (buyer_items.matrix.toarray() > 0).astype(np.float64)
    p_ui = (x / x.sum(axis=1, keepdims=True)) ** alpha
    p_iu = (x.T / x.T.sum(axis=1, keepdims=True)) ** alpha
    w = (p_iu @ p_ui) / (x.sum(axis=0)[None, :] ** beta)
    np.fill_diagonal(w, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), w, rtol=1e-5, atol=1e-9)
    scores = x @ w
    scores[x > 0] = -np.inf
    got = model.recommend(list(buyer_items.rows.ids), n=3)
    expected = np.sort(scores, axis=1)[:, ::-1][:, :3]
    np.testing.assert_allclose(got.scores, expected, rtol=1e-5)


def test_rp3beta_keeps_k_neighbours_per_item(data):
    buyer_items, _ = data
    model = RP3betaRecommender(K=3).fit(TrainingData.of(buyer_items))
    assert np.diff(model.similarity_.indptr).max() == 3
    assert model.similarity_.diagonal().sum() == 0


def test_blend_fuses_rank_normalised_components_by_hand(small):
    """Two buyers, depth 4: personal ranks, prior ranks; norm = 1 - (r - 1) / 4."""
    buyer_items, country = small
    data = TrainingData.of(buyer_items, buyer_country=country)
    blend = Blend(
        components={"personal": Popularity(), "prior": Popularity(scope="country")},
        weights={"personal": 1.0, "prior": 0.5},
        depth=4,
    ).fit(data)
    # b2 (DE, owns A, C): global unowned B (0.75 after C, A dropped: rank 1 -> 1.0), D (0.75)
    #   country DE unowned: B (1.0), D (0.75)  -> B: 1.0 + 0.5, D: 0.75 + 0.375
    r = blend.recommend(["b2"], n=3)
    assert r.ids.tolist() == [["B", "D", None]]
    np.testing.assert_allclose(r.scores[0][:2], [1.5, 1.125])
    # history shrinkage s = 1: b2 owns 2 items -> prior weight 0.5 * 1 / 3
    shrunk = Blend(
        components={"personal": Popularity(), "prior": Popularity(scope="country")},
        weights={"personal": 1.0, "prior": 0.5}, prior_shrinkage=1.0, depth=4,
    ).fit(data)  # fmt: skip
    np.testing.assert_allclose(shrunk.recommend(["b2"], n=2).scores[0], [1.0 + 0.5 / 3, 0.75 + 0.375 / 3])
    # a stranger owns nothing: full prior weight, personal = global list
    assert shrunk.recommend(["stranger"], n=1).ids.tolist() == [["C"]]


def test_blend_saves_and_loads_its_components(data, tmp_path):
    buyer_items, country = data
    blend = small_blend().fit(training_data(buyer_items, country))
    blend.save(tmp_path / "b")
    loaded = load_model(tmp_path / "b")
    assert {r: m.name for r, m in loaded.components.items()} == {"personal": "ease", "anchor": "rules", "prior": "popularity_country"}
    assert loaded.config.personal == "ease"


@pytest.mark.parametrize("exclude_owned", [True, False])
@pytest.mark.parametrize("threads", [1, 3])
def test_item_knn_scorer_calls_equal_implicits_batch_recommend(exclude_owned, threads, data, monkeypatch):
    """The per-buyer scorer calls on ``buyer_items_`` in place give implicit's own batch result:
    the same ids in the same order (ties included) and the same scores, also for buyers with
    fewer candidates than n (padding) and for a subset of buyers in any order; split over
    threads (one buyer per thread at least here) as on one."""
    from xsell.models import implicit_models

    monkeypatch.setattr(implicit_models, "_ROWS_PER_THREAD", 1)
    buyer_items, _ = data
    model = ItemKNNRecommender(similarity="cosine", K=6, num_threads=threads).fit(TrainingData.of(buyer_items))
    rows = np.r_[np.arange(buyer_items.shape[0])[::-1], 3, 3]
    for n in (3, 12):
        want_ids, want_scores = model._implicit().recommend(rows.astype(np.int32), model.buyer_items_[rows], N=n, filter_already_liked_items=exclude_owned)
        got_ids, got_scores = model._scorer_top_n(rows, n, exclude_owned)
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_equal(got_scores, want_scores)
        assert (got_ids == -1).any() == (n == 12)
