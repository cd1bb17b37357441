"""Publish step end to end: layout, read-back of every format, determinism, verify, guardrails
(exit 4), retention, diff, and a real SIGKILL in the middle of a publish."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import xsell
from fault_helpers import kill_at_test_pause
from publish_helpers import ACTIVE, COUNTRIES, EVIL, TABLES_META, build_tables, make_config, write_workdir
from xsell.cli import main
from xsell.errors import GuardrailError, LockedError
from xsell.publish.manifest import ManifestMismatchError
from xsell.schema import TABLES
from xsell.steps.publish import PAUSE_ENV, PAUSE_SECONDS_ENV, RENAMED_POINT, latest_run, list_runs, run_publish, verify

T0 = dt.datetime(2026, 11, 27, 1, 2, 3, tzinfo=dt.timezone.utc)


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def setup(tmp_path):
    cfg, path = make_config(tmp_path)
    write_workdir(cfg.workdir)
    return cfg, path


@pytest.fixture
def parquet_only(tmp_path):
    """Like ``setup`` but writing Parquet only: for tests about runs, not file formats."""
    cfg, path = make_config(tmp_path, "publish.formats=[parquet]", "publish.shop_formats=[]")
    write_workdir(cfg.workdir)
    return cfg, path


RUN_FILES = {
    *(f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet")),
    *(f"sales/{c}.{ext}" for c in (*COUNTRIES, "ALL") for ext in ("xlsx", "csv")),
    "sales/DE/Anna_Becker.xlsx", "sales/DE/Jonas_Weber.xlsx", "sales/AT/Eva_Gruber.xlsx",  # C3/001 (FR) has no rep
    "shop/product_links.jsonl", "shop/magento_product_links.csv",
    "site/index.html", "site/assets/xsell.js", "site/assets/xsell.css",
    *(f"site/{c}.html" for c in (*COUNTRIES, "ALL")),
    *(f"site/data/{c}/{d}-0.js" for c in (*COUNTRIES, "ALL") for d in ("calls", "cross_sell", "up_sell")),
}  # fmt: skip
"""Every file a publish of the shared test tables writes (manifest.json aside)."""


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def _with_evil_neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """Expected spreadsheet view of a table: text cells starting with = + - @ get a leading '."""
    out = frame.copy()
    for col in ("product_name", "rec_product_name", "reason"):
        if col in out:
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in "=+-@" else v)
    return out


def _cli(path: Path, *args: str) -> int:
    return main(["-q", "publish", *args, "--config", str(path)])


# -- layout, manifest, read-back -------------------------------------------------------------
def test_publish_layout_manifest_and_latest(setup):
    cfg, _ = setup
    result = run_publish(cfg, now=T0)
    out = cfg.publish.outputs
    assert result.run_id == f"20261127T010203Z-{result.run_id[-7:]}" and result.files == len(RUN_FILES)
    assert (out / "latest").is_symlink() and os.readlink(out / "latest") == f"runs/{result.run_id}"
    run = out / "latest"
    assert {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()} == {*RUN_FILES, "manifest.json"}
    manifest = _manifest(run)
    assert manifest["run_id"] == result.run_id and manifest["status"] == "accepted"
    assert manifest["created_at"] == "2026-11-27T01:02:03+00:00"
    assert manifest["xsell_version"] == xsell.__version__ and manifest["config_hash"] == cfg.hash()
    for key in ("mlflow_run_id", "tracking_uri", "model_name", "model_version", "input_fingerprints"):
        assert manifest[key] == TABLES_META[key]
    assert manifest["guardrails"]["passed"] is True
    entries = {e["path"]: e for e in manifest["files"]}
    source = build_tables()
    for name, frame in source.items():
        assert entries[f"{name}.parquet"]["rows"] == len(frame)
        assert entries[f"{name}.csv"]["columns"] == list(frame.columns)
    assert entries["sales/DE.xlsx"]["sheets"]["Call list"]["rows"] == 9  # 3 DE buying centers x 3
    assert entries["sales/DE/Anna_Becker.xlsx"]["sheets"]["Call list"]["rows"] == 6  # her two buying centers
    assert entries["site/data/DE/calls-0.js"]["rows"] == 9 and entries["site/index.html"]["rows"] == 0
    # listed by kind although written one country at a time: the tables, every country's sales
    # files, the site's assets, every country's data files and page, the index, the shop files
    paths = [e["path"] for e in manifest["files"]]
    kinds = ["table" if "/" not in p else "index" if p == "site/index.html" else p.split("/")[0] + ("/assets" if p.startswith("site/assets/") else "") for p in paths]
    runs = list(dict.fromkeys(kinds))
    assert runs == ["table", "sales", "site/assets", "site", "index", "shop"] and len(runs) == len({(k, i) for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k})
    sales = [p for p in paths if p.startswith("sales/")]
    assert sales.index("sales/AT.xlsx") < sales.index("sales/DE.xlsx") < sales.index("sales/DE/Anna_Becker.xlsx") < sales.index("sales/FR.xlsx")
    site = [p for p in paths if p.startswith("site/") and not p.startswith("site/assets/")]
    assert site.index("site/data/AT/calls-0.js") < site.index("site/AT.html") < site.index("site/data/DE/calls-0.js") < site.index("site/DE.html")
    assert verify(cfg, None) == 0 and _cli(setup[1], "verify") == 0


