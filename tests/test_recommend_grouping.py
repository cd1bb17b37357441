"""The packed-key grouping and sorting of ``recommend`` (evidence, variants, top-n) against the
straightforward pandas version of the same definition, on random data full of ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommend_helpers import line, lines_frame
from xsell.recommend import evidence
from xsell.recommend.common import top_n
from xsell.recommend.evidence import pair_evidence, switch_evidence
from xsell.recommend.variants import _best, _order_stats


def _random_lines(seed: int, n: int = 400, nat: bool = False) -> pd.DataFrame:
    """Random purchases (and some returns) of few buying centers, countries, products and days; an
    order has one buying center, country and day (a buying center orders in several countries)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=6, freq="D")
    n_orders = n // 3
    buyer, country, day = rng.integers(0, 25, n_orders), rng.integers(0, 3, n_orders), rng.integers(0, len(days), n_orders)
    rows = [
        line(
            f"O{o}", days[day[o]], f"B{buyer[o]}", f"P{rng.integers(0, 9)}-V{rng.integers(0, 3)}", country=["DE", "FR", "AT"][country[o]],
            ret=bool(rng.random() < 0.1),
        )
        for o in rng.integers(0, n_orders, n)
    ]  # fmt: skip
    frame = lines_frame(rows)
    if nat:
        frame.loc[rng.random(len(frame)) < 0.05, "order_date"] = pd.NaT
    return frame


