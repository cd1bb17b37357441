"""End to end on the ``small`` demo data (seed 42): the pipeline recovers the planted truth
and its real tables never break a business rule.

Every expectation comes from ``planted.json`` or from the generated ERP export itself, read
here with plain pandas (``InputTruth``), never from the implementation's own output. The
pipeline runs once per session (``demo_small_run`` in ``conftest.py``).

Observed on seed 42 (2 cores; also checked on data seeds 7, 123, 2024 and model seeds 1, 7
before choosing the thresholds) are noted beside each threshold.
"""

from __future__ import annotations

import glob
import logging
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xsell.schema import ALL_COUNTRIES, TABLES

pytestmark = pytest.mark.slow  # the session's demo pipeline run (conftest.demo_small_run)

MIN_CORE_ORDERS = 10
"""Planted pairs count only when their core (or up-sell ``from``) product sold in this many orders."""
TOP = 10


# -- the truth, from planted.json and the raw export ------------------------------------------
def _read_sap(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)


def _sap_number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")


def _sap_date(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="%d.%m.%Y", errors="coerce")


@dataclass(frozen=True)
class InputTruth:
    """Facts read straight from the generated export (documented in its README.md)."""

    planted: dict
    master: pd.DataFrame
    """products.csv: one row per variant, plus ``price``, ``until``, ``custom``."""
    sales: pd.DataFrame
    """Valid sales lines: ``order, bc, country, variant, product, date, value``."""
    returns: pd.DataFrame
    """Valid return lines (``R...`` documents): ``bc, product, qty`` (qty > 0 returned)."""

    @classmethod
    def read(cls, data: Path, planted: dict) -> InputTruth:
        master = _read_sap(data / "products.csv")
        master = master.assign(
            price=_sap_number(master["LISTPREIS"]), until=_sap_date(master["AUSLAUF"]), custom=master["SONDERANF"] == "X"
        )
        raw = pd.concat([_read_sap(f) for f in sorted(glob.glob(str(data / "order_lines" / "*.csv")))], ignore_index=True)
        raw = raw.drop_duplicates()  # exact duplicate lines are one line
        qty, price, date = _sap_number(raw["KWMENG"]), _sap_number(raw["NETPR"]), _sap_date(raw["AUDAT"])
        product = raw["MATNR"].map(master.set_index("MATNR")["BASISMAT"])
        valid = (
            ~raw["VBELN"].str.startswith("R") & product.notna() & (raw["KUNNR"] != "")
            & date.notna() & (qty > 0) & (price >= 0)
        )  # fmt: skip
        sales = pd.DataFrame(
            {
                "order": raw["VBELN"],
                "bc": raw["KUNNR"] + "/" + raw["KUNWE"],
                "country": raw["LAND1"],
                "variant": raw["MATNR"],
                "product": product,
                "date": date,
                "value": _sap_number(raw["NETWR"]),
            }
        )[valid.to_numpy()]
        returned = (
            raw["VBELN"].str.startswith("R") & product.notna() & (raw["KUNNR"] != "") & date.notna() & (price >= 0)
        )  # fmt: skip
        returns = pd.DataFrame({"bc": raw["KUNNR"] + "/" + raw["KUNWE"], "product": product, "qty": qty.abs()})[returned.to_numpy()]
        sales = sales.assign(qty=qty[valid.to_numpy()].to_numpy())
        return cls(planted, master, sales.reset_index(drop=True), returns.reset_index(drop=True))

    @cached_property
    def today(self) -> pd.Timestamp:
        """The documented default ``recommend.today``: last order date + 1 day."""
        return self.sales["date"].max() + pd.Timedelta(days=1)

    @cached_property
    def orders(self) -> pd.Series:
        """Distinct orders per product."""
        return self.sales.groupby("product")["order"].nunique()

    @cached_property
    def variant_product(self) -> pd.Series:
        return self.master.set_index("MATNR")["BASISMAT"]

    @cached_property
    def family(self) -> pd.Series:
        return self.master.drop_duplicates("BASISMAT").set_index("BASISMAT")["PRODH"]

    @cached_property
    def typical_price(self) -> pd.Series:
        """Median list price of the standard (not custom-made) variants."""
        return self.master[~self.master["custom"]].groupby("BASISMAT")["price"].median()

    @cached_property
    def custom_variants(self) -> set[str]:
        return set(self.master.loc[self.master["custom"], "MATNR"])

    @cached_property
    def discontinued_variants(self) -> set[str]:
        m = self.master
        return set(m.loc[(m["STATUS"] == "discontinued") | (m["until"] <= self.today), "MATNR"])

    @cached_property
    def discontinued_products(self) -> set[str]:
        """Planted as discontinued on or before ``today``."""
        return {p for p, d in self.planted["discontinued"].items() if pd.Timestamp(d["date"]) <= self.today}

    @cached_property
    def variant_countries(self) -> pd.Series:
        """Variant -> frozenset of its assortment countries (empty = everywhere)."""
        sep = self.planted["assortment_separator"]
        return self.master.set_index("MATNR")["SORTIMENT"].map(lambda s: frozenset(c for c in s.split(sep) if c))

    @cached_property
    def complements(self) -> pd.DataFrame:
        cp = pd.DataFrame(self.planted["complement_pairs"], columns=["core", "partner", "kind"])
        return cp.assign(core_orders=cp["core"].map(self.orders).fillna(0).astype(int))

    @cached_property
    def sold_complements(self) -> pd.DataFrame:
        """Planted complement pairs whose core sold in at least ``MIN_CORE_ORDERS`` orders."""
        return self.complements[self.complements["core_orders"] >= MIN_CORE_ORDERS].reset_index(drop=True)

    @cached_property
    def upgrades(self) -> pd.DataFrame:
        up = pd.DataFrame(self.planted["upgrade_pairs"], columns=["source", "target"])
        return up.assign(source_orders=up["source"].map(self.orders).fillna(0).astype(int))

    def allowed(self, country: pd.Series, product: pd.Series) -> np.ndarray:
        """True where the planted assortment lets ``product`` be sold in ``country``."""
        restricted = self.planted["country_restricted"]
        return np.array([p not in restricted or c in restricted[p] for c, p in zip(country, product)], dtype=bool)


