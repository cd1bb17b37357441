"""Per-country sales workbooks read back with openpyxl: the call list grouped by buying center,
names before ids, number formats, German for DE/AT/CH, the product-link sheets, the Read me,
print setup, per-rep workbooks and the split of a sheet above the row limit."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import EVIL_NAME
from publish_helpers import build_tables
from screenshots import assert_not_blank, office_missing, printed_page
from xsell.errors import InputDataError
from xsell.messages import localised_reasons
from xsell.publish.sales import (
    OrderFacts,
    RunFacts,
    call_list,
    country_books,
    rep_file_stems,
    split_points,
    workbook_sheets,
)
from xsell.publish.writers import write_workbook

GERMAN_CALL_LIST = (
    "Kunde", "Kundennr.", "Einkaufsstelle", "Außendienst", "Letzte Bestellung", "Rang", "Produkt", "Produktnr.",
    "Variante", "Art", "Score", "Erwarteter Wert", "Begründung",
)  # fmt: skip
MODEL_NAMES = r"\b(?:item_knn|als|bpr|ease|rp3beta|blend|rules|popularity_\w+)\b"


def _sheet(path, title: str) -> pd.DataFrame:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[title].iter_rows(values_only=True))
    wb.close()
    return pd.DataFrame(rows[1:], columns=rows[0])


def _rows(demo, table: str, country: str) -> pd.DataFrame:
    frame = demo.tables[table]
    return frame[frame["country"] == country].reset_index(drop=True)


@pytest.mark.slow  # the session's demo pipeline run
def test_call_list_groups_buying_centers_by_total_expected_value(demo_published):
    run, work = demo_published.run_dir, demo_published.workdir
    wb = openpyxl.load_workbook(run / "sales" / "AT.xlsx", read_only=True)
    assert wb.sheetnames == ["Anrufliste", "Ergänzungen", "Höherwertige", "Lies mich"]  # AT reads German
    wb.close()
    sheet = _sheet(run / "sales" / "AT.xlsx", "Anrufliste")
    assert tuple(sheet.columns) == GERMAN_CALL_LIST  # names before ids
    table = _rows(demo_published, "buying_center_suggestions", "AT")
    assert len(sheet) == len(table) > 1000
    assert set(zip(sheet["Einkaufsstelle"], sheet["Rang"], sheet["Produktnr."], sheet["Variante"])) == set(
        zip(table["buying_center_id"], table["rank"], table["product_id"], table["variant_id"])
    )
    # one block per buying center, in rank order, the highest total expected value first
    bc = sheet["Einkaufsstelle"]
    assert (bc != bc.shift()).sum() == bc.nunique()
    assert sheet.groupby("Einkaufsstelle", sort=False)["Rang"].apply(lambda r: r.tolist() == list(range(1, len(r) + 1))).all()
    totals = sheet.groupby("Einkaufsstelle", sort=False)["Erwarteter Wert"].sum()
    assert totals.is_monotonic_decreasing and totals.index[0] == table.groupby("buying_center_id")["expected_value"].sum().idxmax()
    # the customer's name from the master, the last order (returns aside) from the order lines, as dates
    customers = pd.read_parquet(work / "canonical" / "customers.parquet").set_index("buying_center_id")
    assert (sheet["Kunde"] == bc.map(customers["customer_name"])).all() and (sheet["Außendienst"] == bc.map(customers["sales_rep"])).all()
    lines = pd.read_parquet(work / "canonical" / "order_lines.parquet", columns=["buying_center_id", "order_date", "is_return"])
    last = lines[~lines["is_return"]].groupby("buying_center_id")["order_date"].max()
    shown, want = pd.to_datetime(sheet["Letzte Bestellung"]), bc.map(last)
    assert ((shown == want) | (shown.isna() & want.isna())).all() and shown.notna().mean() > 0.9  # no order yet: empty
    # reasons in German, from the same facts as the English column, without model names
    expected = pd.Series(localised_reasons(table, "de"), index=pd.MultiIndex.from_frame(table[["buying_center_id", "rank"]]))
    assert (sheet["Begründung"].to_numpy() == expected.loc[list(zip(bc, sheet["Rang"]))].to_numpy()).all()
    assert sheet["Begründung"].str.contains("Einkaufsstellen in AT").any() and not sheet["Begründung"].str.contains(MODEL_NAMES).any()
    assert set(sheet["Art"]) == {"Ergänzung", "Höherwertig"}


@pytest.mark.slow  # the session's demo pipeline run
def test_number_formats_widths_and_print_setup(demo_published):
    reps = sorted((demo_published.run_dir / "sales" / "AT").glob("*.xlsx"))
    wb = openpyxl.load_workbook(reps[0])
    ws = wb["Anrufliste"]
    header = [c.value for c in ws[1]]
    col = {name: i for i, name in enumerate(header)}
    row = ws[2]
    assert row[col["Score"]].number_format == "0%" and 0 < row[col["Score"]].value <= 1
    assert row[col["Erwarteter Wert"]].number_format == '#,##0 "€"'  # AT orders are in EUR
    assert row[col["Letzte Bestellung"]].is_date and row[col["Letzte Bestellung"]].number_format == "dd.mm.yyyy"
    assert row[col["Begründung"]].alignment.wrap_text and not row[col["Produktnr."]].alignment.wrap_text
    widths = {h: ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width for h, i in col.items()}
    assert widths["Begründung"] >= 50 and widths["Rang"] <= 8 and widths["Kunde"] > widths["Kundennr."]
    # print: landscape, every column on the page width, the header row on every page
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows in ("1:1", "$1:$1") and ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:M")
    # rows with wrapped text are tall enough for it (neither Excel nor LibreOffice grows them on open)
    long_reason = next(r for r in range(2, ws.max_row + 1) if len(ws.cell(r, col["Begründung"] + 1).value or "") > 2 * widths["Begründung"])
    assert ws.row_dimensions[long_reason].height >= 3 * 15
    # a line above each buying center's block
    first_rows = [r for r in range(3, ws.max_row + 1) if ws.cell(r, col["Einkaufsstelle"] + 1).value != ws.cell(r - 1, col["Einkaufsstelle"] + 1).value]
    assert first_rows and all(ws.cell(r, 1).border.top.style == "thin" for r in first_rows)
    assert all(ws.cell(r, 1).border.top.style is None for r in range(3, 60) if r not in first_rows)


@pytest.mark.slow  # the session's demo pipeline run
def test_link_sheets_leave_evidence_empty_where_it_does_not_apply(demo_published):
    run = demo_published.run_dir
    sheet = _sheet(run / "sales" / "GB.xlsx", "Cross-sell")  # GB reads English
    table = _rows(demo_published, "cross_sell", "GB")
    assert list(sheet.columns) == [
        "Product", "Product no.", "Rank", "Recommended product", "Recommended no.", "Variant", "Score",
        "Orders with both", "Also bought", "Lift", "Why",
    ]  # fmt: skip
    assert len(sheet) == len(table)
    merged = sheet.merge(table, left_on=["Product no.", "Recommended no."], right_on=["product_id", "rec_product_id"], validate="1:1")
    for shown, source in (("Orders with both", "support"), ("Also bought", "confidence"), ("Lift", "lift")):
        assert merged[shown].isna().equals(merged[source].isna())  # empty exactly where the table has no evidence
        assert not (merged[shown] == 0).any()
        np.testing.assert_allclose(merged[shown].dropna().astype(float), merged[source].dropna(), rtol=1e-12)
    assert merged["support"].isna().any() and merged["support"].notna().any()
    assert (merged["Why"] == merged["reason"]).all()  # English: the table's own text
    names = sheet["Product"].str.replace(r"^'(?=[=+\-@])", "", regex=True)  # neutralised formulas sort by their text
    assert names.str.casefold().is_monotonic_increasing  # by product name
    up = _sheet(run / "sales" / "GB.xlsx", "Up-sell")
    assert list(up.columns[3:5]) == ["Upgrade", "Upgrade no."] and "Price factor" in up.columns


@pytest.mark.slow  # the session's demo pipeline run
def test_read_me_explains_the_run_and_every_column(demo_published):
    run, cfg = demo_published.run_dir, demo_published.cfg
    readme = _sheet(run / "sales" / "DE.xlsx", "Lies mich")
    items = dict(zip(readme["Punkt"].fillna(""), readme["Bedeutung"].fillna("")))
    assert list(readme.columns) == ["Punkt", "Bedeutung"] and readme["Punkt"].iloc[0] == "xsell-Anrufliste für DE"
    meta = pd.read_json(cfg.workdir / "tables" / "tables.json", typ="series")
    assert items["Empfehlungen mit Stand"] == pd.Timestamp(meta["today"]).strftime("%d.%m.%Y")
    assert re.fullmatch(r"[\d.]+ Auftragspositionen vom \d\d\.\d\d\.\d{4} bis \d\d\.\d\d\.\d{4}", items["Auftragshistorie"])
    registered = f" ({meta['model_name']} Version {meta['model_version']})" if meta.get("model_name") else ""
    assert items["Modell"] == f"{meta['personal_model']}{registered}"
    champion = pd.read_json(cfg.workdir / "evaluation" / "champion.json", typ="series")
    best = max(champion["baselines"].values())
    assert f"{best:.3f}".replace(".", ",") in items["Geprüft gegen Beliebtheit"] and "NDCG@10" in items["Geprüft gegen Beliebtheit"]
    assert items["Währung"] == "EUR" and items["Sprache"] == "Deutsch"
    for header in GERMAN_CALL_LIST:
        assert len(items[header]) > 20, header  # every column explained
    assert "Blatt „Anrufliste“" in items and "Blatt „Ergänzungen“" in items and "Blatt „Höherwertige“" in items


@pytest.mark.slow  # the session's demo pipeline run
def test_one_workbook_per_sales_rep_with_exactly_their_buying_centers(demo_published):
    run, work = demo_published.run_dir, demo_published.workdir
    customers = pd.read_parquet(work / "canonical" / "customers.parquet")
    table = _rows(demo_published, "buying_center_suggestions", "AT")
    rep_of = customers.set_index("buying_center_id")["sales_rep"]
    reps = table["buying_center_id"].map(rep_of)
    stems = rep_file_stems(sorted(set(reps)))
    assert len(stems) > 1 and {p.name for p in (run / "sales" / "AT").glob("*.xlsx")} == {f"{s}.xlsx" for s in stems.values()}
    for rep, stem in stems.items():
        sheet = _sheet(run / "sales" / "AT" / f"{stem}.xlsx", "Anrufliste")
        mine = table[reps == rep]
        assert set(sheet["Einkaufsstelle"]) == set(mine["buying_center_id"]) and len(sheet) == len(mine)
        assert (sheet["Außendienst"] == rep).all()
    wb = openpyxl.load_workbook(run / "sales" / "AT" / f"{stem}.xlsx", read_only=True)
    assert wb.sheetnames == ["Anrufliste", "Lies mich"]
    wb.close()
    readme = _sheet(run / "sales" / "AT" / f"{stem}.xlsx", "Lies mich")
    assert readme["Punkt"].iloc[0] == f"xsell-Anrufliste von {rep} (AT)"


@pytest.mark.slow  # the session's demo pipeline run
def test_the_call_list_csv_matches_the_sheet_and_names_stay_text(demo_published):
    run = demo_published.run_dir
    sheet = _sheet(run / "sales" / "AT.xlsx", "Anrufliste")
    csv = pd.read_csv(run / "sales" / "AT.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(csv.columns) == list(sheet.columns) and len(csv) == len(sheet)
    assert (csv["Einkaufsstelle"] == sheet["Einkaufsstelle"]).all() and (csv["Begründung"] == sheet["Begründung"].fillna("")).all()
    evil = sheet["Produktnr."] == demo_published.evil_product
    assert evil.any() and set(sheet.loc[evil, "Produkt"]) == {EVIL_NAME} and set(csv.loc[evil.to_numpy(), "Produkt"]) == {EVIL_NAME}


@pytest.mark.slow  # the session's demo pipeline run
def test_sheets_above_the_row_limit_continue_on_numbered_sheets_between_buying_centers(demo_published, tmp_path):
    tables = {t: demo_published.tables[t] for t in ("cross_sell", "up_sell", "buying_center_suggestions")}
    customers = pd.read_parquet(demo_published.workdir / "canonical" / "customers.parquet")
    book = next(b for b in country_books(tables, customers, OrderFacts(), {"AT": "de"}, {}) if b.country == "AT")
    limit = 997  # not a multiple of the 20 suggestions per buying center: the cut must move
    sheets = workbook_sheets(book, RunFacts(), max_rows=limit)
    path = tmp_path / "AT.xlsx"
    written = write_workbook(sheets, path, max_rows=limit)
    parts = -(-len(book.calls) // limit)
    calls = [f"Anrufliste ({i})" for i in range(1, len(written.sheets) + 1) if f"Anrufliste ({i})" in written.sheets]
    assert len(calls) >= parts and list(openpyxl.load_workbook(path, read_only=True).sheetnames[: len(calls)]) == calls
    frames = [_sheet(path, title) for title in calls]
    assert all(0 < len(f) <= limit for f in frames)
    together = pd.concat(frames, ignore_index=True)
    assert (together["Einkaufsstelle"].to_numpy() == book.calls["buying_center_id"].to_numpy()).all()
    for before, after in zip(frames, frames[1:]):  # never a buying center on two sheets
        assert before["Einkaufsstelle"].iloc[-1] != after["Einkaufsstelle"].iloc[0]
    assert written.sheets["Ergänzungen (1)"]["rows"] <= limit and sum(v["rows"] for k, v in written.sheets.items() if k.startswith("Ergänzungen")) == len(book.cross_sell)
    readme = _sheet(path, "Lies mich")
    assert readme["Punkt"].str.contains("Anrufliste \\(1\\), Anrufliste \\(2\\)").any()
    with pytest.raises(InputDataError, match="do not fit one Excel sheet"):
        write_workbook(workbook_sheets(book, RunFacts()), tmp_path / "too_big.xlsx", max_rows=limit)


def test_split_points_cut_between_groups_unless_one_group_is_longer_than_a_sheet():
    starts = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1], dtype=bool)
    assert split_points(starts, 12) == [(0, 12)]
    assert split_points(starts, 5) == [(0, 5), (5, 10), (10, 12)]  # two groups fit; the 6-row group is cut
    assert split_points(starts, 4) == [(0, 3), (3, 5), (5, 9), (9, 12)]


def test_call_list_without_customer_master_or_order_lines_shows_ids():
    tables = build_tables()
    calls = call_list(tables["buying_center_suggestions"], None, OrderFacts(), "en")
    assert list(calls.columns) == ["customer", "buying_center_id", "rank", "product", "product_id", "variant_id", "kind", "score", "expected_value", "reason"]
    customer_of = tables["buying_center_suggestions"].drop_duplicates("buying_center_id").set_index("buying_center_id")["customer_id"]
    assert (calls["customer"] == calls["buying_center_id"].map(customer_of)).all()
    assert set(calls["kind"]) == {"Cross-sell"}


@pytest.mark.skipif(office_missing() is not None, reason=f"printed-page check skipped: {office_missing()}")
@pytest.mark.slow  # the session's demo pipeline run
def test_screenshot_of_the_first_printed_page_of_a_workbook(demo_published, tmp_path):
    """LibreOffice prints a rep's workbook with its own print setup; page 1 has content."""
    rep = sorted((demo_published.run_dir / "sales" / "AT").glob("*.xlsx"))[0]
    assert_not_blank(printed_page(rep, tmp_path / "page.png"))


