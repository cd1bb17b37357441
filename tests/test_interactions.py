"""build_interactions / build_order_products on small hand-worked order-line frames."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from xsell.interactions.build import (
    _joint_ids,
    build_interactions,
    build_order_products,
    build_training_data,
    buyer_countries,
    cell_index,
    encode_lines,
    filter_lines,
)
from xsell.interactions.config import InteractionsConfig
from xsell.sparse import group_keys

COLUMNS = ["order_id", "order_date", "buying_center_id", "variant_id", "product_id", "quantity", "net_value",
           "is_custom", "is_return"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["quantity"] = df["quantity"].astype(float)
    df["net_value"] = df["net_value"].astype(float)
    return df


def cfg(**kw) -> InteractionsConfig:
    base = {"recency_half_life_days": None, "min_variant_support": 1}
    return InteractionsConfig(**(base | kw))


def dense(m) -> dict[tuple[str, str], float]:
    """{(row id, col id): value} of the stored entries."""
    coo = m.matrix.tocoo()
    return {(m.rows.ids[r], m.cols.ids[c]): float(v) for r, c, v in zip(coo.row, coo.col, coo.data)}


# B1 buys V1 (P1) twice in two orders, returns part; B2 buys and fully returns V2; B3 only returns.
NETTING = frame([
    ("o1", "2024-01-01", "B1", "V1", "P1", 4, 40, False, False),
    ("o2", "2024-01-11", "B1", "V1", "P1", 2, 20, False, False),
    ("o2", "2024-01-11", "B1", "V2", "P1", 1, 15, False, False),
    ("r1", "2024-01-21", "B1", "V1", "P1", -3, -30, False, True),
    ("o3", "2024-01-05", "B2", "V2", "P1", 1, 15, False, False),
    ("r2", "2024-01-06", "B2", "V2", "P1", -1, -15, False, True),
    ("o4", "2024-01-07", "B2", "V3", "P2", 2, 8, False, False),
    ("r3", "2024-01-08", "B3", "V3", "P2", -5, -20, False, True),
])


@pytest.mark.parametrize(
    ("weighting", "b1_v1", "b1_p1"),
    [
        ("binary", 1.0, 1.0),
        ("order_count", 2.0, 2.0),  # o1, o2 (the return order does not count)
        ("log_quantity", math.log1p(3.0), math.log1p(4.0)),  # V1: 4+2-3; P1: 4+2+1-3
        ("net_value", 30.0, 45.0),  # 40+20-30; 40+20+15-30
    ],
)
def test_weighting_is_net_of_returns(weighting: str, b1_v1: float, b1_p1: float) -> None:
    it = build_interactions(NETTING, cfg(weighting=weighting))
    assert list(it.buyer_products.rows.ids) == ["B1", "B2"]  # B3 only returned: no row
    assert it.buyer_variants.rows == it.buyer_products.rows
    bv, bp = dense(it.buyer_variants), dense(it.buyer_products)
    assert bv[("B1", "V1")] == pytest.approx(b1_v1)
    assert bp[("B1", "P1")] == pytest.approx(b1_p1)
    # B2 fully returned V2/P1: no cell; the return-only B3 never gets a cell
    assert ("B2", "V2") not in bv and ("B2", "P1") not in bp
    assert {k for k in bp if k[0] == "B2"} == {("B2", "P2")}
    assert it.buyer_products.matrix.dtype == np.float32


def test_recency_half_life() -> None:
    # as_of 2024-01-21: o1 is 20 days old (decay 1/4), o2 10 days (1/2), half-life 10 days
    as_of = pd.Timestamp("2024-01-21")
    got = {w: dense(build_interactions(NETTING, cfg(weighting=w, recency_half_life_days=10.0), as_of=as_of).buyer_variants)
           for w in ("binary", "order_count", "log_quantity", "net_value")}
    assert got["binary"][("B1", "V1")] == pytest.approx(0.5)  # most recent purchase
    assert got["order_count"][("B1", "V1")] == pytest.approx(0.25 + 0.5)
    mean_decay = (4 * 0.25 + 2 * 0.5) / 6  # quantity-weighted over the purchases
    assert got["log_quantity"][("B1", "V1")] == pytest.approx(math.log1p(3 * mean_decay), rel=1e-6)
    assert got["net_value"][("B1", "V1")] == pytest.approx(30 * mean_decay, rel=1e-6)
    # default as_of = latest order date (2024-01-21 here)
    default = dense(build_interactions(NETTING, cfg(weighting="order_count", recency_half_life_days=10.0)).buyer_variants)
    assert default == pytest.approx(got["order_count"])


def test_rows_are_union_when_netting_differs_between_levels() -> None:
    # B1 buys variant Va of P and returns variant Vb of P bought before the data window:
    # variant level Va > 0, product level P nets to 0.
    lines = frame([
        ("o1", "2024-01-01", "B1", "Va", "P", 2, 20, False, False),
        ("r1", "2024-01-02", "B1", "Vb", "P", -2, -20, False, True),
        ("o2", "2024-01-03", "B2", "Vb", "P", 1, 10, False, False),
    ])
    it = build_interactions(lines, cfg(weighting="binary"))
    assert list(it.buyer_variants.rows.ids) == ["B1", "B2"] == list(it.buyer_products.rows.ids)
    assert dense(it.buyer_variants) == {("B1", "Va"): 1.0, ("B2", "Vb"): 1.0}
    assert dense(it.buyer_products) == {("B2", "P"): 1.0}
    without = build_interactions(lines, cfg(weighting="binary"), variants=False)  # the rows without the variant matrix
    assert without.buyer_variants is None and without.variant_product is None
    assert list(without.buyer_products.rows.ids) == ["B1", "B2"] and dense(without.buyer_products) == {("B2", "P"): 1.0}


def _same_without_variants(full, without) -> None:
    assert without.buyer_variants is None and without.variant_product is None
    for name in ("buyer_products", "order_products"):
        a, b = getattr(full, name), getattr(without, name)
        assert a.rows == b.rows and a.cols == b.cols and a.matrix.dtype == b.matrix.dtype
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(a.matrix, part), getattr(b.matrix, part))


@pytest.mark.parametrize("seed", range(40))
def test_without_variants_the_product_matrices_and_rows_are_the_same(seed: int) -> None:
    # few buyers, products and variants, many returns (one variant's return beyond another's
    # purchase nets a product to <= 0 while a column stays positive), custom-made and rare variants
    rng = np.random.default_rng(seed)
    variants = [(f"P{p}", f"V{p}{v}", bool(rng.random() < 0.25)) for p in range(3) for v in range(3)]
    rows = []
    for i in range(int(rng.integers(5, 40))):
        product, variant, custom = variants[int(rng.integers(len(variants)))]
        returned = bool(rng.random() < 0.35)
        q = float(rng.integers(1, 4)) * (-1 if returned else 1)
        rows.append((f"o{i}", f"2024-01-{1 + i % 28:02d}", f"B{rng.integers(6)}", variant, product, q, 10 * q, custom, returned))
    lines = frame(rows)
    for c in (cfg(weighting="binary"), cfg(weighting="log_quantity", min_variant_support=2), cfg(weighting="order_count", min_variant_support=3, scaling="bm25")):
        full = build_interactions(lines, c)
        _same_without_variants(full, build_interactions(lines, c, variants=False))
        coded = encode_lines(lines)
        _same_without_variants(full, build_interactions(coded, c, variants=False, cells=cell_index(coded, c, variants=False)))


def test_custom_and_rare_variants_fold_into_product_column() -> None:
    lines = frame([
        # V1 bought by 3 buying centers: keeps its column with min_variant_support=3
        ("o1", "2024-01-01", "B1", "V1", "P1", 1, 1, False, False),
        ("o2", "2024-01-01", "B2", "V1", "P1", 1, 1, False, False),
        ("o3", "2024-01-01", "B3", "V1", "P1", 1, 1, False, False),
        # V2 bought by 2 (one of them returned it): support 1 -> folds into P1
        ("o1", "2024-01-01", "B1", "V2", "P1", 1, 1, False, False),
        ("o4", "2024-01-02", "B2", "V2", "P1", 1, 1, False, False),
        ("r1", "2024-01-03", "B2", "V2", "P1", -1, -1, False, True),
        # custom-made variants of P2 fold into P2 even when popular
        ("o1", "2024-01-01", "B1", "C1", "P2", 1, 1, True, False),
        ("o2", "2024-01-01", "B2", "C1", "P2", 1, 1, True, False),
        ("o3", "2024-01-01", "B3", "C1", "P2", 1, 1, True, False),
        ("o3", "2024-01-01", "B3", "C2", "P2", 1, 1, True, False),
    ])
    it = build_interactions(lines, cfg(weighting="order_count", min_variant_support=3))
    assert list(it.buyer_variants.cols.ids) == ["P1", "P2", "V1"]
    assert list(it.variant_product) == ["P1", "P2", "P1"]
    assert list(it.product_level_columns) == [True, True, False]
    bv = dense(it.buyer_variants)
    assert bv == {
        ("B1", "V1"): 1.0, ("B2", "V1"): 1.0, ("B3", "V1"): 1.0,
        ("B1", "P1"): 1.0,  # V2 folded; B2's V2 is netted out
        ("B1", "P2"): 1.0, ("B2", "P2"): 1.0,
        ("B3", "P2"): 1.0,  # C1 and C2 in the same order o3: one order
    }


def test_baskets_per_order_exclude_returns() -> None:
    op = build_interactions(NETTING, cfg()).order_products
    assert list(op.cols.ids) == ["P1", "P2"]
    assert dense(op) == {("o1", "P1"): 1.0, ("o2", "P1"): 1.0, ("o3", "P1"): 1.0, ("o4", "P2"): 1.0}
    assert op.cols == build_interactions(NETTING, cfg()).buyer_products.cols


def test_baskets_windowed_start_anchored() -> None:
    # days 0, 5, 9, 12 with N=7: baskets start at day 0 ({0, 5}) and day 9 ({9, 12}).
    # A gap-since-previous-order rule would have merged all four.
    lines = frame([
        ("a", "2024-01-01", "B1", "V1", "P1", 1, 1, False, False),
        ("b", "2024-01-06", "B1", "V2", "P2", 1, 1, False, False),
        ("c", "2024-01-10", "B1", "V3", "P3", 1, 1, False, False),
        ("d", "2024-01-13", "B1", "V1", "P1", 1, 1, False, False),
        ("e", "2024-01-13", "B2", "V2", "P2", 1, 1, False, False),
        ("f", "2024-01-20", "B2", "V3", "P3", 1, 1, False, False),  # exactly N days later: same basket
    ])
    op = build_order_products(lines, cfg(basket_window_days=7))
    assert list(op.rows.ids) == ["B1|2024-01-01", "B1|2024-01-10", "B2|2024-01-13"]
    assert dense(op) == {
        ("B1|2024-01-01", "P1"): 1.0, ("B1|2024-01-01", "P2"): 1.0,
        ("B1|2024-01-10", "P3"): 1.0, ("B1|2024-01-10", "P1"): 1.0,
        ("B2|2024-01-13", "P2"): 1.0, ("B2|2024-01-13", "P3"): 1.0,
    }


def test_tfidf_scaling_on_item_by_buyer_transpose() -> None:
    # binary 2 buyers x 3 products; items are documents, buyers the terms:
    # value = sqrt(x) * (log(n_items) - log1p(n_items the buyer has))
    lines = frame([
        ("o1", "2024-01-01", "B1", "V1", "P1", 1, 1, False, False),
        ("o1", "2024-01-01", "B1", "V2", "P2", 1, 1, False, False),
        ("o2", "2024-01-01", "B2", "V3", "P3", 1, 1, False, False),
    ])
    bp = dense(build_interactions(lines, cfg(weighting="binary", scaling="tfidf")).buyer_products)
    assert bp[("B1", "P1")] == pytest.approx(math.log(3) - math.log(3), abs=1e-7)
    assert bp[("B2", "P3")] == pytest.approx(math.log(3) - math.log(2), rel=1e-6)


def test_bm25_scaling_formula() -> None:
    lines = frame([
        ("o1", "2024-01-01", "B1", "V1", "P1", 1, 1, False, False),
        ("o2", "2024-01-01", "B2", "V1", "P1", 1, 1, False, False),
        ("o2", "2024-01-01", "B2", "V2", "P2", 1, 1, False, False),
        ("o3", "2024-01-01", "B3", "V3", "P3", 1, 1, False, False),
    ])
    k1, b = 1.2, 0.75
    bp = dense(build_interactions(lines, cfg(weighting="binary", scaling="bm25", bm25_k1=k1, bm25_b=b)).buyer_products)
    # documents = products (length = number of buyers): P1 2, P2 1, P3 1 -> mean 4/3
    # terms = buyers, df = products per buyer: B1 1, B2 2, B3 1; N = 3 products
    def w(doc_len: float, df: int) -> float:
        norm = (1 - b) + b * doc_len / (4 / 3)
        return (k1 + 1) / (k1 * norm + 1) * (math.log(3) - math.log1p(df))
    assert bp[("B1", "P1")] == pytest.approx(w(2, 1), rel=1e-6)
    assert bp[("B2", "P2")] == pytest.approx(w(1, 2), rel=1e-6)
    assert bp[("B3", "P3")] == pytest.approx(w(1, 1), rel=1e-6)


def test_line_order_does_not_matter() -> None:
    c = cfg(weighting="net_value", recency_half_life_days=30.0, min_variant_support=2, basket_window_days=3)
    a = build_interactions(NETTING, c)
    b = build_interactions(NETTING.sample(frac=1.0, random_state=3).reset_index(drop=True), c)
    for name in ("buyer_variants", "buyer_products", "order_products"):
        ma, mb = getattr(a, name), getattr(b, name)
        assert ma.rows == mb.rows and ma.cols == mb.cols
        assert (ma.matrix != mb.matrix).nnz == 0
    assert list(a.variant_product) == list(b.variant_product)


def test_filter_lines_half_open_interval() -> None:
    got = filter_lines(NETTING, start=pd.Timestamp("2024-01-05"), end=pd.Timestamp("2024-01-11"))
    assert sorted(got["order_id"]) == ["o3", "o4", "r2", "r3"]


def test_empty_lines_give_empty_matrices() -> None:
    empty = NETTING.iloc[:0]
    it = build_interactions(empty, cfg(scaling="bm25", basket_window_days=3))
    assert it.buyer_variants.shape == (0, 0) and it.buyer_products.shape == (0, 0)
    assert it.order_products.shape == (0, 0) and len(it.variant_product) == 0


# --- encoded lines: built once, windows taken from them ------------------------------------------

def _same_interactions(a, b) -> None:
    for name in ("buyer_variants", "buyer_products", "order_products"):
        ma, mb = getattr(a, name), getattr(b, name)
        assert ma.rows == mb.rows and ma.cols == mb.cols
        assert ma.matrix.dtype == mb.matrix.dtype
        np.testing.assert_array_equal(ma.matrix.indptr, mb.matrix.indptr)
        np.testing.assert_array_equal(ma.matrix.indices, mb.matrix.indices)
        np.testing.assert_array_equal(ma.matrix.data, mb.matrix.data)
    np.testing.assert_array_equal(a.variant_product, b.variant_product)


@pytest.mark.parametrize(
    "c",
    [
        cfg(recency_half_life_days=90.0, min_variant_support=3),
        cfg(weighting="order_count", scaling="bm25", basket_window_days=7),
        cfg(weighting="net_value", scaling="tfidf", min_variant_support=2),
    ],
    ids=["binary-decay", "order_count-bm25-sessions", "net_value-tfidf"],
)
def test_a_window_of_encoded_lines_builds_what_the_window_builds(retail_lines: pd.DataFrame, c: InteractionsConfig) -> None:
    lines = retail_lines.sample(frac=1.0, random_state=5)  # any line order, a shuffled index
    coded = encode_lines(lines)
    cutoff = lines["order_date"].quantile(0.6)
    window = filter_lines(lines, end=cutoff)
    assert 0 < len(window) < len(lines)
    _same_interactions(build_interactions(coded.part(window), c, as_of=cutoff), build_interactions(window, c, as_of=cutoff))
    _same_interactions(build_interactions(coded, c), build_interactions(lines, c))


def test_a_window_of_encoded_lines_is_its_encoding(retail_lines: pd.DataFrame) -> None:
    coded = encode_lines(retail_lines)
    window = retail_lines[(retail_lines["buying_center_id"].str[-1] < "5").to_numpy()]  # some buying centers only
    got, want = coded.part(window), encode_lines(window)
    for f in dataclasses.fields(want):
        if f.name != "index":
            np.testing.assert_array_equal(getattr(got, f.name), getattr(want, f.name), err_msg=f.name)
    assert len(want.buyer_ids) < len(coded.buyer_ids)  # the id axes shrink to the window's ids
    positions = np.flatnonzero((retail_lines["buying_center_id"].str[-1] < "5").to_numpy())
    shuffled = encode_lines(retail_lines.sample(frac=1.0, random_state=3))
    # positions in the encoded frame itself, and in a frame whose rows the codes find by their index
    for by_position in (coded.part(retail_lines, positions), shuffled.part(retail_lines, positions)):
        for f in dataclasses.fields(want):
            if f.name != "index":
                np.testing.assert_array_equal(getattr(by_position, f.name), getattr(want, f.name), err_msg=f.name)
    with pytest.raises(ValueError, match="not rows of the encoded frame"):
        coded.part(retail_lines.set_axis(retail_lines.index + len(retail_lines)))


def test_variant_columns_share_an_id_with_a_product() -> None:
    # V2 of P1 is folded (custom-made) into column "P1"; the variant id "P2" is also a product id:
    # its lines and P2's folded lines share the column "P2"
    lines = frame([
        ("o1", "2024-01-01", "B1", "P2", "P1", 1, 10, False, False),
        ("o1", "2024-01-01", "B1", "V2", "P1", 1, 10, True, False),
        ("o2", "2024-01-02", "B2", "V9", "P2", 1, 10, True, False),
        ("o2", "2024-01-02", "B2", "A0", "P3", 1, 10, False, False),
    ])  # fmt: skip
    it = build_interactions(lines, cfg())
    assert list(it.buyer_variants.cols.ids) == ["A0", "P1", "P2"]
    assert dense(it.buyer_variants) == {("B1", "P2"): 1.0, ("B1", "P1"): 1.0, ("B2", "P2"): 1.0, ("B2", "A0"): 1.0}
    assert list(it.variant_product) == ["P3", "P1", "P1"]  # "P2" holds P1's and P2's lines: the smallest


def test_joint_ids_is_the_sorted_union() -> None:
    rng = np.random.default_rng(3)
    pool = np.array([f"{c}{n}" for c in "ABCab" for n in range(40)] + ["", "Ä1", "é"], dtype=object)
    for _ in range(20):
        variants = np.array(sorted(set(rng.choice(pool, 30))), dtype=object)
        products = np.array(sorted(set(rng.choice(pool, rng.integers(0, 15)))), dtype=object)
        joint, vpos, ppos = _joint_ids(variants, products)
        assert list(joint) == sorted(set(variants) | set(products))
        assert list(joint[vpos]) == list(variants) and list(joint[ppos]) == list(products)


def test_group_codes_are_sorted_factorize() -> None:
    keys = np.random.default_rng(0).integers(-5, 10**12, 5000)
    keys[::7] = keys[0]
    uniques, codes = group_keys(keys)
    want_codes, want_uniques = pd.factorize(keys, sort=True)
    np.testing.assert_array_equal(uniques, want_uniques)
    np.testing.assert_array_equal(codes, want_codes)
    assert group_keys(np.array([], dtype=np.int64))[0].size == 0


def test_training_sets_share_the_basket_matrix_and_release_the_lines(retail_lines: pd.DataFrame) -> None:
    from xsell.evaluation.tuning import TrainingSets
    from xsell.interactions.build import buyer_countries

    coded = encode_lines(retail_lines)
    countries = buyer_countries(retail_lines)
    sets = TrainingSets(coded, None, countries, level="variant", as_of=None)
    decayed, plain, sessions = cfg(recency_half_life_days=90.0), cfg(), cfg(basket_window_days=7)
    weighed, columns = cfg(weighting="net_value", scaling="tfidf", recency_half_life_days=30.0), cfg(min_variant_support=3)
    for c in (decayed, plain, sessions, weighed, columns):
        _same_interactions(sets.get(c).interactions, build_interactions(coded, c))
    assert sets.get(plain).baskets is sets.get(decayed).baskets  # the basket matrix depends on the basket window only
    assert sets.get(sessions).baskets is not sets.get(plain).baskets
    assert sorted(sets._cells) == [1, 3]  # one cell index per min_variant_support, whatever the weights
    products = TrainingSets(coded, None, countries, level="product", as_of=None)  # product level: no variant matrix
    for c in (decayed, columns):
        _same_without_variants(build_interactions(coded, c), products.get(c).interactions)
    assert list(products._cells) == [None]  # one index: without variants the columns do not matter
    with pytest.raises(ValueError, match="built without variants"):
        _ = dataclasses.replace(products.get(plain), level="variant").buyer_items
    sets.release_lines([plain, cfg(weighting="order_count")])  # one not built yet: the lines stay
    assert sets.lines is coded and sets._cells
    sets.release_lines([plain, sessions])
    assert sets.lines is None and not sets._cells
    assert sets.get(decayed).baskets is sets.get(plain).baskets  # built ones stay
    with pytest.raises(ValueError, match="released"):
        sets.get(cfg(weighting="order_count"))


def test_a_cell_index_of_another_min_variant_support_is_refused(retail_lines: pd.DataFrame) -> None:
    coded = encode_lines(retail_lines)
    index = cell_index(coded, cfg(min_variant_support=1))
    _same_interactions(build_interactions(coded, cfg(min_variant_support=1), cells=index), build_interactions(coded, cfg(min_variant_support=1)))
    with pytest.raises(ValueError, match="min_variant_support=1"):
        build_interactions(coded, cfg(min_variant_support=3), cells=index)
    with pytest.raises(ValueError, match="without variants"):
        build_interactions(coded, cfg(min_variant_support=1), cells=index, variants=False)
    with pytest.raises(ValueError, match="variant matrix"):
        build_training_data(coded, None, cfg(), level="variant", countries=buyer_countries(retail_lines), variants=False)