@pytest.fixture(scope="module")
def run(demo_small_run):
    return demo_small_run


@pytest.fixture(scope="module")
def truth(run) -> InputTruth:
    return InputTruth.read(run.data, run.planted)


def _pairs(frame: pd.DataFrame, a: str, b: str) -> set[tuple[str, str]]:
    return set(zip(frame[a].astype(str), frame[b].astype(str)))


def _share(pairs: pd.DataFrame, found: set[tuple[str, str]], a: str = "core", b: str = "partner") -> float:
    return float(np.mean([(x, y) in found for x, y in zip(pairs[a], pairs[b])]))


def _rec_cols(table: str) -> tuple[str, str, str]:
    """(anchor product column, recommended product column, recommended variant column)."""
    if table == "buying_center_suggestions":
        return "anchor_product_id", "product_id", "variant_id"
    return "product_id", "rec_product_id", "rec_variant_id"


def _group_keys(table: str) -> list[str]:
    return ["buying_center_id"] if table == "buying_center_suggestions" else ["country", "product_id"]


# -- sanity of the truth itself -----------------------------------------------------------------
def test_the_truth_is_usable(run, truth):
    assert len(truth.sold_complements) >= 300  # 611 of 837 planted pairs on seed 42
    assert (truth.upgrades["source_orders"] >= MIN_CORE_ORDERS).sum() >= 50  # 85 of 102
    assert run.tables_meta["today"] == str(truth.today.date())  # the tables used the documented default


# -- issue 3: rules and models recover the planted complements ---------------------------------
def _fitted(run, model: str):
    """What recommend reads: the train run's saved model; a model off by default (ALS) fitted on
    the run's canonical lines as ``xsell train`` fits it when enabled."""
    from xsell.interactions.build import build_training_data
    from xsell.io.layout import Workdir
    from xsell.models.registry import build_model
    from xsell.steps.recommend import load_models

    saved = load_models(run.train.run_dir)
    if model in saved:
        return saved[model]
    assert model not in run.cfg.models.enabled
    wd = Workdir(run.cfg.workdir)
    lines, customers = pd.read_parquet(wd.order_lines), pd.read_parquet(wd.customers)
    data = build_training_data(lines, customers, run.cfg.interactions, level=run.cfg.models.level)
    return build_model(model, run.cfg.models, run.cfg.rules).fit(data)


