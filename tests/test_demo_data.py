"""Synthetic demo data: determinism, dialect, and the planted truth checked from the written files.

Every expectation is recomputed here with pandas from the files the generator wrote and
compared with ``planted.json`` (what the generator says it planted) or with the issue's
requirements; nothing is copied from the generator's own output.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from xsell.cli import main
from xsell.demo.catalog import generate_catalog
from xsell.demo.generate import write_demo_data
from xsell.demo.scales import SCALES, get_scale
from xsell.errors import UsageError

HEADER = "VBELN;POSNR;AUDAT;KUNNR;KUNWE;LAND1;MATNR;KWMENG;NETPR;NETWR;WAERK;SONDERANF;MAKTX"
NON_PRODUCT = re.compile(r"^(FRACHT|PORTO|GEBUEHR-.*)$")
DIRTY_KINDS = {"empty_customer", "bad_date", "bad_quantity", "negative_price", "unknown_variant", "duplicate"}


def read_sap_csv(path: Path) -> pd.DataFrame:
    """A SAP-dialect CSV as plain strings (empty fields stay empty strings)."""
    return pd.read_csv(path, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)


def number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")


def date(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="%d.%m.%Y", errors="coerce")


@dataclasses.dataclass
class Demo:
    root: Path
    lines: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame
    planted: dict

    @property
    def sales(self) -> pd.DataFrame:
        """Clean product sales lines, one row per (deduplicated) line, with parsed fields."""
        df = self.lines.drop_duplicates()
        df = df[~df.VBELN.str.startswith("R") & ~df.MATNR.str.match(NON_PRODUCT.pattern)]
        df = df.merge(self.products[["MATNR", "BASISMAT", "PRODH"]], on="MATNR", how="inner")
        df = df.assign(date=date(df.AUDAT), qty=number(df.KWMENG), price=number(df.NETPR), bc=df.KUNNR + "/" + df.KUNWE)
        return df[df.date.notna() & df.qty.notna() & (df.KUNNR != "")]


def load(root: Path) -> Demo:
    files = sorted((root / "order_lines").glob("orders_*.csv"))
    lines = pd.concat([read_sap_csv(f) for f in files], ignore_index=True)
    return Demo(
        root,
        lines,
        read_sap_csv(root / "products.csv"),
        read_sap_csv(root / "customers.csv"),
        json.loads((root / "planted.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_demo_data(root, scale="tiny", seed=7)
    return root


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("small")
    write_demo_data(root, scale="small", seed=11)
    return load(root)


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tiny: Path, tmp_path: Path) -> None:
    write_demo_data(tmp_path / "again", scale="tiny", seed=7)
    write_demo_data(tmp_path / "other", scale="tiny", seed=8)
    first, again, other = _file_bytes(tiny), _file_bytes(tmp_path / "again"), _file_bytes(tmp_path / "other")
    assert set(first) >= {"products.csv", "customers.csv", "planted.json", "README.md", "order_lines/orders_2023.csv"}
    assert again == first
    assert other["order_lines/orders_2024.csv"] != first["order_lines/orders_2024.csv"]
    assert other["products.csv"] != first["products.csv"]


def test_tiny_csv_dialect(tiny: Path) -> None:
    files = sorted((tiny / "order_lines").glob("*.csv"))
    assert [f.name for f in files] == ["orders_2023.csv", "orders_2024.csv", "orders_2025.csv"]
    raw = b"".join(f.read_bytes() for f in files)
    assert raw.startswith(HEADER.encode() + b"\r\n")
    with pytest.raises(UnicodeDecodeError):  # umlauts are single cp1252 bytes, not UTF-8
        (tiny / "products.csv").read_bytes().decode("utf-8")
    lines = load(tiny).lines
    assert 3_000 <= len(lines) <= 8_000  # "~5k lines"
    assert list(lines.columns) == HEADER.split(";")
    assert lines.NETPR.str.fullmatch(r"-?\d+,\d{2}").all()
    assert lines.NETWR.str.fullmatch(r"-?\d+,\d{2}").all()
    good_dates = lines.AUDAT.str.fullmatch(r"\d\d\.\d\d\.\d{4}") & date(lines.AUDAT).notna()
    parsed = date(lines.AUDAT[good_dates])
    assert parsed.min() >= pd.Timestamp("2023-01-02") and parsed.max() <= pd.Timestamp("2025-12-31")
    assert (parsed.dt.day_of_week < 5).all()  # business days only
    assert set(lines.LAND1) <= {"DE", "AT", "CH", "FR", "IT", "PL", "US", "GB"}
    assert set(lines.SONDERANF) == {"", "X"}
    # texts with ';', quotes, umlauts and a spreadsheet formula survive the CSV round trip
    names = set(read_sap_csv(tiny / "products.csv").MAKTX)
    for special in ('Schlauch; 10 m, ölbeständig', 'Dichtungssatz 3/4" "Premium"', "Größenadapter Maß Ü-Weiß",
                    '=HYPERLINK("http://x","y")'):
        assert any(n.startswith(special) for n in names), special
    assert lines.MAKTX.str.startswith("=HYPERLINK(").any()


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_dirty_rows_match_planted_counts(small: Demo) -> None:
    lines, planted = small.lines, small.planted
    known = set(small.products.MATNR)
    non_product = lines.MATNR.str.match(NON_PRODUCT.pattern)
    found = {
        "empty_customer": int((lines.KUNNR == "").sum()),
        "bad_date": int(date(lines.AUDAT).isna().sum()),
        "bad_quantity": int(number(lines.KWMENG).isna().sum()),
        "negative_price": int((number(lines.NETPR) < 0).sum()),
        "unknown_variant": int((~lines.MATNR.isin(known) & ~non_product).sum()),
        "duplicate": int(lines.duplicated().sum()),
    }
    assert set(planted["dirty_rows"]) == DIRTY_KINDS
    assert found == planted["dirty_rows"]
    assert all(v > 0 for v in found.values())
    assert 0.002 < sum(found.values()) / len(lines) < 0.01  # exercised, well under the 5% gate
    by_code = lines.MATNR[non_product].value_counts().to_dict()
    assert by_code == {k: v for k, v in planted["non_product_lines"].items() if v}
    assert {"FRACHT", "PORTO"} <= set(by_code) and any(c.startswith("GEBUEHR-") for c in by_code)


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_totals_and_masters_consistent_with_lines(small: Demo) -> None:
    totals = small.planted["totals"]
    assert totals["lines_written"] == len(small.lines)
    assert 80_000 <= len(small.lines) <= 120_000  # "~100k lines"
    assert totals["variants"] == len(small.products) == small.products.MATNR.nunique()
    assert totals["products"] == small.products.BASISMAT.nunique()
    bcs = small.customers.KUNNR + "/" + small.customers.KUNWE
    assert totals["buying_centers"] == len(small.customers) == bcs.nunique()
    assert small.customers.groupby("KUNNR").size().between(1, 5).all()
    sold = small.sales
    assert set(sold.bc) <= set(bcs)
    country = dict(zip(bcs, small.customers.LAND1))
    assert (sold.bc.map(country) == sold.LAND1).all()
    assert small.customers.BRANCHE.nunique() >= 5


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_custom_made_lines_are_unique_flagged_and_roll_up(small: Demo) -> None:
    lines = small.lines.drop_duplicates()
    sales = lines[~lines.VBELN.str.startswith("R") & ~lines.MATNR.str.match(NON_PRODUCT.pattern)]
    custom = sales[sales.SONDERANF == "X"]
    assert 0.15 <= len(custom) / len(sales) <= 0.25
    assert custom.MATNR.str.fullmatch(r"P\d{5}-S\d{6,}").all()
    assert custom.MATNR.is_unique  # never sold twice
    assert not lines.MATNR[lines.VBELN.str.startswith("R")].isin(custom.MATNR).any()
    master = small.products.set_index("MATNR")
    assert (master.loc[custom.MATNR, "SONDERANF"] == "X").all()
    assert (master.loc[custom.MATNR, "BASISMAT"].to_numpy() == custom.MATNR.str.split("-S").str[0].to_numpy()).all()
    standard = small.products[small.products.SONDERANF == ""]
    assert standard.MATNR.str.fullmatch(r"P\d{5}-V\d{3,}").all()
    assert (standard.MATNR.str[:6] == standard.BASISMAT).all()


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_returns_reference_earlier_purchases(small: Demo) -> None:
    lines = small.lines.drop_duplicates()
    returns = lines[lines.VBELN.str.startswith("R")]
    assert len(returns) > 100
    assert (number(returns.KWMENG) < 0).all()
    orig = lines[~lines.VBELN.str.startswith("R")]
    joined = returns.assign(orig=returns.VBELN.str[1:]).merge(
        orig, left_on=["orig", "POSNR", "MATNR", "KUNNR", "KUNWE"],
        right_on=["VBELN", "POSNR", "MATNR", "KUNNR", "KUNWE"], suffixes=("", "_orig"),
    )
    assert len(joined) == len(returns)  # each return item names its original order and item
    assert (date(joined.AUDAT) > date(joined.AUDAT_orig)).all()
    assert (-number(joined.KWMENG) <= number(joined.KWMENG_orig)).all()


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_no_sales_after_discontinuation_and_assortments_respected(small: Demo) -> None:
    sales, planted, products = small.sales, small.planted, small.products
    assert planted["discontinued"] and planted["country_restricted"]
    by_product = products.drop_duplicates("BASISMAT").set_index("BASISMAT")
    for p, info in planted["discontinued"].items():
        cutoff = pd.Timestamp(info["date"])
        assert by_product.loc[p, "STATUS"] == "discontinued"
        assert date(pd.Series([by_product.loc[p, "AUSLAUF"]]))[0] == cutoff
        assert (sales.date[sales.BASISMAT == p] < cutoff).all()
        assert by_product.loc[info["successor"], "STATUS"] == "active"
    gone = planted["discontinued"]
    after = sales[sales.BASISMAT.isin(gone) | sales.BASISMAT.isin([v["successor"] for v in gone.values()])]
    assert len(after) > 0
    assert set(by_product.index[by_product.STATUS == "discontinued"]) == set(gone)
    for p, countries in planted["country_restricted"].items():
        assert set(by_product.loc[p, "SORTIMENT"].split(",")) == set(countries)
        assert set(sales.LAND1[sales.BASISMAT == p]) <= set(countries)
    assert (by_product.SORTIMENT[~by_product.index.isin(list(planted["country_restricted"]))] == "").all()


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_planted_complements_co_occur_in_orders(small: Demo) -> None:
    """Core products' planted complements: order-level lift far above 1 and in the top 10 by confidence."""
    sales = small.sales
    baskets = sales[["VBELN", "BASISMAT"]].drop_duplicates()
    n_orders = baskets.VBELN.nunique()
    pair_counts = baskets.merge(baskets, on="VBELN").query("BASISMAT_x != BASISMAT_y")
    pair_counts = pair_counts.groupby(["BASISMAT_x", "BASISMAT_y"]).size().rename("n").reset_index()
    item_orders = baskets.BASISMAT.value_counts()
    pair_counts["confidence"] = pair_counts.n / pair_counts.BASISMAT_x.map(item_orders)
    pair_counts["lift"] = pair_counts.confidence / (pair_counts.BASISMAT_y.map(item_orders) / n_orders)
    top10 = pair_counts.sort_values(["BASISMAT_x", "confidence"], ascending=[True, False]).groupby("BASISMAT_x").head(10)
    planted = pd.DataFrame(small.planted["complement_pairs"], columns=["core", "partner", "kind"])
    assert set(planted.kind) == {"accessory", "consumable"}
    families = small.products.drop_duplicates("BASISMAT").set_index("BASISMAT").PRODH
    assert (planted.core.map(families) != planted.partner.map(families)).all()
    supported = planted[planted.core.map(item_orders).fillna(0) >= 10]
    assert len(supported) > 0.5 * len(planted)
    stats = supported.merge(pair_counts, left_on=["core", "partner"], right_on=["BASISMAT_x", "BASISMAT_y"], how="left")
    assert stats.lift.fillna(0).median() > 10
    in_top = supported.merge(top10, left_on=["core", "partner"], right_on=["BASISMAT_x", "BASISMAT_y"], how="left").n.notna()
    assert in_top.mean() > 0.8


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_upgrades_follow_in_time_and_fit_the_price_window(small: Demo) -> None:
    sales = small.sales
    first = sales.groupby(["bc", "BASISMAT"]).date.min().rename("first").reset_index()
    list_price = small.products[small.products.SONDERANF == ""].groupby("BASISMAT").LISTPREIS.agg(
        lambda s: number(s).median()
    )
    upgrades = pd.DataFrame(small.planted["upgrade_pairs"], columns=["x", "y"])
    assert len(upgrades) >= 10
    assert (upgrades.x.map(small.planted["product_tiers"]) == "basic").all()
    assert upgrades.y.map(small.planted["product_tiers"]).isin(["standard", "premium"]).all()
    family = dict(zip(small.products.BASISMAT, small.products.PRODH))
    assert (upgrades.x.map(family) == upgrades.y.map(family)).all()
    assert (upgrades.y.map(list_price) / upgrades.x.map(list_price)).between(1.1, 2.5).all()
    both = upgrades.merge(first, left_on="x", right_on="BASISMAT").merge(
        first, left_on=["y", "bc"], right_on=["BASISMAT", "bc"], suffixes=("_x", "_y")
    )
    assert len(both) > 50  # buying centers that bought both X and Y
    assert (both.first_x < both.first_y).mean() > 0.85


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_tier_prices_and_families(small: Demo) -> None:
    planted = small.planted
    prices = small.products[small.products.SONDERANF == ""].groupby("BASISMAT").agg(
        price=("LISTPREIS", lambda s: number(s).median()), family=("PRODH", "first")
    )
    prices["tier"] = prices.index.map(planted["product_tiers"])
    kinds = {f: v["kind"] for f, v in planted["families"].items()}
    assert set(kinds.values()) == {"core", "accessory", "consumable", "spare_part"}
    core = prices[prices.family.map(kinds) == "core"]
    by_tier = core.groupby(["family", "tier"]).price.median().unstack()
    ratio = by_tier.premium / by_tier.basic
    assert ratio.between(1.5, 2.2).all()
    assert (by_tier.standard / by_tier.basic).between(1.1, 2.5).all()


