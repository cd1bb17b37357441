"""Int codes of string ids (``xsell.recommend.codes``) against plain pandas on the strings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import context, line, lines_frame, product, products_frame
from xsell.recommend.codes import Coded, encode, member, pair_map, sorted_ids
from xsell.recommend.variants import VariantResolver, resolve_variant_codes

IDS = pd.Series(["P10", "P2", "Ä1", "p1", "P2", None, "P10", "Z", "P1"], dtype="str")


def test_sorting_codes_sorts_the_ids_like_pandas():
    coded = Coded.of(IDS)
    present = IDS.dropna()
    by_codes = present.iloc[np.argsort(coded.codes[present.index], kind="stable")].tolist()
    assert by_codes == present.sort_values(kind="stable").tolist()
    assert coded.codes[IDS.isna().to_numpy()].tolist() == [-1]
    assert coded.strings("-").tolist() == IDS.fillna("-").tolist()


def test_encode_and_member_match_index_lookups():
    ids = sorted_ids(IDS, np.array(["Q"], dtype=object))
    assert ids.tolist() == sorted({"P10", "P2", "Ä1", "p1", "Z", "P1", "Q"})
    values = pd.Series(["Q", "P2", "nope", None, "Ä1"], dtype="str")
    expected = pd.Index(ids).get_indexer(values.fillna("<missing>"))
    assert encode(values, ids).tolist() == expected.tolist()
    assert member(values, IDS).tolist() == values.isin(IDS.dropna()).tolist()


def test_pair_map_equals_row_wise_evaluation():
    a = Coded.of(pd.Series(["DE", "FR", "DE", None, "FR", "DE"], dtype="str"))
    b = Coded.of(pd.Series(["P1", "P1", "P1", "P2", "P3", "P3"], dtype="str"))
    calls = []

    def fn(left: pd.Series, right: pd.Series) -> np.ndarray:
        calls.append(len(left))
        return (left + "/" + right).to_numpy()

    out = pair_map(a, b, fn)
    assert out.tolist() == ["DE/P1", "FR/P1", "DE/P1", "/P2", "FR/P3", "DE/P3"]
    assert calls == [5]  # once per distinct pair, not per row


def _anchored_by_pandas(anchors: pd.DataFrame, links: pd.DataFrame, products: np.ndarray, countries: np.ndarray) -> pd.DataFrame:
    """The definition of ``anchored`` on strings: each anchor's links of its own country when the
    table has any for the anchor, else ``ALL``; best score per (buyer, product), then smallest anchor."""
    frame = anchors.assign(country=countries[anchors["c"]], product_id=products[anchors["a"]])
    own = frame.merge(links.reset_index(names="link"), on=["country", "product_id"])
    has_own = set(zip(links["country"], links["product_id"]))
    rest = frame[[(c, p) not in has_own for c, p in zip(frame["country"], frame["product_id"])]]
    fallback = rest.assign(country="ALL").merge(links.reset_index(names="link"), on=["country", "product_id"])
    both = pd.concat([own, fallback], ignore_index=True)
    both["p"] = pd.Index(products).get_indexer(both["rec_product_id"])
    both = both.sort_values(["b", "p", "score", "a"], ascending=[True, True, False, True], kind="stable")
    best = both.drop_duplicates(["b", "p"])
    return best[["b", "p", "a", "score", "link"]].reset_index(drop=True)


def test_anchored_links_match_pandas_in_any_block_size(monkeypatch):
    from xsell.recommend import suggestions

    rng = np.random.default_rng(7)
    products = np.array([f"P{i:02d}" for i in range(30)], dtype=object)
    countries = np.array(["ALL", "DE", "FR"], dtype=object)
    links = pd.DataFrame(
        {
            "country": rng.choice(countries, 400),
            "product_id": rng.choice(products[:20], 400),
            "rec_product_id": rng.choice(products, 400),
            "score": rng.integers(1, 6, 400) / 5.0,  # ties on purpose
        }
    )
    anchors = pd.DataFrame({"b": rng.integers(0, 40, 300), "a": rng.integers(0, 30, 300)}).drop_duplicates()
    anchors["c"] = anchors["b"] % 3
    expected = _anchored_by_pandas(anchors, links, products, countries)
    assert len(expected) > 100
    whole = suggestions.anchored(anchors, links, products, countries)
    index = suggestions.LinkIndex.of(links, products, countries)  # built once, used by every block
    pd.testing.assert_frame_equal(suggestions.anchored(anchors, index, products, countries), whole)
    for block in (1, 7, 50):
        monkeypatch.setattr(suggestions, "_ANCHOR_BLOCK", block)
        found = suggestions.anchored(anchors, links, products, countries)
        pd.testing.assert_frame_equal(found, whole)
    pd.testing.assert_frame_equal(whole.astype("float64"), expected.astype("float64"))
    keys = (expected["b"] * len(products) + expected["p"]).to_numpy()
    wanted = np.sort(rng.choice(keys, 40, replace=False))
    some = suggestions.anchored(anchors, links, products, countries, wanted)
    assert (some["b"] * len(products) + some["p"]).tolist() == wanted.tolist()
    pd.testing.assert_frame_equal(some.astype("float64"), expected.set_index(keys).loc[wanted].reset_index(drop=True).astype("float64"))


def test_order_stats_equal_pandas_nunique_and_max():
    from xsell.recommend.variants import _order_stats

    rng = np.random.default_rng(11)
    code = pd.DataFrame(
        {
            "c": rng.integers(0, 3, 2000), "p": rng.integers(0, 25, 2000), "v": rng.integers(0, 60, 2000),
            "o": rng.integers(0, 400, 2000), "last": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 2000), "D"),
        }
    )  # fmt: skip
    code.loc[code.index[::7], "last"] = pd.NaT
    for keys in (["c", "p", "v"], ["p", "v"]):
        expected = code.groupby(keys, sort=True).agg(n=("o", "nunique"), last=("last", "max")).reset_index()
        got = _order_stats(code, keys).sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        assert (expected["n"] > 1).any()


def _variant_by_rows(lines: pd.DataFrame, ctx, bc: str | None, country: str, product_id: str) -> str:
    """The documented preference order of ``xsell.recommend.variants``, one request at a time on
    the strings: own orders, the country's, everyone's, else the master's first eligible id."""
    eligible = ctx.variants[~ctx.variants["is_custom"] & ~ctx.variants["discontinued"]].drop_duplicates("variant_id")

    def allowed(countries: str) -> bool:
        return ctx.assortment_mode != "master" or country == "ALL" or countries == "" or country in countries.split(";")

    ok = {v for v, c in zip(eligible["variant_id"], eligible["countries"]) if allowed(c)}
    bought = lines[~lines["is_return"] & (lines["quantity"] > 0) & ~lines["is_custom"] & (lines["product_id"] == product_id)]
    bought = bought[bought["variant_id"].isin(ok)]
    levels = [bought[bought["buying_center_id"] == bc] if bc is not None else bought.iloc[:0]]
    levels += [bought[bought["country"] == country] if country != "ALL" else bought.iloc[:0], bought]
    for level in levels:
        if len(level):
            stats = level.groupby("variant_id").agg(n=("order_id", "nunique"), last=("order_date", "max")).reset_index()
            return stats.sort_values(["n", "last", "variant_id"], ascending=[False, False, True]).iloc[0]["variant_id"]
    master = sorted(v for v, p in zip(eligible["variant_id"], eligible["product_id"]) if p == product_id and v in ok)
    return master[0] if master else ""


