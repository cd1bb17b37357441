"""Monitoring (issue 15): uptake of published suggestions on the order lines that came after them.

Two levels:

- the pure stage (``xsell.monitor.uptake``) on a small history built here, where every number is
  worked out by hand: rank buckets, the window's edges, returns, the popularity counterfactual
  (net of returns, owned products skipped, business rules, as many as suggested), the link rules
  (same day counts, before does not, the country's rows before the ALL rows, owned products);
- the real thing on the small demo data: published at a cutoff with models trained before it,
  then fed the later orders and measured through the CLI; every number of
  ``uptake.csv`` for one country is recounted here in plain pandas from the order lines, the
  counterfactual included; the next manifest and ``xsell links review``. (The ``monitor`` stage
  of ``nightly`` and its MLflow run, linked to the champion's version: ``test_pipelines.py``.)
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xsell.monitor.uptake import ALL, COUNTERFACTUAL, LEARNED, UPTAKE_COLUMNS, measure, measurement_window
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import build_context

E = pd.Timestamp("2025-01-31")
"""Data end of the hand-made run; a 30-day window is Feb 1 .. Mar 2."""
COUNTRY = {"B1": "DE", "B2": "DE", "B3": "DE", "B4": "AT"}


def _line(bc: str, product: str, day: str, value: float = 10.0, *, returned: bool = False) -> dict:
    return {
        "order_id": f"{'R' if returned else 'O'}-{bc}-{product}-{day}", "order_line": "10", "order_date": pd.Timestamp(day),
        "buying_center_id": bc, "customer_id": bc, "country": COUNTRY[bc], "variant_id": f"V-{product}", "product_id": product,
        "quantity": -1.0 if returned else 1.0, "unit_price": value, "net_value": -value if returned else value, "currency": "EUR",
        "description": "", "is_custom": False, "is_return": returned, "source_file": "hand", "source_row": 1,
    }  # fmt: skip


HISTORY = [
    _line("B1", "H1", "2024-11-02"),
    _line("B2", "H1", "2024-11-03"), _line("B2", "H2", "2024-11-03"), _line("B2", "H3", "2024-12-01"), _line("B2", "H4", "2024-12-01"),
    _line("B3", "H1", "2024-12-05"), _line("B3", "H2", "2024-12-05"),
    _line("B3", "H3", "2024-12-06"), _line("B3", "H3", "2024-12-20", returned=True),  # returned: B3 does not own H3
    _line("B3", "Y1", "2025-01-31"),  # the data end's own day still is history
    _line("B4", "A1", "2025-01-10"),
]  # fmt: skip
LATER = [
    _line("B1", "S01", "2025-02-01", 5.0), _line("B1", "S03", "2025-02-05", 100.0), _line("B1", "S03", "2025-02-20", 50.0),
    _line("B1", "S04", "2025-02-10", 30.0), _line("B1", "S10", "2025-03-02", 20.0),  # the window's last day
    _line("B1", "S11", "2025-03-03", 99.0),  # one day too late
    _line("B1", "S12", "2025-02-07", 7.0, returned=True),  # a return is no purchase
    _line("B1", "H4", "2025-02-15", 8.0),  # what the counterfactual suggested
    _line("B4", "T2", "2025-02-03", 60.0), _line("B4", "H1", "2025-02-04", 9.0),
    # links: X1 -> Y1 the same day counts; Y2 before X1 does not
    _line("B1", "X1", "2025-02-10"), _line("B1", "Y1", "2025-02-10", 40.0), _line("B1", "Y2", "2025-02-05"),
    _line("B2", "X2", "2025-02-03"), _line("B2", "Y1", "2025-02-08", 11.0), _line("B2", "Y3", "2025-02-09"),
    _line("B4", "X2", "2025-02-06"), _line("B4", "Y3", "2025-02-07", 12.0),
    _line("B3", "X1", "2025-02-02"),  # B3 owned Y1 at the data end: X1 -> Y1 is no suggestion for it
]  # fmt: skip
LINES = pd.DataFrame(HISTORY + LATER)
CUSTOMERS = pd.DataFrame({"buying_center_id": list(COUNTRY), "customer_id": list(COUNTRY), "country": list(COUNTRY.values()), "segment": ""})
PRODUCT_IDS = ["H1", "H2", "H3", "H4", "A1", "X1", "X2", "Y1", "Y2", "Y3", "T1", "T2", *[f"S{i:02d}" for i in range(1, 13)]]
PRODUCTS = pd.DataFrame(
    {
        "variant_id": [f"V-{p}" for p in PRODUCT_IDS], "product_id": PRODUCT_IDS, "family": "F", "list_price": 10.0,
        "status": ["discontinued" if p == "H2" else "active" for p in PRODUCT_IDS], "discontinued_on": pd.NaT,
        "countries": ["AT" if p == "A1" else "" for p in PRODUCT_IDS], "name": PRODUCT_IDS, "is_custom": False,
    }
)  # fmt: skip


def _suggestion(bc: str, rank: int, product: str, *, source: str = "item_knn", kind: str = "cross_sell") -> dict:
    return {"country": COUNTRY[bc], "customer_id": bc, "buying_center_id": bc, "rank": rank, "kind": kind, "product_id": product, "source": source}


SUGGESTIONS = pd.DataFrame(
    [_suggestion("B1", 1, "S01", source="curated"), _suggestion("B1", 2, "S02", kind="up_sell")]
    + [_suggestion("B1", r, f"S{r:02d}") for r in range(3, 13)]
    + [_suggestion("B4", 1, "T1"), _suggestion("B4", 2, "T2")]
)
CROSS_SELL = pd.DataFrame(
    {
        "country": ["ALL", "ALL", "DE", "ALL"], "product_id": ["X1", "X1", "X2", "X2"], "rank": [1, 2, 1, 1],
        "rec_product_id": ["Y1", "Y2", "Y1", "Y3"], "source": ["rules", "rules", "curated", "rules"],
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def hand_measured():
    window = measurement_window(E, LINES["order_date"].max(), 30)
    history = LINES[LINES["order_date"] <= E]
    ctx = build_context(history, PRODUCTS, RecommendConfig(), E + pd.Timedelta(days=1))
    tables = {"buying_center_suggestions": SUGGESTIONS, "cross_sell": CROSS_SELL}
    return measure("R1", tables, LINES, CUSTOMERS, ctx, RecommendConfig(), window)


def _values(uptake: pd.DataFrame, **where: str) -> dict[str, float]:
    """metric -> value of the one group ``where`` names (the other dimensions ALL)."""
    sel = uptake
    for dim in ("table", "country", "kind", "source", "rank_bucket"):
        sel = sel[sel[dim] == where.get(dim, ALL)]
    assert not sel["metric"].duplicated().any(), sel
    return dict(zip(sel["metric"], sel["value"]))


def test_window_edges():
    assert measurement_window(E, E, 90) is None  # nothing after the data end yet
    partial = measurement_window(E, pd.Timestamp("2025-02-10"), 90)
    assert partial.days_observed == 10 and not partial.complete
    full = measurement_window(E, pd.Timestamp("2026-01-01"), 90)
    assert full.days_observed == 90 and full.complete and full.observed_until == E + pd.Timedelta(days=90)


def test_suggestions_by_rank_bucket_worked_out_by_hand(hand_measured):
    u = hand_measured.uptake
    assert tuple(u.columns) == UPTAKE_COLUMNS and (u["run_id"] == "R1").all()
    table = "buying_center_suggestions"
    # B1: ranks 1-12; bought S01 (day 1, 5), S03 (day 5, 100 + 50), S04 (day 10, 30), S10 (day 30, the last
    # day, 20); S11 came a day late and S12 was a return. B4 (AT): ranks 1-2, bought T2 (day 3, 60).
    assert _values(u, table=table, country="DE", rank_bucket="1-3") == pytest.approx(
        {"suggested": 3, "bought": 2, "uptake": 2 / 3, "revenue": 155.0, "days_to_first_purchase": 3.0, "days_to_first_purchase_mean": 3.0}
    )
    assert _values(u, table=table, country="DE", rank_bucket="4-10") == pytest.approx(
        {"suggested": 7, "bought": 2, "uptake": 2 / 7, "revenue": 50.0, "days_to_first_purchase": 20.0, "days_to_first_purchase_mean": 20.0}
    )
    assert _values(u, table=table, country="DE", rank_bucket="11+") == pytest.approx({"suggested": 2, "bought": 0, "uptake": 0.0, "revenue": 0.0})
    assert _values(u, table=table) == pytest.approx(
        {"suggested": 14, "bought": 5, "uptake": 5 / 14, "revenue": 265.0, "days_to_first_purchase": 5.0,
         "days_to_first_purchase_mean": (1 + 5 + 10 + 30 + 3) / 5, "days_observed": 30}
    )  # fmt: skip
    # kind and source split the same rows: the curated pin (rank 1) against the learned rows of its bucket
    assert _values(u, table=table, kind="up_sell")["suggested"] == 1 and _values(u, table=table, kind="up_sell")["bought"] == 0
    assert _values(u, table=table, source="curated", rank_bucket="1-3") == pytest.approx(
        {"suggested": 1, "bought": 1, "uptake": 1.0, "revenue": 5.0, "days_to_first_purchase": 1.0, "days_to_first_purchase_mean": 1.0}
    )
    learned = _values(u, table=table, source=LEARNED, rank_bucket="1-3")  # B1's S02, S03 and B4's T1, T2
    assert (learned["suggested"], learned["bought"]) == (4, 2)
    assert _values(u, table=table, source="item_knn", country="AT")["bought"] == 1


def test_popularity_counterfactual_worked_out_by_hand(hand_measured):
    u = hand_measured.uptake
    # DE owners at the data end: H1 by B1, B2, B3; H2 by B2, B3 but discontinued; H3 by B2 only (B3
    # returned it); H4 by B2; Y1 by B3; A1 by B4 is sold in AT only. B1 owns H1: it gets H3, H4 and
    # Y1 (one owner each, in product id order), three of its twelve: nothing else is offerable in DE.
    # B4 (AT) owns A1: H1, then H3 (the overall order after its country's list), two as suggested.
    # Bought: B1 H4 (rank 2, day 15, 8) and Y1 (rank 3, day 10, 40), B4 H1 (rank 1, day 4, 9).
    cf = _values(u, table="buying_center_suggestions", source=COUNTERFACTUAL)
    assert cf == pytest.approx(
        {"suggested": 5, "bought": 3, "uptake": 0.6, "revenue": 57.0, "days_to_first_purchase": 10.0, "days_to_first_purchase_mean": 29 / 3}
    )
    assert _values(u, table="buying_center_suggestions", source=COUNTERFACTUAL, country="DE", kind="cross_sell", rank_bucket="1-3")["suggested"] == 3
    assert _values(u, table="buying_center_suggestions", source=COUNTERFACTUAL, country="AT")["bought"] == 1
    # the counterfactual is never part of what was published
    assert _values(u, table="buying_center_suggestions")["suggested"] == len(SUGGESTIONS)
    assert hand_measured.summary()["lift_over_popularity"] == pytest.approx((5 / 14) / 0.6)
    ranks = hand_measured.by_rank
    assert ranks[ranks["source"] == COUNTERFACTUAL][["rank", "suggested", "bought"]].values.tolist() == [[1, 2, 1], [2, 2, 1], [3, 1, 1]]


def test_links_worked_out_by_hand(hand_measured):
    u = hand_measured.uptake
    # pairs shown: B1 X1->Y1 (bought the same day, 40), B1 X1->Y2 (Y2 came before X1), B3 X1->Y2 (B3
    # already had Y1, so not X1->Y1), B2 X2->Y1 (its country's curated row, not the ALL row to Y3;
    # bought 5 days later, 11), B4 X2->Y3 (AT has no row for X2: the ALL row; bought a day later, 12)
    assert _values(u, table="cross_sell") == pytest.approx(
        {"suggested": 5, "bought": 3, "uptake": 0.6, "revenue": 63.0, "days_to_first_purchase": 1.0, "days_to_first_purchase_mean": 2.0, "days_observed": 30}
    )
    assert _values(u, table="cross_sell", country="DE")["suggested"] == 4 and _values(u, table="cross_sell", country="AT")["bought"] == 1
    assert _values(u, table="cross_sell", source="curated")["uptake"] == 1.0
    assert (_values(u, table="cross_sell", source=LEARNED)["suggested"], _values(u, table="cross_sell", source=LEARNED)["bought"]) == (4, 2)
    links = hand_measured.links.set_index(["product_id", "rec_product_id"])
    assert links[["suggested", "bought"]].to_dict("index") == {
        ("X1", "Y1"): {"suggested": 1, "bought": 1}, ("X1", "Y2"): {"suggested": 2, "bought": 0},
        ("X2", "Y1"): {"suggested": 1, "bought": 1}, ("X2", "Y3"): {"suggested": 1, "bought": 1},
    }  # fmt: skip
    assert "up_sell" not in set(u["table"])  # a table the run did not publish is not measured


# -- the real thing on the small demo data ---------------------------------------------------
WINDOW_DAYS = 90
COUNTRY_CHECKED = "GB"


def _cli(*argv: str) -> tuple[int, str]:
    from xsell.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(argv))
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def monitored(demo_small_run, tmp_path_factory):
    """The demo history cut 90 days before its end; item-KNN and rules trained on the cut history;
    their tables published with curated pins; then the full history in the workdir and
    ``xsell monitor`` run twice, a second publish and ``xsell links review``."""
    from xsell.io.layout import Workdir
    from xsell.steps.publish import run_publish
    from xsell.steps.recommend import export_links_review, run_recommend
    from xsell.steps.train import run_train

    root = tmp_path_factory.mktemp("monitor")
    full = pd.read_parquet(Workdir(demo_small_run.cfg.workdir).order_lines)
    cutoff = full["order_date"].max() - pd.Timedelta(days=WINDOW_DAYS - 1)
    cut = full[full["order_date"] < cutoff]
    # curated pins between the most widely bought products of the cut history
    top = cut[~cut["is_return"]].groupby("product_id")["buying_center_id"].nunique().sort_values(ascending=False).index[:6]
    curated = root / "curated_links.csv"
    pd.DataFrame({"product_id": top[0::2], "rec_product_id": top[1::2], "kind": "cross_sell", "action": "pin"}).to_csv(curated, index=False)
    cfg = demo_small_run.config(
        workdir=str(root / "work"),
        models={"dir": str(root / "models"), "enabled": ["item_knn", "rules"]},
        publish={"outputs": str(root / "outputs"), "formats": ["parquet"], "shop_formats": []},
        recommend={"curated_links": str(curated)},
        monitor={"window_days": WINDOW_DAYS},
    )  # MLflow stays off as in demo_small_run: test_pipelines tracks a measurement against a real champion
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    wd = Workdir(cfg.workdir)
    wd.canonical.mkdir(parents=True)
    cut.to_parquet(wd.order_lines, index=False)
    for src, dst in ((Workdir(demo_small_run.cfg.workdir).products, wd.products), (Workdir(demo_small_run.cfg.workdir).customers, wd.customers)):
        dst.write_bytes(src.read_bytes())
    train = run_train(cfg)
    run_recommend(cfg, models_dir=train.run_dir, personal_model="item_knn")
    published = run_publish(cfg)
    nothing_yet = _cli("monitor", "--config", str(config))
    full.to_parquet(wd.order_lines, index=False)  # the later orders arrive
    first = _cli("monitor", "--config", str(config))
    second = _cli("monitor", "--config", str(config))
    republished = run_publish(cfg)
    with contextlib.redirect_stdout(io.StringIO()):
        review = pd.read_csv(export_links_review(cfg, root / "links_review.csv"), dtype={"product_id": str, "rec_product_id": str})
    folder = Path(cfg.publish.outputs) / "monitoring" / published.run_id
    return {
        "cfg": cfg, "config": config, "full": full, "run": published, "nothing_yet": nothing_yet,
        "first": first, "second": second, "republished": republished, "review": review, "folder": folder,
        "manifest": json.loads((published.run_dir / "manifest.json").read_text()),
        "uptake": pd.read_csv(folder / "uptake.csv", keep_default_na=False, dtype={c: str for c in UPTAKE_COLUMNS if c != "value"}),
    }  # fmt: skip


@pytest.mark.slow  # the session's demo pipeline run
def test_a_run_without_later_orders_says_so_and_exits_0(monitored, capsys):
    rc, out = monitored["nothing_yet"]
    data_end = monitored["manifest"]["data_end"]
    assert rc == 0
    assert out.strip() == f"run {monitored['run'].run_id}: no order lines after its data end {data_end} yet (newest order {data_end}); nothing to measure"
    rc, out = _cli("monitor", "--config", str(monitored["config"]), "--run", "20990101T000000Z-0000000")
    assert rc == 2 and out == "" and "unknown run '20990101T000000Z-0000000'" in capsys.readouterr().err


@pytest.mark.slow  # the session's demo pipeline run
def test_the_manifest_names_the_data_end_and_the_window_follows_it(monitored):
    full, manifest = monitored["full"], monitored["manifest"]
    data_end = pd.Timestamp(manifest["data_end"])
    assert data_end == full.loc[full["order_date"] <= data_end, "order_date"].max()
    assert (full["order_date"] > data_end).sum() > 0  # the lines after it are what is measured
    rc, out = monitored["first"]
    assert rc == 0 and out.startswith(f"run {monitored['run'].run_id} (data end {data_end.date()}, 90 of 90 days observed): ")
    summary = json.loads((monitored["folder"] / "summary.json").read_text())
    assert summary["complete"] and summary["observed_until"] == str((data_end + pd.Timedelta(days=90)).date())
    for name in ("uptake.csv", "link_uptake.csv", "uptake_by_rank.png", "summary.json"):
        assert (monitored["folder"] / name).is_file()
    assert (monitored["folder"].parent / "uptake_over_runs.png").is_file()


def _bucket(rank: pd.Series) -> pd.Series:
    return pd.Series(np.where(rank <= 3, "1-3", np.where(rank <= 10, "4-10", "11+")), index=rank.index)


def _expected_groups(rows: pd.DataFrame, sources: list[str]) -> dict[tuple[str, str, str], dict[str, float]]:
    """(kind, source, rank_bucket) -> metrics of the recounted rows ``rows`` (one country): every
    kind / source / bucket and ALL; ``sources`` the source values to report besides ALL."""
    out = {}
    for kind in [ALL, *sorted(rows["kind"].unique())]:
        for source in [ALL, *sources]:
            for bucket in [ALL, "1-3", "4-10", "11+"]:
                sel = rows
                if kind != ALL:
                    sel = sel[sel["kind"] == kind]
                if source == LEARNED:
                    sel = sel[sel["source"] != "curated"]
                elif source != ALL:
                    sel = sel[sel["source"] == source]
                if bucket != ALL:
                    sel = sel[_bucket(sel["rank"]) == bucket]
                if sel.empty:
                    continue
                days = sel.loc[sel["bought"], "days"]
                metrics = {"suggested": len(sel), "bought": int(sel["bought"].sum()), "uptake": sel["bought"].mean(), "revenue": sel["revenue"].sum()}
                if len(days):
                    metrics.update(days_to_first_purchase=days.median(), days_to_first_purchase_mean=days.mean())
                out[(kind, source, bucket)] = metrics
    return out


def _measured_groups(uptake: pd.DataFrame, table: str, country: str, *, counterfactual: bool) -> dict[tuple[str, str, str], dict[str, float]]:
    sel = uptake[(uptake["table"] == table) & (uptake["country"] == country)]
    sel = sel[(sel["source"] == COUNTERFACTUAL) == counterfactual]
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    for (kind, source, bucket), grp in sel.groupby(["kind", "source", "rank_bucket"]):
        out[(kind, ALL if counterfactual else source, bucket)] = dict(zip(grp["metric"], grp["value"].astype(float)))
    return out


def _assert_same(measured: dict, expected: dict) -> None:
    assert set(measured) == set(expected)
    for key, metrics in expected.items():
        assert measured[key] == pytest.approx(metrics), key


def _recount_setup(monitored) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series, pd.Timestamp]:
    """Plain pandas from the order lines: (purchases in the window, history, the run's table rows
    by name ..., buying center -> country, data end)."""
    full = monitored["full"]
    data_end = pd.Timestamp(monitored["manifest"]["data_end"])
    purchase = ~full["is_return"] & (full["quantity"] > 0)
    later = full[purchase & (full["order_date"] > data_end) & (full["order_date"] <= data_end + pd.Timedelta(days=WINDOW_DAYS))]
    history = full[full["order_date"] <= data_end]
    customers = pd.read_parquet(monitored["cfg"].workdir / "canonical" / "customers.parquet")
    country = customers.drop_duplicates("buying_center_id").set_index("buying_center_id")["country"]
    return later, history, customers, country, data_end


def _first_buys(later: pd.DataFrame) -> pd.DataFrame:
    return later.groupby(["buying_center_id", "product_id"]).agg(first=("order_date", "min"), revenue=("net_value", "sum"))


@pytest.mark.slow  # the session's demo pipeline run
def test_every_suggestion_number_for_one_country_is_the_recount_from_the_order_lines(monitored):
    later, _, _, _, data_end = _recount_setup(monitored)
    suggestions = pd.read_parquet(monitored["run"].run_dir / "buying_center_suggestions.parquet")
    rows = suggestions[suggestions["country"] == COUNTRY_CHECKED].join(_first_buys(later), on=["buying_center_id", "product_id"])
    rows = rows.assign(bought=rows["first"].notna(), revenue=rows["revenue"].fillna(0.0), days=(rows["first"] - data_end).dt.days)
    sources = sorted(rows["source"].unique()) + ([LEARNED] if (suggestions["source"] == "curated").any() else [])
    assert "curated" in set(suggestions["source"]) and rows["bought"].sum() > 10  # a real test: pins and purchases
    measured = _measured_groups(monitored["uptake"], "buying_center_suggestions", COUNTRY_CHECKED, counterfactual=False)
    _assert_same(measured, _expected_groups(rows, sources))


def _offerable(monitored, country: str) -> set[str]:
    """Products the tables' business rules allow in ``country`` at the run's date, from the product
    master in plain pandas: an active standard variant sold there, in the country's assortment."""
    today = pd.Timestamp(monitored["manifest"]["tables_meta"]["today"])
    master = pd.read_parquet(monitored["cfg"].workdir / "canonical" / "products.parquet")
    master["countries"] = master["countries"].fillna("")
    standard = master[~master["is_custom"].astype(bool)]
    active = standard[(standard["status"] != "discontinued") & ~(standard["discontinued_on"] <= today)]
    sold_there = active[(active["countries"] == "") | active["countries"].str.split(";").map(lambda cs: country in cs)]
    everywhere = set(master["product_id"]) - set(standard["product_id"]) | set(standard.loc[standard["countries"] == "", "product_id"])
    listed = set(standard.loc[standard["countries"].str.split(";").map(lambda cs: country in cs), "product_id"])
    unknown = set(monitored["full"]["product_id"]) - set(master["product_id"])  # products only the order lines know
    return (set(sold_there["product_id"]) & (everywhere | listed)) | unknown