def test_order_facts_of_record_batches_equal_those_of_the_whole_table(monkeypatch):
    """Publish reads the order lines batch by batch: the facts folded over batches of any size
    are the whole table's (last order without returns, most frequent currency per country with
    ties to the first code, span, line count); an empty history has no facts. Folding the
    batches' aggregates a few at a time gives the rows, in the same order, that folding each
    batch at once gives."""
    import pyarrow as pa

    from xsell.publish import sales
    from xsell.publish.sales import order_facts

    days = pd.to_datetime(["2026-01-05", "2026-03-01", "2026-02-10", "2026-04-02", "2025-12-31", "2026-01-20", "2026-02-01"])
    lines = pa.table(
        {
            "buying_center_id": ["A", "A", "B", "B", "C", "A", "C"],
            "order_date": pa.array(days.to_numpy(), type=pa.timestamp("ns")),
            "country": ["DE", "DE", "DE", "AT", "AT", "DE", "AT"],
            "currency": ["EUR", "EUR", "CHF", "", "EUR", "CHF", "CHF"],
            "is_return": [False, True, False, False, False, False, True],
        }
    )
    whole = order_facts(lines)
    assert (whole.lines, whole.start, whole.end) == (7, "2025-12-31", "2026-04-02")
    assert whole.currency == {"DE": "CHF", "AT": "CHF"}  # DE: 2 EUR, 2 CHF -> CHF first; AT: the empty code is not counted
    assert whole.last_order.sort_index().to_dict() == {"A": days[5], "B": days[3], "C": days[4]}  # A's return on 03-01 does not count
    for size in (1, 2, 3):
        part = order_facts(iter(lines.to_batches(max_chunksize=size)))
        assert (part.lines, part.start, part.end, part.currency) == (whole.lines, whole.start, whole.end, whole.currency)
        pd.testing.assert_series_equal(part.last_order.sort_index(), whole.last_order.sort_index())
        by_batch = None
        for fold_rows in (1, 2, 3, 1_000):  # 1: every batch's part folded in at once
            monkeypatch.setattr(sales, "_FOLD_ROWS", fold_rows)
            folded = order_facts(iter(lines.to_batches(max_chunksize=size)))
            by_batch = by_batch or folded
            assert folded.currency == whole.currency
            pd.testing.assert_series_equal(folded.last_order, by_batch.last_order)
    assert order_facts(lines.slice(0, 0)).lines == 0 and order_facts(iter([])).lines == 0