def _switch_reference(lines: pd.DataFrame, group: pd.Series) -> pd.DataFrame:
    """``switch_evidence`` by its definition, on the string columns: spans per (buying center,
    [country,] group, product), their self-join per (buying center, country, group)."""
    buys = lines[~lines["is_return"] & (lines["quantity"] > 0)]
    buys = buys.assign(g=buys["product_id"].map(group).fillna(""))
    buys = buys[buys["g"] != ""]
    out = []
    for scope in ("ALL", "country"):
        keys = ["buying_center_id", "g", "product_id"] + ([] if scope == "ALL" else ["country"])
        span = buys.groupby(keys)["order_date"].agg(first="min", last="max").reset_index()
        if scope == "ALL":
            span["country"] = "ALL"
        pairs = span.merge(span, on=["buying_center_id", "country", "g"], suffixes=("", "_rec"))
        moved = pairs[(pairs["product_id"] != pairs["product_id_rec"]) & (pairs["last"] < pairs["first_rec"])]
        switchers = moved.groupby(["country", "product_id", "product_id_rec"]).size().rename("switchers").reset_index()
        buyers = span.groupby(["country", "product_id"]).size().rename("buyers")
        out.append(switchers.join(buyers, on=["country", "product_id"]))
    both = pd.concat(out, ignore_index=True).rename(columns={"product_id_rec": "rec_product_id"})
    return both.astype({"country": "str", "product_id": "str", "rec_product_id": "str", "switchers": "int64", "buyers": "int64"})


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [3, 10_000_000])
def test_switch_evidence_equals_the_pandas_definition(seed, block, monkeypatch):
    monkeypatch.setattr(evidence, "_PAIR_BLOCK", block)
    lines = _random_lines(seed, nat=seed == 5)  # NaT dates: the pandas grouping's fallback
    group = pd.Series({f"P{i}": ["G1", "G2", "G1", "", "G2", "G1", "G3", "G1"][i] for i in range(8)})  # P8: no group at all
    got = switch_evidence(lines, group)
    want = _switch_reference(lines, group)
    assert len(want) > 20 and want["switchers"].sum() > len(want)  # enough switches, with repeats
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _random_codes(seed: int, n: int = 3000) -> pd.DataFrame:
    """Random code rows of a purchase history (``b, c, p, v, o, last``): few values, many ties, NaT."""
    rng = np.random.default_rng(seed)
    last = pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 5, n), unit="D"))
    last[rng.random(n) < 0.1] = pd.NaT
    codes = {k: rng.integers(0, high, n).astype(np.int32) for k, high in (("b", 30), ("c", 3), ("p", 6), ("v", 4), ("o", 200))}
    return pd.DataFrame({**codes, "last": last.to_numpy()})


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("keys", [["b", "p", "v"], ["c", "p", "v"], ["p", "v"]])
def test_order_stats_equals_pandas_nunique_and_max(seed, keys):
    code = _random_codes(seed)
    code.loc[code["p"] == 5, "last"] = pd.NaT  # groups of NaT only: NaT, as pandas' max
    want = code.groupby(keys).agg(n=("o", "nunique"), last=("last", "max")).reset_index().astype({k: np.int64 for k in keys})
    got = _order_stats(code, keys)
    assert want["n"].max() > 1 and want["last"].isna().any()
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("seed", range(4))
def test_best_is_the_first_row_of_the_pandas_sort(seed):
    code = _random_codes(seed).drop_duplicates(["b", "v"]).reset_index(drop=True)
    n = code["o"].to_numpy() % 3  # few counts: ties go to the latest date, then the smallest variant
    frame = code.assign(n=n)
    ordered = frame.sort_values(["b", "n", "last", "v"], ascending=[True, False, False, True], na_position="last", kind="stable")
    want = ordered.drop_duplicates("b").index.to_numpy()
    got = _best(frame["b"].to_numpy(), n, frame["last"].to_numpy(), frame["v"].to_numpy())
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_top_n_is_the_pandas_sort_cut_per_group(seed):
    rng = np.random.default_rng(seed)
    size = 2000
    pin = np.where(rng.random(size) < 0.1, rng.integers(0, 3, size).astype(float), np.nan)
    frame = pd.DataFrame(
        {
            "country": rng.integers(0, 3, size), "product_id": rng.integers(0, 20, size), "rec_product_id": rng.integers(0, 15, size),
            "score": rng.choice(np.array([0.1, 0.2, -0.0, 0.0, 0.5, np.nan]), size), "pin_order": pin, "link": np.arange(size),
        }
    )  # fmt: skip
    keys = ["country", "product_id"]
    ordered = frame.sort_values([*keys, "pin_order", "score", "rec_product_id"], ascending=[True, True, True, False, True], na_position="last", kind="stable")
    ordered = ordered.assign(rank=ordered.groupby(keys).cumcount() + 1)
    want = ordered[ordered["rank"] <= 4].reset_index(drop=True)
    got = top_n(frame, keys, 4)
    assert (want["rank"] == 4).any() and len(want) < len(frame)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _pair_reference(lines: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``pair_evidence`` by its definition, with Python sets of orders and buyers per product."""
    buys = lines[~lines["is_return"] & (lines["quantity"] > 0)]
    rows = []
    for country, product, rec in pairs[["country", "product_id", "rec_product_id"]].itertuples(index=False):
        scope = buys if country == "ALL" else buys[buys["country"] == country]
        orders = scope.groupby("product_id")["order_id"].agg(set)
        buyers = scope.groupby("product_id")["buying_center_id"].agg(set)
        n_orders = max(scope["order_id"].nunique(), 1)
        with_p, with_r = orders.get(product, set()), orders.get(rec, set())
        together = len(with_p & with_r)
        confidence = together / len(with_p) if with_p else np.nan
        lift = confidence / (len(with_r) / n_orders) if with_r else np.nan
        both = len(buyers.get(product, set()) & buyers.get(rec, set()))
        rows.append((together, both, together / n_orders, confidence, lift))
    evidence = pd.DataFrame(rows, columns=["orders_together", "buyers_both", "support", "confidence", "lift"])
    return pd.concat([pairs.reset_index(drop=True), evidence.astype({"orders_together": np.int64, "buyers_both": np.int64})], axis=1)


@pytest.mark.parametrize("seed", range(3))
def test_pair_evidence_equals_the_set_definition(seed):
    lines = _random_lines(seed, n=600)
    rng = np.random.default_rng(seed)
    size = 60
    pairs = pd.DataFrame(
        {
            "country": rng.choice(np.array(["ALL", "DE", "FR", "AT"]), size),
            "product_id": [f"P{i}" for i in rng.integers(0, 10, size)],  # P9: never sold
            "rec_product_id": [f"P{i}" for i in rng.integers(0, 10, size)],
        }
    )
    got = pair_evidence(lines, pairs)
    want = _pair_reference(lines, pairs)
    assert (want["orders_together"] > 1).any() and want["lift"].isna().any()
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_gram_at_is_the_dense_gram_matrix(seed):
    rng = np.random.default_rng(seed)
    dense = rng.random((300, 12)) < np.where(rng.random((300, 1)) < 0.5, 0.08, 0.4)  # many one-item rows
    dense = dense * rng.integers(1, 4, dense.shape)  # not only ones: the diagonal is a sum of squares
    a, b = rng.integers(0, 12, 500), rng.integers(0, 12, 500)
    a[:20] = b[:20]  # diagonal cells too
    want = (dense.T @ dense)[a, b].astype(np.float64)
    got = evidence.gram_at(sp.csr_matrix(dense.astype(np.float64)), a, b, chunk=5)
    assert (np.diff(sp.csr_matrix(dense).indptr) == 1).sum() > 30
    np.testing.assert_array_equal(got, want)
