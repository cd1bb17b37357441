"""Publish: pure functions (neutralise, shop payloads, guardrails, diff), on the shared test data
of ``publish_helpers``."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pandas as pd
import pytest

from publish_helpers import BUYING_CENTERS, EVIL, build_products, build_tables
from xsell.errors import InputDataError
from xsell.publish.config import GuardrailsConfig
from xsell.publish.diff import diff_runs, summarise_diff
from xsell.publish.formats.jsonl import product_link_records
from xsell.publish.formats.magento import frame as magento_frame
from xsell.publish.guardrails import check_guardrails, churn
from xsell.publish.safety import neutralise
from xsell.publish.shop import shop_links
from xsell.publish.tables import prepare_table
from xsell.schema import CROSS_SELL_COLUMNS


# -- neutralise ------------------------------------------------------------------------------
def test_neutralise_prefixes_dangerous_text_and_leaves_numbers():
    frame = pd.DataFrame(
        {
            "name": [EVIL, "+49 89 1234", "-5%", "@SUM(A1)", "\tcmd", "\rcmd", "Schraube = gut", None],
            "score": [-0.5, 1.0, -2.0, 0.0, 3.0, 4.0, 5.0, 6.0],
            "mixed": pd.Series(["=1+1", -3, None, "ok", 2.5, "-x", "a", "b"], dtype=object),
        }
    )
    out, n = neutralise(frame)
    assert out["name"].tolist()[:7] == [
        "'" + EVIL, "'+49 89 1234", "'-5%", "'@SUM(A1)", "'\tcmd", "'\rcmd", "Schraube = gut"
    ]
    assert pd.isna(out["name"].iloc[7])
    assert out["score"].tolist() == frame["score"].tolist()
    assert out["mixed"].tolist()[:2] == ["'=1+1", -3] and out["mixed"].iloc[5] == "'-x"
    assert n == 6 + 2
    assert frame["name"].iloc[0] == EVIL  # input untouched


def test_control_characters_are_stripped_before_the_first_character_is_checked(tmp_path):
    """Issue 11, item 16: ``\x01=3+3`` passed the guard (first character \x01), the XLSX writer
    then dropped the control character and the cell became the formula ``=3+3``."""
    import openpyxl

    from xsell.publish.writers import write_csv, write_xlsx

    frame = pd.DataFrame({"product_id": ["\x01=3+3", "\x1f\x02@SUM(A1)", "ok\x07", "plain"], "score": [1.0, 2.0, 3.0, 4.0]})
    out, n = neutralise(frame)
    assert out["product_id"].tolist() == ["'=3+3", "'@SUM(A1)", "ok", "plain"] and n == 2
    write_xlsx({"cross_sell": frame}, tmp_path / "t.xlsx")
    cells = [row[0] for row in openpyxl.load_workbook(tmp_path / "t.xlsx")["cross_sell"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == ["'=3+3", "'@SUM(A1)", "ok", "plain"] and {c.data_type for c in cells} == {"s"}
    write_csv(frame, tmp_path / "t.csv", bom=False)
    assert (tmp_path / "t.csv").read_text(encoding="utf-8").splitlines()[1:3] == ["'=3+3,1.0", "'@SUM(A1),2.0"]


def test_workbook_text_goes_through_one_shared_string_table_with_each_text_once(tmp_path):
    """Text cells refer to the workbook's shared-string table (as Excel writes them): each
    distinct text of all sheets once, ``count`` the text cells, leading or trailing white space
    kept (``xml:space``); read back with openpyxl, every cell has its value. A workbook without
    text cells has no table."""
    import zipfile

    import numpy as np
    import openpyxl

    from xsell.publish.writers import write_xlsx

    first = pd.DataFrame({"name": ["Acme", "Bolt & Nut", "Acme", None, " padded "], "n": np.arange(5), "kind": ["x", "y", "x", "x", "Acme"]})
    second = pd.DataFrame({"name": ["Bolt & Nut", "new <one>"], "share": [0.5, 0.25]})
    path = write_xlsx({"first": first, "second": second}, tmp_path / "t.xlsx").path
    with zipfile.ZipFile(path) as archive:
        table = archive.read("xl/sharedStrings.xml").decode()
        assert "sharedStrings.xml" in archive.read("xl/_rels/workbook.xml.rels").decode()
        assert "/xl/sharedStrings.xml" in archive.read("[Content_Types].xml").decode()
        assert ' t="s"><v>' in archive.read("xl/worksheets/sheet1.xml").decode()
    texts = [t.split(">", 1)[1] for t in table.split("<si><t")[1:]]
    assert [t.split("</t>")[0] for t in texts] == ["Acme", "Bolt &amp; Nut", " padded ", "x", "y", "new &lt;one&gt;"]
    assert 'count="11" uniqueCount="6"' in table and '<si><t xml:space="preserve"> padded </t></si>' in table
    wb = openpyxl.load_workbook(path)
    for title, frame in (("first", first), ("second", second)):
        rows = list(wb[title].iter_rows(min_row=2, values_only=True))
        expected = [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]
        assert rows == expected
    numbers = write_xlsx({"n": pd.DataFrame({"n": [1, 2]})}, tmp_path / "n.xlsx").path
    with zipfile.ZipFile(numbers) as archive:
        assert "xl/sharedStrings.xml" not in archive.namelist() and "sharedStrings" not in archive.read("[Content_Types].xml").decode()
    assert [r for r in openpyxl.load_workbook(numbers)["n"].iter_rows(min_row=2, values_only=True)] == [(1,), (2,)]


def test_workbook_cells_of_full_and_gappy_columns_read_back_with_their_values_and_styles(tmp_path, monkeypatch):
    """Sheet rows are rendered in one join per chunk: a column without missing values joins its
    parts directly, a column with gaps as whole cells (empty where missing); columns of the same
    look share the group line's style attribute. Read back with openpyxl: every value, its type,
    number format, wrap and the line above each group's first row, across several chunks."""
    import numpy as np
    import openpyxl

    from xsell.publish import writers
    from xsell.publish.writers import XlsxColumn, XlsxSheet, write_workbook

    n = 23
    frame = pd.DataFrame(
        {
            "text": [f"a&b<{i}>\r and more words" if i % 5 == 0 else f"t{i}" for i in range(n)],
            "gaps": [None if i % 3 == 0 else f"g{i}" for i in range(n)],
            "count": np.arange(n, dtype="int64"),
            "share": [float("nan") if i % 4 == 0 else i / 7 for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
            "day": pd.to_datetime(["2026-01-02" if i % 6 else None for i in range(n)]),
            "same_look": [f"s{i}" for i in range(n)],
        }
    )
    group = np.array([i % 4 == 0 for i in range(n)])
    group[0] = False
    columns = [XlsxColumn("text", "text", wrap=True, width=6), XlsxColumn("gaps", "gaps"), XlsxColumn("count", "count", number_format="0"),
               XlsxColumn("share", "share", number_format="0%"), XlsxColumn("flag", "flag"), XlsxColumn("day", "day", number_format="yyyy-mm-dd"),
               XlsxColumn("same_look", "same_look")]  # fmt: skip
    monkeypatch.setattr(writers, "_rows_xml", partial(writers._rows_xml, chunk=5))  # several chunks, the last one short
    write_workbook([XlsxSheet("s", frame, columns, group_start=group)], tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["s"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == n
    for i, cells in enumerate(rows):
        got = {c.column_letter: c for c in cells}
        assert got["A"].value == (f"a&b<{i}>\r and more words" if i % 5 == 0 else f"t{i}") and got["A"].alignment.wrap_text
        assert got["B"].value == (None if i % 3 == 0 else f"g{i}")
        assert got["C"].value == i and got["C"].number_format == "0"
        assert (got["D"].value is None) if i % 4 == 0 else got["D"].value == pytest.approx(i / 7) and got["D"].number_format == "0%"
        assert got["E"].value is (i % 2 == 0)
        assert got["F"].value == (None if i % 6 == 0 else dt.datetime(2026, 1, 2))
        assert got["G"].value == f"s{i}"
        lines = {c.column_letter for c in cells if c.border.top is not None and c.border.top.style == "thin"}
        assert lines == ({"A", "B", "C", "D", "E", "F", "G"} - ({"B"} if i % 3 == 0 else set()) - ({"D"} if i % 4 == 0 else set())
                         - ({"F"} if i % 6 == 0 else set()) if group[i] else set()), i  # fmt: skip
        lines_of_text = int(writers.text_lines(frame["text"].iloc[[i]], 6)[0])
        assert ws.row_dimensions[i + 2].height == (15.0 * lines_of_text if lines_of_text > 1 else None), i


def test_neutralise_in_arrow_equals_the_object_path():
    """Arrow-backed text is neutralised in Arrow (a byte scan decides whether a column needs it);
    the values and the count equal those of the same column as Python objects, which takes the
    regex path; slices (an Arrow offset), empty and missing values, multi-byte characters."""
    import pyarrow as pa

    from xsell.publish.safety import _SUSPECT, _suspect_arrow

    values = [EVIL, "ok", "", None, "\x01=3+3", "é=x", "ü\x1fü", "-5%", "\u2212minus", "@", "\t", "a\rb", "€", "\x7f", "x\x0b"]
    for value in values:  # one at a time, and after a clean value (an offset into the bytes)
        for arrow in (pa.array([value], pa.large_string()), pa.array(["ok", value], pa.large_string())[1:]):
            assert _suspect_arrow(arrow) == bool(pa.compute.any(pa.compute.match_substring_regex(arrow, _SUSPECT)).as_py()), value
    for picked in ([v for v in values if v is None or v.isalnum()], values, values[3:], values[:3], []):
        for frame in (pd.DataFrame({"t": pd.Series(picked, dtype="str")}), pd.DataFrame({"t": pd.Series(["q", *picked], dtype="str")}).iloc[1:]):
            arrow = pa.array(frame["t"], type=pa.large_string(), from_pandas=True)
            assert _suspect_arrow(arrow) == bool(pa.compute.any(pa.compute.match_substring_regex(arrow, _SUSPECT)).as_py()), picked
            out, n = neutralise(frame)
            expected, n_expected = neutralise(frame.astype({"t": object}))
            assert (out["t"].dtype, n) == (frame["t"].dtype, n_expected), picked
            pd.testing.assert_series_equal(out["t"].astype(object), expected["t"], check_dtype=False)


@pytest.mark.parametrize("block", [1 << 20, 7, 1])
def test_values_with_chars_finds_exactly_the_values_a_regex_finds(monkeypatch, block):
    """The byte scan behind CSV quoting and XML escaping: per value, whether it holds one of the
    characters, as a regex says; slices (an Arrow offset), empty and missing values, multi-byte
    characters next to the ASCII ones looked for, values across the blocks the bytes are scanned
    in; non-ASCII characters are refused."""
    import random
    import re

    import pyarrow as pa

    from xsell.publish import safety
    from xsell.publish.safety import CONTROL_CHARACTERS, values_with_chars

    monkeypatch.setattr(safety, "_SCAN_BYTES", block)

    rng = random.Random(7)
    alphabet = ["x", "é", "€", "😀", ",", ";", '"', "\n", "\r", "\t", "&", "<", ">", "\x01", "\x1f", "\x7f", " "]
    for chars in (',"\n', ";", CONTROL_CHARACTERS + "&<>\r", "&"):
        for _ in range(200):
            values = [None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randint(0, 4))) for _ in range(rng.randint(0, 30))]
            for arrow in (pa.array(values, pa.large_string()), pa.array(["&,;\x01", *values], pa.large_string())[1:]):
                expected = [v is not None and bool(re.search("[" + re.escape(chars) + "]", v)) for v in values]
                found = values_with_chars(arrow, chars)
                assert (found.tolist() if found is not None else [False] * len(values)) == expected, (chars, values)
                assert found is None or found.any()
    with pytest.raises(ValueError, match="ASCII"):
        values_with_chars(pa.array(["a"], pa.large_string()), "§")


def test_xml_text_of_few_and_of_many_special_values_equals_escaping_every_value():
    """Cell text for the sheet XML: only the values holding a control character or markup are
    rewritten (alone when few, all at once when many); the result is that of rewriting all."""
    import pyarrow as pa

    from xsell.publish.writers import _xml_escaped, _xml_text

    special = ["a&b", "<x>", "r\rr", "c\x01d", "é&€"]
    for values in (["plain", None, ""] * 10 + special, special * 3 + ["plain", None], ["plain", "é", None]):
        arrow = pa.array(values, pa.large_string())
        for part in (arrow, arrow[2:]):
            assert _xml_text(part).equals(_xml_escaped(part)), values


@pytest.mark.parametrize("sep", [",", ";", "\t", "§"])
@pytest.mark.parametrize("bom", [False, True])
def test_write_csv_gives_the_bytes_of_pandas_to_csv(tmp_path, sep, bom):
    """The Arrow CSV renderer writes exactly what ``to_csv`` writes: quoting, floats (repr, NaN
    empty, inf, -0.0, float32), ints, bools, missing text; a mixed object column takes pandas' path."""
    import io

    import numpy as np

    from xsell.publish.writers import write_csv

    n = 14
    frame = pd.DataFrame(
        {
            "text": pd.Series(["x", "a,b", 'q"q', "l\nl", "r\rr", "", None, " s ", "\t", "é;x", EVIL, "it's", "\\", "\x01-1"], dtype="str"),
            "float": [1.0, 0.1, 1e-5, 1e16, np.nan, 123456789.123, 1 / 3, -0.0, 2.5e-300, np.inf, -np.inf, 5e-324, 1e15, 0.0001],
            "object": pd.Series(["x", None, "a\x01b", '"', np.nan, *["k"] * 9], dtype=object),
            "int": np.arange(n) - 5,
            "bool": np.arange(n) % 3 == 0,
            "float32": np.arange(n, dtype=np.float32) / 3,
            "head,er": pd.Series(["y"] * n, dtype="string[pyarrow]"),
            "python_str": pd.Series(["z;"] * n, dtype="string[python]"),
        }
    )
    mixed = frame.assign(object=pd.Series([1, "a", None, 2.5, *["b"] * 10], dtype=object))
    for i, case in enumerate([frame, frame.iloc[:1], frame.iloc[:0], frame[["text"]], mixed]):
        write_csv(case, tmp_path / f"{i}.csv", bom=bom, sep=sep)
        expected = io.StringIO()
        neutralise(case)[0].to_csv(expected, index=False, sep=sep, lineterminator="\n")
        assert (tmp_path / f"{i}.csv").read_bytes() == (("\ufeff" if bom else "") + expected.getvalue()).encode("utf-8"), i


def test_count_rows_of_a_csv_counts_records_not_lines(tmp_path):
    """Line ends inside quoted fields, a carriage return in a value (Python's csv writer leaves it
    unquoted; pandas' reader took it for a line end and counted a row too many), a BOM: the count
    read back from disk is the rows written."""
    from xsell.publish.writers import count_rows, write_csv

    frame = pd.DataFrame({"name": ['two\nlines', 'quote "q"\n', "cr\rinside", "", None, 'x,"y"'], "n": range(6)})
    for i, sep in enumerate([",", ";"]):
        written = write_csv(frame, tmp_path / f"{i}.csv", bom=bool(i), sep=sep)
        assert count_rows(written.path) == written.rows == 6
    (tmp_path / "blank.csv").write_text('a,b\n\n"x\n\ny",1\n\n2,3', encoding="utf-8")
    assert count_rows(tmp_path / "blank.csv") == 2  # blank lines are no rows; a last line without \n is


def test_file_facts_read_once_match_hash_and_count_of_every_format(tmp_path):
    """``file_facts`` (what a publish puts in the manifest from one read of a file) is the sha256
    and the row count ``verify`` computes apart, for each kind of file; a CSV counted in blocks that
    cut records, quoted line ends and blank lines anywhere counts the same as in one piece."""
    from xsell.fingerprint import sha256_file
    from xsell.publish.writers import CsvRecords, _blocks, count_rows, file_facts, write_csv, write_lines, write_parquet, write_xlsx

    frame = pd.DataFrame({"name": ["two\nlines", 'quote "q"\n', "cr\rinside", "", None, 'x,"y"'] * 50, "n": range(300)})
    files = [
        write_csv(frame, tmp_path / "t.csv", bom=True).path,
        write_parquet(frame, tmp_path / "t.parquet").path,
        write_lines((f'{{"n": {n}}}\n' for n in range(7)), tmp_path / "t.jsonl", ["n"]).path,
        write_xlsx({"a": frame, "b": frame.head(3)}, tmp_path / "t.xlsx").path,
    ]
    (tmp_path / "blank.csv").write_text('a,b\n\n"x\n\ny",1\n\n2,3', encoding="utf-8")
    for path in [*files, tmp_path / "blank.csv"]:
        assert file_facts(path) == (sha256_file(path), count_rows(path)), path.name
    assert [file_facts(p)[1] for p in files] == [300, 300, 7, {"a": 300, "b": 3}]
    for path in (files[0], tmp_path / "blank.csv"):
        for size in (1, 2, 3, 7, 64):
            counter = CsvRecords()
            for block in _blocks(path, size):
                counter.feed(block)
            assert counter.rows() == count_rows(path), (path.name, size)


# -- tables ----------------------------------------------------------------------------------
def test_prepare_table_names_missing_column_and_null_keys():
    tables = build_tables()
    with pytest.raises(InputDataError) as err:
        prepare_table("cross_sell", tables["cross_sell"].drop(columns=["lift"]), source="x.parquet")
    assert err.value.column == "lift" and err.value.file == "x.parquet"
    broken = tables["up_sell"].copy()
    broken.loc[5, "rec_product_id"] = None
    with pytest.raises(InputDataError) as err:
        prepare_table("up_sell", broken)
    assert err.value.column == "rec_product_id" and err.value.row == 6


def test_prepare_table_orders_columns_and_rows():
    frame = build_tables()["cross_sell"]
    shuffled = frame.sample(frac=1.0, random_state=3)[["product_name", *reversed(CROSS_SELL_COLUMNS), "rec_product_name"]]
    out = prepare_table("cross_sell", shuffled)
    assert list(out.columns) == [*CROSS_SELL_COLUMNS, "product_name", "rec_product_name"]
    keys = list(zip(out["country"], out["product_id"], out["rank"]))
    assert keys == sorted(keys)


def test_prepare_table_sorts_as_pandas_stable_sort_with_missing_values_first():
    """Ties, missing variants and umlauts: the rows come in ``sort_values(mergesort,
    na_position="first")``'s order, and a table already in order comes back equal."""
    frame = build_tables()["buying_center_suggestions"]
    frame = pd.concat([frame, frame.assign(score=frame["score"] + 1.0)], ignore_index=True)  # every key twice: ties kept in row order
    frame.loc[frame.index % 4 == 1, "variant_id"] = None
    frame.loc[frame.index % 7 == 2, "product_id"] = "Pä"
    shuffled = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    keys = ["country", "buying_center_id", "rank", "kind", "product_id", "variant_id"]
    expected = shuffled.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)
    out = prepare_table("buying_center_suggestions", shuffled)
    pd.testing.assert_frame_equal(out, expected[list(out.columns)])
    pd.testing.assert_frame_equal(prepare_table("buying_center_suggestions", out), out)