def test_csv_and_xlsx_read_back_per_country_with_neutralised_names(setup):
    cfg, _ = setup
    run = run_publish(cfg, now=T0).run_dir
    for name in TABLES:
        parquet = pd.read_parquet(run / f"{name}.parquet")
        assert (run / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
        csv = pd.read_csv(run / f"{name}.csv", encoding="utf-8-sig", dtype={"country": str})
        pd.testing.assert_frame_equal(csv, _with_evil_neutralised(parquet), check_dtype=False)
        if "rec_product_name" in parquet:
            assert EVIL in set(parquet["rec_product_name"])  # Parquet keeps the raw value
            assert "'" + EVIL in set(csv["rec_product_name"]) and EVIL not in set(csv["rec_product_name"])
        assert (csv["score"] < 0).any() == (parquet["score"] < 0).any()  # negative numbers stay numbers


def test_xlsx_layout_frozen_header_filter_widths(setup):
    cfg, _ = setup
    run = run_publish(cfg, now=T0).run_dir
    wb = openpyxl.load_workbook(run / "sales" / "DE.xlsx")
    assert wb.sheetnames == ["Call list", "Cross-sell", "Up-sell", "Read me"]
    ws = wb["Cross-sell"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:K{30 + 1}"
    assert ws["A1"].font.b and ws["A1"].value == "Product"
    assert 8 <= ws.column_dimensions["B"].width < ws.column_dimensions["K"].width <= 60  # the reason is long
    evil = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert evil and all(c.data_type == "s" and c.value.startswith("'=") for c in evil)  # text, not a formula
    calls = wb["Call list"]
    assert calls["A2"].value == "'=Schmidt \"Präzision\" KG" or any(
        c.value == "'=Schmidt \"Präzision\" KG" for c in calls["A"]
    )  # a customer name that looks like a formula stays text


def test_shop_files_match_the_all_country_rows(setup):
    cfg, _ = setup
    run = run_publish(cfg, now=T0).run_dir
    cross = pd.read_parquet(run / "cross_sell.parquet").query("country == 'ALL'")
    up = pd.read_parquet(run / "up_sell.parquet").query("country == 'ALL'")
    magento = pd.read_csv(run / "shop" / "magento_product_links.csv", dtype=str, keep_default_na=False)
    assert not (run / "shop" / "magento_product_links.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(magento.columns) == ["sku", "crosssell_skus", "crosssell_position", "upsell_skus", "upsell_position"]
    assert sorted(magento["sku"]) == ACTIVE
    for row in magento.itertuples():
        for frame, skus, pos in ((cross, row.crosssell_skus, row.crosssell_position), (up, row.upsell_skus, row.upsell_position)):
            mine = frame[frame["product_id"] == row.sku].sort_values("rank")
            assert skus.split(",") == mine["rec_product_id"].tolist()
            assert [int(p) for p in pos.split(",")] == mine["rank"].tolist()
    lines = (run / "shop" / "product_links.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["product_id"] for r in records] == ACTIVE
    for record in records:
        assert set(record) == {"product_id", "variant_id", "cross_sell", "up_sell"}
        ranks = [i["rank"] for i in record["cross_sell"]]
        assert ranks == sorted(ranks) == [1, 2, 3]
        mine = cross[cross["product_id"] == record["product_id"]].sort_values("rank")
        assert [i["product_id"] for i in record["cross_sell"]] == mine["rec_product_id"].tolist()
        assert [i["score"] for i in record["cross_sell"]] == mine["score"].tolist()


def test_shop_country_and_formats_are_configurable(tmp_path):
    cfg, _ = make_config(tmp_path, "publish.formats=[parquet]", "publish.shop_formats=[magento]", "publish.shop_country=DE", "publish.shop_sku=variant_id")
    write_workdir(cfg.workdir)
    run = run_publish(cfg, now=T0).run_dir
    files = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    site = {f for f in files if f.startswith("site/")}  # the site is in every run
    assert files - site == {*(f"{t}.parquet" for t in TABLES), "shop/magento_product_links.csv", "manifest.json"}
    assert "site/index.html" in site and "sales" not in (run / "site" / "index.html").read_text()  # no workbook to link
    magento = pd.read_csv(run / "shop" / "magento_product_links.csv", dtype=str, keep_default_na=False)
    de = pd.read_parquet(run / "cross_sell.parquet").query("country == 'DE' and product_id == 'P01'").sort_values("rank")
    first = magento[magento["sku"] == "P01-A"].iloc[0]
    assert first["crosssell_skus"].split(",") == de["rec_variant_id"].tolist()


@pytest.mark.slow
def test_republishing_same_inputs_gives_identical_files(setup):
    cfg, _ = setup
    a = _manifest(run_publish(cfg, now=_at(0)).run_dir)
    b = _manifest(run_publish(cfg, now=_at(60 * 24)).run_dir)
    assert a["run_id"] != b["run_id"] and a["run_id"][-7:] == b["run_id"][-7:]
    assert [(f["path"], f["sha256"]) for f in a["files"]] == [(f["path"], f["sha256"]) for f in b["files"]]
    assert len(a["files"]) == len(RUN_FILES)


def test_same_second_publishes_get_distinct_sortable_ids(parquet_only):
    cfg, _ = parquet_only
    first, second = run_publish(cfg, now=T0).run_id, run_publish(cfg, now=T0).run_id
    assert first < second and list_runs(cfg.publish.outputs / "runs") == [first, second]


# -- verify ----------------------------------------------------------------------------------
def test_verify_detects_tampered_missing_and_extra_files(setup):
    cfg, path = setup
    run = run_publish(cfg, now=T0)
    xlsx = run.run_dir / "sales" / "DE.xlsx"
    original = xlsx.read_bytes()
    xlsx.write_bytes(original[:-10] + bytes(10))
    with pytest.raises(ManifestMismatchError) as err:
        verify(cfg, run.run_id)
    assert err.value.file.endswith("sales/DE.xlsx") and "sha256" in str(err.value)
    assert _cli(path, "verify", run.run_id) == 3
    xlsx.write_bytes(original)
    assert verify(cfg, run.run_id) == 0
    (run.run_dir / "shop" / "product_links.jsonl").unlink()
    with pytest.raises(ManifestMismatchError, match="product_links.jsonl is missing"):
        verify(cfg, "latest")
    (run.run_dir / "shop" / "product_links.jsonl").write_text("")
    with pytest.raises(ManifestMismatchError, match="product_links.jsonl sha256"):
        verify(cfg, "latest")
    (run.run_dir / "shop" / "product_links.jsonl").unlink()
    (run.run_dir / "sales" / "notes.txt").write_text("extra")
    with pytest.raises(ManifestMismatchError, match="product_links.jsonl is missing .+1 more: sales/notes.txt"):
        verify(cfg, "latest")
    assert _cli(path, "verify", "20990101T000000Z-0000000") == 2  # an unknown run id is a usage error


def test_verify_detects_changed_rows_with_matching_manifest_hash(setup):
    """A CSV with a row removed and a manifest re-hashed to match: the row count still differs."""
    cfg, _ = setup
    run = run_publish(cfg, now=T0).run_dir
    csv = run / "up_sell.csv"
    csv.write_bytes(b"".join(csv.read_bytes().splitlines(keepends=True)[:-1]))
    manifest = _manifest(run)
    from xsell.fingerprint import sha256_file

    entry = next(e for e in manifest["files"] if e["path"] == "up_sell.csv")
    entry["sha256"] = sha256_file(csv)
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestMismatchError, match="up_sell.csv has 79 rows, the manifest says 80"):
        verify(cfg, None)


# -- guardrails through the CLI --------------------------------------------------------------
def test_guardrail_failure_exits_4_and_keeps_latest(parquet_only):
    cfg, path = parquet_only
    good = run_publish(cfg, now=T0).run_id
    bad = build_tables()
    bad["cross_sell"].loc[3, "rec_product_id"] = bad["cross_sell"].loc[3, "product_id"]
    write_workdir(cfg.workdir, bad)
    assert _cli(path) == 4
    assert latest_run(cfg.publish.outputs) == good and verify(cfg, None) == 0
    rejected = [r for r in list_runs(cfg.publish.outputs / "runs") if r != good]
    assert len(rejected) == 1
    manifest = _manifest(cfg.publish.outputs / "runs" / rejected[0])
    assert manifest["status"] == "rejected" and manifest["previous_run"] == good
    assert any("self-link" in r for r in manifest["guardrails"]["reasons"])
    assert verify(cfg, rejected[0]) == 0


def test_churn_guardrail_against_previous_run(parquet_only):
    cfg, path = parquet_only
    first = run_publish(cfg, now=T0).run_id
    write_workdir(cfg.workdir, build_tables(shift=4))
    assert _cli(path) == 4 and latest_run(cfg.publish.outputs) == first
    assert _cli(path, "--set", "publish.guardrails.max_churn=1.0") == 0
    assert latest_run(cfg.publish.outputs) != first


# -- retention -------------------------------------------------------------------------------
@pytest.mark.slow
def test_retention_keeps_n_and_never_latest(tmp_path):
    cfg, _ = make_config(tmp_path, "publish.keep_runs=2", "publish.formats=[parquet]")
    write_workdir(cfg.workdir)
    ids = [run_publish(cfg, now=_at(i)).run_id for i in range(3)]
    assert list_runs(cfg.publish.outputs / "runs") == ids[-2:] and latest_run(cfg.publish.outputs) == ids[-1]
    bad = build_tables()
    bad["up_sell"].loc[0, "rec_product_id"] = "P11"  # discontinued: every further run is rejected
    write_workdir(cfg.workdir, bad)
    rejected = []
    for i in range(3, 6):
        with pytest.raises(GuardrailError):
            run_publish(cfg, now=_at(i))
        rejected.append(list_runs(cfg.publish.outputs / "runs")[-1])
    assert latest_run(cfg.publish.outputs) == ids[-1]
    assert list_runs(cfg.publish.outputs / "runs") == [ids[-1], *rejected[-2:]]
    assert verify(cfg, None) == 0


# -- diff ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_diff_cli_reports_added_dropped_moved(parquet_only, capsys):
    cfg, path = parquet_only
    a = run_publish(cfg, now=_at(0)).run_id
    tables = build_tables()
    cs = tables["cross_sell"]
    de_p01 = (cs["country"] == "DE") & (cs["product_id"] == "P01")
    cs.loc[de_p01 & (cs["rank"] == 3), "rec_product_id"] = "P09"  # P04 dropped, P09 added
    cs.loc[de_p01 & (cs["rank"] == 1), "rank"] = 9  # P02 moved 1 -> 9
    write_workdir(cfg.workdir, tables)
    b = run_publish(cfg, now=_at(1)).run_id
    capsys.readouterr()
    assert _cli(path, "diff", a, b) == 0
    out = capsys.readouterr().out
    assert "3 links changed" in out
    summary = [line.split() for line in out.splitlines() if line.startswith("cross_sell")]
    assert summary[0] == ["cross_sell", "DE", "1", "1", "1"]
    assert _cli(path, "diff", a) == 2
    assert _cli(path, "diff", a, "20990101T000000Z-0000000") == 2  # an unknown run id is a usage error
    out_file = cfg.workdir / "diff" / "changes.csv"
    assert _cli(path, "diff", a, b, "--out", str(out_file)) == 0
    changes = pd.read_csv(out_file, dtype={"key": str, "item": str})
    assert sorted(zip(changes["item"], changes["change"], strict=True)) == [("P02", "moved"), ("P04", "dropped"), ("P09", "added")]
    assert f"(all in {out_file})" in capsys.readouterr().out


# -- crash safety: a real process killed with SIGKILL ----------------------------------------
def _publish_process(config: Path, pause_after: str) -> subprocess.Popen:
    env = {**os.environ, PAUSE_ENV: pause_after, PAUSE_SECONDS_ENV: "60", "PYTHONPATH": str(Path(xsell.__file__).parents[1])}
    code = f"import sys; from xsell.cli import main; sys.exit(main(['publish', '--config', {str(config)!r}]))"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("pause_after", ["sales/DE.xlsx", "manifest.json", RENAMED_POINT])
def test_sigkill_mid_publish_keeps_latest_and_next_publish_cleans_up(setup, pause_after):
    cfg, path = setup
    runs_dir = cfg.publish.outputs / "runs"
    old = run_publish(cfg, now=T0).run_id
    kill_at_test_pause(_publish_process(path, pause_after))
    assert latest_run(cfg.publish.outputs) == old
    assert _cli(path, "verify") == 0
    leftovers = [p.name for p in runs_dir.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == (0 if pause_after == RENAMED_POINT else 1)
    assert old in list_runs(runs_dir) and not any(r.startswith(".") for r in list_runs(runs_dir))
    killed = [r for r in list_runs(runs_dir) if r != old]
    new = run_publish(cfg, now=_at(60)).run_id
    assert not [p.name for p in runs_dir.iterdir() if p.name.startswith(".tmp-")]
    assert latest_run(cfg.publish.outputs) == new and verify(cfg, None) == 0
    # a complete run the kill kept from becoming latest is marked, never left "accepted"
    assert [_manifest(runs_dir / r)["status"] for r in killed] == (["interrupted"] if pause_after == RENAMED_POINT else [])
    assert _manifest(runs_dir / old)["status"] == "accepted"


# -- inputs and locking ----------------------------------------------------------------------
def test_missing_metadata_is_null_and_missing_table_exits_3(parquet_only):
    cfg, path = parquet_only
    (cfg.workdir / "tables" / "tables.json").write_text(json.dumps({"model_name": "als"}))
    manifest = _manifest(run_publish(cfg, now=T0).run_dir)
    assert manifest["model_name"] == "als"
    assert manifest["mlflow_run_id"] is None and manifest["model_version"] is None and manifest["input_fingerprints"] is None
    (cfg.workdir / "tables" / "up_sell.parquet").unlink()
    assert _cli(path) == 3


def test_second_publish_on_same_outputs_is_locked_out(parquet_only):
    cfg, _ = parquet_only
    cfg.publish.outputs.mkdir(parents=True)
    with open(cfg.publish.outputs / ".publish.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockedError):
            run_publish(cfg, now=T0)
    assert list_runs(cfg.publish.outputs / "runs") == []
    run_publish(cfg, now=T0)


@pytest.mark.slow
def test_churn_reads_the_previous_run_from_csv_when_there_is_no_parquet(tmp_path):
    cfg, _ = make_config(tmp_path, "publish.formats=[csv]")
    write_workdir(cfg.workdir)
    run_publish(cfg, now=_at(0))
    write_workdir(cfg.workdir, build_tables(shift=1))
    checks = _manifest(run_publish(cfg, now=_at(1)).run_dir)["guardrails"]["checks"]
    churn = {c["table"]: c["value"] for c in checks if c["name"] == "churn"}
    # shift 1: per product one of three cross-sell links and one of two up-sell links are new.
    assert churn == {"cross_sell": pytest.approx(1 / 3), "up_sell": pytest.approx(1 / 2)}
