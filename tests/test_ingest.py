"""Ingest: mapping, rules, quarantine reasons, masters, dialects, errors (small hand-made inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest_helpers import make_config, read_outputs, read_summary, run_cli, sections, write_config, write_text
from xsell.errors import InputDataError
from xsell.ingest.lines import REASONS, in_sorted, ingest_order_lines, merge_sorted, with_provenance
from xsell.ingest.masters import (
    build_customer_master,
    build_product_master,
    canonical_customer_master,
    canonical_product_master,
)
from xsell.ingest.parse import parse_country_lists, parse_flags, parse_ids, parse_numbers
from xsell.io.readers import read_export, sniff_separator
from xsell.schema import CUSTOMER_COLUMNS, ORDER_LINE_COLUMNS, PRODUCT_COLUMNS
from xsell.steps.ingest import run_ingest

CANONICAL_HEADER = "order_id,order_date,buying_center_id,variant_id,quantity,unit_price\n"


def raw_frame(rows: list[dict[str, str]], name: str = "lines.csv") -> pd.DataFrame:
    """A raw frame as the CSV reader returns it: every column str."""
    return with_provenance(pd.DataFrame(rows).astype("str"), name)


def line(**over: str) -> dict[str, str]:
    base = {"order_id": "1", "order_date": "2024-01-05", "buying_center_id": "B1", "variant_id": "V1", "quantity": "2", "unit_price": "3.5"}
    return {**base, **over}


# -- parsers -------------------------------------------------------------------------------------
def test_parse_flags_reads_erp_flags_and_marks_the_rest_unrecognised():
    values = pd.Series(["X", "1", "true", "YES", "ja", "y", "", "0", "false", "no", "nein", "vielleicht", "2"], dtype="str")
    flags, unknown = parse_flags(values)
    assert flags.tolist() == [True] * 6 + [False] * 7
    assert unknown.tolist() == [False] * 11 + [True, True]
    flags, unknown = parse_flags(values, true_values=["vielleicht"], false_values=["2"])
    assert flags.tolist()[-2:] == [True, False]
    assert unknown.tolist() == [True] * 6 + [False] + [True] * 4 + [False, False]  # the lists replace the defaults


def test_parse_numbers_dialects():
    values = pd.Series(["1.234,50", "12,5-", "", "abc", "-3"], dtype="str")
    out = parse_numbers(values, decimal=",", thousands=".")
    assert out.iloc[:2].tolist() == [1234.5, -12.5]
    assert out.iloc[2:4].isna().all()
    assert out.iloc[4] == -3.0


def test_parse_ids_normalises_float_formatted_numbers_only():
    values = pd.Series(["17850.0", "17850", " 42.00 ", "85123A", "1.5", ""], dtype="str")
    assert parse_ids(values).tolist() == ["17850", "17850", "42", "85123A", "1.5", ""]
    assert parse_ids(values, float_ids=False).tolist() == ["17850.0", "17850", "42.00", "85123A", "1.5", ""]
    typed = pd.Series([17850.0, np.nan, 2.5])
    assert parse_ids(typed).tolist() == ["17850", "", "2.5"]


def test_parse_country_lists_accepts_three_separators():
    values = pd.Series(["DE;AT", "FR, DE", "IT|ES|IT", ""], dtype="str")
    assert parse_country_lists(values).tolist() == ["AT;DE", "DE;FR", "ES;IT", ""]


def test_sniff_separator():
    assert sniff_separator("a;b;c") == ";"
    assert sniff_separator("a,b") == ","
    assert sniff_separator("a\tb\tc") == "\t"
    assert sniff_separator("single") == ","


# -- mapping ---------------------------------------------------------------------------------------
def test_mapping_produces_canonical_columns_and_dtypes(tmp_path):
    cfg = make_config(
        tmp_path,
        {
            "order_lines": "x.csv",
            "columns": {
                "order_id": "VBELN", "order_line": "POSNR", "order_date": "AUDAT", "buying_center_id": "KUNWE",
                "customer_id": "KUNNR", "country": "LAND1", "variant_id": "MATNR", "quantity": "KWMENG",
                "net_value": "NETWR", "currency": "WAERK", "is_custom": "SONDER",
            },
        },
    )
    raw = raw_frame([
        {"VBELN": "100", "POSNR": "10", "AUDAT": "2024-02-01", "KUNWE": "S1", "KUNNR": "C1", "LAND1": "DE",
         "MATNR": "M1", "KWMENG": "4", "NETWR": "10", "WAERK": "EUR", "SONDER": "X", "EXTRA": "ignored"},
    ])
    res = ingest_order_lines(raw, *sections(cfg))
    lines = res.lines
    assert list(lines.columns) == list(ORDER_LINE_COLUMNS)
    row = lines.iloc[0]
    assert (row.order_id, row.order_line, row.buying_center_id, row.customer_id, row.country) == ("100", "10", "S1", "C1", "DE")
    assert (row.variant_id, row.product_id, row.currency) == ("M1", "M1", "EUR")
    assert row.unit_price == 2.5 and row.net_value == 10.0 and row.quantity == 4.0
    assert bool(row.is_custom) and not bool(row.is_return)
    assert row.order_date == pd.Timestamp("2024-02-01")
    assert (row.source_file, row.source_row) == ("lines.csv", 1)
    assert lines["order_date"].dtype == "datetime64[ns]"
    for c in ("quantity", "unit_price", "net_value"):
        assert lines[c].dtype == "float64"
    assert lines["is_custom"].dtype == bool and lines["is_return"].dtype == bool
    assert lines["source_row"].dtype == "int64"
    assert pd.api.types.is_string_dtype(lines["order_id"])


def test_canonical_source_needs_no_mapping_and_defaults_apply(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"})
    res = ingest_order_lines(raw_frame([line()]), *sections(cfg))
    row = res.lines.iloc[0]
    assert row.customer_id == "B1"  # defaults to the buying center
    assert row.country == "ALL"
    assert row.net_value == 7.0  # 2 * 3.5
    assert row.order_line == "" and row.currency == ""


# -- rules ---------------------------------------------------------------------------------------------
def test_returns_by_negative_quantity_or_prefix(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"}, {"return_order_prefixes": ["C", "R"]})
    raw = raw_frame([line(order_id="1"), line(order_id="2", quantity="-2"), line(order_id="C3"), line(order_id="R4", quantity="-1")])
    lines = ingest_order_lines(raw, *sections(cfg)).lines.set_index("order_id")
    assert lines["is_return"].to_dict() == {"1": False, "2": True, "C3": True, "R4": True}
    assert lines["quantity"].to_dict() == {"1": 2.0, "2": -2.0, "C3": -2.0, "R4": -1.0}
    assert lines["net_value"].to_dict() == {"1": 7.0, "2": -7.0, "C3": -7.0, "R4": -3.5}
    assert (lines["unit_price"] == 3.5).all()


def test_unit_price_derived_from_net_value_keeps_returns_positive(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"}, {"return_order_prefixes": ["R"]})
    rows = [{k: v for k, v in line(order_id=o, quantity=q).items() if k != "unit_price"} | {"net_value": nv} for o, q, nv in
            [("1", "4", "10"), ("R2", "2", "6"), ("3", "-2", "-6")]]
    lines = ingest_order_lines(raw_frame(rows), *sections(cfg)).lines.set_index("order_id")
    assert lines["unit_price"].to_dict() == {"1": 2.5, "R2": 3.0, "3": 3.0}
    assert lines["net_value"].to_dict() == {"1": 10.0, "R2": -6.0, "3": -6.0}


def test_duplicates_are_dropped_and_counted(tmp_path):
    raw = raw_frame([line(), line(), line(quantity="3"), line()])
    res = ingest_order_lines(raw, *sections(make_config(tmp_path, {"order_lines": "x.csv"})))
    assert res.counts["excluded_by_rule"]["duplicate line"] == 2
    assert res.lines["source_row"].tolist() == [1, 3]
    assert res.excluded["source_row"].tolist() == [2, 4]
    assert set(res.excluded["rule"]) == {"duplicate line"}
    kept = ingest_order_lines(raw, *sections(make_config(tmp_path, {"order_lines": "x.csv"}, {"drop_duplicates": False})))
    assert len(kept.lines) == 4 and kept.counts["rows_excluded"] == 0


def test_exclude_patterns_full_match_and_are_counted_per_pattern(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"}, {"exclude_variant_patterns": ["POST", "GEB-.*"]})
    raw = raw_frame([line(variant_id="POST"), line(variant_id="POSTER"), line(variant_id="GEB-1"), line(variant_id="XGEB-1")])
    res = ingest_order_lines(raw, *sections(cfg))
    assert res.lines["variant_id"].tolist() == ["POSTER", "XGEB-1"]
    assert res.counts["excluded_by_pattern"] == {"POST": 1, "GEB-.*": 1}
    assert res.counts["excluded_by_rule"]["non-product variant"] == 2
    assert res.excluded[["source_row", "rule", "value", "pattern"]].values.tolist() == [
        [1, "non-product variant", "POST", "POST"],
        [3, "non-product variant", "GEB-1", "GEB-.*"],
    ]


def test_each_quarantine_reason_names_row_column_and_value(tmp_path):
    products = pd.DataFrame({"variant_id": ["V1"], "product_id": ["P1"], "is_custom": [False]})
    rows = [
        line(),                                  # 1 accepted
        line(order_id=""),                       # 2
        line(buying_center_id=""),               # 3
        line(variant_id=""),                     # 4
        line(variant_id="NOPE"),                 # 5
        line(order_date="2024-13-45"),           # 6
        line(quantity="zwei"),                   # 7
        line(unit_price="3,5x"),                 # 8
        line(unit_price="-1"),                   # 9
        line(order_id="", quantity="x"),         # 10: first failing check wins
        line(unit_price=""),                     # 11: no price at all
        line(order_date="0001-01-01"),           # 12: parsed, but outside the canonical range
        line(is_custom="vielleicht"),            # 13: neither a true nor a false value
        line(quantity="1e309"),                  # 14: infinite is not a number
        line(order_id=""),                       # 15: the reader could not read it (wins)
        line(),                                  # 16: ditto
    ]
    raw = raw_frame([{"is_custom": "", **r} for r in rows])
    unreadable = pd.DataFrame({"row": [14, 15], "reason": ["wrong number of fields", "undecodable bytes"],
                               "column": ["", "variant_id"], "value": ["5 field(s), expected 7: 1;2", "Gr\ufffdn"]})
    res = ingest_order_lines(raw, *sections(make_config(tmp_path, {"order_lines": "x.csv"})), products, unreadable=unreadable)
    q = res.quarantine.set_index("source_row")
    expected = {
        2: ("missing order id", "order_id", ""),
        3: ("missing buying center", "buying_center_id", ""),
        4: ("missing variant", "variant_id", ""),
        5: ("unknown variant", "variant_id", "NOPE"),
        6: ("unparseable date", "order_date", "2024-13-45"),
        7: ("non-numeric quantity", "quantity", "zwei"),
        8: ("non-numeric price", "unit_price", "3,5x"),
        9: ("negative price", "unit_price", "-1"),
        10: ("missing order id", "order_id", ""),
        11: ("non-numeric price", "unit_price", ""),
        12: ("date out of range", "order_date", "0001-01-01"),
        13: ("unrecognised flag", "is_custom", "vielleicht"),
        14: ("non-numeric quantity", "quantity", "1e309"),
        15: ("wrong number of fields", "", "5 field(s), expected 7: 1;2"),
        16: ("undecodable bytes", "variant_id", "Gr\ufffdn"),
    }
    assert {r: tuple(q.loc[r, ["reason", "column", "value"]]) for r in q.index} == expected
    assert set(REASONS) == {v[0] for v in expected.values()}
    assert q.loc[7, "quantity"] == "zwei"  # source values kept as text
    assert res.lines["source_row"].tolist() == [1]
    c = res.counts
    assert c["rows_read"] == 16 == c["rows_accepted"] + c["rows_quarantined"] + c["rows_excluded"]
    assert sum(c["quarantined_by_reason"].values()) == c["rows_quarantined"] == 15


def test_variant_to_product_sources(tmp_path):
    data = {"order_lines": "x.csv", "variant_to_product": r"^(\d{5})[A-Z]+$"}
    raw = raw_frame([line(variant_id="85123A"), line(variant_id="85123"), line(variant_id="ABC")])
    res = ingest_order_lines(raw, *sections(make_config(tmp_path, data)))
    assert res.lines["product_id"].tolist() == ["85123", "85123", "ABC"]
    assert res.counts["product_id_source"] == {"master": 0, "line": 0, "regex": 1, "self": 2}
    # a line-level product column wins over the regex; the master wins over both
    raw = raw_frame([line(variant_id="85123A", product_id="P9"), line(variant_id="K-77", product_id="BASE"), line(variant_id="85123B", product_id="")])
    master = pd.DataFrame({"variant_id": ["85123A", "K-77", "85123B"], "product_id": ["M1", "", ""], "is_custom": [False, True, False]})
    res = ingest_order_lines(raw, *sections(make_config(tmp_path, data)), master)
    assert res.lines["product_id"].tolist() == ["M1", "BASE", "85123"]
    assert res.lines["is_custom"].tolist() == [False, True, False]  # custom flag from the master
    assert res.counts["product_id_source"] == {"master": 1, "line": 1, "regex": 1, "self": 0}


def test_custom_variant_keeps_its_id_and_rolls_up(tmp_path):
    data = {"order_lines": "x.csv", "variant_to_product": r"^(P\d+)-.*$", "columns": {"is_custom": "custom"}}
    raw = raw_frame([line(variant_id="P1-CUST-0001", custom="X"), line(variant_id="P1-STD", custom="")])
    lines = ingest_order_lines(raw, *sections(make_config(tmp_path, data))).lines
    assert lines["variant_id"].tolist() == ["P1-CUST-0001", "P1-STD"]
    assert lines["product_id"].tolist() == ["P1", "P1"]
    assert lines["is_custom"].tolist() == [True, False]


def test_buying_center_key_joins_columns_and_quarantines_missing_parts(tmp_path):
    data = {"order_lines": "x.csv", "columns": {"customer_id": "KUNNR"}, "buying_center_key": ["customer_id", "KUNWE"]}
    rows = [line(KUNNR="C1", KUNWE="S1"), line(KUNNR="C1", KUNWE=""), line(KUNNR="C2.0", KUNWE="7")]
    rows = [{k: v for k, v in r.items() if k != "buying_center_id"} for r in rows]
    res = ingest_order_lines(raw_frame(rows), *sections(make_config(tmp_path, data)))
    assert res.lines["buying_center_id"].tolist() == ["C1/S1", "C2.0/7"]
    assert res.lines["customer_id"].tolist() == ["C1", "C2.0"]
    q = res.quarantine.iloc[0]
    assert (q.source_row, q.reason, q.column) == (2, "missing buying center", "KUNWE")


def test_float_ids_option(tmp_path):
    raw = raw_frame([line(buying_center_id="17850.0", order_id="536365")])
    on = ingest_order_lines(raw, *sections(make_config(tmp_path, {"order_lines": "x.csv"}))).lines
    off = ingest_order_lines(raw, *sections(make_config(tmp_path, {"order_lines": "x.csv", "normalize_float_ids": False}))).lines
    assert on["buying_center_id"].tolist() == ["17850"] and off["buying_center_id"].tolist() == ["17850.0"]


def test_cross_file_duplicates_via_fingerprints(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"})
    first = ingest_order_lines(raw_frame([line(), line(order_id="2")], "a.csv"), *sections(cfg))
    second = ingest_order_lines(raw_frame([line(order_id="2"), line(order_id="3")], "b.csv"), *sections(cfg), seen_fingerprints=first.fingerprints)
    assert second.lines["order_id"].tolist() == ["3"]
    assert second.excluded[["source_file", "source_row", "rule"]].values.tolist() == [["b.csv", 1, "duplicate line"]]


def test_batches_prepared_ahead_finish_as_one_after_another(tmp_path):
    """``run_ingest`` prepares the next batches before the earlier ones are finished: preparing
    must not depend on them, so every batch prepared first and finished in order gives what
    ``ingest_order_lines`` gives batch after batch (duplicates across batches excluded)."""
    from xsell.ingest.lines import finish_batch, prepare_batch

    cfg = make_config(tmp_path, {"order_lines": "x.csv"})
    raws = [
        raw_frame([line(), line(order_id="2"), line(order_id="2")], "a.csv"),
        raw_frame([line(order_id="2"), line(order_id="3"), line(order_id="4", quantity="x")], "b.csv"),
        raw_frame([line(order_id="3"), line(order_id="5")], "c.csv"),
    ]
    prepared = [prepare_batch(raw, *sections(cfg)) for raw in raws]
    seen_one = seen_ahead = np.empty(0, dtype="uint64")
    for raw, batch in zip(raws, prepared, strict=True):
        one = ingest_order_lines(raw, *sections(cfg), seen_fingerprints=seen_one)
        ahead = finish_batch(batch, seen_fingerprints=seen_ahead)
        for got, expected in ((ahead.lines, one.lines), (ahead.quarantine, one.quarantine), (ahead.excluded, one.excluded)):
            pd.testing.assert_frame_equal(got, expected)
        assert ahead.counts == one.counts
        seen_one, seen_ahead = merge_sorted(seen_one, one.fingerprints), merge_sorted(seen_ahead, ahead.fingerprints)
    assert one.lines["order_id"].tolist() == ["5"] and one.counts["excluded_by_rule"]["duplicate line"] == 1


def test_in_sorted_matches_numpy_isin():
    rng = np.random.default_rng(3)
    seen = np.unique(rng.integers(0, 2**63, 5000, dtype=np.uint64))
    values = np.concatenate([rng.choice(seen, 300), rng.integers(0, 2**63, 300, dtype=np.uint64), seen[[0, -1]], [np.uint64(2**64 - 1)]])
    rng.shuffle(values)
    assert (in_sorted(values, seen) == np.isin(values, seen)).all()


# -- masters ----------------------------------------------------------------------------------------
def test_inferred_product_master_from_lines(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv", "columns": {"country": "land"}, "variant_to_product": r"^(\d+)[A-Z]$", "family_rule": r"^(\d)"},
                      {"return_order_prefixes": ["C"]})
    raw = raw_frame([
        line(variant_id="11A", unit_price="1", land="DE"),
        line(variant_id="11A", unit_price="2", land="FR", order_id="2"),
        line(variant_id="11A", unit_price="10", land="DE", order_id="3"),
        line(variant_id="11A", unit_price="100", land="IT", order_id="C4"),  # return: not in price or assortment median
        line(variant_id="22B", unit_price="5", land="DE"),
    ])
    lines = ingest_order_lines(raw, *sections(cfg)).lines
    products, info = build_product_master(lines, None, cfg.data)
    assert list(products.columns) == list(PRODUCT_COLUMNS)
    p = products.set_index("variant_id")
    assert p.loc["11A", "product_id"] == "11" and p.loc["11A", "family"] == "1"
    assert p.loc["11A", "list_price"] == 2.0  # median of 1, 2, 10
    assert p.loc["11A", "countries"] == "DE;FR;IT"
    assert p.loc["22B", "countries"] == "DE" and p.loc["22B", "list_price"] == 5.0
    assert set(p["status"]) == {"active"} and p["discontinued_on"].isna().all()
    assert info["inferred"] is True


def test_product_master_mapping_and_completion(tmp_path):
    cfg = make_config(tmp_path, {
        "order_lines": "x.csv", "csv": {"decimal": ",", "date_format": "%d.%m.%Y"},
        "product_columns": {"variant_id": "MATNR", "product_id": "BASIS", "list_price": "PREIS", "status": "STATUS",
                            "discontinued_on": "AUSLAUF", "countries": "SORT", "is_custom": "SONDER", "name": "TXT"},
    })
    raw = pd.DataFrame({
        "MATNR": ["V1", "V2", "V3", "V1"], "BASIS": ["P1", "", "P3", "PX"], "PREIS": ["1,5", "", "3", "9"],
        "STATUS": ["", "Discontinued", "", "active"], "AUSLAUF": ["", "", "01.03.2024", ""],
        "SORT": ["DE|AT", "FR", "", ""], "SONDER": ["", "X", "", ""], "TXT": ["a", "b", "c", "d"],
    }, dtype="str")
    master, info, _ = canonical_product_master(raw, cfg.data, file="products.csv")
    m = master.set_index("variant_id")
    assert len(master) == 3 and info["repeated_variants"] == 1
    assert m.loc["V1", "product_id"] == "P1" and m.loc["V1", "list_price"] == 1.5  # first row of V1 wins
    assert m.loc["V2", "product_id"] == "V2" and np.isnan(m.loc["V2", "list_price"])
    assert m["status"].to_dict() == {"V1": "active", "V2": "discontinued", "V3": "discontinued"}
    assert m.loc["V3", "discontinued_on"] == pd.Timestamp("2024-03-01")
    assert m.loc["V1", "countries"] == "AT;DE" and bool(m.loc["V2", "is_custom"])
    lines = pd.DataFrame({"variant_id": ["V1"], "product_id": ["P1"], "unit_price": [1.0], "country": ["DE"], "is_custom": [False], "is_return": [False]})
    products, pinfo = build_product_master(lines, master, cfg.data)
    assert len(products) == 3 and pinfo == {"inferred": False, "from_master": 3, "inferred_rows": 0}


def test_product_master_bad_status_is_quarantined_with_file_row_and_value(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"})
    raw = pd.DataFrame({"variant_id": ["V1", "V2"], "status": ["active", "gone"]}, dtype="str")
    master, info, quarantine = canonical_product_master(raw, cfg.data, file="p.csv")
    assert master["variant_id"].tolist() == ["V1"]
    assert quarantine[["source_file", "source_row", "reason", "column", "value", "status"]].values.tolist() == [
        ["p.csv", 2, "unknown status", "status", "gone", "gone"]
    ]
    assert info["rows_quarantined"] == 1 and info["quarantined_by_reason"] == {"unknown status": 1}


def test_customer_master_with_buying_center_key(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv", "buying_center_key": ["customer_id", "KUNWE"],
                                 "customer_columns": {"customer_id": "KUNNR", "country": "LAND1", "segment": "BRANCHE", "sales_rep": "VKGRP"}})
    raw = pd.DataFrame({"KUNNR": ["C1", "C1"], "KUNWE": ["S1", "S2"], "LAND1": ["DE", ""], "BRANCHE": ["auto", "food"], "VKGRP": [" Anna ", ""]}, dtype="str")
    master, _, _ = canonical_customer_master(raw, cfg.data, file="customers.csv")
    # no name column mapped: an empty name; the sales rep trimmed, empty where the master has none
    assert master.values.tolist() == [["C1/S1", "C1", "DE", "auto", "", "Anna"], ["C1/S2", "C1", "ALL", "food", "", ""]]
    lines = pd.DataFrame({"buying_center_id": ["C1/S1", "C9/S9", "C9/S9", "C9/S9"], "customer_id": ["C1", "C9", "C9", "C9"],
                          "country": ["DE", "FR", "AT", "FR"]})
    customers, info = build_customer_master(lines, master)
    assert list(customers.columns) == list(CUSTOMER_COLUMNS)
    assert customers.values.tolist()[-1] == ["C9/S9", "C9", "FR", "", "", ""]  # most frequent country
    assert info == {"inferred": False, "from_master": 2, "inferred_rows": 1}


# -- files, dialects, formats -----------------------------------------------------------------------------
def _ingest_file(tmp_path: Path, path: Path, csv: dict | None = None, **data) -> tuple[pd.DataFrame, dict]:
    cfg = make_config(tmp_path, {"order_lines": str(path), "csv": csv or {}, **data})
    summary = run_ingest(cfg)
    lines, _, _ = read_outputs(tmp_path / "work")
    return lines, summary.to_dict()


EURO_CSV = "Beleg;Datum;Kunde;Material;Menge;Preis;Text\n1;05.01.2024;K1;Mä-1;1.000;1.234,50;Größe\n2;06.01.2024;K2;M2;2;0,5;x\n"


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-8"])
def test_semicolon_decimal_comma_and_encodings(tmp_path, encoding):
    path = write_text(tmp_path / "lines.csv", EURO_CSV, encoding)
    columns = {"order_id": "Beleg", "order_date": "Datum", "buying_center_id": "Kunde", "variant_id": "Material", "quantity": "Menge", "unit_price": "Preis"}
    lines, summary = _ingest_file(tmp_path, path, {"decimal": ",", "thousands": ".", "date_format": "%d.%m.%Y"}, columns=columns)
    assert lines["variant_id"].tolist() == ["Mä-1", "M2"]
    assert lines["quantity"].tolist() == [1000.0, 2.0]
    assert lines["unit_price"].tolist() == [1234.5, 0.5]
    assert lines["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-06")]
    assert summary["rows_accepted"] == 2


def test_dayfirst_dates_without_format(tmp_path):
    path = write_text(tmp_path / "l.csv", CANONICAL_HEADER + "1,05/01/2024,B,V,1,1\n2,13/01/2024,B,V,1,1\n")
    lines, _ = _ingest_file(tmp_path, path, {"dayfirst": True})
    assert lines["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]


def test_gzip_csv_and_quoted_fields(tmp_path):
    import gzip

    path = tmp_path / "l.csv.gz"
    path.write_bytes(gzip.compress((CANONICAL_HEADER + '1,2024-01-01,"B, 1",V,1,1\n').encode()))
    lines, _ = _ingest_file(tmp_path, path)
    assert lines["buying_center_id"].tolist() == ["B, 1"]


def test_glob_of_several_files_and_parquet_typed_input(tmp_path):
    write_text(tmp_path / "in" / "2023.csv", CANONICAL_HEADER + "1,2023-05-01,17850.0,V1,2,1.5\n")
    typed = pd.DataFrame({"order_id": [2, 3], "order_date": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                          "buying_center_id": [17850.0, np.nan], "variant_id": ["V2", "V3"], "quantity": [1, -4], "unit_price": [2.0, 3.0]})
    typed.to_parquet(tmp_path / "in" / "2024.parquet", index=False)
    cfg = make_config(tmp_path, {"order_lines": str(tmp_path / "in" / "*")}, {"max_rejected_share": 0.5})
    summary = run_ingest(cfg).to_dict()
    lines, quarantine, _ = read_outputs(tmp_path / "work")
    assert lines["order_id"].tolist() == ["1", "2"]
    assert lines["buying_center_id"].tolist() == ["17850", "17850"]
    assert lines["order_date"].tolist() == [pd.Timestamp("2023-05-01"), pd.Timestamp("2024-01-01")]
    assert [Path(f["file"]).name for f in summary["files"]] == ["2023.csv", "2024.parquet"]
    assert [f["rows_read"] for f in summary["files"]] == [1, 2]
    assert quarantine[["order_id", "reason", "source_row"]].values.tolist() == [["3", "missing buying center", 2]]
    assert quarantine["quantity"].tolist() == ["-4"]


# -- the CLI: outputs and error paths ------------------------------------------------------------------------
def test_cli_writes_all_outputs_and_summary(tmp_path):
    write_text(tmp_path / "l.csv", CANONICAL_HEADER + "1,2024-01-01,B1,V1,1,2\n1,2024-01-01,B1,V1,1,2\n2,2024-01-02,,V1,1,2\n3,2024-01-03,B2,FEE,1,2\n4,2024-01-04,B2,V2,3,1\n")
    config = write_config(tmp_path, {"order_lines": "l.csv"}, {"exclude_variant_patterns": ["FEE"], "max_rejected_share": 0.25})
    assert run_cli("ingest", "--config", str(config)) == 0
    work = tmp_path / "work"
    s = read_summary(work)
    assert (s["rows_read"], s["rows_accepted"], s["rows_quarantined"], s["rows_excluded"]) == (5, 2, 1, 2)
    assert s["excluded_by_rule"] == {"duplicate line": 1, "non-product variant": 1}
    assert s["quarantined_by_reason"]["missing buying center"] == 1
    assert (s["date_min"], s["date_max"]) == ("2024-01-01 00:00:00", "2024-01-04 00:00:00")
    assert (s["n_buying_centers"], s["n_variants"], s["n_products"]) == (2, 2, 2)
    assert s["products_inferred"] and s["customers_inferred"]
    assert pd.read_csv(work / "quarantine" / "quarantine.csv", dtype=str)["source_row"].tolist() == ["3"]
    assert list(pd.read_parquet(work / "canonical" / "products.parquet").columns) == list(PRODUCT_COLUMNS)
    assert pd.read_parquet(work / "canonical" / "customers.parquet")["buying_center_id"].tolist() == ["B1", "B2"]


def test_rejected_share_exceeded_exits_3_after_writing(tmp_path, capsys):
    write_text(tmp_path / "l.csv", CANONICAL_HEADER + "1,2024-01-01,B1,V1,1,2\n2,2024-01-01,,V1,1,2\n")
    config = write_config(tmp_path, {"order_lines": "l.csv"})
    assert run_cli("ingest", "--config", str(config)) == 3
    err = capsys.readouterr().err
    assert "max_rejected_share" in err
    assert "top reasons missing buying center 1 (check data.columns.buying_center_id / data.buying_center_key)" in err
    assert read_summary(tmp_path / "work")["rows_quarantined"] == 1
    assert (tmp_path / "work" / "quarantine" / "quarantine.parquet").is_file()
    assert (tmp_path / "work" / "quarantine" / "quarantine.csv").is_file()


def test_too_many_quarantined_rows_name_the_config_keys_that_fix_them(tmp_path, capsys):
    """Item 7: the final line named only the share; a German export read with the defaults
    fails on dates and decimal commas, and the line says which keys to set."""
    write_text(tmp_path / "l.csv", CANONICAL_HEADER + "".join(f"{i},0{i}.01.2024,B,V,1,\"2,5\"\n" for i in range(1, 4))
               + "4,2024-01-04,B,V,\"1,5\",2\n")
    assert run_cli("ingest", "--config", str(write_config(tmp_path, {"order_lines": "l.csv"}))) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert ("top reasons unparseable date 3 (check data.csv.date_format / data.csv.dayfirst), "
            "non-numeric quantity 1 (check data.csv.decimal / data.csv.thousands)") in last


@pytest.mark.parametrize(
    ("content", "data", "expect"),
    [
        ("order_id,order_date,buying_center_id,variant_id,unit_price\n1,2024-01-01,B,V,1\n", {}, ["quantity", "available columns"]),
        ("", {}, ["empty file"]),
        ("order_id,order_date,buying_center_id,variant_id,quantity,unit_price\n", {}, ["empty file"]),
        ("order_id,order_date,buying_center_id,variant_id,quantity\n1,2024-01-01,B,V,1\n", {}, ["unit_price nor net_value"]),
    ],
    ids=["missing-required", "zero-bytes", "header-only", "no-price"],
)
def test_input_errors_exit_3_naming_file_and_column(tmp_path, capsys, content, data, expect):
    write_text(tmp_path / "l.csv", content)
    config = write_config(tmp_path, {"order_lines": "l.csv", **data})
    assert run_cli("ingest", "--config", str(config)) == 3
    err = capsys.readouterr().err
    assert "l.csv" in err
    for text in expect:
        assert text in err


@pytest.mark.parametrize(
    ("content", "data", "expect"),
    [
        (CANONICAL_HEADER + "1,2024-01-01,B,V,1,1\n", {"columns": {"quantity": "Menge"}},
         ["Menge", "does not exist", "'order_id'", "key data.columns.quantity"]),
        (CANONICAL_HEADER + "1,2024-01-01,B,V,1,1\n", {"columns": {"quantity": "quantty"}}, ["did you mean 'quantity'?"]),
        (CANONICAL_HEADER + "1,2024-01-01,B,V,1,1\n", {"buying_center_key": ["buying_center_id", "KUNWE"]}, ["KUNWE", "key data.buying_center_key"]),
        (CANONICAL_HEADER + "1,2024-01-01,B,V,1,1\n", {"order_lines": "exports/*.csv"}, ["no input file matches", "exports/*.csv", "key data.order_lines"]),
        (CANONICAL_HEADER + "1,2024-01-01,B,V,1,1\n", {"products": "p.csv"}, ["product master", "p.csv", "not found", "key data.products"]),
    ],
    ids=["mapped-column-absent", "mapped-column-misspelt", "key-part-absent", "glob-matches-nothing", "master-absent"],
)
def test_configured_names_the_export_lacks_exit_2(tmp_path, capsys, content, data, expect):
    """A config naming a column or file the export does not have is a config error (exit 2),
    named with the config key to change (issue 11, item 8)."""
    write_text(tmp_path / "l.csv", content)
    config = write_config(tmp_path, {"order_lines": "l.csv", **data})
    assert run_cli("ingest", "--config", str(config)) == 2
    err = capsys.readouterr().err
    for text in expect:
        assert text in err


@pytest.mark.parametrize(
    ("data", "ingest", "expect"),
    [
        ({"order_lines": "l.csv", "colums": {}}, {}, "unknown key 'data.colums'"),
        ({"order_lines": "l.csv", "columns": {"ordre_id": "X"}}, {}, "ordre_id"),
        ({"order_lines": "l.csv", "variant_to_product": "^\\d+$"}, {}, "capture group"),
        ({"order_lines": "l.csv"}, {"exclude_variant_patterns": ["("]}, "invalid regex"),
    ],
    ids=["unknown-key", "unknown-canonical-column", "regex-without-group", "bad-regex"],
)
def test_config_errors_exit_2(tmp_path, capsys, data, ingest, expect):
    config = write_config(tmp_path, data, ingest)
    assert run_cli("ingest", "--config", str(config)) == 2
    assert expect in capsys.readouterr().err


def test_reader_keeps_empty_strings_and_reserved_columns_fail(tmp_path):
    path = write_text(tmp_path / "l.csv", "a,b,source_row\n,NA,1\n")
    frame = read_export(path, make_config(tmp_path, {"order_lines": "x"}).data.csv).frame
    assert frame.iloc[0].tolist() == ["", "NA", "1"]
    with pytest.raises(InputDataError, match="reserved"):
        with_provenance(frame, str(path))


# -- reading in batches, encoded lookups ---------------------------------------------------------------------
def test_parquet_read_in_batches_gives_the_same_outputs(tmp_path, monkeypatch):
    """A Parquet export is ingested batch by batch (memory bounded by the batch): lines,
    quarantine, excluded rows (duplicates across batches included) and summary equal those of
    one batch per file, with the source rows numbered through the file."""
    import xsell.io.readers as readers
    from conftest import DEMO_CONFIG
    from xsell.config import config_from_dict, deep_merge, read_yaml
    from xsell.demo.generate import write_demo_data

    demo = tmp_path / "demo"
    write_demo_data(demo, scale="tiny", seed=42)
    csv = read_yaml(DEMO_CONFIG)["data"]["csv"]
    options = make_config(tmp_path, {"order_lines": "x", "csv": csv}).data.csv
    frames = [read_export(p, options).frame for p in sorted((demo / "order_lines").iterdir())]
    parquet = tmp_path / "lines.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(parquet, index=False)
    outputs = {}
    for batch in (None, 997):
        if batch:
            monkeypatch.setattr(readers, "BATCH_ROWS", batch)
        work = tmp_path / f"work-{batch}"
        data = {"order_lines": str(parquet), "products": str(demo / "products.csv"), "customers": str(demo / "customers.csv")}
        cfg = config_from_dict(deep_merge(read_yaml(DEMO_CONFIG), {"workdir": str(work), "data": data}), base_dir=DEMO_CONFIG.parent)
        outputs[batch] = (run_ingest(cfg).to_dict(), *read_outputs(work))
    (whole, *tables), (batched, *batched_tables) = outputs[None], outputs[997]
    assert whole["rows_read"] > 3 * 997 and whole["excluded_by_rule"]["duplicate line"] > 0
    assert batched == whole
    for expected, got in zip(tables, batched_tables, strict=True):
        pd.testing.assert_frame_equal(got, expected)
    assert tables[0]["source_row"].max() > 997


def test_lookup_positions_hashes_either_side_alike():
    """The first position of each value among the keys, -1 when absent, whichever side is
    larger (the smaller one is hashed); repeated keys and values, missing values."""
    from xsell.ingest.parse import lookup_positions

    keys = pd.Series(["b", "a", "c", "a", None, "d"], dtype="str")
    values = pd.Series(["a", "x", "a", "d", None, "b"], dtype="str")
    expected = [1, -1, 1, 5, 4, 0]
    assert lookup_positions(values, keys).tolist() == expected  # as many values as keys
    assert lookup_positions(values.iloc[:2], keys).tolist() == expected[:2]  # fewer values than keys
    assert lookup_positions(pd.concat([values] * 3, ignore_index=True), keys).tolist() == expected * 3


def test_key_index_finds_what_lookup_positions_finds():
    """``KeyIndex`` (hashes sorted once, probed per batch) gives ``lookup_positions``' answer:
    first positions of repeated keys, absent values, missing values; a set grown batch by batch
    (``add``) holds each distinct value once, as ``pc.unique`` of everything added."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from xsell.ingest.parse import KeyIndex, lookup_positions

    rng = np.random.default_rng(7)
    keys = pd.Series([f"V{i}" for i in rng.integers(0, 5000, 4000)], dtype="str")
    values = pd.Series([f"V{i}" for i in rng.integers(0, 8000, 3000)] + ["", "V1"], dtype="str")
    index = KeyIndex(keys)
    assert index.positions(values).tolist() == lookup_positions(values, keys).tolist()
    with_missing = pd.Series(["V1", None, "x"], dtype="str")
    assert KeyIndex(pd.concat([keys, with_missing], ignore_index=True)).positions(with_missing).tolist() == lookup_positions(
        with_missing, pd.concat([keys, with_missing], ignore_index=True)
    ).tolist()
    grown = KeyIndex()
    batches = [pa.array(values.iloc[i : i + 700].array) for i in range(0, len(values), 700)]
    for batch in batches:
        grown.add(batch)
    expected = pc.unique(pa.chunked_array(batches).combine_chunks())
    assert len(grown) == len(expected)
    assert grown.keys().to_pylist() == expected.to_pylist()  # in order of first appearance
    assert grown.positions(expected).tolist() == list(range(len(expected)))