def test_country_books_of_tables_sorted_by_country_equal_those_of_interleaved_rows(demo_published):
    """Tables sorted by country (as ``prepare_table`` leaves them) give each country's rows as a
    slice; with the countries' rows interleaved (each country's own order kept) they are taken by
    position: the books are the same frames, and every text column stays text."""
    from xsell.publish.tables import prepare_table

    tables = {t: prepare_table(t, demo_published.tables[t]) for t in ("cross_sell", "up_sell", "buying_center_suggestions")}
    assert all(t["country"].is_monotonic_increasing for t in tables.values())
    interleaved = {}
    for name, frame in tables.items():
        within = frame.groupby("country", sort=False).cumcount().to_numpy()
        interleaved[name] = frame.iloc[np.argsort(within, kind="stable")]
        assert not interleaved[name]["country"].is_monotonic_increasing
    customers = pd.read_parquet(demo_published.workdir / "canonical" / "customers.parquet")
    sliced, taken = (list(country_books(t, customers, OrderFacts(), {"AT": "de", "DE": "de"}, {})) for t in (tables, interleaved))
    assert [b.country for b in sliced] == [b.country for b in taken] and len(sliced) > 1
    for a, b in zip(sliced, taken):
        for frame_a, frame_b in ((a.calls, b.calls), (a.cross_sell, b.cross_sell), (a.up_sell, b.up_sell)):
            pd.testing.assert_frame_equal(frame_a, frame_b)
        for key in ("customer", "buying_center_id", "product", "product_id", "kind", "reason"):
            assert all(isinstance(v, str) for v in a.calls[key]), key
        assert all(isinstance(v, str) for v in a.cross_sell["rec_product"])
    assert all(len(b.calls) for b in sliced if b.country != "ALL") and all(len(b.cross_sell) for b in sliced)


def test_casefolded_names_equal_pandas_casefold_of_every_value():
    """The link sheets' sort key folds each distinct product name once: the same as folding
    every value (repeats, ß, missing values, an index that is not 0..n-1, no rows)."""
    from xsell.publish.sales import _casefolded

    names = pd.Series(["Straße", "b", "STRASSE", None, "b", "Ǆ", "straße"], dtype="str", index=[5, 3, 9, 1, 0, 2, 7])
    for text in (names, names.iloc[0:0], names.astype(object)):
        pd.testing.assert_series_equal(_casefolded(text), text.str.casefold())