@pytest.mark.parametrize(
    ("model", "threshold"),
    [
        ("rules", 0.80),  # observed 0.877 (0.854-0.881 over data seeds 7, 123, 2024)
        ("item_knn", 0.75),  # observed 0.861 (0.775-0.861)
        ("als", 0.60),  # observed 0.714 (0.675-0.714; 0.700-0.714 over model seeds 1, 7)
        ("ease", 0.80),
        ("rp3beta", 0.75),
    ],
)
def test_item_to_item_top10_holds_planted_complements(run, truth, model, threshold):
    fitted = _fitted(run, model)
    pairs = truth.sold_complements
    cores = sorted(set(pairs["core"]))
    similar = fitted.similar_items(cores, n=TOP).to_frame("item_id", "rec_item_id")
    table = fitted.similarity_table(cores, n=TOP)
    assert _pairs(table, "item_id", "rec_item_id") == _pairs(similar, "item_id", "rec_item_id")
    share = _share(pairs, _pairs(similar, "item_id", "rec_item_id"))
    assert share >= threshold, f"{model}: {share:.3f} of {len(pairs)} planted pairs in the top {TOP}"


# -- issue 4: the best model clearly beats popularity ------------------------------------------
def test_best_model_beats_popularity_on_cross_sell_ndcg(run):
    from xsell.evaluation.config import BASELINES

    m = run.evaluation.metrics
    ndcg = m[(m["target"] == "cross_sell") & (m["country"] == ALL_COUNTRIES) & (m["metric"] == "ndcg") & (m["k"] == 10)]
    ndcg = ndcg.set_index("model")["value"]
    baseline = ndcg[list(BASELINES)].max()
    learned = ndcg.drop(list(BASELINES))
    assert baseline > 0
    # observed: blend 0.137 vs popularity_segment 0.085 (1.60x)
    assert learned.max() >= 1.3 * baseline, ndcg.to_dict()
    assert run.evaluation.champion.model == learned.idxmax()


# -- issue 5: planted pairs dominate the tables ------------------------------------------------
def test_cross_sell_top10_is_dominated_by_planted_partners(run, truth):
    cs = run.tables["cross_sell"]
    overall = cs[cs["country"] == ALL_COUNTRIES]
    pairs = truth.sold_complements
    found = _pairs(overall, "product_id", "rec_product_id")
    share = _share(pairs, found)
    assert share >= 0.9, share  # observed 0.964 (0.943-0.964 over data seeds 7, 123, 2024)
    per_core = pairs.assign(hit=[(a, b) in found for a, b in zip(pairs["core"], pairs["partner"])])
    assert (per_core.groupby("core")["hit"].mean() >= 0.5).mean() >= 0.9  # observed 0.98 of the cores

    # top rows: a core has 1-3 planted partners, so its top min(3, partners) rows should be them
    planted = _pairs(truth.complements, "core", "partner")
    n_partners = truth.complements.groupby("core").size()
    rows = overall[overall["product_id"].isin(set(pairs["core"]))]
    top = rows[rows["rank"] <= np.minimum(3, rows["product_id"].map(n_partners))]
    top_share = float(np.mean([(a, b) in planted for a, b in zip(top["product_id"], top["rec_product_id"])]))
    assert top_share >= 0.85, top_share  # observed 0.931 (0.905-0.931)
    first = rows[rows["rank"] == 1]
    first_share = float(np.mean([(a, b) in planted for a, b in zip(first["product_id"], first["rec_product_id"])]))
    assert first_share >= 0.85, first_share  # observed 0.969 (0.947-0.969)


def test_up_sell_is_dominated_by_planted_upgrades(run, truth):
    up = truth.upgrades[truth.upgrades["source_orders"] >= MIN_CORE_ORDERS]
    overall = run.tables["up_sell"]
    overall = overall[overall["country"] == ALL_COUNTRIES]
    hits = up.merge(overall, left_on=["source", "target"], right_on=["product_id", "rec_product_id"], how="left")
    assert hits["rank"].notna().mean() >= 0.95  # observed 1.0 (85 pairs)
    assert (hits["rank"] <= 3).mean() >= 0.9  # observed 1.0
    assert (hits["rank"] == 1).mean() >= 0.7  # observed 0.871 (0.871-0.966)


# -- issue 5: no business rule is ever broken on the real tables -------------------------------
ALL_TABLES = tuple(TABLES)