# -- guardrails ------------------------------------------------------------------------------
def _prepared(tables):
    return {n: prepare_table(n, f) for n, f in tables.items()}


def _failed(report):
    return {(c.table, c.name) for c in report.checks if not c.passed}


TODAY = dt.date(2026, 11, 27)


def test_guardrails_pass_on_clean_tables_and_coverage_by_hand():
    tables = _prepared(build_tables())
    report = check_guardrails(tables, build_products(), None, None, GuardrailsConfig(), TODAY)
    assert report.passed, report.reasons
    coverage = {c.table: c.value for c in report.checks if c.name == "coverage"}
    # 10 of 12 products are sellable (P11 discontinued, P12 custom) and all 10 have rows.
    assert coverage["cross_sell"] == 1.0
    assert coverage["buying_center_suggestions"] is None  # no customer master given


def test_guardrails_catch_self_links_discontinued_and_custom():
    tables = build_tables()
    cs = tables["cross_sell"]
    cs.loc[0, "rec_product_id"] = cs.loc[0, "product_id"]  # self-link
    cs.loc[1, ["rec_product_id", "rec_variant_id"]] = ["P11", "P11-A"]  # discontinued product
    up = tables["up_sell"]
    up.loc[0, ["rec_product_id", "rec_variant_id"]] = ["P10", "P10-B"]  # variant discontinued by date
    bc = tables["buying_center_suggestions"]
    bc.loc[2, ["product_id", "variant_id"]] = ["P12", None]  # custom-made product, no variant
    report = check_guardrails(_prepared(tables), build_products(), None, None, GuardrailsConfig(), TODAY)
    assert _failed(report) == {
        ("cross_sell", "no_self_links"), ("cross_sell", "no_discontinued"),
        ("up_sell", "no_discontinued"), ("buying_center_suggestions", "no_custom_made"),
    }
    counts = {(c.table, c.name): c.value for c in report.checks}
    assert counts[("cross_sell", "no_self_links")] == 1 and counts[("up_sell", "no_discontinued")] == 1


