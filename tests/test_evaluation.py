"""Temporal split, targets, evaluation core, selection and sweep expansion on tiny hand-made data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from xsell.config import config_from_dict
from xsell.configbase import StrictModel
from xsell.errors import ConfigError
from xsell.evaluation.backtest import WINDOW_COLUMNS
from xsell.evaluation.config import EvaluationConfig, SweepConfig
from xsell.evaluation.core import evaluate_models, evaluate_rankings, evaluate_similar_items, ranking_frame, sequential_pairs
from xsell.evaluation.report import metrics_table
from xsell.evaluation.selection import CHALLENGER, CHAMPION, decide_alias, select_champion
from xsell.evaluation.split import build_targets, evaluation_cutoffs, plan_windows, sample_buyers, split_at, temporal_split
from xsell.evaluation.sweep import apply_overrides, expand_sweep
from xsell.interactions.build import buyer_countries, encode_lines
from xsell.interactions.matrix import InteractionMatrix, TrainingData
from xsell.models.base import Ranking, Recommender
from xsell.schema import METRIC_COLUMNS
from xsell.vocab import Vocabulary

# (buying_center, country, product, date, quantity, net_value)
ROWS = [
    ("B1", "DE", "P2", "2024-01-10", 1, 20.0),
    ("B1", "DE", "P1", "2024-02-25", 1, 10.0),
    ("B1", "DE", "P2", "2024-03-05", 2, 20.0),  # reorder
    ("B1", "DE", "P3", "2024-03-05", 1, 30.0),  # cross-sell
    ("B1", "DE", "P5", "2024-03-10", -1, -5.0),  # a return: never a purchase
    ("B1", "DE", "P4", "2024-03-20", 5, 50.0),  # cross-sell
    ("B1", "DE", "P6", "2024-03-31", 1, 9.0),  # after the 30-day test window
    ("B2", "FR", "P1", "2024-01-15", 1, 10.0),
    ("B2", "FR", "P1", "2024-03-10", 1, 10.0),  # reorder only -> no cross-sell target
    ("B3", "DE", "P3", "2024-02-01", 1, 30.0),
    ("B3", "DE", "P1", "2024-03-12", -1, -10.0),  # return only -> not evaluated
    ("B4", "FR", "P2", "2024-03-15", 1, 20.0),  # new buyer: no history
]
CUTOFF = pd.Timestamp("2024-03-01")


def make_lines(rows: Sequence[tuple] = ROWS) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["buying_center_id", "country", "product_id", "order_date", "quantity", "net_value"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["order_id"] = [f"O{i}" for i in range(len(frame))]
    frame["customer_id"] = frame["buying_center_id"]
    frame["variant_id"] = frame["product_id"] + "-V"
    frame["unit_price"] = frame["net_value"] / frame["quantity"]
    frame["is_custom"] = False
    frame["is_return"] = frame["quantity"] < 0
    return frame


def ecfg(**kw: Any) -> EvaluationConfig:
    return EvaluationConfig(**{"test_days": 30, "k": [1, 3], "rank_k": 3, **kw})


@pytest.fixture
def split():
    return temporal_split(make_lines(), ecfg(cutoff=CUTOFF.date()))


def test_split_is_half_open_and_default_cutoff_ends_on_last_day() -> None:
    lines = make_lines()
    s = temporal_split(lines, ecfg(cutoff=CUTOFF.date()))
    assert s.end == pd.Timestamp("2024-03-31")
    assert s.train["order_date"].max() < CUTOFF <= s.test["order_date"].min()
    assert len(s.train) == 4 and len(s.test) == 7  # the 03-31 line is in neither
    # last order 2024-03-31, test_days 31 -> cutoff 2024-03-01, window 03-01..03-31 inclusive
    d = temporal_split(lines, ecfg(test_days=31))
    assert d.cutoff == CUTOFF and d.end == pd.Timestamp("2024-04-01") and len(d.test) == 8
    with pytest.raises(ConfigError, match="evaluation.cutoff"):
        temporal_split(lines, ecfg(cutoff=pd.Timestamp("2024-04-05").date()))


def test_rolling_cutoffs_step_back_from_the_latest() -> None:
    cfg = ecfg(cutoff=CUTOFF.date(), rolling={"n_cutoffs": 3, "step_days": 7})
    assert evaluation_cutoffs(make_lines(), cfg) == [pd.Timestamp(d) for d in ("2024-02-16", "2024-02-23", "2024-03-01")]


def test_targets_cross_sell_and_reorder(split) -> None:
    t = build_targets(split)
    cs, re = t["cross_sell"], t["reorder"]
    assert cs.items.ids.tolist() == ["P1", "P2", "P3", "P4"]  # P5 only returned, P6 outside
    assert cs.n_catalog == 3  # P1, P2, P3 bought before the cutoff
    assert cs.buyers.tolist() == ["B1"] and cs.countries.tolist() == ["DE"]
    assert cs.items.id_of(cs.relevant[0].indices).tolist() == ["P3", "P4"]
    assert cs.values.toarray()[0].tolist() == [0.0, 0.0, 30.0, 50.0]
    assert cs.n_new_buyers == 1  # B4
    assert re.buyers.tolist() == ["B1", "B2"] and re.countries.tolist() == ["DE", "FR"]
    assert [re.items.id_of(re.relevant[i].indices).tolist() for i in range(2)] == [["P2"], ["P1"]]


def test_evaluate_rankings_by_hand(split) -> None:
    cs = build_targets(split)["cross_sell"]
    frame = pd.DataFrame({"buying_center_id": ["B1"] * 3, "rank": [1, 2, 3], "product_id": ["P4", "P9", "P3"]})
    ranking = Ranking(queries=np.array(["B1"], dtype=object), ids=np.array([["P1", None, None]], dtype=object), scores=np.array([[1.0, np.nan, np.nan]], dtype=np.float32))
    out = evaluate_rankings({"a": frame, "b": ranking}, cs, [1, 3])
    assert list(out.columns) == list(METRIC_COLUMNS)
    get = out.set_index(["model", "country", "k", "metric"])["value"]
    # a: relevant {P3, P4}; list P4 (hit), P9 (unknown item: miss), P3 (hit)
    assert get[("a", "ALL", 1, "precision")] == 1.0
    assert get[("a", "ALL", 3, "precision")] == pytest.approx(2 / 3)
    assert get[("a", "ALL", 3, "recall")] == 1.0
    # NDCG@3 = (1 + 1/log2(4)) / (1 + 1/log2(3)) = 1.5 / 1.63093
    assert get[("a", "ALL", 3, "ndcg")] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # revenue@1 = P4's 50 / (30 + 50); coverage@3 = {P4, P3} of 3 catalog products
    assert get[("a", "ALL", 1, "revenue_hit_rate")] == pytest.approx(50 / 80)
    assert get[("a", "ALL", 3, "coverage")] == pytest.approx(2 / 3)
    assert get[("a", "DE", 3, "ndcg")] == get[("a", "ALL", 3, "ndcg")]
    assert get[("b", "ALL", 3, "hit_rate")] == 0.0
    assert get[("a", "ALL", 0, "n_buyers")] == 1 and get[("a", "ALL", 0, "n_new_buyers")] == 1


def test_ranking_frame_maps_variants_and_rerank() -> None:
    frame = pd.DataFrame({"query": ["B1"] * 3, "rank": [1, 2, 3], "item_id": ["V3a", "V3b", "V4"]})
    out = ranking_frame(frame, item_map=pd.Series({"V3a": "P3", "V3b": "P3", "V4": "P4"}))
    assert out[["rank", "item_id"]].values.tolist() == [[1, "P3"], [2, "P4"]]


def test_sequential_pairs_and_similar_items_hit_rate(split) -> None:
    pairs = sequential_pairs(split, window_days=15)
    # B1 bought P1 on 02-25, P2 + P3 on 03-05, P4 on 03-20 (window from 02-15; P2 on 01-10 is out).
    # Y on a later day, 1..15 days after X: P1 -> P2 (9 days), P1 -> P3 (9), P2 -> P4 (15),
    # P3 -> P4 (15); P1 -> P4 is 24 days; P2/P3 on the same day are one basket, not a pair.
    assert sorted(map(tuple, pairs[["x", "y"]].values.tolist())) == [("P1", "P2"), ("P1", "P3"), ("P2", "P4"), ("P3", "P4")]
    assert set(pairs["buying_center_id"]) == {"B1"}
    assert len(sequential_pairs(split, window_days=10)) == 2  # only the two 9-day pairs
    similar = pd.DataFrame({"query": ["P1", "P1", "P2", "P3"], "rank": [1, 2, 1, 1], "item_id": ["P3", "P2", "P4", "P1"]})
    out = evaluate_similar_items({"m": similar}, pairs, 1).set_index(["country", "k", "metric"])["value"]
    assert out[("ALL", 1, "pair_hit_rate")] == 0.5  # (P1, P3) and (P2, P4) of 4
    # a second buyer (FR) with the same pair (P3, P4) and a miss of its own: 6 pairs, 3 hits at k=2
    more = pd.concat([pairs, pd.DataFrame({"buying_center_id": ["B2", "B2"], "x": ["P3", "P2"], "y": ["P4", "P1"]})])
    out2 = evaluate_similar_items({"m": similar}, more, 2, countries=pd.Series({"B1": "DE", "B2": "FR"}))
    got = out2.set_index(["country", "k", "metric"])["value"]
    # DE: (P1, P2) now hits at rank 2 too -> 3/4; FR: (P3, P4) miss, (P2, P1) miss -> 0/2; ALL 3/6
    assert got[("DE", 2, "pair_hit_rate")] == 0.75 and got[("FR", 2, "pair_hit_rate")] == 0.0
    assert got[("ALL", 2, "pair_hit_rate")] == 0.5
    assert got[("ALL", 0, "n_pairs")] == 6 and got[("FR", 0, "n_pairs")] == 2


class TinyConfig(StrictModel):
    """No hyper-parameters."""


class TinyPopularity(Recommender[TinyConfig]):
    """A real (if tiny) recommender: items by number of buyers; similar = co-bought count."""

    name = "tiny_popularity"
    config_class = TinyConfig

    def fit(self, data: TrainingData) -> TinyPopularity:
        buyer_items = data.buyer_items
        self.owned_ = (buyer_items.matrix > 0).astype(np.float64).tocsr()
        self.rows_, self.cols_ = buyer_items.rows, buyer_items.cols
        self.counts_ = np.asarray(self.owned_.sum(axis=0)).ravel()
        return self

    def _pad(self, queries: Sequence[str], lists: list[list[int]], n: int) -> Ranking:
        ids = np.full((len(queries), n), None, dtype=object)
        for i, items in enumerate(lists):
            ids[i, : len(items[:n])] = self.cols_.id_of(items[:n])
        return Ranking(np.asarray(queries, dtype=object), ids, np.zeros((len(queries), n), np.float32))

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        order = np.argsort(-self.counts_, kind="stable")
        rows = self.rows_.index(buyers, missing="ignore")
        lists = [[j for j in order if not (exclude_owned and r >= 0 and self.owned_[r, j])] for r in rows]
        return self._pad(buyers, lists, n)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        co = (self.owned_.T @ self.owned_).toarray()
        np.fill_diagonal(co, 0)
        idx = self.cols_.index(items)
        lists = [[j for j in np.argsort(-co[i], kind="stable") if co[i, j] > 0] for i in idx]
        return self._pad(items, lists, n)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.counts_ = arrays["counts"]


def test_evaluate_models_excludes_owned_for_cross_sell_only(split) -> None:
    train = split.train[~split.train["is_return"]]
    rows, cols = Vocabulary.from_values(train["buying_center_id"]), Vocabulary.from_values(train["product_id"])
    m = sp.csr_matrix((np.ones(len(train)), (rows.index(train["buying_center_id"]), cols.index(train["product_id"]))), shape=(len(rows), len(cols)))
    model = TinyPopularity().fit(TrainingData.of(InteractionMatrix(m, rows, cols)))
    # train buyers: B1 {P1, P2}, B2 {P1}, B3 {P3} -> popularity P1 (2), P2 (1), P3 (1)
    pairs = sequential_pairs(split, window_days=15)
    metrics, item_pairs = evaluate_models({"pop": model}, build_targets(split), ecfg(), pairs=pairs, anchors=["P1", "P2", "P3"])
    get = metrics.set_index(["target", "country", "k", "metric"])["value"]
    # cross_sell, B1 owns P1, P2 -> list [P3]; relevant {P3, P4}: NDCG@3 = 1 / (1 + 1/log2 3), recall 1/2
    assert get[("cross_sell", "ALL", 3, "ndcg")] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert get[("cross_sell", "ALL", 3, "recall")] == 0.5
    # reorder, no exclusion: both get [P1, P2, P3]; B1 wants P2 (rank 2), B2 wants P1 (rank 1)
    # NDCG@3 = (1/log2 3 + 1) / 2; hit_rate@1 = 1/2
    assert get[("reorder", "ALL", 3, "ndcg")] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert get[("reorder", "ALL", 1, "hit_rate")] == 0.5
    assert get[("reorder", "FR", 1, "hit_rate")] == 1.0
    # co-bought in train: only B1 holds two items (P1, P2) -> similar(P1) = [P2], similar(P2) = [P1],
    # similar(P3) = []: of the pairs (P1, P2), (P1, P3), (P2, P4), (P3, P4) only (P1, P2) hits
    pair_get = item_pairs.set_index(["country", "k", "metric"])["value"]
    assert pair_get[("ALL", 10, "pair_hit_rate")] == 0.25


def metric_frame(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [(m, "cross_sell", "ALL", 10, "ndcg", v) for m, v in values.items()]
        + [(m, "cross_sell", "ALL", 0, "n_buyers", 7.0) for m in values]
        + [(m, "reorder", "ALL", 10, "ndcg", 0.9) for m in values],
        columns=list(METRIC_COLUMNS),
    )


def test_select_champion_lets_popularity_win_and_table_orders_models() -> None:
    frame = metric_frame({"popularity": 0.5, "als": 0.3, "bpr": 0.4, "popularity_country": 0.45})
    champion = select_champion(frame, "ndcg", 10)
    assert (champion.model, champion.value, champion.is_baseline) == ("popularity", 0.5, True)
    assert (champion.best_learned, champion.best_learned_value) == ("bpr", 0.4)
    assert champion.baseline_values == {"popularity": 0.5, "popularity_country": 0.45}
    assert "popularity is champion on this data" in champion.summary() and "bpr (0.4000), did not beat it" in champion.summary()
    learned = select_champion(metric_frame({"popularity": 0.2, "ease": 0.3}), "ndcg", 10)
    assert (learned.model, learned.is_baseline) == ("ease", False) and "1.50x" in learned.summary()
    # a learned model must beat the best baseline by the margin; a tie is not a win
    assert select_champion(metric_frame({"popularity": 0.2, "ease": 0.24}), "ndcg", 10, margin=0.05).model == "popularity"
    assert select_champion(metric_frame({"popularity": 0.2, "ease": 0.2}), "ndcg", 10).model == "popularity"
    assert select_champion(metric_frame({"popularity": 0.5}), "ndcg", 10).model == "popularity"
    table = metrics_table(frame, 10, rank_metric="ndcg")
    assert table.index.tolist() == ["popularity", "popularity_country", "bpr", "als"]
    assert table["n_buyers"].tolist() == [7, 7, 7, 7]


@pytest.mark.parametrize(
    ("value", "champion", "margin", "alias"),
    [
        (0.30, None, 0.0, CHAMPION),  # no champion measured on the same data: the newest best wins
        (0.05, None, 0.0, CHAMPION),
        (0.30, 0.28, 0.0, CHAMPION),
        (0.28, 0.28, 0.0, CHALLENGER),  # a tie is not a win
        (0.30, 0.28, 0.05, CHALLENGER),  # 0.30 <= 0.28 + 0.05
        (0.34, 0.28, 0.05, CHAMPION),
    ],
)
def test_decide_alias(value: float, champion: float | None, margin: float, alias: str) -> None:
    assert decide_alias(value, champion, margin).alias == alias


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="rank_k"):
        EvaluationConfig(k=[5, 20], rank_k=10)
    with pytest.raises(ValueError, match="rank_metric"):
        EvaluationConfig(rank_metric="auc")
    assert EvaluationConfig(k=[20, 5, 10, 5]).k == [5, 10, 20]


def test_expand_sweep_per_model_grid_random_and_validation(tmp_path: Path) -> None:
    cfg = config_from_dict({"data": {"order_lines": "x.csv"}}, base_dir=tmp_path, source=tmp_path / "c.yaml")
    sweep = SweepConfig(method="grid", params={"models.als.factors": [8, 64], "interactions.weighting": ["binary", "order_count"], "models.ease.l2": [1.0]})
    trials = expand_sweep(sweep, cfg, 1, "als")
    # the configured values first (factors 64, binary), then every other combination of als's keys
    assert [o for _, o in trials] == [
        {},
        {"models.als.factors": 8, "interactions.weighting": "binary"},
        {"models.als.factors": 8, "interactions.weighting": "order_count"},
        {"models.als.factors": 64, "interactions.weighting": "order_count"},
    ]
    assert trials[0][0] == "als t00 as configured"
    assert trials[1][0] == "als t01 als.factors=8 interactions.weighting=binary"
    assert [o for _, o in expand_sweep(sweep, cfg, 1, "ease")] == [{}, {"models.ease.l2": 1.0, "interactions.weighting": "binary"},
                                                                   {"models.ease.l2": 1.0, "interactions.weighting": "order_count"}]  # fmt: skip
    assert expand_sweep(sweep, cfg, 1, "popularity_country") == [("popularity_country t00 as configured", {})]
    rnd = SweepConfig(method="random", n_trials=3, params=sweep.params)
    a, b = expand_sweep(rnd, cfg, 7, "als"), expand_sweep(rnd, cfg, 7, "als")
    assert a == b and len(a) == 3 and a[0][1] == {} and len({tuple(o.items()) for _, o in a}) == 3
    assert all(o in [t[1] for t in trials] for _, o in a)
    assert expand_sweep(SweepConfig(params={"rules.min_support_count": [2, 3]}), cfg, 1, "rules")[1][1] == {"rules.min_support_count": 2}

    trial = apply_overrides(cfg, trials[2][1])
    assert trial.models.als.factors == 8 and trial.interactions.weighting == "order_count"
    assert trial.models.bpr == cfg.models.bpr and trial.data == cfg.data and trial.source == cfg.source
    with pytest.raises(ConfigError, match="models.als.nope"):
        expand_sweep(SweepConfig(params={"models.als.nope": [1]}), cfg, 1, "als")
    with pytest.raises(ConfigError, match="invalid"):
        expand_sweep(SweepConfig(params={"models.als.factors": [0]}), cfg, 1, "als")


def _daily_lines(days: int, start: str = "2024-01-01") -> pd.DataFrame:
    """One purchase per day by alternating buyers: a history of ``days`` days."""
    dates = pd.date_range(start, periods=days, freq="D")
    rows = [(f"B{i % 3}", "DE", f"P{i % 7}", d.strftime("%Y-%m-%d"), 1, 10.0) for i, d in enumerate(dates)]
    return make_lines(rows)


@pytest.mark.parametrize(("days", "test_days"), [(120, 30), (1095, 90), (40, 10), (28, 7)])
def test_windows_adapt_to_the_span_of_the_history(days: int, test_days: int) -> None:
    w = plan_windows(_daily_lines(days), EvaluationConfig())
    assert w.span_days == days
    assert w.test_days == test_days and w.validation_days == test_days  # a quarter, 7 to 90 days
    assert w.end == w.last + pd.Timedelta(days=1)  # the test window ends with the last order day
    assert w.first < w.validation_start < w.cutoff <= w.last


def test_an_impossible_split_fails_at_once_naming_the_span_and_a_value_that_works() -> None:
    lines = _daily_lines(120)
    with pytest.raises(ConfigError, match=r"120 days.*evaluation\.test_days: 30") as info:
        plan_windows(lines, EvaluationConfig(test_days=90))  # 90 test + 90 validation > 120
    assert info.value.key == "evaluation.test_days"
    with pytest.raises(ConfigError, match="too short for a temporal evaluation"):
        plan_windows(_daily_lines(12), EvaluationConfig())
    with pytest.raises(ConfigError) as late:
        plan_windows(lines, EvaluationConfig(cutoff=pd.Timestamp("2024-06-01").date()))
    assert late.value.key == "evaluation.cutoff"
    # explicit windows that fit are kept as given
    w = plan_windows(lines, EvaluationConfig(test_days=20, validation_days=40))
    assert (w.test_days, w.validation_days) == (20, 40)


def test_sampled_targets_keep_every_country_and_the_share() -> None:
    buyers = np.array([f"B{i}" for i in range(1000)], dtype=object)
    countries = np.array(["DE"] * 900 + ["FR"] * 90 + ["LU"] * 10, dtype=object)
    keep = sample_buyers(buyers, countries, 100, seed=3)
    assert keep.sum() == 100
    kept = pd.Series(countries[keep]).value_counts().to_dict()
    assert kept == {"DE": 90, "FR": 9, "LU": 1}
    assert (keep == sample_buyers(buyers, countries, 100, seed=3)).all()
    assert sample_buyers(buyers, countries, 5000, seed=3).all()


def test_ranking_matrix_of_a_ranking_equals_its_long_frame():
    """The shortcut for model rankings (codes straight from the id array) gives what the long
    frame of strings gives, and steps aside where they would differ."""
    from xsell.evaluation.core import ranking_matrix
    from xsell.vocab import Vocabulary

    rng = np.random.default_rng(3)
    items = Vocabulary([f"I{i}" for i in range(40)])
    buyers = np.array([f"B{i}" for i in range(60)], dtype=object)
    pool = np.array([f"I{i}" for i in range(45)], dtype=object)  # I40..I44 are unknown to the targets
    ids = np.array([rng.choice(pool, 8, replace=False) for _ in buyers], dtype=object)
    ids[rng.random(len(buyers)) < 0.2, 5:] = None  # short rows, padded at the end
    ranking = Ranking(buyers, ids, np.zeros(ids.shape, dtype=np.float32))
    for n in (3, 8, 10):
        fast = ranking_matrix(ranking, buyers, items, n)
        slow = ranking_matrix(ranking.to_frame("query", "item_id"), buyers, items, n)
        assert (fast == slow).all() and (fast == -1).any() and (fast >= 0).any()
    # a hole before a result, an item twice, other buyers: the long frame's answer still
    odd = ids.copy()
    odd[0, 1], odd[1, 3] = None, odd[1, 0]
    for case, who in ((Ranking(buyers, odd, ranking.scores), buyers), (ranking, buyers[::-1])):
        expected = ranking_matrix(case.to_frame("query", "item_id"), who, items, 8)
        assert (ranking_matrix(case, who, items, 8) == expected).all()


def _same_targets(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        assert x.buyers.tolist() == y.buyers.tolist() and x.countries.tolist() == y.countries.tolist()
        assert x.items == y.items and (x.n_catalog, x.n_new_buyers, x.n_population) == (y.n_catalog, y.n_new_buyers, y.n_population)
        for m in ("relevant", "values"):
            assert (getattr(x, m) != getattr(y, m)).nnz == 0, (name, m)


def test_targets_from_codes_equal_targets_from_ids(split) -> None:
    lines = make_lines()
    coded = encode_lines(lines)
    got = build_targets(split, coded=coded)
    _same_targets(got, build_targets(split))
    assert got["cross_sell"].values.toarray()[0].tolist() == [0.0, 0.0, 30.0, 50.0]


@pytest.mark.parametrize("max_buyers", [None, 30])
def test_targets_from_codes_on_demo_lines(tiny_demo_lines: pd.DataFrame, max_buyers: int | None) -> None:
    lines = tiny_demo_lines.sample(frac=1.0, random_state=2)
    s = temporal_split(lines, ecfg(test_days=60))
    countries = buyer_countries(lines)
    want = build_targets(s, countries=countries, max_buyers=max_buyers, seed=3)
    n_cross, n_reorder = len(want["cross_sell"].buyers), len(want["reorder"].buyers)
    sampled = want["cross_sell"].n_population > n_cross if max_buyers else n_cross > 30
    assert sampled and n_reorder > 10 and want["cross_sell"].n_new_buyers > 0
    _same_targets(build_targets(s, countries=countries, max_buyers=max_buyers, seed=3, coded=encode_lines(lines)), want)


def test_split_parts_are_the_lines_of_their_dates(retail_lines: pd.DataFrame) -> None:
    lines = retail_lines.sample(frac=1.0, random_state=7)  # any line order, a shuffled index
    start, end = pd.Timestamp("2010-12-02"), pd.Timestamp("2011-04-16")  # the sample holds two days
    s = split_at(lines, start, end)
    dates = lines["order_date"]
    pd.testing.assert_frame_equal(s.train, lines[(dates < start).to_numpy()])
    pd.testing.assert_frame_equal(s.test, lines[((dates >= start) & (dates < end)).to_numpy()])
    assert s.train is s.train  # taken once
    assert len(s.train_rows) + len(s.test_rows) == int((dates < end).sum())


@pytest.mark.parametrize("item_col", ["product_id", "variant_id"])
def test_sequential_pairs_from_codes_are_the_pairs_of_the_ids(tiny_demo_lines: pd.DataFrame, item_col: str) -> None:
    lines = tiny_demo_lines.sample(frac=1.0, random_state=11)  # any line order, a shuffled index
    last = lines["order_date"].max().normalize()
    start, end = last - pd.Timedelta(days=60), last + pd.Timedelta(days=1)
    want = sequential_pairs(split_at(lines, start, end), window_days=90, item_col=item_col)
    assert len(want) > 100
    windows_only = lines[list(WINDOW_COLUMNS)]  # what the evaluation keeps of the lines beside their codes
    got = sequential_pairs(split_at(windows_only, start, end), window_days=90, item_col=item_col, coded=encode_lines(lines))
    pd.testing.assert_frame_equal(got, want)