@pytest.mark.parametrize("table", ALL_TABLES)
def test_column_contract(run, table):
    frame = run.tables[table]
    contract = list(TABLES[table])
    assert list(frame.columns[: len(contract)]) == contract  # extra columns only at the end
    assert len(frame) > 0
    assert frame["rank"].dtype == np.int64
    assert pd.api.types.is_float_dtype(frame["score"])
    assert frame[contract].drop(columns=["support", "confidence", "lift", "price_ratio"], errors="ignore").notna().all().all()


@pytest.mark.parametrize("table", ALL_TABLES)
def test_ranks_contiguous_and_top_n(run, table):
    frame = run.tables[table]
    keys = _group_keys(table)
    limit = run.cfg.recommend.top_n_buying_center if table == "buying_center_suggestions" else run.cfg.recommend.top_n_product
    size = frame.groupby(keys)["rank"].transform("size")
    expected = frame.groupby(keys).cumcount() + 1  # rows must come ordered by rank, ranks 1..n
    assert (frame["rank"].to_numpy() == expected.to_numpy()).all()
    assert size.max() <= limit
    assert not frame.duplicated([*keys, _rec_cols(table)[1]]).any()
    ordered = frame.groupby(keys)["score"].diff().dropna()
    if "source" in frame:  # curated pins may sit above higher-scored rows; none in this run
        assert (frame["source"] != "curated").all()
    assert (ordered <= 1e-12).all(), "scores must not rise with the rank"


@pytest.mark.parametrize("table", ALL_TABLES)
def test_no_self_links_or_other_variants(run, truth, table):
    frame = run.tables[table]
    anchor, rec, variant = _rec_cols(table)
    assert (frame[anchor] != frame[rec]).all()
    # the named variant belongs to the recommended product (so never another variant of the anchor)
    assert (frame[variant].map(truth.variant_product) == frame[rec]).all()


def test_cross_sell_never_same_family(run, truth):
    cs = run.tables["cross_sell"]
    assert (cs["product_id"].map(truth.family) != cs["rec_product_id"].map(truth.family)).all()


def test_up_sell_same_family_price_window_no_cycles(run, truth):
    us = run.tables["up_sell"]
    rc = run.cfg.recommend
    assert (us["product_id"].map(truth.family) == us["rec_product_id"].map(truth.family)).all()
    ratio = us["rec_product_id"].map(truth.typical_price) / us["product_id"].map(truth.typical_price)
    np.testing.assert_allclose(us["price_ratio"], ratio, rtol=1e-9)
    assert ratio.between(rc.upsell_min_price_ratio, rc.upsell_max_price_ratio).all()
    for country, rows in us.groupby("country"):
        edges = _pairs(rows, "product_id", "rec_product_id")
        assert not {(b, a) for a, b in edges} & edges, f"2-cycle in up_sell of {country}"


@pytest.mark.parametrize("table", ALL_TABLES)
def test_nothing_discontinued_or_custom_made(run, truth, table):
    frame = run.tables[table]
    _, rec, variant = _rec_cols(table)
    assert not set(frame[rec]) & truth.discontinued_products
    assert not set(frame[variant]) & truth.discontinued_variants
    assert not set(frame[variant]) & truth.custom_variants
    assert frame[variant].isin(truth.master["MATNR"]).all()  # a real variant of the master


@pytest.mark.parametrize("table", ALL_TABLES)
def test_assortment_respected_per_country(run, truth, table):
    frame = run.tables[table]
    _, rec, variant = _rec_cols(table)
    local = frame[frame["country"] != ALL_COUNTRIES]
    assert len(local) > 0
    assert truth.allowed(local["country"], local[rec]).all()
    countries = local[variant].map(truth.variant_countries)
    assert all(not allowed or c in allowed for c, allowed in zip(local["country"], countries))
    restricted = set(truth.planted["country_restricted"])
    # the check had something to check: restricted products in the rows, or rows the rule removed
    assert local[rec].isin(restricted).any() or run.tables_meta["rules_applied_by_table"][table]["not_in_assortment"] > 0


def test_buying_centers_are_never_offered_what_they_already_own(run, truth):
    """A cross-sell suggestion is new to the buying center: nothing it bought (net of returns)."""
    bought = truth.sales.groupby(["bc", "product"])["qty"].sum()
    returned = truth.returns.groupby(["bc", "product"])["qty"].sum().reindex(bought.index, fill_value=0)
    net = bought - returned
    owned = set(net[net > 0].index)
    assert len(owned) > 10_000 and (net <= 0).sum() > 10  # some purchases were returned: those may come back
    bcs = run.tables["buying_center_suggestions"]
    assert not _pairs(bcs, "buying_center_id", "product_id") & owned
    assert run.recommend.rules_applied["already_bought"] >= 0