def test_guardrails_future_discontinuation_and_active_sibling_variant_are_fine():
    tables = build_tables()
    up = tables["up_sell"]
    up.loc[0, ["rec_product_id", "rec_variant_id"]] = ["P09", "P09-B"]  # ends 2099
    up.loc[1, ["rec_product_id", "rec_variant_id"]] = ["P10", None]  # P10-A is still active
    report = check_guardrails(_prepared(tables), build_products(), None, None, GuardrailsConfig(), TODAY)
    assert report.passed, report.reasons


def test_guardrails_min_rows_and_buying_center_coverage():
    tables = build_tables()
    bc = tables["buying_center_suggestions"]
    tables["buying_center_suggestions"] = bc[bc["buying_center_id"] == "C1/001"]
    customers = pd.DataFrame({"buying_center_id": list(BUYING_CENTERS) + ["C9/001"]})
    cfg = GuardrailsConfig(min_rows={"up_sell": 1000}, min_coverage={"buying_center_suggestions": 0.25})
    report = check_guardrails(_prepared(tables), build_products(), customers, None, cfg, TODAY)
    assert _failed(report) == {("up_sell", "min_rows"), ("buying_center_suggestions", "coverage")}
    coverage = [c for c in report.checks if c.name == "coverage"][0]
    assert coverage.value == pytest.approx(1 / 6)


