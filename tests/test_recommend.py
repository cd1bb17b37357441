"""Suggestion tables on hand-built frames whose expected results are worked out by hand."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import context, line, lines_frame, product, products_frame
from xsell.models.base import Ranking
from xsell.recommend.blend import blend, to_product_level
from xsell.recommend.config import RecommendConfig
from xsell.recommend.cross_sell import build_cross_sell
from xsell.recommend.curated import parse_curated_links
from xsell.recommend.evidence import pair_evidence, switch_evidence
from xsell.recommend.review import REVIEW_COLUMNS, UPTAKE_REVIEW_COLUMNS, build_links_review
from xsell.recommend.sources import personal_ranking
from xsell.recommend.suggestions import build_buying_center_suggestions
from xsell.recommend.up_sell import build_up_sell, upsell_cycle_edges
from xsell.recommend.variants import resolve_variants
from xsell.schema import BUYING_CENTER_COLUMNS, CROSS_SELL_COLUMNS, UP_SELL_COLUMNS


def sim(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "rec_item_id", "score"])


# -- cross-sell scenario --------------------------------------------------------------------
CROSS_PRODUCTS = products_frame(
    [
        product("P1-V1", "PUMP", 100, "Pump A"),
        product("P1-V2", "PUMP", 100, "Pump A"),
        product("P1-C", "PUMP", 150, "Pump A custom", custom=True, product_id="P1"),
        product("P2-V", "PUMP", 120, "Pump B"),
        product("S1-V", "SEAL", 10, "Seal kit"),
        product("F1-V", "FILT", 20, "Filter"),
        product("G1-V", "SEAL", 5, "Gasket"),
    ]
)
CROSS_LINES = lines_frame(
    [
        line("O1", "2024-03-01", "B1", "P1-V1"),
        line("O1", "2024-03-01", "B1", "S1-V"),
        line("O2", "2024-03-02", "B2", "P1-V1"),
        line("O2", "2024-03-02", "B2", "S1-V"),
        line("O2", "2024-03-02", "B2", "F1-V"),
        line("O3", "2024-03-03", "B3", "P1-V2", country="FR"),
        line("O3", "2024-03-03", "B3", "F1-V", country="FR"),
        line("O4", "2024-03-04", "B3", "S1-V", country="FR"),
        line("O5", "2024-03-05", "B1", "G1-V"),
    ]
)
# rules rank P2 (same family), S1, F1, G1; item_knn ranks F1, S1.
CROSS_SOURCES = {
    "rules": sim([("P1", "P2", 5.0), ("P1", "S1", 4.0), ("P1", "F1", 3.0), ("P1", "G1", 2.0)]),
    "item_knn": sim([("P1", "F1", 0.9), ("P1", "S1", 0.8)]),
}
CROSS_CFG = RecommendConfig(candidates_per_source=4, cross_sell_weights={"rules": 1.0, "item_knn": 0.5})


def test_blend_rank_normalises_each_source_and_weights_them():
    out = blend(CROSS_SOURCES, {"rules": 1.0, "item_knn": 0.5}, depth=4).set_index("rec_product_id")
    # rules norms: P2 1, S1 .75, F1 .5, G1 .25; item_knn: F1 1, S1 .75; total weight 1.5
    assert out.loc["S1", "score"] == pytest.approx((0.75 + 0.5 * 0.75) / 1.5)
    assert out.loc["F1", "score"] == pytest.approx((0.5 + 0.5 * 1.0) / 1.5)
    assert out.loc["G1", "score"] == pytest.approx(0.25 / 1.5)
    assert out.loc["S1", "source"] == "blend" and out.loc["G1", "source"] == "rules"
    assert out.loc["S1", "sources"] == "rules+item_knn"


def test_personal_ranking_equals_the_string_frame_rolled_up_to_products():
    rng = np.random.default_rng(3)
    items = np.array([f"P{i}-V{j}" for i in range(12) for j in range(3)] + [f"Q{i}" for i in range(5)], dtype=object)
    variant_product = pd.Series({v: v.split("-")[0] for v in items if "-" in v})
    index = rng.integers(-1, len(items), size=(40, 8))  # -1: padding (fewer results than n)
    ids = np.where(index >= 0, items[np.maximum(index, 0)], None)
    scores = np.where(index >= 0, rng.integers(0, 5, size=index.shape) / 4, np.nan).astype(np.float32)  # ties
    ranking = Ranking(np.array([f"B{q:02d}" for q in rng.permutation(40)], dtype=object), ids, scores)
    expected = to_product_level(ranking.to_frame("buying_center_id", "item_id"), variant_product, cols=("item_id",))
    out = personal_ranking(ranking, variant_product)
    assert len(out) < (index >= 0).sum()  # variants of one product in one list were merged
    assert out["buying_center_id"].dtype == "category" and out["item_id"].dtype == "category"
    pd.testing.assert_frame_equal(out.astype({"buying_center_id": "str", "item_id": "str"}), expected)


def test_variant_level_similarity_rolls_up_to_products_without_self_pairs():
    variants = pd.Series({"P1-V1": "P1", "P1-V2": "P1", "S1-V": "S1"})
    frame = sim([("P1-V1", "P1-V2", 0.9), ("P1-V1", "S1-V", 0.3), ("P1-V2", "S1-V", 0.7), ("P1-V1", "F1", 0.2)])
    out = to_product_level(frame, variants).sort_values("rec_item_id").reset_index(drop=True)
    assert out.to_dict("records") == [
        {"item_id": "P1", "rec_item_id": "F1", "score": 0.2},
        {"item_id": "P1", "rec_item_id": "S1", "score": 0.7},
    ]


def test_pair_evidence_counts_orders_buyers_and_lift_per_country():
    pairs = pd.DataFrame({"country": ["ALL", "DE", "FR"], "product_id": "P1", "rec_product_id": "S1"})
    ev = pair_evidence(CROSS_LINES, pairs).set_index("country")
    # ALL: 5 orders, P1 in 3, S1 in 3, both in O1 and O2; B1, B2 and B3 bought both
    assert ev.loc["ALL", "orders_together"] == 2 and ev.loc["ALL", "buyers_both"] == 3
    assert ev.loc["ALL", "support"] == pytest.approx(2 / 5)
    assert ev.loc["ALL", "confidence"] == pytest.approx(2 / 3)
    assert ev.loc["ALL", "lift"] == pytest.approx((2 / 3) / (3 / 5))
    # DE: O1, O2, O5; P1 and S1 in 2 each, together in 2
    assert ev.loc["DE", "lift"] == pytest.approx(1.0 / (2 / 3)) and ev.loc["DE", "buyers_both"] == 2
    # FR: never in one order, but B3 bought both
    assert ev.loc["FR", "orders_together"] == 0 and ev.loc["FR", "buyers_both"] == 1


def test_cross_sell_blends_excludes_substitutes_and_ranks_per_country():
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, CROSS_CFG)
    table = build_cross_sell(CROSS_SOURCES, CROSS_LINES, ctx, CROSS_CFG)
    cs = table.frame
    assert list(cs.columns[: len(CROSS_SELL_COLUMNS)]) == list(CROSS_SELL_COLUMNS)
    assert set(cs["country"]) == {"ALL", "DE", "FR"}
    got = {c: g["rec_product_id"].tolist() for c, g in cs.groupby("country")}
    # G1 was never sold in FR: outside FR's inferred assortment
    assert got == {"ALL": ["S1", "F1", "G1"], "DE": ["S1", "F1", "G1"], "FR": ["S1", "F1"]}
    assert all(g["rank"].tolist() == list(range(1, len(g) + 1)) for _, g in cs.groupby("country"))
    assert "P2" not in set(cs["rec_product_id"])  # same family PUMP = substitute
    assert table.rules_applied["same_family"] == 1 and table.rules_applied["not_in_assortment"] == 1
    de = cs[cs["country"] == "DE"].set_index("rec_product_id")
    assert de.loc["S1", "score"] == pytest.approx(0.75)
    assert de.loc["S1", "lift"] == pytest.approx(1.5)
    assert de.loc["S1", "reason"] == "bought together with Pump A in 2 orders; 2 DE buying centers buy both (1.5× as often as by chance)"
    assert (de.loc["S1", "reason_code"], json.loads(de.loc["S1", "reason_params"])) == (
        "cross_sell.together", {"anchor": "Pump A", "buyers": 2, "country": "DE", "lift": 1.5, "orders": 2}
    )
    assert de.loc["S1", "rec_variant_id"] == "S1-V"
    assert de.loc["G1", "source"] == "rules"
    fr = cs[cs["country"] == "FR"].set_index("rec_product_id")
    # no common order in FR: the basket evidence is empty, not 0, and the reason names no model
    assert fr.loc["S1", "reason"] == "1 FR buying center buys both this and Pump A"
    assert fr.loc["S1", ["support", "confidence", "lift"]].isna().all() and fr.loc["S1", "source"] == "blend"
    assert not (cs["support"] == 0).any()


def test_cross_sell_never_proposes_the_product_itself_or_its_variants():
    sources = {"rules": sim([("P1", "P1", 9.0), ("P1", "S1", 1.0)])}
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, CROSS_CFG)
    table = build_cross_sell(sources, CROSS_LINES, ctx, CROSS_CFG)
    assert set(table.frame["rec_product_id"]) == {"S1"}
    assert table.rules_applied["self_or_variant"] == 1


def test_cross_sell_accepts_association_rules_frame():
    rules = pd.DataFrame({"antecedent": ["P1", "P1"], "consequent": ["F1", "S1"], "lift": [1.2, 3.0], "damped_lift": [2.0, 1.0]})
    cfg = RecommendConfig(cross_sell_weights={"rules": 1.0})
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, cfg)
    cs = build_cross_sell({}, CROSS_LINES, ctx, cfg, rules=rules).frame
    assert cs[cs["country"] == "ALL"]["rec_product_id"].tolist() == ["F1", "S1"]  # ranked by damped_lift


def _curated(rows: list[tuple], today: str = "2024-03-06") -> object:
    raw = pd.DataFrame(rows, columns=["product_id", "rec_product_id", "kind", "action", "note", "valid_until"])
    return parse_curated_links(raw, "curated_links.csv", pd.Timestamp(today))


def test_curated_pin_comes_first_with_source_curated_and_block_removes():
    curated = _curated([("P1", "G1", "cross_sell", "pin", "fits every pump", ""), ("P1", "S1", "cross_sell", "block", "", "")])
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, CROSS_CFG, curated=curated)
    table = build_cross_sell(CROSS_SOURCES, CROSS_LINES, ctx, CROSS_CFG)
    got = {c: g["rec_product_id"].tolist() for c, g in table.frame.groupby("country")}
    assert got == {"ALL": ["G1", "F1"], "DE": ["G1", "F1"], "FR": ["F1"]}  # G1 not sold in FR
    for _, grp in table.frame[table.frame["country"] != "FR"].groupby("country"):
        first = grp.iloc[0]
        assert (first["rank"], first["source"]) == (1, "curated")
        assert first["reason"] == "recommended by product management: fits every pump"
    assert table.rules_applied["curated_block"] == 1


# -- up-sell scenario -----------------------------------------------------------------------
UP_PRODUCTS = products_frame(
    [
        product("D1-V", "DRILL", 100, "Drill 1"),
        product("D2-V", "DRILL", 150, "Drill 2"),
        product("D3-V", "DRILL", 105, "Drill 3"),
        product("D4-V", "DRILL", 300, "Drill 4"),
        product("D5-V", "DRILL", 100, "Drill 5"),
    ]
)


def _switch(bc: str, steps: list[tuple[str, str]]) -> list[dict]:
    return [line(f"{bc}-{i}", date, bc, f"{p}-V") for i, (date, p) in enumerate(steps)]


UP_LINES = lines_frame(
    _switch("B1", [("2024-01-01", "D1"), ("2024-03-01", "D2")])
    + _switch("B2", [("2024-01-05", "D1"), ("2024-02-01", "D2")])
    + _switch("B3", [("2024-01-01", "D1"), ("2024-02-01", "D2"), ("2024-03-01", "D1")])  # went back: no switch
    + _switch("B4", [("2024-01-10", "D1"), ("2024-01-10", "D2")])  # same day: no switch
    + _switch("B5", [("2024-01-01", "D1"), ("2024-02-01", "D3")])  # 1.05x: below the window
    + _switch("B6", [("2024-01-01", "D1"), ("2024-02-01", "D3")])
    + _switch("B7", [("2024-01-01", "D1"), ("2024-02-01", "D4")])  # 3x: above the window
    + _switch("B8", [("2024-01-01", "D1"), ("2024-02-01", "D4")])
    + _switch("B9", [("2024-01-01", "D1"), ("2024-02-01", "D5")])  # equal price both ways
    + _switch("B10", [("2024-01-01", "D1"), ("2024-02-01", "D5")])
    + _switch("B11", [("2024-01-01", "D5"), ("2024-02-01", "D1")])
    + _switch("B12", [("2024-01-01", "D5"), ("2024-02-01", "D1")])
    + _switch("B13", [("2024-01-01", "D2"), ("2024-02-01", "D4")])  # 2x but a single switcher
)


def test_switch_evidence_follows_the_definition():
    group = pd.Series({f"D{i}": "DRILL" for i in range(1, 6)})
    ev = switch_evidence(UP_LINES, group)
    ev = ev[ev["country"] == "ALL"].set_index(["product_id", "rec_product_id"])
    assert ev.loc[("D1", "D2"), "switchers"] == 2  # B1, B2 (not B3: D1 again; not B4: same day)
    assert ev.loc[("D1", "D2"), "buyers"] == 12  # B1..B12 bought D1
    assert ("D2", "D1") not in ev.index  # B3 bought D1 after D2 but also before it
    assert ev.loc[("D1", "D5"), "switchers"] == 2 and ev.loc[("D5", "D1"), "switchers"] == 2
    assert ev.loc[("D2", "D4"), "switchers"] == 1


def test_switch_evidence_is_the_same_in_blocks_of_buying_centers(monkeypatch):
    from xsell.recommend import evidence

    group = pd.Series({f"D{i}": "DRILL" for i in range(1, 6)})
    whole = switch_evidence(UP_LINES, group)
    monkeypatch.setattr(evidence, "_PAIR_BLOCK", 3)  # about one buying center per block
    pd.testing.assert_frame_equal(switch_evidence(UP_LINES, group), whole)
    assert whole["switchers"].sum() > 10


def test_up_sell_keeps_the_price_window_and_evidence_threshold():
    cfg = RecommendConfig(upsell_weights={"switch": 1.0})
    ctx = context(UP_LINES, UP_PRODUCTS, cfg)
    table = build_up_sell({}, UP_LINES, ctx, cfg)
    us = table.frame
    assert list(us.columns[: len(UP_SELL_COLUMNS)]) == list(UP_SELL_COLUMNS)
    assert sorted(set(zip(us["product_id"], us["rec_product_id"]))) == [("D1", "D2")]
    assert set(us["country"]) == {"ALL", "DE"}
    row = us[us["country"] == "ALL"].iloc[0]
    assert row["price_ratio"] == pytest.approx(1.5) and row["rank"] == 1 and row["source"] == "switch"
    assert row["reason"] == "chosen as an upgrade by 2 of the 12 buying centers that bought Drill 1 (1.5× the price)"
    # D1->D3 (1.05x), D1->D4 (3x), D1->D5 and D5->D1 (1.0x) fall outside the window
    assert table.rules_applied["upsell_price_window"] == 4


def test_up_sell_has_no_cycles_even_with_equal_prices_or_pins():
    cfg = RecommendConfig(upsell_weights={"switch": 1.0})
    curated = _curated(
        [
            ("D2", "D1", "up_sell", "pin", "", ""),  # cheaper: not an up-sell
            ("D1", "D5", "up_sell", "pin", "", ""),  # equal price both ways
            ("D5", "D1", "up_sell", "pin", "", ""),
        ]
    )
    ctx = context(UP_LINES, UP_PRODUCTS, cfg, curated=curated)
    table = build_up_sell({}, UP_LINES, ctx, cfg)
    pairs = set(zip(table.frame["product_id"], table.frame["rec_product_id"]))
    assert pairs == {("D1", "D2")}
    assert table.rules_applied["upsell_not_higher_price"] == 3
    assert not any((b, a) in pairs for a, b in pairs)


def test_upsell_cycle_edges_flags_exactly_the_edges_on_cycles():
    links = pd.DataFrame(
        {"product_id": ["A", "B", "C", "D", "E"], "rec_product_id": ["B", "C", "A", "A", "D"]}
    )  # A->B->C->A is a cycle; D->A and E->D are not on it
    assert upsell_cycle_edges(links).tolist() == [True, True, True, False, False]


def test_up_sell_cycle_guard_on_products_without_price():
    lines = lines_frame([line("O1", "2024-01-01", "B1", "X-1", price=0.0), line("O2", "2024-01-02", "B1", "Y-1", price=0.0)])
    curated = _curated([("X", "Y", "up_sell", "pin", "", ""), ("Y", "X", "up_sell", "pin", "", "")], today="2024-01-03")
    cfg = RecommendConfig()
    ctx = context(lines, None, cfg, curated=curated)
    table = build_up_sell({}, lines, ctx, cfg)
    assert table.frame.empty and table.rules_applied["upsell_cycle"] == 2


# -- variants -------------------------------------------------------------------------------
def test_variant_resolution_prefers_own_then_country_then_global_never_custom():
    products = products_frame(
        [
            product("V-1", "F"), product("V-2", "F"), product("V-3", "F"), product("V-C", "F", custom=True),
            product("W-1", "F", status="discontinued"), product("W-2", "F"), product("W-3", "F"),
        ]
    )
    rows = [line("a", "2024-01-01", "X1", "V-2")]
    rows += [line(f"de{i}", "2024-01-02", f"D{i}", "V-1") for i in range(3)]
    rows += [line(f"fr{i}", "2024-01-03", f"F{i}", "V-3", country="FR") for i in range(5)]
    rows += [line(f"c{i}", "2024-01-04", f"C{i}", "V-C", custom=True) for i in range(10)]
    lines = lines_frame(rows)
    ctx = context(lines, products)
    requests = pd.DataFrame(
        {
            "buying_center_id": ["X1", "X9", "X10", "X1"],
            "country": ["DE", "DE", "IT", "DE"],
            "product_id": ["V", "V", "V", "W"],
        }
    )
    assert resolve_variants(requests, lines, ctx).tolist() == ["V-2", "V-1", "V-3", "W-2"]


# -- buying-center suggestions --------------------------------------------------------------
BC_PRODUCTS = products_frame([product(f"{p}-1", f"F{p}", 10.0, f"Product {p}", countries="DE;AT") for p in "ABCDE"])
BC_LINES = lines_frame(
    [
        line("x1a", "2024-05-01", "X1", "A-1", price=10),
        line("x1b", "2024-06-01", "X1", "A-1", price=10),
        line("x1c", "2024-06-01", "X1", "B-1", price=10),
        line("x2a", "2024-06-10", "X2", "B-1", price=10),
        line("x2a", "2024-06-10", "X2", "C-1", qty=2, price=20),
        line("x3a", "2024-06-20", "X3", "C-1", qty=4, price=20),
    ]
)
BC_CUSTOMERS = pd.DataFrame(
    {
        "buying_center_id": ["X1", "X2", "X3", "N1"],
        "customer_id": ["K1", "K2", "K3", "K4"],
        "country": ["DE", "DE", "DE", "DE"],
        "segment": ["Metal", "Food", "Food", "Food"],
    }
)


def _table_rows(rows: list[tuple], source: str = "rules") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["country", "product_id", "rec_product_id", "score", "reason"])
    return frame.assign(rank=frame.groupby(["country", "product_id"]).cumcount() + 1, source=source)


def _personal(buyer: str, items: list[str]) -> pd.DataFrame:
    """A champion ranking of one buyer, best first."""
    return pd.DataFrame({"buying_center_id": buyer, "rank": range(1, len(items) + 1), "item_id": items, "score": np.arange(len(items), 0, -1.0)})


def test_buying_center_suggestions_follow_the_champion_and_never_repeat_a_purchase():
    cfg = RecommendConfig()
    # X1 also bought D and returned it: net nothing, so D is new to it again
    lines = lines_frame([*BC_LINES.to_dict("records"), line("x1d", "2024-06-02", "X1", "D-1"), line("x1r", "2024-06-03", "X1", "D-1", ret=True)])
    ctx = context(lines, BC_PRODUCTS, cfg)
    cross = _table_rows([("DE", "A", "C", 0.8, "goes with Product A"), ("ALL", "A", "D", 0.5, "global")])
    table = build_buying_center_suggestions(
        _personal("X1", ["A", "C", "B", "E", "D"]), cross, _table_rows([]), lines, BC_CUSTOMERS, ctx, cfg, personal_source="ease"
    )
    bcs = table.frame
    assert list(bcs.columns[: len(BUYING_CENTER_COLUMNS)]) == list(BUYING_CENTER_COLUMNS)
    x1 = bcs[bcs["buying_center_id"] == "X1"].set_index("product_id")
    assert x1.index.tolist() == ["C", "E", "D"]  # the champion's order; A and B are owned
    assert x1["rank"].tolist() == [1, 2, 3]
    assert table.rules_applied["already_bought"] == 2
    # rank-normalised over candidates_per_source = 50 on the champion's list: C was its rank 2
    assert x1["score"].tolist() == pytest.approx([0.98, 0.94, 0.92])
    assert (x1.loc["C", "kind"], x1.loc["C", "anchor_product_id"], x1.loc["C", "reason"]) == ("cross_sell", "A", "goes with Product A")
    # A has DE rows, so its ALL row A -> D is not read for a DE buying center (as a shop serving DE would)
    assert x1.loc["D", "anchor_product_id"] == ""
    assert x1.loc["E", "anchor_product_id"] == ""
    assert x1.loc["E", "reason"] == "buying centers with purchase histories like yours buy this (0 buying centers in DE bought it)"
    assert set(x1["source"]) == {"ease"}
    assert x1.loc["C", "customer_id"] == "K1" and x1.loc["C", "country"] == "DE"
    # C lines in DE: net values 40 and 80 -> median 60
    assert x1.loc["C", "expected_value"] == pytest.approx(0.98 * 60.0)


def test_new_buying_center_falls_back_to_segment_then_country_popularity():
    cfg = RecommendConfig()
    ctx = context(BC_LINES, BC_PRODUCTS, cfg)
    empty = _table_rows([])
    personal = pd.DataFrame(columns=["buying_center_id", "rank", "item_id", "score"])
    bcs = build_buying_center_suggestions(personal, empty, empty, BC_LINES, BC_CUSTOMERS, ctx, cfg).frame
    n1 = bcs[bcs["buying_center_id"] == "N1"]
    # DE/Food: C bought by X2 and X3, B by X2; then DE: A (X1)
    assert n1["product_id"].tolist() == ["C", "B", "A"]
    assert n1["rank"].tolist() == [1, 2, 3]
    assert n1["score"].tolist() == pytest.approx([1.0, 0.98, 0.96])
    assert n1.iloc[0]["reason"] == "popular with 2 buying centers in DE (segment Food) in the last 12 months"
    assert n1.iloc[2]["reason"] == "popular with 1 buying center in DE in the last 12 months"
    assert set(n1["kind"]) == {"cross_sell"} and set(n1["anchor_product_id"]) == {""} and set(n1["source"]) == {"popularity"}
    # known buying centers are never offered what they own, not even by popularity
    x2 = bcs[bcs["buying_center_id"] == "X2"]
    assert not set(x2["product_id"]) & {"B", "C"}


def test_an_up_sell_link_from_an_owned_product_labels_the_suggestion():
    cfg = RecommendConfig()
    ctx = context(BC_LINES, BC_PRODUCTS, cfg)
    cross = _table_rows([("DE", "B", "D", 0.2, "cross reason")])
    up = _table_rows([("DE", "B", "D", 0.9, "upgrade reason")])
    bcs = build_buying_center_suggestions(_personal("X1", ["D"]), cross, up, BC_LINES, BC_CUSTOMERS, ctx, cfg).frame
    row = bcs[(bcs["buying_center_id"] == "X1") & (bcs["product_id"] == "D")].iloc[0]
    assert (row["kind"], row["anchor_product_id"], row["reason"]) == ("up_sell", "B", "upgrade reason")
    assert row["score"] == pytest.approx(1.0)


def test_curated_pins_of_an_owned_product_come_first():
    cfg = RecommendConfig()
    ctx = context(BC_LINES, BC_PRODUCTS, cfg)
    cross = pd.concat([_table_rows([("DE", "A", "C", 0.8, "goes with Product A")]), _table_rows([("ALL", "B", "E", 1.0, "recommended by product management")], source="curated")])
    bcs = build_buying_center_suggestions(_personal("X1", ["C", "D"]), cross, _table_rows([]), BC_LINES, BC_CUSTOMERS, ctx, cfg).frame
    x1 = bcs[bcs["buying_center_id"] == "X1"]
    assert x1["product_id"].tolist() == ["E", "C", "D"]
    assert x1.iloc[0][["source", "anchor_product_id", "reason"]].tolist() == ["curated", "B", "recommended by product management"]


def test_ranks_start_at_one_and_are_contiguous_with_top_n():
    cfg = RecommendConfig(top_n_product=2, top_n_buying_center=2, cross_sell_weights={"rules": 1.0}, candidates_per_source=4)
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, cfg)
    cs = build_cross_sell(CROSS_SOURCES, CROSS_LINES, ctx, cfg).frame
    for _, grp in cs.groupby(["country", "product_id"]):
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1)) and len(grp) <= 2
    assert cs["rank"].dtype == np.int64


# -- links review -----------------------------------------------------------------------------
def test_links_review_is_usable_as_curated_links():
    curated = _curated([("P1", "G1", "cross_sell", "pin", "fits", "2030-01-01"), ("P1", "S1", "cross_sell", "block", "", "")])
    ctx = context(CROSS_LINES, CROSS_PRODUCTS, CROSS_CFG, curated=curated)
    cs = build_cross_sell(CROSS_SOURCES, CROSS_LINES, ctx, CROSS_CFG).frame
    us = build_up_sell({}, CROSS_LINES, ctx, CROSS_CFG).frame
    review = build_links_review(cs, us, ctx)
    assert tuple(review.columns) == REVIEW_COLUMNS + UPTAKE_REVIEW_COLUMNS  # uptake columns empty: nothing measured
    assert review["uptake_buying_centers"].isna().all() and (review["uptake_run"] == "").all()
    assert review[["rec_product_id", "action"]].values.tolist() == [["G1", "pin"], ["S1", "block"], ["F1", ""]]
    assert review.iloc[2]["product_name"] == "Pump A" and review.iloc[2]["rec_product_name"] == "Filter"
    # a product manager blocks F1; the file loads as curated links unchanged otherwise
    review.loc[2, "action"] = "block"
    again = parse_curated_links(review.astype(str), "links_review.csv", ctx.today)
    assert sorted(again.blocks["rec_product_id"]) == ["F1", "S1"]
    assert again.pins["rec_product_id"].tolist() == ["G1"] and again.pins["valid_until"].tolist() == ["2030-01-01"]


def test_buying_center_blocks_and_a_shared_resolver_give_the_same_table(monkeypatch):
    from xsell.recommend import suggestions
    from xsell.recommend.variants import VariantResolver

    rng = np.random.default_rng(3)
    families = ["PUMP", "SEAL", "FILT"]
    products = products_frame(
        [product(f"P{p}-{v}", families[p % 3], 10.0 + p, countries=str(rng.choice(["", "DE", "DE;FR"]))) for p in range(15) for v in range(2)]
    )
    rows = [
        line(f"O{rng.integers(0, 120)}", f"2024-0{rng.integers(1, 10)}-1{rng.integers(0, 9)}", f"B{rng.integers(0, 30):02d}",
             f"P{rng.integers(0, 15)}-{rng.integers(0, 2)}", country=str(rng.choice(["DE", "FR"])), ret=bool(rng.random() < 0.05))
        for _ in range(500)
    ]  # fmt: skip
    lines = lines_frame(rows)
    customers = pd.DataFrame({"buying_center_id": [f"B{i:02d}" for i in range(33)], "customer_id": [f"K{i}" for i in range(33)],
                              "country": "DE", "segment": [str(rng.choice(["Food", "Metal", ""])) for _ in range(33)]})  # fmt: skip
    cfg = RecommendConfig(top_n_buying_center=5, candidates_per_source=8, cross_sell_weights={"rules": 1.0}, upsell_weights={"rules": 1.0})
    ctx = context(lines, products, cfg)
    pairs = sim([(f"P{a}", f"P{b}", float(rng.random())) for a in range(15) for b in range(15) if a != b and rng.random() < 0.4])
    cross, up = build_cross_sell({"rules": pairs}, lines, ctx, cfg).frame, build_up_sell({"rules": pairs}, lines, ctx, cfg).frame
    personal = pd.concat([_personal(f"B{i:02d}", list(rng.choice([f"P{p}" for p in range(15)], 8, replace=False))) for i in range(0, 30, 2)])
    whole = build_buying_center_suggestions(personal, cross, up, lines, customers, ctx, cfg, personal_source="ease")
    assert whole.frame["buying_center_id"].nunique() == 33 and set(whole.frame["source"]) >= {"ease", "popularity"}
    assert whole.rules_applied["already_bought"] > 0 and (whole.frame["anchor_product_id"] != "").any()
    shared = VariantResolver.build(lines, ctx)
    for block in (1, 4, 7):
        monkeypatch.setattr(suggestions, "_BUYER_BLOCK", block)
        got = build_buying_center_suggestions(personal, cross, up, lines, customers, ctx, cfg, personal_source="ease", variants=shared)
        pd.testing.assert_frame_equal(got.frame, whole.frame)
        assert got.rules_applied == whole.rules_applied
    # once the first block is made the blocks hold no reference to the lines (the recommend step
    # drops its own then: at 20M lines the frame's 1.2 GiB are free for the rest of the table)
    own_lines = lines.copy()
    held = weakref.ref(own_lines)
    blocks = suggestions.buying_center_blocks(
        personal, cross, up, own_lines, customers, ctx, cfg, counts={}, personal_source="ease", variants=shared
    )
    del own_lines
    first = next(blocks)
    assert held() is None
    pd.testing.assert_frame_equal(first.reset_index(drop=True), whole.frame.iloc[: len(first)].reset_index(drop=True))


def test_link_tables_in_product_blocks_and_on_coded_lines_are_the_same_tables(monkeypatch):
    """Cross-sell and up-sell expanded per block of products (any block size) give the table of one
    block: the same rows in the same order, the same rule counts; so do lines whose ids are
    categoricals (as the recommend step codes them)."""
    from xsell.frames import dictionary_encoded
    from xsell.recommend import common

    rng = np.random.default_rng(8)
    products = products_frame(
        [product(f"P{p}-{v}", ["PUMP", "SEAL"][p % 2], 10.0 + 3 * p + v, countries=str(rng.choice(["", "DE", "DE;FR"]))) for p in range(20) for v in range(2)]
    )
    lines = lines_frame([
        line(f"O{rng.integers(0, 150)}", f"2024-0{rng.integers(1, 10)}-1{rng.integers(0, 9)}", f"B{rng.integers(0, 40):02d}",
             f"P{rng.integers(0, 20)}-{rng.integers(0, 2)}", country=str(rng.choice(["DE", "FR", "AT"])))
        for _ in range(700)
    ])  # fmt: skip
    cfg = RecommendConfig(top_n_product=3, cross_sell_weights={"rules": 1.0}, upsell_weights={"rules": 1.0})
    ctx = context(lines, products, cfg)
    pairs = sim([(f"P{a}", f"P{b}", float(rng.integers(0, 4))) for a in range(20) for b in range(20) if a != b and rng.random() < 0.5])  # score ties
    whole = {name: build({"rules": pairs}, lines, ctx, cfg) for name, build in (("cross", build_cross_sell), ("up", build_up_sell))}
    assert min(len(t.frame) for t in whole.values()) > 20 and set(whole["cross"].frame["country"]) == {"ALL", "AT", "DE", "FR"}
    coded = lines.assign(**{c: dictionary_encoded(lines[c]) for c in ("buying_center_id", "customer_id", "country", "variant_id", "product_id")})
    for block, history in ((1, lines), (25, lines), (10**9, coded), (40, coded)):
        monkeypatch.setattr(common, "_EXPANDED_BLOCK", block)
        for name, build in (("cross", build_cross_sell), ("up", build_up_sell)):
            got = build({"rules": pairs}, history, ctx, cfg)
            pd.testing.assert_frame_equal(got.frame, whole[name].frame)
            assert got.rules_applied == whole[name].rules_applied


@pytest.mark.parametrize("history", ["retail_lines", "tiny_demo_lines"])
def test_context_purchase_facts_equal_pandas_on_the_whole_purchase_frame(request, history):
    """The context reads the purchases one column at a time as codes; each fact is what pandas
    gives on the filtered frame of all purchase columns: the variants seen (sorted by id), the
    products in order of first appearance, the median prices and line values, and the
    (country, product) pairs sold in the assortment window in order of first appearance."""
    lines = request.getfixturevalue(history)
    cfg = RecommendConfig(assortment_months=2)
    ctx = context(lines, None, cfg)
    bought = lines[~lines["is_return"].to_numpy(dtype=bool) & (lines["quantity"] > 0).to_numpy()]
    assert 0 < len(bought) < len(lines)  # returns are left out

    seen = bought.groupby(["variant_id", "product_id"])["is_custom"].max().reset_index()
    assert ctx.variants["variant_id"].tolist() == seen["variant_id"].tolist()
    assert ctx.variants["product_id"].tolist() == seen["product_id"].tolist()
    assert ctx.variants["is_custom"].tolist() == seen["is_custom"].tolist()
    assert ctx.products.index.tolist() == pd.unique(seen["product_id"]).tolist()

    standard = bought[~bought["is_custom"] & (bought["unit_price"] > 0)]
    paid = standard.groupby("product_id")["unit_price"].median()
    typical = ctx.products["typical_price"]
    assert typical.notna().sum() == len(paid)
    assert typical.reindex(paid.index).tolist() == paid.tolist()
    value = bought[bought["net_value"] > 0].groupby("product_id")["net_value"].median()
    assert ctx.products["line_value"].reindex(value.index).tolist() == value.tolist()

    since = ctx.today - pd.DateOffset(months=2)
    recent = bought[bought["order_date"] >= since]
    assert 0 < len(recent) < len(bought)
    sold = recent[["country", "product_id"]].drop_duplicates()
    assert list(map(tuple, ctx.sold[["country", "product_id"]].to_numpy())) == list(map(tuple, sold.to_numpy()))