def test_expected_value_is_score_times_typical_line_value(run, truth):
    bcs = run.tables["buying_center_suggestions"]
    positive = truth.sales[truth.sales["value"] > 0]
    local = positive.groupby(["country", "product"])["value"].median()
    overall = positive.groupby("product")["value"].median()
    keys = pd.MultiIndex.from_arrays([bcs["country"], bcs["product_id"]])
    value = pd.Series(local.reindex(keys).to_numpy(), index=bcs.index).fillna(bcs["product_id"].map(overall))
    assert (bcs["expected_value"] >= 0).all() and np.isfinite(bcs["expected_value"]).all()
    np.testing.assert_allclose(bcs["expected_value"], bcs["score"] * value, rtol=1e-9)


@pytest.mark.parametrize("table", ALL_TABLES)
def test_reasons_name_the_evidence(run, table):
    reasons = run.tables[table]["reason"]
    assert (reasons.str.strip() != "").all()
    without = reasons[~reasons.str.contains(r"\d")]
    assert without.empty, f"{len(without)} reasons without a number, e.g. {without.iloc[0]!r}"


@pytest.mark.parametrize("country", [ALL_COUNTRIES, "DE"])
def test_cross_sell_evidence_matches_the_orders(run, truth, country):
    """support / confidence / lift and the order count in ``reason`` recount from the raw lines."""
    cs = run.tables["cross_sell"]
    rows = cs[cs["country"] == country]
    sales = truth.sales if country == ALL_COUNTRIES else truth.sales[truth.sales["country"] == country]
    orders_of = sales.groupby("product")["order"].agg(set)
    n_orders = sales["order"].nunique()
    together = np.array([len(orders_of.get(a, set()) & orders_of.get(b, set())) for a, b in zip(rows["product_id"], rows["rec_product_id"])])
    per_a = rows["product_id"].map(orders_of.map(len)).to_numpy(dtype=float)
    per_b = rows["rec_product_id"].map(orders_of.map(len)).to_numpy(dtype=float)
    # basket evidence of pairs never ordered together is empty (NaN), not 0
    seen = np.where(together > 0, 1.0, np.nan)
    assert (together == 0).any() and rows.loc[together == 0, ["support", "confidence", "lift"]].isna().all().all()
    np.testing.assert_allclose(rows["support"], seen * together / n_orders, rtol=1e-9)
    np.testing.assert_allclose(rows["confidence"], seen * together / per_a, rtol=1e-9)
    np.testing.assert_allclose(rows["lift"], seen * together / per_a / (per_b / n_orders), rtol=1e-9)
    # reasons: "bought together with X in N orders; M buying centers buy both (...)", or
    # without a common order "M buying centers buy both this and X"; never a model name
    stated = rows["reason"].str.extract(r" in (\d+) orders?; ")[0]
    said = stated.notna().to_numpy()
    assert said.any()
    assert (stated[said].astype(int).to_numpy() == together[said]).all()
    assert (together[~said] == 0).all()
    buyers_of = sales.groupby("product")["bc"].agg(set)
    both = np.array([len(buyers_of.get(a, set()) & buyers_of.get(b, set())) for a, b in zip(rows["product_id"], rows["rec_product_id"])])
    stated = rows["reason"].str.extract(r"(?:^|; )(\d+) (?:[A-Z]{2} )?buying centers? buys? both")[0]
    said = stated.notna().to_numpy()
    assert said.any()  # the rest: no common buyer, "buyers of X have similar purchase patterns"
    assert (stated[said].astype(int).to_numpy() == both[said]).all()
    assert (both[~said] == 0).all()
    assert not rows["reason"].str.contains("|".join(sorted(set(rows["source"].str.split("+").explode())))).any()


# -- curated links on the real tables --------------------------------------------------------
def _pin_target(truth: InputTruth, product: str, learned: set[str]) -> str:
    """The most ordered product that may be shown everywhere, of another family than ``product``
    and not among its learned links (so the pin is visible as a change)."""
    candidates = truth.orders.sort_values(ascending=False, kind="stable").index
    banned = learned | truth.discontinued_products | set(truth.planted["country_restricted"]) | {product}
    return next(p for p in candidates if p not in banned and truth.family[p] != truth.family[product])