def test_an_empty_table_says_why_and_which_key_fixes_it():
    tables = build_tables()
    tables["up_sell"] = tables["up_sell"].iloc[0:0]
    tables["cross_sell"] = tables["cross_sell"].iloc[0:0]
    cfg = GuardrailsConfig(min_rows={"cross_sell": 1, "up_sell": 1})
    report = check_guardrails(_prepared(tables), build_products(), None, None, cfg, TODAY)
    detail = {(c.table, c.name): c.detail for c in report.checks}
    assert _failed(report) >= {("cross_sell", "min_rows"), ("up_sell", "min_rows")}
    assert "rules.min_support_count" in detail[("cross_sell", "min_rows")]
    assert "upsell_min_price_ratio" in detail[("up_sell", "min_rows")]
    # without families (each product its own) an empty up_sell is expected: the run publishes without it
    no_families = build_products().assign(family=lambda f: f["product_id"])
    report = check_guardrails(_prepared(tables), no_families, None, None, cfg, TODAY)
    up = [c for c in report.checks if c.table == "up_sell" and c.name == "min_rows"][0]
    assert up.passed and up.detail.startswith("skipped: products have no families") and "data.family_rule" in up.detail


def test_churn_by_hand():
    prev = pd.DataFrame(
        {"country": ["DE"] * 3 + ["AT"], "product_id": ["A", "A", "B", "A"], "rank": [1, 2, 1, 1], "rec_product_id": ["x", "y", "x", "q"]}
    )
    new = pd.DataFrame({"country": ["DE", "DE", "AT", "AT"], "product_id": ["A", "A", "A", "C"], "rank": [1, 2, 2, 1], "rec_product_id": ["z", "x", "q", "r"]})
    # DE/A: {x,y} -> {z,x}: 1/2 gone; DE/B: gone entirely: 1; AT/A: {q} kept: 0. AT/C is new: not counted.
    value, n = churn(prev, new, "cross_sell", top_k=10)
    assert n == 3 and value == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    # top_k=1 compares rank-1 links only: DE/A x -> z (1), DE/B (1), AT/A q -> r? no: AT/A new rank1 is absent -> 1.
    value, _ = churn(prev, new, "cross_sell", top_k=1)
    assert value == pytest.approx(1.0)


