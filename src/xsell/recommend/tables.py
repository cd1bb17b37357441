"""The three suggestion tables as pure functions of frames, a context and the config.

Country rows: every table has rows for ``ALL`` (global evidence, not assortment-filtered) and, for
each (country, product) where the product was sold in that country within ``assortment_months``,
rows for that country: the same blended ranking, filtered by the country's assortment, with the
country's own evidence in ``support/confidence/lift`` and ``reason``. A consumer serving country
C reads C's rows of a product, and ``ALL`` only where C has none (C never sold the product).
Output size is at most ``top_n_product`` x (products + sold (country, product) pairs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from xsell.recommend.blend import blend, rank_normalise
from xsell.recommend.business_rules import blocked_pairs, business_rules_keep, count_rows, drop_rows
from xsell.recommend.codes import Coded, encode, member, sorted_ids
from xsell.recommend.config import RecommendConfig
from xsell.interactions.build import purchases
from xsell.recommend.context import RecommendContext, months_before
from xsell.recommend.evidence import pair_evidence, switch_evidence
from xsell.recommend.variants import resolve_variant_codes
from xsell.schema import ALL_COUNTRIES, BUYING_CENTER_COLUMNS, CROSS_SELL_COLUMNS, UP_SELL_COLUMNS

CURATED = "curated"


@dataclass(frozen=True)
class Table:
    """A finished table and the rows each rule removed on the way."""

    frame: pd.DataFrame
    rules_applied: dict[str, int] = field(default_factory=dict)


# -- shared helpers -------------------------------------------------------------------------
def _fmt(values: pd.Series | np.ndarray, digits: int = 1) -> pd.Series:
    """Numbers as short text for reasons."""
    return pd.Series(np.asarray(values, dtype=float)).round(digits).map(lambda v: f"{v:.{digits}f}").astype(str)


def _plural(n: pd.Series, word: str) -> pd.Series:
    n = pd.Series(np.asarray(n, dtype=np.int64))
    return n.astype(str) + " " + word + np.where(n == 1, "", "s")


def _country_prefix(country: pd.Series) -> pd.Series:
    country = pd.Series(np.asarray(country, dtype=object)).astype(str)
    return pd.Series(np.where(country == ALL_COUNTRIES, "", country + " "), dtype="str")


def _curated_reason(notes: pd.Series) -> pd.Series:
    notes = pd.Series(np.asarray(notes.fillna(""), dtype=object)).astype(str)
    return pd.Series(np.where(notes != "", "recommended by product management: " + notes, "recommended by product management"), dtype="str")


def _with_pins(links: pd.DataFrame, pins: pd.DataFrame) -> pd.DataFrame:
    """Learned links plus curated pins (pins win over a learned row of the same pair)."""
    pinned = pins.assign(score=1.0, source=CURATED, sources=CURATED, pin_order=pins["order"].astype(float))
    learned = links.assign(pin_order=np.nan, note="")
    cols = ["product_id", "rec_product_id", "score", "source", "sources", "pin_order", "note"]
    both = pd.concat([pinned[cols], learned[cols]], ignore_index=True)
    return both.drop_duplicates(["product_id", "rec_product_id"]).reset_index(drop=True)


def _country_top_n(links: pd.DataFrame, lines: pd.DataFrame, ctx: RecommendContext, cfg: RecommendConfig, table: str, counts: dict[str, int]) -> pd.DataFrame:
    """Each link as one ``ALL`` row plus one row per country where its product sold recently, with
    the recommended product's variant resolved, the business rules applied (``counts`` updated) and
    the best ``top_n_product`` per (country, product) kept: those rows of ``links`` with
    ``country``, ``rec_variant_id`` and ``rank`` added. The expansion runs on int codes (link
    row, country); strings are made for the kept rows only."""
    products = sorted_ids(ctx.products.index, links["product_id"], links["rec_product_id"])
    countries = sorted_ids(ctx.sold["country"], np.array([ALL_COUNTRIES], dtype=object))
    product, rec = encode(links["product_id"], products), encode(links["rec_product_id"], products)
    sold = pd.DataFrame({"p": encode(ctx.sold["product_id"], products), "c": encode(ctx.sold["country"], countries)})
    local = pd.DataFrame({"p": product, "link": np.arange(len(links))}).merge(sold, on="p")
    link = np.concatenate([np.arange(len(links)), local["link"].to_numpy()])
    country = Coded(np.concatenate([np.full(len(links), np.searchsorted(countries, ALL_COUNTRIES)), local["c"].to_numpy()]), countries)
    recommended = Coded(rec[link], products)
    variant = resolve_variant_codes(lines, ctx, country, recommended)
    keep = business_rules_keep(ctx, cfg, country, recommended, variant, table=table, counts=counts)
    candidates = pd.DataFrame(
        {
            "country": country.codes[keep],
            "product_id": product[link[keep]],
            "pin_order": links["pin_order"].to_numpy(dtype=float)[link[keep]],
            "score": links["score"].to_numpy(dtype=float)[link[keep]],
            "rec_product_id": recommended.codes[keep],
            "link": link[keep],
            "variant": variant.codes[keep],
        }
    )
    top = _top_n(candidates, ["country", "product_id"], cfg.top_n_product)
    rows = links.iloc[top["link"].to_numpy()].reset_index(drop=True)
    rows["country"] = pd.Series(countries[top["country"].to_numpy()], dtype="str")
    rows["rec_variant_id"] = pd.Series(Coded(top["variant"].to_numpy(), variant.ids).strings(), dtype="str")
    rows["rank"] = top["rank"].to_numpy()
    return rows


def _top_n(frame: pd.DataFrame, keys: list[str], n: int, rec_col: str = "rec_product_id") -> pd.DataFrame:
    """Pins first (``pin_order``, file order), then by score, then by ``rec_col``; keep ``n`` per
    ``keys``; ``rank`` = 1..n. ``keys`` and ``rec_col`` hold int codes (code order = id order)."""
    pin = frame["pin_order"].to_numpy(dtype=float) if "pin_order" in frame else np.zeros(len(frame))
    columns = [frame[k].to_numpy() for k in keys]
    order = np.lexsort((frame[rec_col].to_numpy(), -frame["score"].to_numpy(dtype=float), np.where(np.isnan(pin), np.inf, pin), *columns[::-1]))
    new_group = np.zeros(len(order), dtype=bool)
    new_group[:1] = True
    for col in columns:
        new_group[1:] |= col[order][1:] != col[order][:-1]
    position = np.arange(len(order))
    rank = position - np.maximum.accumulate(np.where(new_group, position, 0)) + 1
    return frame.iloc[order[rank <= n]].assign(rank=rank[rank <= n]).reset_index(drop=True)


def _finish(frame: pd.DataFrame, columns: tuple[str, ...], extras: tuple[str, ...]) -> pd.DataFrame:
    out = frame[[*columns, *extras]].reset_index(drop=True)
    out["rank"] = out["rank"].astype("int64")
    for col in out.columns:
        if col in ("score", "support", "confidence", "lift", "price_ratio", "expected_value"):
            out[col] = out[col].astype("float64")
        elif col != "rank":
            out[col] = out[col].fillna("").astype("str")
    return out


def rules_as_similarity(rules: pd.DataFrame) -> pd.DataFrame:
    """Association rules (``antecedent, consequent, ...``) as a similarity source, scored by
    ``damped_lift`` where present, else ``lift``."""
    metric = "damped_lift" if "damped_lift" in rules else "lift"
    return pd.DataFrame(
        {"item_id": rules["antecedent"].astype(str), "rec_item_id": rules["consequent"].astype(str), "score": rules[metric].astype(float)}
    )


# -- cross-sell -----------------------------------------------------------------------------
def build_cross_sell(
    item_similarity: Mapping[str, pd.DataFrame],
    lines: pd.DataFrame,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    *,
    rules: pd.DataFrame | None = None,
) -> Table:
    """``cross_sell``: complements of each product, blended from the sources of
    ``cfg.cross_sell_weights`` (``item_similarity``: source -> ``item_id, rec_item_id, score`` at
    product level; ``rules``: optional association rules, used as source ``rules`` unless
    ``item_similarity`` already has one). Never the product itself, another variant of it or a
    same-family substitute (product managers may still pin one in ``curated_links.csv``)."""
    sources = dict(item_similarity)
    if rules is not None and "rules" not in sources:
        sources["rules"] = rules_as_similarity(rules)
    counts: dict[str, int] = {}
    table = "cross_sell"
    links = blend(sources, cfg.cross_sell_weights, cfg.candidates_per_source)
    pins, blocks = ctx.curated.of_kind("cross_sell")
    links = _with_pins(links, pins)
    links = drop_rows(links, links["product_id"] == links["rec_product_id"], "self_or_variant", table, counts)
    fam = ctx.product_attr(links["product_id"], "family", "")
    substitute = (fam != "") & (fam == ctx.product_attr(links["rec_product_id"], "family", ""))
    links = drop_rows(links, substitute & (links["source"] != CURATED).to_numpy(), "same_family", table, counts)
    links = drop_rows(links, blocked_pairs(links, blocks), "curated_block", table, counts)

    rows = pair_evidence(lines, _country_top_n(links, lines, ctx, cfg, table, counts))
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    rows["reason"] = _cross_sell_reason(rows).to_numpy()
    return Table(_finish(rows, CROSS_SELL_COLUMNS, ("product_name", "rec_product_name")), counts)


def _cross_sell_reason(rows: pd.DataFrame) -> pd.Series:
    n_both = np.asarray(rows["buyers_both"], dtype=np.int64)
    # "1 DE buying center buys both", "37 DE buying centers buy both"
    who_buy = (
        pd.Series(n_both).astype(str) + " " + _country_prefix(rows["country"]).reset_index(drop=True)
        + np.where(n_both == 1, "buying center buys both", "buying centers buy both")
    )
    together = (
        "bought together with " + rows["product_name"].reset_index(drop=True) + " in " + _plural(rows["orders_together"], "order")
        + "; " + who_buy + " (lift " + _fmt(rows["lift"]) + ")"
    )
    both = (
        who_buy + " this and " + rows["product_name"].reset_index(drop=True) + " (" + rows["sources"].reset_index(drop=True) + ")"
    )
    similar = "buyers of " + rows["product_name"].reset_index(drop=True) + " have similar purchase patterns (" + rows["sources"].reset_index(drop=True) + ")"
    n_orders = rows["orders_together"].to_numpy()
    n_buyers = rows["buyers_both"].to_numpy()
    learned = np.where(n_orders > 0, together, np.where(n_buyers > 0, both, similar))
    return pd.Series(np.where(rows["source"].to_numpy() == CURATED, _curated_reason(rows["note"]), learned), dtype="str")


# -- up-sell --------------------------------------------------------------------------------
def upsell_cycle_edges(links: pd.DataFrame) -> np.ndarray:
    """True for each ``product_id -> rec_product_id`` edge that lies on a directed cycle
    (both ends in one strongly connected component)."""
    if links.empty:
        return np.zeros(0, dtype=bool)
    ids = pd.Index(pd.unique(pd.concat([links["product_id"], links["rec_product_id"]]).astype(str)))
    a = ids.get_indexer(links["product_id"].astype(str))
    b = ids.get_indexer(links["rec_product_id"].astype(str))
    graph = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=True, connection="strong")
    return (labels[a] == labels[b]) & (a != b)


def build_up_sell(
    item_similarity: Mapping[str, pd.DataFrame],
    lines: pd.DataFrame,
    ctx: RecommendContext,
    cfg: RecommendConfig,
) -> Table:
    """``up_sell``: higher-value alternatives in the same group (family), typical price within
    ``[upsell_min_price_ratio, upsell_max_price_ratio]`` x the product's, backed by buying centers
    that switched (``switch``, at least ``upsell_min_switchers``) and/or model similarity within the
    group. Pins may leave the price window but never go down or flat in price; no cycles."""
    counts: dict[str, int] = {}
    table = "up_sell"
    group = ctx.products["group"]
    switches = switch_evidence(lines, group)
    proven = switches[(switches["country"] == ALL_COUNTRIES) & (switches["switchers"] >= cfg.upsell_min_switchers)]
    sources = {"switch": proven.rename(columns={"product_id": "item_id", "rec_product_id": "rec_item_id", "switchers": "score"})}
    for name, sim in item_similarity.items():
        g_a = ctx.product_attr(sim["item_id"], "group", "")
        sources[name] = sim[(g_a != "") & (g_a == ctx.product_attr(sim["rec_item_id"], "group", ""))]
    links = blend(sources, cfg.upsell_weights, cfg.candidates_per_source)

    def ratio(frame: pd.DataFrame) -> np.ndarray:
        return ctx.product_attr(frame["rec_product_id"], "typical_price", np.nan) / ctx.product_attr(frame["product_id"], "typical_price", np.nan)

    r = ratio(links)
    window = (r >= cfg.upsell_min_price_ratio) & (r <= cfg.upsell_max_price_ratio)
    links = drop_rows(links, ~window, "upsell_price_window", table, counts)
    pins, blocks = ctx.curated.of_kind("up_sell")
    links = _with_pins(links, pins)
    links = drop_rows(links, blocked_pairs(links, blocks), "curated_block", table, counts)
    links["price_ratio"] = ratio(links)
    links = drop_rows(links, links["price_ratio"].notna() & (links["price_ratio"] <= 1.0), "upsell_not_higher_price", table, counts)
    links = drop_rows(links, upsell_cycle_edges(links), "upsell_cycle", table, counts)

    rows = _country_top_n(links, lines, ctx, cfg, table, counts).merge(switches, on=["country", "product_id", "rec_product_id"], how="left")
    rows[["switchers", "buyers"]] = rows[["switchers", "buyers"]].fillna(0).astype("int64")
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    rows["reason"] = _up_sell_reason(rows, ctx).to_numpy()
    return Table(_finish(rows, UP_SELL_COLUMNS, ("product_name", "rec_product_name")), counts)


def _up_sell_reason(rows: pd.DataFrame, ctx: RecommendContext) -> pd.Series:
    name = rows["product_name"].reset_index(drop=True)
    price = np.where(rows["price_ratio"].notna().to_numpy(), " (" + _fmt(rows["price_ratio"]) + "x the price)", "")
    switched = (
        "chosen as an upgrade by " + rows["switchers"].astype(str).reset_index(drop=True) + " of the "
        + rows["buyers"].astype(str).reset_index(drop=True) + " " + _country_prefix(rows["country"])
        + "buying centers that bought " + name + price
    )
    family = pd.Series(ctx.product_attr(rows["product_id"], "family", ""), dtype="str")
    similar = "the higher-value choice in the " + family + " family" + price + ", bought by buyers similar to those of " + name + " (" + rows["sources"].reset_index(drop=True) + ")"
    learned = np.where(rows["switchers"].to_numpy() > 0, switched, similar)
    return pd.Series(np.where(rows["source"].to_numpy() == CURATED, _curated_reason(rows["note"]) + price, learned), dtype="str")


# -- buying-center suggestions --------------------------------------------------------------
def buyer_directory(lines: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """One row per buying center: ``buying_center_id, customer_id, country, segment`` from the
    customer master, completed by the latest order line of buying centers it lacks."""
    cols = ["buying_center_id", "customer_id", "country", "segment"]
    latest = lines[["order_date", "buying_center_id", "customer_id", "country"]].sort_values("order_date")
    latest = latest.drop_duplicates("buying_center_id", keep="last")
    from_lines = latest[["buying_center_id", "customer_id", "country"]].assign(segment="")
    if customers is None or customers.empty:
        out = from_lines
    else:
        master = customers.assign(**{c: customers[c] if c in customers else "" for c in cols})[cols]
        out = pd.concat([master, from_lines[~member(from_lines["buying_center_id"], master["buying_center_id"])]], ignore_index=True)
    out = out[cols].fillna("").astype(str).drop_duplicates("buying_center_id")
    out["customer_id"] = out["customer_id"].where(out["customer_id"] != "", out["buying_center_id"])
    out["country"] = out["country"].where(out["country"] != "", ALL_COUNTRIES)
    return out.reset_index(drop=True)


def _anchored(anchors: pd.DataFrame, links: pd.DataFrame, products: np.ndarray, countries: np.ndarray) -> pd.DataFrame:
    """Best link per (buying center, recommended product) from the buying center's anchors
    (``b, c, a``: codes of buying center, its country, anchor product), using the links of its
    country where the table has them for the anchor, else ``ALL``. Returns ``b, p, a, score, link``
    (``p``: recommended product code, ``link``: row position in ``links``)."""
    n_p = len(products)
    link_key = encode(links["country"], countries) * n_p + encode(links["product_id"], products)
    by_key = np.argsort(link_key, kind="stable")
    sorted_key = link_key[by_key]
    anchor = anchors["a"].to_numpy()
    own_key = anchors["c"].to_numpy() * n_p + anchor
    own = np.searchsorted(sorted_key, own_key, "right") > np.searchsorted(sorted_key, own_key, "left")
    key = np.where(own, own_key, int(np.searchsorted(countries, ALL_COUNTRIES)) * n_p + anchor)
    lo, hi = np.searchsorted(sorted_key, key, "left"), np.searchsorted(sorted_key, key, "right")
    count = hi - lo
    source = np.repeat(np.arange(len(anchors), dtype=np.int32), count)
    link = by_key[np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))].astype(np.int32)
    b, a = anchors["b"].to_numpy(dtype=np.int32)[source], anchor.astype(np.int32)[source]
    p = encode(links["rec_product_id"], products).astype(np.int32)[link]
    score = links["score"].to_numpy(dtype=float)[link]
    del source
    pair = b.astype(np.int64) * n_p + p
    order = np.lexsort((a, -score, pair))
    best = order[np.r_[True, pair[order][1:] != pair[order][:-1]]] if len(order) else order
    return pd.DataFrame({"b": b[best], "p": p[best], "a": a[best], "score": score[best], "link": link[best]})


def _popularity(
    targets: pd.DataFrame, recent: pd.DataFrame, countries: np.ndarray, segments: np.ndarray, depth: int, months: int
) -> pd.DataFrame:
    """Popular products for ``targets`` (``b, c, s``: codes of buying center, country, segment):
    their (country, segment), then their country, then overall; distinct buying centers in
    ``recent`` (``b, c, s, p`` codes of purchases in the last ``months`` months). Returns ``b, p,
    score, reason``."""
    scopes = [(0, ["c", "s"]), (1, ["c"]), (2, [])]
    no_segment = int(np.searchsorted(segments, "")) if "" in set(segments) else -1
    parts = []
    for level, keys in scopes:
        pop = recent[[*keys, "p", "b"]].drop_duplicates().groupby([*keys, "p"]).size().rename("n").reset_index()
        pop = pop.sort_values([*keys, "n", "p"], ascending=[True] * len(keys) + [False, True])
        pop = pop[pop.groupby(keys).cumcount() < depth] if keys else pop.head(depth)
        tgt = targets[targets["s"] != no_segment] if level == 0 else targets
        hit = tgt.merge(pop, on=keys) if keys else tgt.merge(pop, how="cross")
        parts.append(hit.assign(level=level))
    pops = pd.concat(parts, ignore_index=True).sort_values(["b", "level", "n", "p"], ascending=[True, True, False, True])
    pops = pops.drop_duplicates(["b", "p"])
    pops["rank"] = pops.groupby("b").cumcount() + 1
    pops = pops[pops["rank"] <= depth].reset_index(drop=True)
    country = pd.Series(Coded(pops["c"].to_numpy(), countries).strings(), dtype="str")
    segment = pd.Series(Coded(pops["s"].to_numpy(), segments).strings(), dtype="str")
    where = np.select(
        [pops["level"].to_numpy() == 0, pops["level"].to_numpy() == 1],
        ["in " + country + " (segment " + segment + ")", "in " + country],
        "across all countries",
    )
    reason = "popular with " + _plural(pops["n"], "buying center").to_numpy() + " " + where + f" in the last {months} months"
    return pd.DataFrame({"b": pops["b"], "p": pops["p"], "score": 1.0 - (pops["rank"] - 1) / depth, "reason": pd.Series(reason, dtype="str")})


def _blend_candidates(
    found: dict[str, pd.DataFrame], w: dict[str, float], n_p: int, regular_keys: np.ndarray, table: str, counts: dict[str, int]
) -> pd.DataFrame:
    """One row per (buying center ``b``, product ``p``) found by the personal ranking (``found["p"]``:
    ``b, p, score``) or anchored cross-/up-sell links (``found["c"]``, ``found["u"]``: ``b, p, a,
    score, link``), blended with weights ``w``; rows scoring 0 dropped, regular purchases
    (``regular_keys``: ``b * n_p + p``) dropped and counted. Returns ``b, p, score, up, anchor,
    link, personal, popular`` (int32 codes; ``up``: the up-sell link explains it)."""
    keys = np.sort(pd.unique(np.concatenate([f["b"].to_numpy(dtype=np.int64) * n_p + f["p"].to_numpy() for f in found.values()])))
    at = {k: np.searchsorted(keys, f["b"].to_numpy(dtype=np.int64) * n_p + f["p"].to_numpy()) for k, f in found.items()}

    def spread(k: str, col: str, fill: float) -> np.ndarray:
        out = np.full(len(keys), fill, dtype=float if col == "score" else np.int32)
        out[at[k]] = found[k][col].to_numpy()
        return out

    parts = {k: np.nan_to_num(spread(k[0], "score", np.nan), nan=0.0) * w[k] for k in w}
    score = (parts["personal"] + parts["cross_sell"] + parts["up_sell"]) / max(sum(w.values()), 1e-12)
    up = (parts["up_sell"] > parts["cross_sell"]) & ~np.isnan(spread("u", "score", np.nan))
    personal = ~np.isnan(spread("p", "score", np.nan))
    del parts
    alive = np.flatnonzero(score > 0)
    alive = alive[~count_rows(np.isin(keys[alive], regular_keys), "regular_purchase", table, counts)]
    up = up[alive]
    return pd.DataFrame(
        {
            "b": (keys[alive] // n_p).astype(np.int32),
            "p": (keys[alive] % n_p).astype(np.int32),
            "score": score[alive],
            "up": up,
            "anchor": np.where(up, spread("u", "a", -1)[alive], spread("c", "a", -1)[alive]),
            "link": np.where(up, spread("u", "link", -1)[alive], spread("c", "link", -1)[alive]),
            "personal": personal[alive],
            "popular": np.full(len(alive), -1, dtype=np.int32),
        }
    )


def build_buying_center_suggestions(
    personal: pd.DataFrame,
    cross_sell: pd.DataFrame,
    up_sell: pd.DataFrame,
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    *,
    personal_source: str = "model",
) -> Table:
    """``buying_center_suggestions``: per buying center, the blend of the personal ranking
    (``personal``: ``buying_center_id, item_id, score`` at product level, from ``personal_source``)
    with the cross-sell / up-sell rows of the products it bought within ``anchor_months``. Regular
    purchases (>= ``regular_min_orders`` orders within ``regular_months``) are reorders, never
    suggested. Buying centers with no candidate (new ones) get (country, segment) popularity.

    Candidates are (buying center, product) int codes; variants are resolved and the business
    rules applied on codes; strings, names and reasons are made for the kept top-n rows only."""
    counts: dict[str, int] = {}
    table = "buying_center_suggestions"
    directory = buyer_directory(lines, customers)
    directory = directory.iloc[np.argsort(directory["buying_center_id"].to_numpy(dtype=object), kind="stable")].reset_index(drop=True)
    buyers = directory["buying_center_id"].to_numpy(dtype=object)
    bought = purchases(lines, ["buying_center_id", "country", "product_id", "order_id", "order_date", "net_value"])
    countries = sorted_ids(directory["country"], bought["country"], cross_sell["country"], up_sell["country"], np.array([ALL_COUNTRIES], dtype=object))
    products = sorted_ids(
        ctx.products.index, bought["product_id"], personal["item_id"],
        cross_sell["product_id"], cross_sell["rec_product_id"], up_sell["product_id"], up_sell["rec_product_id"],
    )
    n_p = len(products)
    home = encode(directory["country"], countries)
    segment = Coded.of(directory["segment"])
    codes = pd.DataFrame(
        {
            "b": encode(bought["buying_center_id"], buyers),
            "p": encode(bought["product_id"], products),
            "o": pd.factorize(bought["order_id"])[0],
            "date": bought["order_date"].to_numpy(),
        }
    )

    recent = codes[codes["date"] >= months_before(ctx.today, cfg.regular_months)]
    n_orders = recent[["b", "p", "o"]].drop_duplicates().groupby(["b", "p"]).size()
    regular = n_orders[n_orders >= cfg.regular_min_orders].reset_index()
    regular_keys = regular["b"].to_numpy() * n_p + regular["p"].to_numpy()

    anchors = codes.loc[codes["date"] >= months_before(ctx.today, cfg.anchor_months), ["b", "p"]].drop_duplicates()
    anchors = pd.DataFrame({"b": anchors["b"].to_numpy(), "c": home[anchors["b"].to_numpy()], "a": anchors["p"].to_numpy()})
    w = {k: cfg.buying_center_weights.get(k, 0.0) for k in ("personal", "cross_sell", "up_sell")}
    pers = pd.DataFrame(
        {"b": encode(personal["buying_center_id"], buyers), "p": encode(personal["item_id"], products), "score": personal["score"].to_numpy()}
    )
    pers = rank_normalise(pers[pers["b"] >= 0], cfg.candidates_per_source, query="b", item="p")
    found = {
        "p": pers[["b", "p", "norm"]].rename(columns={"norm": "score"}),
        "c": _anchored(anchors, cross_sell, products, countries),
        "u": _anchored(anchors, up_sell, products, countries),
    }
    cand = _blend_candidates(found, w, n_p, regular_keys, table, counts)

    empty = np.setdiff1d(np.arange(len(buyers)), cand["b"].to_numpy())
    window = codes["date"] >= months_before(ctx.today, cfg.popularity_months)
    last_year = codes.loc[window, ["b", "p"]].assign(c=encode(bought.loc[window.to_numpy(), "country"], countries))
    last_year["s"] = segment.codes[last_year["b"].to_numpy()]
    popular = _popularity(
        pd.DataFrame({"b": empty, "c": home[empty], "s": segment.codes[empty]}), last_year, countries, segment.ids,
        cfg.candidates_per_source, cfg.popularity_months,
    )
    rows = pd.concat(
        [cand, popular[["b", "p", "score"]].assign(up=False, anchor=-1, link=-1, personal=False, popular=np.arange(len(popular)))],
        ignore_index=True,
    )

    b, p = rows["b"].to_numpy(), rows["p"].to_numpy()
    country, product = Coded(home[b], countries), Coded(p, products)
    variant = resolve_variant_codes(lines, ctx, country, product, Coded(b, buyers))
    keep = business_rules_keep(ctx, cfg, country, product, variant, table=table, counts=counts)
    rows = rows.assign(variant=variant.codes.astype(np.int32))[keep]
    rows = _top_n(rows, ["b"], cfg.top_n_buying_center, rec_col="p")
    rows = _suggestion_rows(rows, directory, countries, products, variant.ids, codes, bought, cross_sell, up_sell, popular, ctx, personal_source)
    return Table(_finish(rows, BUYING_CENTER_COLUMNS, ("product_name", "anchor_product_name")), counts)


def _suggestion_rows(
    rows: pd.DataFrame,
    directory: pd.DataFrame,
    countries: np.ndarray,
    products: np.ndarray,
    variants: np.ndarray,
    codes: pd.DataFrame,
    bought: pd.DataFrame,
    cross_sell: pd.DataFrame,
    up_sell: pd.DataFrame,
    popular: pd.DataFrame,
    ctx: RecommendContext,
    personal_source: str,
) -> pd.DataFrame:
    """The kept top-n coded rows as ``BUYING_CENTER_COLUMNS`` strings, with expected value and reason."""
    b, p = rows["b"].to_numpy(), rows["p"].to_numpy()
    home = encode(directory["country"], countries)[b]
    n_p = len(products)
    local = codes.assign(c=encode(bought["country"], countries), value=bought["net_value"].to_numpy(dtype=float))
    local_value = local[local["value"] > 0].groupby(["c", "p"])["value"].median()
    local_value.index = local_value.index.get_level_values("c") * n_p + local_value.index.get_level_values("p")
    local_buyers = local[["c", "p", "b"]].drop_duplicates().groupby(["c", "p"]).size()
    local_buyers.index = local_buyers.index.get_level_values("c") * n_p + local_buyers.index.get_level_values("p")
    product_id = pd.Series(products[p], dtype="str")
    value = pd.Series(local_value.reindex(home * n_p + p).to_numpy(dtype=float))
    value = value.fillna(pd.Series(ctx.product_attr(product_id, "line_value", np.nan)))
    up = rows["up"].to_numpy()
    link = rows["link"].to_numpy()
    table_reason = np.where(
        up,
        Coded(np.where(up, link, -1), np.asarray(up_sell["reason"], dtype=object)).strings(),
        Coded(np.where(up, -1, link), np.asarray(cross_sell["reason"], dtype=object)).strings(),
    )
    table_reason = pd.Series(table_reason, dtype="str").fillna("")
    also = np.where(rows["personal"].to_numpy(), f"; also a top pick of the {personal_source} model for buying centers like yours", "")
    country = countries[home]
    where = np.where(country == ALL_COUNTRIES, "", " in " + country.astype(object))
    n_local = local_buyers.reindex(home * n_p + p).fillna(0).to_numpy()
    alone = (
        f"buying centers with purchase histories like yours buy this ({personal_source} model; "
        + _plural(n_local, "buying center").to_numpy(dtype=object) + where + " bought it)"
    )
    reason = np.where(table_reason.to_numpy() != "", (table_reason + also).to_numpy(dtype=object), alone)
    pop = rows["popular"].to_numpy()
    reason = np.where(pop >= 0, Coded(pop, np.asarray(popular["reason"], dtype=object)).strings(), reason)
    anchor = pd.Series(Coded(rows["anchor"].to_numpy(), products).strings(), dtype="str")
    return pd.DataFrame(
        {
            "country": country,
            "customer_id": directory["customer_id"].to_numpy(dtype=object)[b],
            "buying_center_id": directory["buying_center_id"].to_numpy(dtype=object)[b],
            "rank": rows["rank"].to_numpy(),
            "kind": np.where(up, "up_sell", "cross_sell"),
            "product_id": product_id,
            "variant_id": Coded(rows["variant"].to_numpy(), variants).strings(),
            "anchor_product_id": anchor,
            "score": rows["score"].to_numpy(),
            "expected_value": rows["score"].to_numpy() * value.to_numpy(),
            "reason": reason,
            "product_name": ctx.name_of(product_id).to_numpy(),
            "anchor_product_name": np.where(anchor != "", ctx.name_of(anchor).to_numpy(), ""),
        }
    )
