"""Each business rule on hand-built frames, with the count it logs; curated links and block list files."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from recommend_helpers import context, line, lines_frame, product, products_frame
from xsell.errors import InputDataError
from xsell.recommend.business_rules import BUSINESS_RULES, apply_business_rules
from xsell.recommend.config import RecommendConfig
from xsell.recommend.curated import parse_block_list, parse_curated_links

TODAY_LINES = lines_frame([line("O1", "2024-06-30", "B1", "K-1")])  # today = 2024-07-01


def rows(*pairs: tuple[str, str, str]) -> pd.DataFrame:
    """Candidate rows ``(country, rec_product_id, rec_variant_id)``."""
    return pd.DataFrame(pairs, columns=["country", "rec_product_id", "rec_variant_id"])


def kept(frame: pd.DataFrame, ctx, cfg=None) -> tuple[list[tuple[str, str]], dict[str, int]]:
    out, counts = apply_business_rules(frame, ctx, cfg or RecommendConfig(), table="t")
    return list(zip(out["country"], out["rec_variant_id"])), counts


def test_discontinued_by_status_or_date_on_product_and_variant():
    products = products_frame(
        [
            product("A-1", "F", status="discontinued"),
            product("B-1", "F", discontinued_on="2024-07-01"),  # = today: gone
            product("C-1", "F", discontinued_on="2024-07-02"),  # tomorrow: still sold
            product("D-1", "F", status="discontinued"),
            product("D-2", "F"),  # D still has an active variant, D-1 itself is gone
            product("K-1", "F"),
        ]
    )
    ctx = context(TODAY_LINES, products)
    got, counts = kept(rows(("ALL", "A", "A-1"), ("ALL", "B", "B-1"), ("ALL", "C", "C-1"), ("ALL", "D", "D-1"), ("ALL", "D", "D-2")), ctx)
    assert got == [("ALL", "C-1"), ("ALL", "D-2")]
    assert counts["discontinued"] == 3


def test_explicit_assortment_from_the_product_master():
    products = products_frame([product("A-1", "F", countries="DE;AT"), product("B-1", "F", countries=""), product("K-1", "F")])
    ctx = context(TODAY_LINES, products)
    assert ctx.assortment_mode == "master"
    got, counts = kept(rows(("DE", "A", "A-1"), ("FR", "A", "A-1"), ("ALL", "A", "A-1"), ("FR", "B", "B-1")), ctx)
    assert got == [("DE", "A-1"), ("ALL", "A-1"), ("FR", "B-1")]  # empty countries = everywhere
    assert counts["not_in_assortment"] == 1


def test_inferred_assortment_from_recent_sales():
    lines = lines_frame(
        [
            line("O1", "2024-06-30", "B1", "A-1", country="DE"),
            line("O2", "2022-01-15", "B2", "A-1", country="FR"),  # more than 24 months ago
            line("O3", "2023-09-01", "B3", "B-1", country="FR"),
        ]
    )
    ctx = context(lines, products_frame([product("A-1", "F"), product("B-1", "F")]))
    assert ctx.assortment_mode == "inferred"
    got, counts = kept(rows(("DE", "A", "A-1"), ("FR", "A", "A-1"), ("FR", "B", "B-1"), ("DE", "B", "B-1")), ctx)
    assert got == [("DE", "A-1"), ("FR", "B-1")]
    assert counts["not_in_assortment"] == 2
    wider = RecommendConfig(assortment_months=36)
    got, _ = kept(rows(("FR", "A", "A-1")), context(lines, products_frame([product("A-1", "F")]), wider), wider)
    assert got == [("FR", "A-1")]


def test_custom_made_is_never_recommended():
    products = products_frame(
        [product("A-1", "F"), product("A-C", "F", custom=True, product_id="A"), product("Z-C", "F", custom=True, product_id="Z")]
    )
    ctx = context(TODAY_LINES, products)
    got, counts = kept(rows(("ALL", "A", "A-C"), ("ALL", "Z", "Z-C"), ("ALL", "A", "A-1")), ctx)
    assert got == [("ALL", "A-1")]
    assert counts["custom_made"] == 2


def test_custom_variants_known_only_from_order_lines_are_custom_too():
    lines = lines_frame([line("O1", "2024-06-30", "B1", "Q-777", custom=True)])
    ctx = context(lines, None)
    got, counts = kept(rows(("ALL", "Q", "Q-777"), ("ALL", "Q", "")), ctx)
    assert got == [] and counts["custom_made"] == 2  # Q exists only as a custom variant


def test_excluded_family_and_block_list():
    products = products_frame([product("A-1", "SPARE"), product("B-1", "F"), product("C-1", "F"), product("C-2", "F"), product("K-1", "F")])
    cfg = RecommendConfig(exclude_families=["SPARE"])
    ctx = context(TODAY_LINES, products, cfg, block_ids=frozenset({"B", "C-2"}))
    got, counts = kept(rows(("ALL", "A", "A-1"), ("ALL", "B", "B-1"), ("ALL", "C", "C-1"), ("ALL", "C", "C-2")), ctx, cfg)
    assert got == [("ALL", "C-1")]
    assert counts["excluded_family"] == 1 and counts["block_list"] == 2  # product id B, variant id C-2


def test_each_row_is_counted_once_and_every_rule_logs_a_line(caplog):
    products = products_frame([product("A-1", "SPARE", status="discontinued", custom=True)])
    cfg = RecommendConfig(exclude_families=["SPARE"])
    ctx = context(TODAY_LINES, products, cfg, block_ids=frozenset({"A"}))
    with caplog.at_level(logging.INFO, logger="xsell.recommend.business_rules"):
        _, counts = kept(rows(("ALL", "A", "A-1")), ctx, cfg)
    assert counts == {rule: int(rule == "discontinued") for rule in BUSINESS_RULES}
    messages = [r.getMessage() for r in caplog.records]
    assert "t: rule discontinued removed 1 row(s)" in messages
    assert all(any(f"rule {rule} removed" in m for m in messages) for rule in BUSINESS_RULES)


# -- block list file ------------------------------------------------------------------------
def test_block_list_one_id_per_line_or_product_id_column():
    assert parse_block_list(pd.DataFrame({0: ["A", "# retired", "B-1", ""]}), "b.csv") == {"A", "B-1"}
    table = pd.DataFrame([["note", "product_id"], ["old", "A"], ["", "C"]])
    assert parse_block_list(table, "b.csv") == {"A", "C"}
    with pytest.raises(InputDataError, match="product_id") as err:
        parse_block_list(pd.DataFrame([["id", "why"], ["A", "old"]]), "b.csv")
    assert err.value.file == "b.csv"


# -- curated links file ---------------------------------------------------------------------
def curated(rows: list[tuple], columns=("product_id", "rec_product_id", "kind", "action", "note", "valid_until")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


TODAY = pd.Timestamp("2024-07-01")


def test_curated_pins_keep_file_order_and_empty_actions_are_ignored():
    links = parse_curated_links(
        curated(
            [
                ("A", "B", "cross_sell", "", "", ""),
                ("A", "C", "cross_sell", "pin", "x", ""),
                ("A", "D", "up_sell", "BLOCK", "", "2024-07-01"),  # valid through today
                ("A", "E", "cross_sell", "pin", "", "2099-12-31"),
            ]
        ),
        "curated_links.csv",
        TODAY,
    )
    assert links.pins[["rec_product_id", "order"]].values.tolist() == [["C", 2], ["E", 4]]
    assert links.blocks[["rec_product_id", "kind"]].values.tolist() == [["D", "up_sell"]]


def test_expired_curated_links_are_ignored_with_a_warning_naming_them(caplog):
    with caplog.at_level(logging.WARNING):
        links = parse_curated_links(
            curated([("A", "B", "cross_sell", "pin", "", "2024-06-30"), ("A", "C", "cross_sell", "block", "", "2024-01-01")]),
            "curated_links.csv",
            TODAY,
        )
    assert links.pins.empty and links.blocks.empty
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    text = warning[0].getMessage()
    assert "curated_links.csv" in text and "2 expired" in text
    assert "row 1 A->B (cross_sell, valid_until 2024-06-30)" in text and "row 2 A->C" in text


@pytest.mark.parametrize(
    ("rows", "row", "column"),
    [
        ([("A", "B", "cross_sell", "pin", "", ""), ("A", "C", "crosssell", "pin", "", "")], 2, "kind"),
        ([("A", "B", "cross_sell", "keep", "", "")], 1, "action"),
        ([("A", "B", "cross_sell", "pin", "", "31.12.2024")], 1, "valid_until"),
        ([("", "B", "up_sell", "block", "", "")], 1, "product_id"),
        ([("A", "A", "up_sell", "pin", "", "")], 1, "rec_product_id"),
        ([("A", "B", "up_sell", "pin", "", ""), ("A", "B", "up_sell", "block", "", "")], 1, "action"),
    ],
)
def test_malformed_curated_links_name_file_row_and_column(rows, row, column):
    with pytest.raises(InputDataError) as err:
        parse_curated_links(curated(rows), "curated_links.csv", TODAY)
    assert (err.value.file, err.value.row, err.value.column) == ("curated_links.csv", row, column)


def test_curated_links_without_a_required_column():
    with pytest.raises(InputDataError) as err:
        parse_curated_links(curated([("A", "B", "pin")], columns=("product_id", "rec_product_id", "action")), "c.csv", TODAY)
    assert (err.value.file, err.value.column) == ("c.csv", "kind")