def test_churn_of_a_previous_run_read_as_its_link_columns_equals_churn_of_the_whole_tables(tmp_path):
    """Publish reads only the previous run's link columns (owner, item, rank) for the churn
    guardrail, from its Parquet or its CSV: the same churn as the whole tables give."""
    from xsell.publish.tables import link_columns
    from xsell.publish.writers import read_run_table, write_csv, write_parquet

    previous, current = build_tables(), build_tables(shift=1)
    for fmt, writer in (("parquet", write_parquet), ("csv", partial(write_csv, bom=True))):
        run_dir = tmp_path / fmt
        run_dir.mkdir()
        for name, frame in previous.items():
            writer(prepare_table(name, frame), run_dir / f"{name}.{fmt}")
        for name in previous:
            whole, narrow = read_run_table(run_dir, name), read_run_table(run_dir, name, link_columns(name))
            assert whole is not None and narrow is not None and set(narrow.columns) == set(link_columns(name))
            pd.testing.assert_frame_equal(narrow, whole[list(narrow.columns)])
            assert churn(narrow, current[name], name, top_k=2) == churn(whole, current[name], name, top_k=2), (fmt, name)
            assert churn(narrow, current[name], name, top_k=2)[1] > 0


def test_churn_guardrail_uses_previous_run():
    tables = _prepared(build_tables())
    shifted = _prepared(build_tables(shift=3))
    report = check_guardrails(shifted, build_products(), None, tables, GuardrailsConfig(max_churn=0.5), TODAY)
    assert _failed(report) == {("cross_sell", "churn"), ("up_sell", "churn")}
    same = check_guardrails(tables, build_products(), None, tables, GuardrailsConfig(max_churn=0.0), TODAY)
    assert same.passed