def test_text_hashes_depend_on_the_text_only():
    """The buffer hash of a text is the same in any array (sliced, taken, other neighbours) and
    tells apart texts that differ only in trailing zero bytes or in length; pandas' hash for
    long texts and missing values."""
    import pyarrow as pa

    from xsell.ingest.parse import _text_hashes

    texts = ["", "a", "a\x00", "abcdefgh", "abcdefgh\x00", "ä", "Größe 12-x", "V" * 300, "P00001-V001"]
    whole = _text_hashes(pa.array(texts))
    assert len(set(whole.tolist())) == len(texts)
    for i in range(len(texts)):
        assert _text_hashes(pa.array(texts).slice(i, 1))[0] == whole[i] == _text_hashes(pa.array([texts[i]], type=pa.large_string()))[0]
    assert _text_hashes(pa.array(texts).take(pa.array([8, 1]))).tolist() == [whole[8], whole[1]]
    with_missing = _text_hashes(pa.array(["", None, "a"]))
    assert with_missing[0] == whole[0] and with_missing[2] == whole[1] and with_missing[1] not in whole


def test_row_fingerprints_tell_rows_apart_as_their_values():
    """Rows with equal values (any column order) get equal fingerprints; a missing value differs
    from an empty one; typed (Parquet) columns are hashed too."""
    from xsell.ingest.lines import row_fingerprints

    frame = pd.DataFrame({
        "a": pd.Series(["x", "x", "", None, "x"], dtype="str"), "b": [1.5, 1.5, 2.0, 2.0, 1.5],
        "d": pd.to_datetime(["2024-01-01"] * 4 + ["2024-01-02"]),
    })  # fmt: skip
    fingerprints = row_fingerprints(frame, ["a", "b", "d"])
    assert fingerprints[0] == fingerprints[1] == row_fingerprints(frame[["d", "b", "a"]], ["d", "a", "b"])[0]
    assert len(set(fingerprints.tolist())) == 4


