"""Pairwise association rules: hand-worked cases, mlxtend and arules on Groceries, the recommender."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shared_data import shared_data_dir
from xsell.interactions.matrix import InteractionMatrix, Interactions, TrainingData
from xsell.models.config import RulesConfig
from xsell.models.rules import EXTRA_RULE_COLUMNS, SIMILARITY_COLUMNS, AssociationRules, mine_pair_rules, top_k_rules
from xsell.schema import RULE_COLUMNS
from xsell.vocab import Vocabulary

METRICS = ["support", "confidence", "lift", "leverage", "conviction"]


def shared_data() -> Path | None:
    return shared_data_dir("groceries/groceries.csv")


def basket_matrix(baskets: list[list[str]], row_prefix: str = "t") -> InteractionMatrix:
    items = Vocabulary.from_values({i for b in baskets for i in b})
    rows = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    cols = items.index([i for b in baskets for i in b])
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(baskets), len(items)))
    return InteractionMatrix(m, Vocabulary([f"{row_prefix}{i:06d}" for i in range(len(baskets))]), items)


# N=4 baskets; counts A=3, B=2, C=2; pairs AB=2, AC=1, BC=1
TINY = basket_matrix([["A", "B"], ["A", "B", "C"], ["A"], ["C"]])


def as_dict(rules: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    return {(r.antecedent, r.consequent): r._asdict() for r in rules.itertuples(index=False)}


def test_tiny_by_hand() -> None:
    rules = mine_pair_rules(TINY, RulesConfig(min_support_count=1, lift_shrinkage=2.0))
    assert list(rules.columns) == list(RULE_COLUMNS) + list(EXTRA_RULE_COLUMNS)
    assert list(zip(rules.antecedent, rules.consequent)) == [
        ("A", "B"), ("A", "C"), ("B", "A"), ("B", "C"), ("C", "A"), ("C", "B")
    ]
    got = as_dict(rules)
    ab, ba, ca = got[("A", "B")], got[("B", "A")], got[("C", "A")]
    assert ab["count"] == 2 and ab["antecedent_count"] == 3 and ab["consequent_count"] == 2
    assert ab["support"] == pytest.approx(0.5)
    assert ab["confidence"] == pytest.approx(2 / 3)
    assert ab["lift"] == pytest.approx((2 / 3) / 0.5)
    assert ab["leverage"] == pytest.approx(0.5 - 0.75 * 0.5)
    assert ab["conviction"] == pytest.approx((1 - 0.5) / (1 - 2 / 3))
    assert ab["damped_lift"] == pytest.approx(1 + (4 / 3 - 1) * 2 / (2 + 2))
    assert ba["confidence"] == 1.0 and ba["conviction"] == math.inf  # mlxtend's convention
    assert ca["lift"] == pytest.approx(0.5 / 0.75)  # negative association kept: lift < 1
    strict = mine_pair_rules(TINY, RulesConfig(min_support_count=2))
    assert list(zip(strict.antecedent, strict.consequent)) == [("A", "B"), ("B", "A")]


def test_counts_ignore_non_binary_values() -> None:
    weighted = InteractionMatrix(TINY.matrix * 7.0, TINY.rows, TINY.cols)
    a = mine_pair_rules(TINY, RulesConfig(min_support_count=1))
    b = mine_pair_rules(weighted, RulesConfig(min_support_count=1))
    pd.testing.assert_frame_equal(a, b)


def test_top_k_rules_ties_are_deterministic() -> None:
    rules = pd.DataFrame({
        "antecedent": ["A", "A", "A", "A", "B"],
        "consequent": ["D", "C", "B", "E", "A"],
        "count": [5, 5, 9, 1, 3],
        "lift": [2.0, 2.0, 2.0, 3.0, 1.0],
    })
    top = top_k_rules(rules, "lift", 3)
    # A: E (3.0), then ties at 2.0 by count desc (B), then consequent id (C before D)
    assert list(zip(top.antecedent, top.consequent, top["rank"])) == [("A", "E", 1), ("A", "B", 2), ("A", "C", 3), ("B", "A", 1)]
    with pytest.raises(KeyError, match="nope"):
        top_k_rules(rules, "nope", 3)


# -- Groceries ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def groceries() -> tuple[InteractionMatrix, Path]:
    root = shared_data()
    folder = root / "groceries" if root else None
    if folder is None or not (folder / "groceries.csv").is_file():
        pytest.skip("shared Groceries data not available")
    baskets = [line.split(",") for line in (folder / "groceries.csv").read_text(encoding="utf-8").splitlines()]
    m = basket_matrix(baskets)
    assert m.shape == (9835, 169) and m.matrix.nnz == 43367  # README figures
    return m, folder


def min_count(min_support: float, n: int) -> int:
    """Smallest count c with c / n >= min_support."""
    c = math.ceil(min_support * n)
    return c - 1 if (c - 1) / n >= min_support else c


def test_groceries_equals_mlxtend(groceries) -> None:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    m, _ = groceries
    n = m.shape[0]
    ours = mine_pair_rules(m, RulesConfig(min_support_count=min_count(0.001, n)))
    onehot = pd.DataFrame(m.matrix.toarray().astype(bool), columns=list(m.cols.ids))
    itemsets = fpgrowth(onehot, min_support=0.001, use_colnames=True, max_len=2)
    ref = association_rules(itemsets, num_itemsets=n, metric="support", min_threshold=0.001)
    ref = ref[(ref["antecedents"].map(len) == 1) & (ref["consequents"].map(len) == 1)]
    ref = pd.DataFrame({
        "antecedent": ref["antecedents"].map(lambda s: next(iter(s))),
        "consequent": ref["consequents"].map(lambda s: next(iter(s))),
        **{k: ref[k].to_numpy() for k in METRICS},
    }).sort_values(["antecedent", "consequent"]).reset_index(drop=True)
    assert len(ours) == len(ref) > 5000
    assert (ours["antecedent"].to_numpy() == ref["antecedent"].to_numpy()).all()
    assert (ours["consequent"].to_numpy() == ref["consequent"].to_numpy()).all()
    for k in METRICS:
        np.testing.assert_allclose(ours[k].to_numpy(), ref[k].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_array_equal(ours["count"].to_numpy(), np.rint(ref["support"].to_numpy() * n).astype(int))


def test_groceries_equals_arules_single_item_rules(groceries) -> None:
    m, folder = groceries
    n = m.shape[0]
    ref = pd.read_csv(folder / "arules_rules_supp0.001_conf0.5.csv", dtype={"lhs": str, "rhs": str})
    lhs = ref["lhs"].str.slice(1, -1)
    ref = ref[(lhs != "") & ~lhs.str.contains(",", regex=False)].assign(
        antecedent=lhs, consequent=ref["rhs"].str.slice(1, -1)
    )
    ours = mine_pair_rules(m, RulesConfig(min_support_count=min_count(0.001, n)))
    ours = ours[ours["confidence"] >= 0.5]
    ref = ref.sort_values(["antecedent", "consequent"]).reset_index(drop=True)
    ours = ours.sort_values(["antecedent", "consequent"]).reset_index(drop=True)
    assert len(ours) == len(ref) > 0
    assert (ours["antecedent"].to_numpy() == ref["antecedent"].to_numpy()).all()
    assert (ours["consequent"].to_numpy() == ref["consequent"].to_numpy()).all()
    np.testing.assert_array_equal(ours["count"].to_numpy(), ref["count"].to_numpy())
    np.testing.assert_allclose(ours["antecedent_count"].to_numpy() / n, ref["coverage"].to_numpy(), rtol=1e-9)
    for k in ("support", "confidence", "lift"):
        np.testing.assert_allclose(ours[k].to_numpy(), ref[k].to_numpy(), rtol=1e-9, err_msg=k)


# -- the recommender ---------------------------------------------------------------------------
OWNED = InteractionMatrix(
    # X owns A; Y owns B and C; Z owns Q (not in the basket vocabulary)
    sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 2, 1, 0], [0, 0, 0, 1]], dtype=np.float32)),
    Vocabulary(["X", "Y", "Z"]),
    Vocabulary(["A", "B", "C", "Q"]),
)


def fitted(metric: str = "lift", top_k: int = 5) -> AssociationRules:
    data = TrainingData(Interactions(OWNED, OWNED, TINY))
    return AssociationRules(min_support_count=1, metric=metric, top_k=top_k).fit(data)


def test_similar_items_and_table() -> None:
    model = fitted("lift")
    r = model.similar_items(["A", "C", "nope"], n=3)
    # lift: A->B 4/3, A->C 2/3; C->B (1/2)/(1/2)=1, C->A 2/3
    assert r.ids[0].tolist() == ["B", "C", None]
    np.testing.assert_allclose(r.scores[0, :2], [4 / 3, 2 / 3], rtol=1e-6)
    assert r.ids[1].tolist() == ["B", "A", None]
    assert r.ids[2].tolist() == [None, None, None] and np.isnan(r.scores[2]).all()
    table = model.similarity_table()
    assert list(table.columns) == list(SIMILARITY_COLUMNS)
    assert table[table.item_id == "A"][["rank", "rec_item_id"]].values.tolist() == [[1, "B"], [2, "C"]]
    assert fitted("lift", top_k=1).product_product_score_.nnz == 3  # one consequent per item


def test_recommend_sums_owned_rule_scores() -> None:
    model = fitted("confidence")
    # confidence: A->B 2/3, A->C 1/3, B->A 1, B->C 1/2, C->A 1/2, C->B 1/2
    r = model.recommend(["Y", "X", "Z", "unknown"], n=2)
    assert r.ids[0].tolist() == ["A", None]  # B, C owned: A scores 1 + 1/2
    np.testing.assert_allclose(r.scores[0, 0], 1.5, rtol=1e-6)
    assert r.ids[1].tolist() == ["B", "C"]
    np.testing.assert_allclose(r.scores[1], [2 / 3, 1 / 3], rtol=1e-6)
    assert r.ids[2].tolist() == [None, None]  # owns only an item without rules
    assert r.ids[3].tolist() == [None, None]
    with_owned = model.recommend(["Y"], n=3, exclude_owned=False)
    # B: C->B 1/2; C: B->C 1/2; A: 1.5 -> A first, then B before C (vocabulary order)
    assert with_owned.ids[0].tolist() == ["A", "B", "C"]
    frame = r.to_frame("buying_center_id")
    assert len(frame) == 3


def test_conviction_scores_are_finite() -> None:
    model = fitted("conviction")
    assert model.rules_["conviction"].eq(math.inf).any()
    s = model.product_product_score_
    assert np.isfinite(s.data).all()
    # B->A has confidence 1: stored as (1 - s_A) * (n_B + 1) = (1 - 3/4) * 3
    b, a = model.items_.index(["B", "A"])
    assert s[b, a] == pytest.approx(0.75)


def test_save_load_roundtrip(tmp_path: Path) -> None:
    model = fitted("damped_lift")
    model.save(tmp_path / "m")
    loaded = AssociationRules.load(tmp_path / "m")
    assert loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(loaded.rules_, model.rules_)
    for a, b in ((model.recommend(["X", "Y"], n=3), loaded.recommend(["X", "Y"], n=3)),
                 (model.similar_items(["A", "B"], n=3), loaded.similar_items(["A", "B"], n=3))):
        assert a.ids.tolist() == b.ids.tolist()
        np.testing.assert_array_equal(a.scores, b.scores)


def test_unfitted_model_raises() -> None:
    from xsell.errors import ModelNotFittedError

    with pytest.raises(ModelNotFittedError):
        AssociationRules().similar_items(["A"])


# -- xsell rules step -------------------------------------------------------------------------
def _config(tmp_path: Path):
    from xsell.config import config_from_dict

    raw = {"workdir": "work", "data": {"order_lines": "x.csv"}, "rules": {"min_support_count": 1, "metric": "lift"}}
    return config_from_dict(raw, base_dir=tmp_path)


def test_export_rules_writes_sorted_csv(tmp_path: Path) -> None:
    from xsell.io.layout import Workdir
    from xsell.steps.rules import export_rules

    cfg = _config(tmp_path)
    # the TINY baskets as orders (plus a return order that must not form a basket)
    orders = {"o1": "AB", "o2": "ABC", "o3": "A", "o4": "C", "r1": "B"}
    lines = pd.DataFrame(
        [(o, p) for o, ps in orders.items() for p in ps], columns=["order_id", "product_id"]
    ).assign(
        order_date=pd.Timestamp("2024-01-01"), buying_center_id="B1", variant_id=lambda d: d["product_id"] + "-1",
        quantity=lambda d: np.where(d["order_id"] == "r1", -1.0, 1.0), net_value=1.0, is_custom=False,
        is_return=lambda d: d["order_id"] == "r1",
    )
    path = Workdir(cfg.workdir).order_lines
    path.parent.mkdir(parents=True)
    lines.to_parquet(path)
    out = export_rules(cfg, tmp_path / "out" / "rules.csv")
    got = pd.read_csv(out, dtype={"antecedent": str, "consequent": str})
    assert list(got.columns) == list(RULE_COLUMNS) + list(EXTRA_RULE_COLUMNS)
    # by antecedent, then lift desc: A->B 4/3, A->C 2/3; B->A 4/3, B->C 1; C->B 1, C->A 2/3
    assert list(zip(got.antecedent, got.consequent)) == [
        ("A", "B"), ("A", "C"), ("B", "A"), ("B", "C"), ("C", "B"), ("C", "A")
    ]
    assert got["count"].tolist() == [2, 1, 2, 1, 1, 1]


def test_export_rules_without_ingest_names_file(tmp_path: Path) -> None:
    from xsell.errors import InputDataError
    from xsell.steps.rules import export_rules

    with pytest.raises(InputDataError, match="xsell ingest") as err:
        export_rules(_config(tmp_path), tmp_path / "rules.csv")
    assert err.value.file.endswith("order_lines.parquet")
