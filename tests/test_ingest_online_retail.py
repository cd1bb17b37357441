"""Ingest of real data: the committed Online Retail sample (always) and the full shared files.

Expectations are derived independently from the raw CSV with plain pandas (not from the
ingest code) or taken from the data README's verified figures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ingest_helpers import read_outputs
from shared_data import shared_data_dir
from xsell.config import load_config
from xsell.steps.ingest import run_ingest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "online_retail.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "online_retail" / "online_retail_sample.csv.gz"
SHARED = shared_data_dir()
FULL = SHARED / "online_retail" / "online_retail_I.csv.gz" if SHARED else None
EXTRACT_II = SHARED / "online_retail" / "online_retail_II_2009-12_extract.csv.gz" if SHARED else None


def _expected(raw: pd.DataFrame, order: str, customer: str, patterns: list[str]) -> dict[str, pd.Series]:
    """Row outcomes computed directly from the source strings."""
    dup = raw.duplicated()
    non_product = ~dup & raw["StockCode"].apply(lambda s: any(re.fullmatch(p, s) for p in patterns))
    anonymous = ~dup & ~non_product & (raw[customer] == "")
    accepted = ~dup & ~non_product & ~anonymous
    return {"dup": dup, "non_product": non_product, "anonymous": anonymous, "accepted": accepted}


def _run(tmp_path: Path, source: Path, *overrides: str):
    cfg = load_config(CONFIG, [f"data.order_lines={source}", f"workdir={tmp_path / 'work'}", *overrides])
    summary = run_ingest(cfg)
    return cfg, summary, *read_outputs(tmp_path / "work")


def _check_against_source(cfg, summary, lines, quarantine, excluded, raw, order="InvoiceNo", customer="CustomerID", price="UnitPrice"):
    exp = _expected(raw, order, customer, list(cfg.ingest.exclude_variant_patterns))
    assert summary.rows_read == len(raw)
    assert summary.rows_read == summary.rows_accepted + summary.rows_quarantined + summary.rows_excluded
    assert summary.excluded_by_rule == {"duplicate line": int(exp["dup"].sum()), "non-product variant": int(exp["non_product"].sum())}
    assert summary.quarantined_by_reason["missing buying center"] == summary.rows_quarantined == int(exp["anonymous"].sum())
    assert summary.rows_accepted == int(exp["accepted"].sum())
    # every source row ends up exactly once in lines, quarantine or excluded
    rows = pd.concat([lines["source_row"], quarantine["source_row"], excluded["source_row"]])
    assert sorted(rows) == list(range(1, len(raw) + 1))
    acc = raw[exp["accepted"]]
    assert lines["source_row"].tolist() == (acc.index + 1).tolist()
    # values: float ids normalised, cancellations negative, net = quantity * price
    assert lines["buying_center_id"].tolist() == acc[customer].str.replace(r"\.0$", "", regex=True).tolist()
    qty = acc["Quantity"].astype(float).to_numpy()
    assert lines["quantity"].to_numpy() == pytest.approx(qty)
    assert lines["net_value"].sum() == pytest.approx((qty * acc[price].astype(float)).sum())
    is_return = acc[order].str.startswith("C") | (qty < 0)
    assert lines["is_return"].tolist() == is_return.tolist()
    assert (lines.loc[lines["is_return"], "quantity"] < 0).all()
    variant_has_suffix = acc["StockCode"].str.fullmatch(r"\d{5}[A-Za-z]+")
    assert lines["product_id"].tolist() == acc["StockCode"].where(~variant_has_suffix, acc["StockCode"].str[:5]).tolist()


def test_online_retail_fixture(tmp_path):
    raw = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
    cfg, summary, lines, quarantine, excluded = _run(tmp_path, FIXTURE, "ingest.max_rejected_share=0.5")
    _check_against_source(cfg, summary, lines, quarantine, excluded, raw)
    first = lines.iloc[0]
    assert (first.order_id, first.variant_id, first.product_id, first.buying_center_id, first.country) == (
        "536365", "85123A", "85123", "17850", "United Kingdom")
    # the fixture really exercises each rule
    assert summary.excluded_by_rule["duplicate line"] > 0 and summary.return_lines > 0
    for pattern in ("POST", "B", "BANK CHARGES", "AMAZONFEE", "gift_0001_.*", "DCGS.*", "[Mm]"):
        assert summary.excluded_by_pattern[pattern] > 0, pattern
    assert summary.products_inferred and summary.customers_inferred


def test_online_retail_fixture_over_max_share_fails(tmp_path):
    from xsell.cli import main

    code = main(["-q", "ingest", "--config", str(CONFIG), "--set", f"data.order_lines={FIXTURE}", "--set", f"workdir={tmp_path / 'w'}"])
    assert code == 3  # 44% of the sample is anonymous (2010-12-01 had big walk-in invoices) > 30%
    assert (tmp_path / "w" / "ingest_summary.json").is_file()


def test_shipped_config_points_at_shared_data():
    cfg = load_config(CONFIG)
    expected = (CONFIG.parent / "../../shared/data/online_retail/online_retail_I.csv.gz").resolve()
    assert Path(cfg.data.order_lines).resolve() == expected
    if (ROOT.parent / "shared" / "data").is_dir():  # checked out as <project>/main next to <project>/shared
        assert expected.is_file()


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_full_file(tmp_path):
    if FULL is None or not FULL.is_file():
        pytest.skip("shared Online Retail data not available")
    raw = pd.read_csv(FULL, dtype=str, keep_default_na=False)
    cfg, summary, lines, quarantine, excluded = _run(tmp_path, FULL)
    assert summary.rows_read == 541_909
    assert summary.excluded_by_rule["duplicate line"] == 5_268  # README: exact duplicate rows
    _check_against_source(cfg, summary, lines, quarantine, excluded, raw)
    assert (summary.date_min, summary.date_max) == ("2010-12-01 08:26:00", "2011-12-09 12:50:00")
    # README totals hold over all outputs together: nothing was lost
    cancel = lines["order_id"].str.startswith("C").sum()
    cancel += quarantine["InvoiceNo"].str.startswith("C").sum() + excluded["InvoiceNo"].str.startswith("C").sum()
    assert cancel == 9_288
    quantity = lines["quantity"].sum() + quarantine["Quantity"].astype(float).sum() + excluded["Quantity"].astype(float).sum()
    assert quantity == pytest.approx(5_176_450)
    value = lines["net_value"].sum() + sum((f["Quantity"].astype(float) * f["UnitPrice"].astype(float)).sum() for f in (quarantine, excluded))
    assert value == pytest.approx(9_747_747.934, abs=0.01)
    assert summary.n_buying_centers == raw.loc[raw.index.isin(lines["source_row"] - 1), "CustomerID"].nunique()


@pytest.mark.realdata
def test_online_retail_ii_layout(tmp_path):
    if EXTRACT_II is None or not EXTRACT_II.is_file():
        pytest.skip("shared Online Retail II extract not available")
    raw = pd.read_csv(EXTRACT_II, dtype=str, keep_default_na=False)
    cfg, summary, lines, quarantine, excluded = _run(
        tmp_path, EXTRACT_II, "data.columns.order_id=Invoice", "data.columns.unit_price=Price", "data.columns.buying_center_id=Customer ID",
    )
    assert summary.rows_read == 45_228
    _check_against_source(cfg, summary, lines, quarantine, excluded, raw, order="Invoice", customer="Customer ID", price="Price")
    # README: 13,468 lines without Customer ID, all of them quarantined or excluded
    assert (quarantine["Customer ID"] == "").sum() + (excluded["Customer ID"] == "").sum() == 13_468
    assert (summary.date_min, summary.date_max) == ("2009-12-01 07:45:00", "2009-12-23 16:58:00")