# -- diff ------------------------------------------------------------------------------------
def test_diff_runs_added_dropped_moved():
    a = {"cross_sell": pd.DataFrame({"country": ["DE"] * 3, "product_id": ["A"] * 3, "rank": [1, 2, 3], "rec_product_id": ["x", "y", "z"]})}
    b = {
        "cross_sell": pd.DataFrame({"country": ["DE"] * 3, "product_id": ["A"] * 3, "rank": [1, 2, 3], "rec_product_id": ["y", "x", "w"]}),
        "buying_center_suggestions": pd.DataFrame({"country": ["AT"], "buying_center_id": ["C1"], "rank": [1], "product_id": ["x"]}),
    }
    changes = diff_runs(a, b)
    got = {(r.table, r.country, r.key, r.item, r.change, r.rank_a if pd.notna(r.rank_a) else None, r.rank_b if pd.notna(r.rank_b) else None)
           for r in changes.itertuples()}
    assert got == {
        ("cross_sell", "DE", "A", "y", "moved", 2, 1),
        ("cross_sell", "DE", "A", "x", "moved", 1, 2),
        ("cross_sell", "DE", "A", "z", "dropped", 3, None),
        ("cross_sell", "DE", "A", "w", "added", None, 3),
        ("buying_center_suggestions", "AT", "C1", "x", "added", None, 1),
    }
    summary = summarise_diff(changes).set_index(["table", "country"])
    assert summary.loc[("cross_sell", "DE")].tolist() == [1, 1, 2]
    assert diff_runs(a, a).empty