@pytest.mark.slow  # the session's demo pipeline run
def test_the_popularity_counterfactual_for_one_country_is_the_recount(monitored):
    later, history, customers, country, data_end = _recount_setup(monitored)
    signed = np.where(history["is_return"], -history["quantity"].abs(), history["quantity"])
    net = history.assign(q=signed).groupby(["buying_center_id", "product_id"])["q"].sum()
    owned = net[net > 0].reset_index()
    owners_here = owned[owned["buying_center_id"].map(country) == COUNTRY_CHECKED]
    offerable = _offerable(monitored, COUNTRY_CHECKED)
    local = owners_here.groupby("product_id").size()
    overall = owned.groupby("product_id").size()
    ranking = [p for p, _ in sorted(local.items(), key=lambda kv: (-kv[1], kv[0])) if p in offerable]
    ranking += [p for p, _ in sorted(overall.items(), key=lambda kv: (-kv[1], kv[0])) if p in offerable and p not in local.index]
    owns = owned.groupby("buying_center_id")["product_id"].agg(set)
    suggestions = pd.read_parquet(monitored["run"].run_dir / "buying_center_suggestions.parquet")
    here = suggestions[suggestions["country"] == COUNTRY_CHECKED].groupby("buying_center_id").size()
    rows = []
    for bc, n in here.items():
        picks = [p for p in ranking if p not in owns.get(bc, set())][:n]
        rows += [{"buying_center_id": bc, "rank": r + 1, "product_id": p, "kind": "cross_sell", "source": COUNTERFACTUAL} for r, p in enumerate(picks)]
    rows = pd.DataFrame(rows).join(_first_buys(later), on=["buying_center_id", "product_id"])
    rows = rows.assign(bought=rows["first"].notna(), revenue=rows["revenue"].fillna(0.0), days=(rows["first"] - data_end).dt.days)
    assert len(rows) == here.sum() and rows["bought"].sum() > 10
    measured = _measured_groups(monitored["uptake"], "buying_center_suggestions", COUNTRY_CHECKED, counterfactual=True)
    _assert_same(measured, _expected_groups(rows, []))


