"""Hostile and broken input (issue 11, items 10, 11, 13, 14, 15, 17, 20): every case is a small
fixture file with the real bytes (``tests/fixtures/bad_input/``, see its README). Bad rows are
quarantined with file, row, column, value and reason and nothing is lost
(``rows_read = accepted + quarantined + excluded``); only a file that cannot be read at all
stops the run, and then with exit 3 (input) or 2 (config) naming it — never exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ingest_helpers import read_outputs, read_summary, run_cli, sap_master_export, write_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bad_input"


def _ingest(tmp_path: Path, fixture: str, csv: dict | None = None, max_rejected: float = 0.9, **data) -> int:
    """``xsell ingest`` on a copy of ``fixture`` (exit code); outputs in ``tmp_path/work``."""
    shutil.copy(FIXTURES / fixture, tmp_path / fixture)
    config = write_config(tmp_path, {"order_lines": fixture, "csv": csv or {}, **data}, {"max_rejected_share": max_rejected})
    return run_cli("ingest", "--config", str(config))


def _quarantined(tmp_path: Path) -> dict[int, tuple[str, str, str]]:
    """source_row -> (reason, column, value) of the quarantined rows."""
    _, quarantine, _ = read_outputs(tmp_path / "work")
    return {int(r.source_row): (r.reason, r.column, r.value) for r in quarantine.itertuples()}


def _balanced(summary: dict) -> bool:
    return summary["rows_read"] == summary["rows_accepted"] + summary["rows_quarantined"] + summary["rows_excluded"]


# -- item 13: encoding per file ----------------------------------------------------------------------
def test_one_cp1252_byte_in_a_utf8_file_quarantines_its_row_and_garbles_nothing(tmp_path):
    assert _ingest(tmp_path, "utf8_with_one_cp1252_byte.csv") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert "Grün 1" in set(lines["description"]) and not lines["description"].str.contains("Ã").any()
    assert _quarantined(tmp_path) == {5: ("undecodable bytes", "description", "Gr\ufffdn 5")}
    summary = read_summary(tmp_path / "work")
    assert [f["encoding"] for f in summary["files"]] == ["utf-8"] and _balanced(summary)
    assert summary["quarantined_by_reason"]["undecodable bytes"] == 1


def test_a_whole_cp1252_file_is_read_as_cp1252(tmp_path):
    assert _ingest(tmp_path, "cp1252.csv") == 0
    lines, quarantine, _ = read_outputs(tmp_path / "work")
    assert len(quarantine) == 0 and lines["description"].tolist()[:2] == ["Grün 1", "Grün 2"]
    assert read_summary(tmp_path / "work")["files"][0]["encoding"] == "cp1252"


# -- item 10: wrong field counts and unrecognised flags ------------------------------------------------
def test_rows_with_a_wrong_number_of_fields_are_quarantined_with_their_row_numbers(tmp_path):
    assert _ingest(tmp_path, "wrong_field_counts.csv") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines["source_row"].tolist() == [1, 3, 5]  # row 3 holds a quoted line break
    assert lines.set_index("source_row").loc[3, "description"] == "two\nlines"
    q = _quarantined(tmp_path)
    assert sorted(q) == [2, 4] and {reason for reason, _, _ in q.values()} == {"wrong number of fields"}
    assert q[2][2] == "6 field(s), expected 7: 2,2024-01-03,B1,V2,1,2.5"
    assert q[4][2].startswith("9 field(s), expected 7: 4,2024-01-05,B2,V2")
    assert _balanced(read_summary(tmp_path / "work"))


def test_unrecognised_flags_are_quarantined_and_the_vocabulary_is_configurable(tmp_path):
    assert _ingest(tmp_path, "flags.csv") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines.set_index("order_id")["is_custom"].to_dict() == {"1": True, "2": False, "3": False, "5": True}
    assert _quarantined(tmp_path) == {4: ("unrecognised flag", "is_custom", "vielleicht")}
    assert _ingest(tmp_path, "flags.csv", {"true_values": ["ja", "x", "vielleicht"], "false_values": ["nein"]}) == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines.set_index("order_id")["is_custom"].to_dict() == {"1": True, "2": False, "3": False, "4": True, "5": True}


# -- items 11, 14, 17: dates ---------------------------------------------------------------------------
def test_out_of_range_dates_are_quarantined_and_offsets_dropped(tmp_path):
    assert _ingest(tmp_path, "dates_out_of_range_and_timezones.csv") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    dates = lines.set_index("order_id")["order_date"].dt.strftime("%Y-%m-%d %H:%M").to_dict()
    assert dates == {"1": "2024-01-02 00:00", "3": "2024-03-01 10:00", "4": "2024-03-01 23:30", "5": "2024-01-04 00:00"}
    assert _quarantined(tmp_path) == {2: ("date out of range", "order_date", "0001-01-01")}


def test_time_zone_aware_parquet_dates_keep_their_local_calendar_date(tmp_path):
    assert _ingest(tmp_path, "berlin_timestamps.parquet") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines["order_date"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2024-01-01 00:00", "2024-07-01 00:30"]


def test_dayfirst_does_not_swap_iso_dates(tmp_path):
    assert _ingest(tmp_path, "dayfirst_with_iso.csv", {"dayfirst": True}) == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines["order_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-04", "2024-01-05", "2024-01-13"]


def test_sap_product_master_no_end_date_means_never_and_bad_rows_are_quarantined(tmp_path):
    config = write_config(tmp_path, sap_master_export(tmp_path), {"max_rejected_share": 0.9})
    assert run_cli("ingest", "--config", str(config)) == 0
    work = tmp_path / "work"
    products = pd.read_parquet(work / "canonical" / "products.parquet").set_index("variant_id")
    assert products.loc["V1", "status"] == "active" and pd.isna(products.loc["V1", "discontinued_on"])
    assert products.loc["V2", "status"] == "discontinued"
    _, quarantine, _ = read_outputs(work)
    master_rows = quarantine[quarantine["source_file"].str.endswith("products.csv")]
    assert {int(r.source_row): (r.reason, r.column) for r in master_rows.itertuples()} == {
        3: ("unknown status", "status"),
        4: ("date out of range", "discontinued_on"),
        5: ("wrong number of fields", ""),
        6: ("unrecognised flag", "is_custom"),
        7: ("non-numeric price", "list_price"),
    }
    summary = read_summary(work)
    assert summary["products"]["rows_quarantined"] == 5 and summary["products"]["encoding"] == "utf-8"
    # the order lines of the quarantined variants are unknown to the master, nothing is lost
    assert summary["rows_accepted"] == 2 and summary["quarantined_by_reason"]["unknown variant"] == 5 and _balanced(summary)


# -- item 15: non-finite numbers --------------------------------------------------------------------------
def test_infinite_quantities_and_prices_are_quarantined(tmp_path):
    assert _ingest(tmp_path, "infinite_numbers.csv") == 0
    lines, _, _ = read_outputs(tmp_path / "work")
    assert lines["order_id"].tolist() == ["5"]
    assert _quarantined(tmp_path) == {
        1: ("non-numeric quantity", "quantity", "inf"),
        2: ("non-numeric price", "unit_price", "1e309"),
        3: ("non-numeric quantity", "quantity", "Infinity"),
        4: ("non-numeric price", "unit_price", "-inf"),
        6: ("non-numeric price", "unit_price", "1e200"),  # finite factors, infinite net value
    }


# -- item 20: unreadable files and bad dialect options are input / config errors ------------------------
@pytest.mark.parametrize(
    ("fixture", "expect"),
    [("truncated.csv.gz", ["truncated.csv.gz", "cannot read CSV"]), ("list_column.parquet", ["list_column.parquet", "column 'tags'", "nested"])],
    ids=["truncated-gzip", "parquet-list-column"],
)
def test_unreadable_files_exit_3_naming_the_file(tmp_path, capsys, fixture, expect):
    assert _ingest(tmp_path, fixture) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for text in expect:
        assert text in err


@pytest.mark.parametrize(
    ("csv", "expect"),
    [({"encoding": "klingon"}, "unknown encoding 'klingon'"), ({"sep": ";;"}, "exactly one character"),
     ({"true_values": ["ja"], "false_values": ["JA"]}, "share ['ja']")],
    ids=["unknown-encoding", "multi-char-sep", "flag-in-both-lists"],
)
def test_bad_dialect_options_exit_2(tmp_path, capsys, csv, expect):
    assert _ingest(tmp_path, "flags.csv", csv) == 2
    assert expect in capsys.readouterr().err