# -- shop ------------------------------------------------------------------------------------
def _tiny_shop_tables():
    cs = pd.DataFrame(
        {"country": ["ALL", "ALL", "ALL", "DE"], "product_id": ["A", "A", "B", "A"], "rank": [2, 1, 1, 1],
         "rec_product_id": ["C", "B", "A", "Z"], "rec_variant_id": ["C-2", "B-1", "A-1", "Z-1"], "score": [0.5, 0.9, 0.7, 0.1]}
    )
    up = pd.DataFrame({"country": ["ALL"], "product_id": ["A"], "rank": [1], "rec_product_id": ["D"], "rec_variant_id": [None], "score": [0.3]})
    products = pd.DataFrame(
        {"variant_id": ["A-1", "A-2", "B-1", "C-1", "C-2", "D-1"], "product_id": ["A", "A", "B", "C", "C", "D"],
         "status": ["active"] * 6, "is_custom": [False] * 6}
    )
    return {"cross_sell": cs, "up_sell": up}, products


def test_magento_rows_by_product_sku():
    tables, products = _tiny_shop_tables()
    out = magento_frame(shop_links(tables, products, country="ALL", sku="product_id"))
    assert list(out.columns) == ["sku", "crosssell_skus", "crosssell_position", "upsell_skus", "upsell_position"]
    assert out.to_dict("records") == [
        {"sku": "A", "crosssell_skus": "B,C", "crosssell_position": "1,2", "upsell_skus": "D", "upsell_position": "1"},
        {"sku": "B", "crosssell_skus": "A", "crosssell_position": "1", "upsell_skus": "", "upsell_position": ""},
    ]