def test_one_variant_resolver_answers_every_request_set_like_the_rows():
    rng = np.random.default_rng(5)
    rows = []
    for p in range(12):
        for v in range(rng.integers(1, 5)):
            status = "discontinued" if rng.random() < 0.15 else "active"
            countries = rng.choice(["", "DE", "DE;FR", "FR;IT"])
            rows.append(product(f"P{p}-{v}", "F", status=status, countries=countries, custom=bool(rng.random() < 0.1)))
    products = products_frame(rows)
    variants = products["variant_id"].tolist() + ["P3-X", "Q1-1"]  # two variants only the lines know
    lines = lines_frame(
        [
            line(f"O{rng.integers(0, 150)}", f"2024-0{rng.integers(1, 10)}-1{rng.integers(0, 9)}", f"B{rng.integers(0, 20)}",
                 str(rng.choice(variants)), country=str(rng.choice(["DE", "FR", "IT", "AT"])), custom=bool(rng.random() < 0.05),
                 ret=bool(rng.random() < 0.05))
            for _ in range(400)
        ]
    )  # fmt: skip
    ctx = context(lines, products)
    assert ctx.assortment_mode == "master"
    resolver = VariantResolver.build(lines, ctx)
    product_ids = [f"P{p}" for p in range(13)] + ["Q1"]
    for seed, with_buyers in ((1, False), (2, True), (3, True)):
        r = np.random.default_rng(seed)
        n = 120
        country = Coded.of(pd.Series(r.choice(["ALL", "DE", "FR", "IT", "ES", "AT"], n)))
        item = Coded.of(pd.Series(r.choice(product_ids, n)))
        buyer = Coded.of(pd.Series(r.choice([f"B{i}" for i in range(24)], n))) if with_buyers else None
        got = resolver.resolve(country, item, buyer)
        fresh = resolve_variant_codes(lines, ctx, country, item, buyer)
        assert got.strings().tolist() == fresh.strings().tolist()
        expected = [
            _variant_by_rows(lines, ctx, buyer.strings()[i] if buyer is not None else None, country.strings()[i], item.strings()[i])
            for i in range(n)
        ]
        assert got.strings().tolist() == expected
        assert len(set(expected) - {""}) > 5 and "" in expected


