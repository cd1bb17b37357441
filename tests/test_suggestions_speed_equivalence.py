"""The buying-center table's explanations (kind, anchor, reason of each row) on random data against
their definition worked out row by row on the strings: the strongest link of a product the buying
center bought (its country's links of the anchor where the table has any, else ``ALL``; highest
score, then the smallest anchor), up-sell first, a pin's own table deciding its kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import context, line, lines_frame, product, products_frame
from xsell.recommend import suggestions
from xsell.recommend.config import RecommendConfig

PRODUCTS = [f"P{i:02d}" for i in range(25)]
HOMES = ["DE", "AT", "FR", "PL"]  # PL: no link table has rows of its own (always ALL)


def _links(rng: np.random.Generator, n: int, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "country": rng.choice(["ALL", "DE", "AT", "FR"], n),
            "product_id": rng.choice(PRODUCTS[:20], n),
            "rec_product_id": rng.choice(PRODUCTS, n),
            "score": rng.choice([0.2, 0.4, 0.6], n),  # ties on purpose
        }
    )
    frame = frame[frame["product_id"] != frame["rec_product_id"]].drop_duplicates(["country", "product_id", "rec_product_id"])
    frame = frame.sort_values(["country", "product_id", "score"], ascending=[True, True, False], kind="stable").reset_index(drop=True)
    curated = rng.random(len(frame)) < 0.04
    return frame.assign(
        rank=frame.groupby(["country", "product_id"]).cumcount() + 1,
        source=np.where(curated, "curated", "rules"),
        reason=[f"{prefix}{i}" for i in range(len(frame))],
    )


def _best(links: pd.DataFrame, home: str, anchors: list[str], rec: str) -> tuple[str, str] | None:
    """(anchor, reason) of the strongest link from ``anchors`` to ``rec``, by the definition."""
    found = []
    for a in anchors:
        own = links[(links["country"] == home) & (links["product_id"] == a)]
        use = own if len(own) else links[(links["country"] == "ALL") & (links["product_id"] == a)]
        found += [(-row.score, a, row.reason) for row in use[use["rec_product_id"] == rec].itertuples()]
    return min(found)[1:] if found else None


def _pin_kind(cross: pd.DataFrame, up: pd.DataFrame, home: str, anchors: list[str], rec: str) -> str:
    """The table of the pin that put ``rec`` first: curated rows of both tables, cross-sell first;
    smallest anchor, then the first pin (all pins score 1)."""
    pins = pd.concat([t[t["source"] == "curated"].assign(kind=k) for k, t in (("cross_sell", cross), ("up_sell", up))], ignore_index=True)
    for a in sorted(anchors):
        own = pins[(pins["country"] == home) & (pins["product_id"] == a)]
        use = own if len(own) else pins[(pins["country"] == "ALL") & (pins["product_id"] == a)]
        hit = use[use["rec_product_id"] == rec]
        if len(hit):
            return str(hit.iloc[0]["kind"])
    raise AssertionError(f"no pin leads to {rec}")


@pytest.mark.parametrize("seed", [1, 3])
def test_explanations_equal_the_definition_row_by_row_in_any_block_size(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    cfg = RecommendConfig(top_n_buying_center=6)
    buyers = [f"B{i:02d}" for i in range(40)]
    home = {b: HOMES[i % len(HOMES)] for i, b in enumerate(buyers)}
    bought = {b: sorted(rng.choice(PRODUCTS, int(rng.integers(1, 7)), replace=False).tolist()) for b in buyers}
    new_ones = buyers[-4:]  # no ranking and nothing with links (so no pins either): popularity
    bought.update({b: sorted(rng.choice(PRODUCTS[20:], 2, replace=False).tolist()) for b in new_ones})
    lines = lines_frame(
        [
            line(f"o{b}{k}", f"2024-0{1 + k % 6}-1{k % 9}", b, f"{p}-1", country=home[b], price=10 + k)
            for b in buyers
            for k, p in enumerate(bought[b])
        ]
    )
    ctx = context(lines, products_frame([product(f"{p}-1", "F", 10.0, f"Name {p}") for p in PRODUCTS]), cfg)
    cross, up = _links(rng, 700, "x"), _links(rng, 400, "u")
    ranked = [b for b in buyers if rng.random() < 0.8 and b not in new_ones]  # the rest: pins only, or popularity
    personal = pd.concat(
        [
            pd.DataFrame({"buying_center_id": b, "item_id": rng.choice(PRODUCTS, 12, replace=False), "score": np.arange(12, 0, -1.0)})
            for b in ranked
        ],
        ignore_index=True,
    )
    tables = []
    for block in (3, 1000):
        monkeypatch.setattr(suggestions, "_BUYER_BLOCK", block)
        tables.append(suggestions.build_buying_center_suggestions(personal, cross, up, lines, None, ctx, cfg, personal_source="ease").frame)
    for other in tables[1:]:
        pd.testing.assert_frame_equal(other, tables[0])
    table = tables[0]
    kinds = {"popularity": 0, "curated": 0, "up_sell": 0, "cross_sell": 0, "model": 0}
    for row in table.itertuples():
        b, p = row.buying_center_id, row.product_id
        up_best, cross_best = _best(up, home[b], bought[b], p), _best(cross, home[b], bought[b], p)
        if row.source == "curated":
            is_up = _pin_kind(cross, up, home[b], bought[b], p) == "up_sell"
            kinds["curated"] += 1
        else:
            is_up = up_best is not None
        if is_up:
            expected = ("up_sell", *(up_best or ("", "")))
        elif cross_best is not None:
            expected = ("cross_sell", *cross_best)
        else:
            expected = ("cross_sell", "", "")
        if row.source == "popularity":  # kind and anchor from the links, the reason popularity's
            assert row.reason.startswith("popular with"), row.reason
            expected = (*expected[:2], row.reason)
            kinds["popularity"] += 1
        elif expected[1] == "":
            assert row.reason.startswith("buying centers with purchase histories like yours buy this") or (is_up and row.reason == "")
            expected = (*expected[:2], row.reason)
            kinds["model"] += 1
        kinds[expected[0]] += expected[1] != ""
        assert (row.kind, row.anchor_product_id, row.reason) == expected, (b, p, row.source)
        assert row.anchor_product_name == (f"Name {expected[1]}" if expected[1] else "")
    assert min(kinds.values()) > 0, kinds  # every way a row is explained occurs