def test_shop_links_by_variant_sku_and_jsonl_records():
    tables, products = _tiny_shop_tables()
    links = shop_links(tables, products, country="ALL", sku="variant_id")
    # A's representative variant: the rec_variant_id used for A; the up-sell to D has no variant: dropped.
    out = magento_frame(links)
    assert out.to_dict("records") == [
        {"sku": "A-1", "crosssell_skus": "B-1,C-2", "crosssell_position": "1,2", "upsell_skus": "", "upsell_position": ""},
        {"sku": "B-1", "crosssell_skus": "A-1", "crosssell_position": "1", "upsell_skus": "", "upsell_position": ""},
    ]
    records = list(product_link_records(shop_links(tables, products, country="ALL", sku="product_id")))
    assert records[0]["product_id"] == "A" and records[0]["variant_id"] == "A-1"
    assert [i["product_id"] for i in records[0]["cross_sell"]] == ["B", "C"]
    assert records[0]["up_sell"] == [{"rank": 1, "product_id": "D", "variant_id": None, "score": 0.3}]


def test_magento_rejects_sku_with_comma():
    tables, products = _tiny_shop_tables()
    tables["cross_sell"].loc[0, "rec_product_id"] = "C,1"
    with pytest.raises(InputDataError, match="Magento"):
        magento_frame(shop_links(tables, products, country="ALL", sku="product_id"))