@pytest.mark.slow  # the session's demo pipeline run
def test_every_link_number_for_one_country_is_the_recount(monitored):
    later, history, _, country, data_end = _recount_setup(monitored)
    signed = np.where(history["is_return"], -history["quantity"].abs(), history["quantity"])
    net = history.assign(q=signed).groupby(["buying_center_id", "product_id"])["q"].sum()
    owned = set(net[net > 0].index)
    firsts = later.groupby(["buying_center_id", "product_id"])["order_date"].min().reset_index()
    firsts = firsts[firsts["buying_center_id"].map(country) == COUNTRY_CHECKED]
    buys: dict[tuple[str, str], list[tuple[pd.Timestamp, float]]] = {}
    for bc, product, day, value in later[["buying_center_id", "product_id", "order_date", "net_value"]].itertuples(index=False):
        buys.setdefault((bc, product), []).append((day, value))
    for kind in ("cross_sell", "up_sell"):
        links = pd.read_parquet(monitored["run"].run_dir / f"{kind}.parquet")
        rows_of: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
        bought_here = links[links["product_id"].isin(firsts["product_id"])]  # the only links anyone here was shown
        for where, product, rec, rank, source in bought_here[["country", "product_id", "rec_product_id", "rank", "source"]].itertuples(index=False):
            rows_of.setdefault((where, product), []).append((rec, rank, source))
        rows = []
        for bc, product, day in firsts.itertuples(index=False):
            for rec, rank, source in rows_of.get((COUNTRY_CHECKED, product), rows_of.get((ALL, product), [])):
                if (bc, rec) in owned:
                    continue
                after = [(d, v) for d, v in buys.get((bc, rec), []) if d >= day]
                rows.append(
                    {"kind": kind, "rank": rank, "source": source, "bought": bool(after), "revenue": sum(v for _, v in after),
                     "days": (min(d for d, _ in after) - day).days if after else np.nan}
                )  # fmt: skip
        rows = pd.DataFrame(rows)
        assert len(rows) > 50 and rows["bought"].sum() > 0
        sources = sorted(rows["source"].unique()) + ([LEARNED] if (links["source"] == "curated").any() else [])
        measured = _measured_groups(monitored["uptake"], kind, COUNTRY_CHECKED, counterfactual=False)
        _assert_same(measured, _expected_groups(rows, sources))