def test_used_ids_map_like_all_ids_and_only_the_used_are_evaluated():
    coded = Coded(np.array([4, -1, 1, 4, 6, 1]), np.array([f"V{i}" for i in range(8)], dtype=object))
    seen = []

    def fn(ids: pd.Series) -> np.ndarray:
        seen.append(ids.tolist())
        return (ids + "!").to_numpy(dtype=object)

    used = coded.used()
    assert used.strings().tolist() == coded.strings().tolist()
    assert used.map_ids(fn, "-").tolist() == coded.map_ids(fn, "-").tolist() == ["V4!", "-", "V1!", "V4!", "V6!", "V1!"]
    assert seen[0] == ["V1", "V4", "V6"] and len(seen[1]) == 8
    assert Coded(np.array([-1, -1]), np.array([], dtype=object)).used().strings("x").tolist() == ["x", "x"]


@pytest.mark.parametrize("n_ids", [0, 5, 5000])
def test_used_keeps_exactly_the_ids_the_rows_use_with_few_or_many_ids(n_ids):
    """Both ways of finding the used ids (marking them: few ids per row; sorting the rows'
    codes: many) keep the used ids in order and each row's id."""
    rng = np.random.default_rng(n_ids)
    ids = np.array([f"V{i:05d}" for i in range(n_ids)], dtype=object)
    codes = rng.integers(-1, n_ids, 40) if n_ids else np.full(40, -1)
    coded = Coded(codes, ids)
    used = coded.used()
    assert used.ids.tolist() == sorted({ids[c] for c in codes if c >= 0})
    assert used.strings("-").tolist() == coded.strings("-").tolist()
    assert used.codes.dtype == np.int64 and (used.codes[codes < 0] == -1).all()


def test_buyer_directory_takes_each_buying_centers_latest_line_as_a_stable_sort_does(tiny_demo_lines):
    """The customer of a buying center without a master row is that of its latest line (ties: the
    last of them, as a stable sort by date then ``drop_duplicates(keep="last")`` keeps); ids as
    strings or as categoricals give the same directory."""
    from xsell.frames import dictionary_encoded
    from xsell.recommend.suggestions import buyer_directory

    rng = np.random.default_rng(11)
    lines = tiny_demo_lines.sample(frac=1.0, random_state=4).reset_index(drop=True)
    lines["order_date"] = lines["order_date"].dt.to_period("M").dt.start_time  # many ties per buying center
    moved = rng.random(len(lines)) < 0.3
    lines["customer_id"] = lines["customer_id"].where(~moved, "C-" + lines["buying_center_id"].astype(str) + "-" + pd.Series(rng.integers(0, 3, len(lines))).astype(str))
    expected = lines.sort_values("order_date", kind="stable").drop_duplicates("buying_center_id", keep="last").set_index("buying_center_id")["customer_id"]
    out = buyer_directory(lines, None)
    assert out["buying_center_id"].is_unique and len(out) == lines["buying_center_id"].nunique()
    assert out.set_index("buying_center_id")["customer_id"].to_dict() == expected.astype(str).to_dict()
    encoded = lines.assign(**{c: dictionary_encoded(lines[c]) for c in ("buying_center_id", "customer_id", "country")})
    pd.testing.assert_frame_equal(buyer_directory(encoded, None), out)


def test_product_facts_are_looked_up_per_distinct_id_as_on_every_row():
    """``product_attr`` and ``name_of`` give each row its product's fact (the default for unknown
    products, the id where the name is empty), for ids as strings, objects and categoricals, with
    missing ids: what the per-row reindex of the products frame gives."""
    from xsell.frames import dictionary_encoded

    master = products_frame([product("P1-A", "F1", name="Pump"), product("P2-A", "F1", name=""), product("P3-A", "F2", price=4.0)])
    ctx = context(lines_frame([line("O1", "2025-01-02", "B1", "P1-A"), line("O2", "2025-01-03", "B2", "P4-A")]), master)
    rng = np.random.default_rng(2)
    ids = pd.Series(rng.choice(np.array(["P1", "P2", "P3", "P4", "X9", None], dtype=object), size=200), index=rng.permutation(200) + 10)
    for column in (ids.astype("str"), ids, dictionary_encoded(ids.astype("str"))):
        for col, default in (("family", ""), ("typical_price", np.nan), ("everywhere", True), ("name", "")):
            expected = ctx.products[col].reindex(pd.Index(ids.astype(str))).fillna(default).to_numpy()
            np.testing.assert_array_equal(ctx.product_attr(column, col, default), expected)
        names = ctx.name_of(column)
        assert names.index.equals(ids.index) and names.dtype == "str"
        spelled = ctx.products["name"].reindex(pd.Index(ids.astype(str))).fillna("")
        expected_names = np.where(spelled.str.len().to_numpy() > 0, spelled.to_numpy(dtype=object), ids.astype(str).to_numpy(dtype=object))
        assert names.tolist() == pd.Series(expected_names, dtype="str").tolist()
    assert set(ctx.name_of(ids.astype("str")).dropna()) == {"Pump", "P2", "P3", "P4", "X9"}