def test_key_index_is_exact_when_hashes_collide(monkeypatch):
    """Hashes cut to 2 bits (every key collides with many): a match of hashes whose texts
    differ is not taken for a match, the positions are still ``lookup_positions``'."""
    import xsell.ingest.parse as parse

    real = parse._text_hashes
    monkeypatch.setattr(parse, "_text_hashes", lambda values: real(values) % np.uint64(4))
    keys = pd.Series([f"K{i}" for i in range(50)] + ["K3"], dtype="str")
    values = pd.Series(["K3", "nope", "K49", "K0", "other"], dtype="str")
    index = parse.KeyIndex(keys.iloc[:20])
    index.add(keys.iloc[20:])
    assert len(index) == 50
    assert index.positions(values).tolist() == parse.lookup_positions(values, keys).tolist() == [3, -1, 49, 0, -1]


def test_merge_sorted_is_a_sort_of_both():
    from xsell.ingest.lines import merge_sorted

    rng = np.random.default_rng(3)
    kept = np.sort(rng.integers(0, 2**63, 5000, dtype="uint64"))
    new = np.concatenate([rng.integers(0, 2**63, 3000, dtype="uint64"), kept[:10]])
    assert np.array_equal(merge_sorted(kept, new), np.sort(np.concatenate([kept, new])))
    assert np.array_equal(merge_sorted(np.empty(0, dtype="uint64"), new), np.sort(new))