@pytest.mark.slow  # the session's demo pipeline run
def test_a_run_is_measured_again_only_when_more_of_its_window_has_data(monitored):
    rc, out = monitored["second"]
    observed_until = json.loads((monitored["folder"] / "summary.json").read_text())["observed_until"]
    assert rc == 0 and out.strip() == f"run {monitored['run'].run_id}: already measured up to {observed_until}"


@pytest.mark.slow  # the session's demo pipeline run
def test_the_next_manifest_carries_the_uptake(monitored):
    manifest = json.loads((monitored["republished"].run_dir / "manifest.json").read_text())
    summary = json.loads((monitored["folder"] / "summary.json").read_text())
    assert manifest["monitoring"]["latest"]["run_id"] == monitored["run"].run_id
    assert manifest["monitoring"]["latest"]["buying_center_suggestions"] == summary["buying_center_suggestions"]
    assert [r["run_id"] for r in manifest["monitoring"]["trend"]] == [monitored["run"].run_id]
    assert monitored["manifest"]["monitoring"] is None  # nothing was measured before the first publish


@pytest.mark.slow  # the session's demo pipeline run
def test_links_review_shows_the_measured_uptake_of_each_link(monitored):
    from xsell.recommend.review import REVIEW_COLUMNS, UPTAKE_REVIEW_COLUMNS

    review = monitored["review"]
    assert tuple(review.columns) == REVIEW_COLUMNS + UPTAKE_REVIEW_COLUMNS
    measured = pd.read_csv(monitored["folder"] / "link_uptake.csv", dtype={"product_id": str, "rec_product_id": str})
    both = review.merge(measured, on=["kind", "product_id", "rec_product_id"])
    assert len(both) > 100
    assert (both["uptake_buying_centers"] == both["suggested"]).all() and (both["uptake_bought"] == both["bought"]).all()
    assert (both["uptake_run"] == monitored["run"].run_id).all()
    # a link nobody was shown in the window has empty uptake columns
    assert review["uptake_buying_centers"].isna().sum() == len(review) - len(both)