def test_distinct_counts_equal_pandas_drop_duplicates_and_groupby():
    from xsell.recommend.suggestions import distinct_counts

    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"c": rng.integers(-1, 4, 3000), "s": rng.integers(-1, 3, 3000), "p": rng.integers(0, 50, 3000), "b": rng.integers(-1, 200, 3000)})
    for keys in (["c", "s", "p"], ["c", "p"], ["p"]):
        expected = frame[[*keys, "b"]].drop_duplicates().groupby(keys).size().rename("n").reset_index()
        out = distinct_counts({k: frame[k].to_numpy() for k in keys}, frame["b"].to_numpy())
        pd.testing.assert_frame_equal(out, expected)
    assert distinct_counts({"p": np.zeros(0, dtype=np.int64)}, np.zeros(0, dtype=np.int64)).empty


def test_anchored_by_key_starts_or_binary_search_matches_pandas_with_ties_and_fallback(monkeypatch):
    """Both ways ``LinkIndex`` finds an anchor's links (a start per key, binary search) give the
    pandas definition: own country where the table has links for the anchor, else ``ALL``; ties on
    score by the smaller anchor, then the earlier link (duplicated links on purpose)."""
    from xsell.recommend import suggestions

    rng = np.random.default_rng(23)
    products = np.array([f"P{i:03d}" for i in range(60)], dtype=object)
    countries = np.array(["ALL", "AT", "DE", "FR", "PL"], dtype=object)
    links = pd.DataFrame(
        {
            "country": rng.choice(countries, 1500, p=[0.4, 0.3, 0.2, 0.1, 0.0]),  # PL: never its own links
            "product_id": rng.choice(products[:45], 1500),
            "rec_product_id": rng.choice(products, 1500),
            "score": rng.integers(1, 4, 1500) / 3.0,
        }
    )
    links = pd.concat([links, links.iloc[::5]], ignore_index=True)  # the same link twice, same score
    anchors = pd.DataFrame({"b": rng.integers(0, 80, 900), "a": rng.integers(0, 60, 900)}).drop_duplicates()
    anchors = anchors.iloc[np.argsort(anchors["b"].to_numpy(), kind="stable")].reset_index(drop=True)
    anchors["c"] = anchors["b"] % len(countries)
    expected = _anchored_by_pandas(anchors, links, products, countries)
    assert expected["a"].duplicated().any() and len(expected) > 500
    keys = (expected["b"] * len(products) + expected["p"]).to_numpy()
    wanted = np.sort(rng.choice(keys, 300, replace=False))
    for dense in (True, False):
        monkeypatch.setattr(suggestions, "_DENSE_KEYS", 10**9 if dense else 0)
        index = suggestions.LinkIndex.of(links, products, countries)
        assert (index.starts is not None) == dense
        for block in (3, 10**6):
            monkeypatch.setattr(suggestions, "_ANCHOR_BLOCK", block)
            found = suggestions.anchored(anchors, index, products, countries)
            pd.testing.assert_frame_equal(found.astype("float64"), expected.astype("float64"))
            some = suggestions.anchored(anchors, index, products, countries, wanted)
            pd.testing.assert_frame_equal(some.astype("float64"), expected.set_index(keys).loc[wanted].reset_index(drop=True).astype("float64"))


def test_text_columns_of_the_buying_center_table_equal_the_per_row_strings():
    from xsell.recommend.suggestions import _text_at

    rng = np.random.default_rng(5)
    values = np.array(["DE", "Ä-1", "", "P10", "p1"], dtype=object)
    at = rng.integers(-1, len(values), 500)
    expected = pd.Series(np.where(at >= 0, values[np.maximum(at, 0)], "?"), dtype="str")
    got = pd.Series(_text_at(values, at, missing="?"))
    pd.testing.assert_series_equal(got, expected)
    assert (at == -1).any() and got.dtype == "str"
    assert len(_text_at(np.array([], dtype=object), np.zeros(0, dtype=np.int64))) == 0
    assert _text_at(np.array([], dtype=object), np.array([-1, -1])).tolist() == ["", ""]