@pytest.mark.slow  # the small-scale export (~100k lines)
def test_segments_buy_their_preferred_families(small: Demo) -> None:
    sales = small.sales
    segment = dict(zip(small.customers.KUNNR + "/" + small.customers.KUNWE, small.customers.BRANCHE))
    kinds = {f: v["kind"] for f, v in small.planted["families"].items()}
    sales = sales.assign(segment=sales.bc.map(segment))
    sales = sales[sales.PRODH.map(kinds) == "core"]  # the machines, where the preference is undiluted
    for seg, fams in small.planted["segment_families"].items():
        own = sales.segment == seg
        a, b = sales.PRODH[own].isin(fams).mean(), sales.PRODH[~own].isin(fams).mean()
        assert (a / (1 - a)) / (b / (1 - b)) > 1.5, seg  # odds ratio of buying a preferred family


def test_catalog_variant_counts_are_heavy_tailed() -> None:
    catalog = generate_catalog(SCALES["medium"], np.random.default_rng(0), 780)
    counts = np.diff(catalog.variant_ptr)
    assert abs(counts.sum() - 200_000) < 2_000  # ~200k catalog variants at medium
    assert np.median(counts) <= 10  # most products: a handful of configurations
    assert counts.max() >= 1_000  # some: thousands


def test_parquet_parts_layout(tmp_path: Path) -> None:
    spec = dataclasses.replace(get_scale("tiny"), name="tiny-parquet", chunk_buying_centers=60, file_format="parquet")
    summary = write_demo_data(tmp_path, scale=spec, seed=5)
    parts = sorted((tmp_path / "order_lines").glob("*"))
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    table = pq.read_table(tmp_path / "order_lines")
    schema = {f.name: str(f.type) for f in table.schema}
    assert list(schema) == HEADER.split(";")
    assert schema["AUDAT"] == "date32[day]"
    assert {schema[c] for c in ("KWMENG", "NETPR", "NETWR")} == {"double"}
    assert {t for c, t in schema.items() if c not in ("AUDAT", "KWMENG", "NETPR", "NETWR")} == {"string"}
    df = table.to_pandas()
    planted = json.loads((tmp_path / "planted.json").read_text(encoding="utf-8"))
    assert len(df) == summary["lines_written"] == planted["totals"]["lines_written"]
    assert df.AUDAT.isna().sum() == planted["dirty_rows"]["bad_date"]
    assert df.KWMENG.isna().sum() == planted["dirty_rows"]["bad_quantity"]
    assert (df.KUNNR == "").sum() == planted["dirty_rows"]["empty_customer"]
    assert df.duplicated().sum() == planted["dirty_rows"]["duplicate"]
    assert df.VBELN[~df.VBELN.str.startswith("R")].nunique() == planted["totals"]["orders"]


def test_cli_writes_demo_data_and_rejects_unknown_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--out", str(tmp_path), "--scale", "tiny", "--seed", "3"]) == 0
    assert (tmp_path / "planted.json").exists() and (tmp_path / "order_lines" / "orders_2025.csv").exists()
    assert "synthetic" in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert main(["demo-data", "--out", str(tmp_path), "--scale", "huge"]) == 2
    with pytest.raises(UsageError, match="huge"):
        get_scale("huge")
