"""The packed-key grouping and sorting of ``recommend`` (evidence, variants, top-n) against the
straightforward pandas version of the same definition, on random data full of ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import line, lines_frame
from xsell.recommend import evidence
from xsell.recommend.evidence import switch_evidence


def _random_lines(seed: int, n: int = 400, nat: bool = False) -> pd.DataFrame:
    """Random purchases (and some returns) of few buying centers, countries, products and days."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=6, freq="D")
    rows = [
        line(
            f"O{rng.integers(0, n // 3)}", days[rng.integers(0, len(days))], f"B{rng.integers(0, 25)}", f"P{rng.integers(0, 9)}-V{rng.integers(0, 3)}",
            country=["DE", "FR", "AT"][rng.integers(0, 3)], ret=bool(rng.random() < 0.1),
        )
        for _ in range(n)
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