def test_product_master_streamed_in_batches_gives_the_same_outputs(tmp_path, monkeypatch):
    """The product master is read in batches (its text columns never held whole): canonical
    products, quarantine (source rows numbered through the file), summary and lines equal those
    of one batch, a variant repeated in a later batch included; a master the batch reader cannot
    read exactly (a row with too few fields) is read whole, with the same outputs."""
    import pyarrow.parquet as pq

    import xsell.io.readers as readers
    from conftest import DEMO_CONFIG
    from xsell.config import config_from_dict, deep_merge, read_yaml
    from xsell.demo.generate import write_demo_data

    demo = tmp_path / "demo"
    write_demo_data(demo, scale="tiny", seed=42)
    products = demo / "products.csv"
    text = products.read_text(encoding="cp1252").splitlines()
    first = text[1].split(";")
    repeated = ";".join([first[0], "OTHER", *first[2:]])
    bad_price = ";".join(["NEWVARIANT", "P-NEW", first[2], "zwölf", *first[4:]])
    products.write_text("\n".join([*text, repeated, bad_price]) + "\n", encoding="cp1252")
    short = demo / "products-short-row.csv"
    short.write_text("\n".join([*text, "ONLY;TWO"]) + "\n", encoding="cp1252")

    def ingest(name: str, master: Path, block: int | None) -> tuple[dict, list[pd.DataFrame], int]:
        monkeypatch.setattr(readers, "STREAM_BLOCK_BYTES", block or 1 << 25)
        work = tmp_path / name
        data = {"order_lines": str(demo / "order_lines" / "*"), "products": str(master), "customers": str(demo / "customers.csv")}
        cfg = config_from_dict(deep_merge(read_yaml(DEMO_CONFIG), {"workdir": str(work), "data": data}), base_dir=DEMO_CONFIG.parent)
        summary = run_ingest(cfg).to_dict()
        tables = [*read_outputs(work), pd.read_parquet(work / "canonical" / "products.parquet")]
        return summary, tables, pq.ParquetFile(work / "canonical" / "products.parquet").num_row_groups

    whole, whole_tables, groups = ingest("whole", products, None)
    batched, batched_tables, batched_groups = ingest("batched", products, 4096)
    assert groups == 1 and batched_groups > 5
    assert batched == whole
    for expected, got in zip(whole_tables, batched_tables, strict=True):
        pd.testing.assert_frame_equal(got, expected)
    assert whole["products"]["repeated_variants"] == 1 and whole["products"]["quarantined_by_reason"] == {"non-numeric price": 1}
    master_rows = whole_tables[1][whole_tables[1]["source_file"] == str(products)]
    assert master_rows[["source_row", "reason", "value"]].values.tolist() == [[len(text) + 1, "non-numeric price", "zwölf"]]
    products_out = whole_tables[3].set_index("variant_id")
    assert products_out.loc[first[0], "product_id"] == first[1]  # the first row of the repeated variant wins

    fallback, fallback_tables, _ = ingest("short-batched", short, 4096)
    reference, reference_tables, _ = ingest("short-whole", short, None)
    assert fallback == reference and fallback["products"]["quarantined_by_reason"] == {"wrong number of fields": 1}
    for expected, got in zip(reference_tables, fallback_tables, strict=True):
        pd.testing.assert_frame_equal(got, expected)


def test_stream_export_reads_as_read_export_or_refuses(tmp_path):
    """``stream_export`` gives a clean CSV's rows in batches, as ``read_export`` gives them whole
    (UTF-8 text, quoted separators and line breaks); a file with a row of another number of fields,
    or bytes that are not UTF-8, is refused (``NotStreamable``) for ``read_export`` to read whole."""
    from xsell.io.readers import NotStreamable, stream_export

    options = make_config(tmp_path, {"order_lines": "x"}).data.csv
    rows = "".join(f'{i},"Größe {i}, rot",{"" if i % 3 else "x"}\n' for i in range(300)) + '300,"zwei\nZeilen",y\n'
    clean = tmp_path / "clean.csv"
    clean.write_bytes(("a,b,c\n" + rows).encode("utf-8"))
    batches = [raw.frame for raw in stream_export(clean, options, block_bytes=512)]
    assert len(batches) > 5
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), read_export(clean, options).frame)
    for name, content in (("fields.csv", b"a,b,c\n" + rows.encode() + b"1,2\n"), ("bytes.csv", b"a,b,c\n" + rows.encode() + b"1,\xff,3\n")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(NotStreamable):
            list(stream_export(tmp_path / name, options, block_bytes=512))