def test_curated_links_pin_block_and_expire(run, truth, tmp_path, caplog):
    from xsell.io.layout import Workdir
    from xsell.steps.recommend import run_recommend

    base = run.tables["cross_sell"]
    overall = base[base["country"] == ALL_COUNTRIES]
    cores = truth.sold_complements.drop_duplicates("core").sort_values(["core_orders", "core"], ascending=[False, True])["core"]
    pinned_for, blocked_for, expired_for = [c for c in cores if c in set(overall["product_id"])][:3]
    learned = overall.groupby("product_id")["rec_product_id"].agg(set)
    pin = _pin_target(truth, pinned_for, learned[pinned_for])
    block = overall.loc[(overall["product_id"] == blocked_for) & (overall["rank"] == 1), "rec_product_id"].item()
    stale = _pin_target(truth, expired_for, learned[expired_for])
    yesterday = (truth.today - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    curated = tmp_path / "curated_links.csv"
    curated.write_text(
        "product_id,rec_product_id,kind,action,note,valid_until\n"
        f"{pinned_for},{pin},cross_sell,pin,launch bundle 2026,\n"
        f"{blocked_for},{block},cross_sell,block,not compatible,\n"
        f"{expired_for},{stale},cross_sell,pin,old promotion,{yesterday}\n",
        encoding="utf-8",
    )
    workdir = tmp_path / "work"
    shutil.copytree(run.cfg.workdir, workdir, ignore=shutil.ignore_patterns("tables"))
    cfg = run.config(workdir=str(workdir), recommend={"curated_links": str(curated)})
    with caplog.at_level(logging.WARNING):
        run_recommend(cfg, models_dir=run.train.run_dir)
    new = pd.read_parquet(Workdir(workdir).table("cross_sell"))

    # the pin is first in every row set of its product (the target is sold everywhere), from curated
    rows = new[new["product_id"] == pinned_for]
    first = rows[rows["rank"] == 1]
    assert set(first["country"]) == set(base.loc[base["product_id"] == pinned_for, "country"])
    assert (first["rec_product_id"] == pin).all() and (first["source"] == "curated").all()
    assert first["reason"].str.contains("launch bundle 2026").all()
    assert ((new["source"] == "curated") == ((new["product_id"] == pinned_for) & (new["rec_product_id"] == pin))).all()
    before = overall[overall["product_id"] == pinned_for].sort_values("rank")["rec_product_id"].tolist()
    after = rows[rows["country"] == ALL_COUNTRIES].sort_values("rank")["rec_product_id"].tolist()
    assert after == [pin, *before[: TOP - 1]]  # the learned links follow in their order

    # the blocked pair is gone everywhere; the product's other links move up
    assert not ((new["product_id"] == blocked_for) & (new["rec_product_id"] == block)).any()
    before = overall[overall["product_id"] == blocked_for].sort_values("rank")["rec_product_id"].tolist()
    after = new[(new["product_id"] == blocked_for) & (new["country"] == ALL_COUNTRIES)].sort_values("rank")["rec_product_id"].tolist()
    assert after[: len(before) - 1] == before[1:]

    # the expired pin is ignored, with a warning naming it
    assert not ((new["product_id"] == expired_for) & (new["rec_product_id"] == stale)).any()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("expired" in w and f"{expired_for}->{stale}" in w for w in warnings), warnings

    # every other product keeps exactly its rows
    untouched = ~base["product_id"].isin([pinned_for, blocked_for])
    pd.testing.assert_frame_equal(
        new[~new["product_id"].isin([pinned_for, blocked_for])].reset_index(drop=True), base[untouched].reset_index(drop=True)
    )


def test_personal_suggestions_state_how_many_local_buying_centers_bought_it(run, truth):
    bcs = run.tables["buying_center_suggestions"]
    stated = bcs["reason"].str.extract(r"like yours buy this \((\d+) buying centers? in ([A-Z]{2}) bought it\)$")
    said = stated[0].notna()
    assert said.any()
    assert not bcs["reason"].str.contains("model").any()  # model names stay in the source column
    local = truth.sales.groupby(["country", "product"])["bc"].nunique()
    rows = bcs[said]
    expected = local.reindex(pd.MultiIndex.from_arrays([rows["country"], rows["product_id"]])).fillna(0).astype(int).to_numpy()
    assert (stated.loc[said, 1] == rows["country"]).all()
    assert (stated.loc[said, 0].astype(int).to_numpy() == expected).all()
