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
from xsell.recommend.business_rules import apply_business_rules, blocked_pairs, drop_rows
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext, months_before, purchases
from xsell.recommend.evidence import pair_evidence, switch_evidence
from xsell.recommend.variants import resolve_variants
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


def _expand_countries(links: pd.DataFrame, ctx: RecommendContext) -> pd.DataFrame:
    """One ``ALL`` row per link, plus one per country where its product sold recently."""
    local = links.merge(ctx.sold, on="product_id")
    return pd.concat([links.assign(country=ALL_COUNTRIES), local], ignore_index=True)


def _top_n(frame: pd.DataFrame, keys: list[str], n: int, rec_col: str = "rec_product_id") -> pd.DataFrame:
    """Pins first (file order), then by score; keep ``n`` per ``keys``; ``rank`` = 1..n."""
    ordered = frame.assign(_pin=frame.get("pin_order", pd.Series(np.nan, index=frame.index)).fillna(np.inf))
    ordered = ordered.sort_values([*keys, "_pin", "score", rec_col], ascending=[True] * len(keys) + [True, False, True], kind="stable")
    ordered["rank"] = ordered.groupby(keys, sort=False).cumcount() + 1
    return ordered[ordered["rank"] <= n].drop(columns="_pin").reset_index(drop=True)


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

    rows = pair_evidence(lines, _expand_countries(links, ctx))
    rows["rec_variant_id"] = resolve_variants(rows[["country", "rec_product_id"]].rename(columns={"rec_product_id": "product_id"}), lines, ctx)
    rows, counts = apply_business_rules(rows, ctx, cfg, table=table, counts=counts)
    rows = _top_n(rows, ["country", "product_id"], cfg.top_n_product)
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    rows["reason"] = _cross_sell_reason(rows).to_numpy()
    return Table(_finish(rows, CROSS_SELL_COLUMNS, ("product_name", "rec_product_name")), counts)


def _cross_sell_reason(rows: pd.DataFrame) -> pd.Series:
    who = _country_prefix(rows["country"]) + "buying centers"
    together = (
        "bought together with " + rows["product_name"].reset_index(drop=True) + " in " + _plural(rows["orders_together"], "order")
        + "; " + rows["buyers_both"].astype(str).reset_index(drop=True) + " " + who + " buy both (lift " + _fmt(rows["lift"]) + ")"
    )
    both = (
        rows["buyers_both"].astype(str).reset_index(drop=True) + " " + who + " buy both this and "
        + rows["product_name"].reset_index(drop=True) + " (" + rows["sources"].reset_index(drop=True) + ")"
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

    rows = _expand_countries(links, ctx).merge(switches, on=["country", "product_id", "rec_product_id"], how="left")
    rows[["switchers", "buyers"]] = rows[["switchers", "buyers"]].fillna(0).astype("int64")
    rows["rec_variant_id"] = resolve_variants(rows[["country", "rec_product_id"]].rename(columns={"rec_product_id": "product_id"}), lines, ctx)
    rows, counts = apply_business_rules(rows, ctx, cfg, table=table, counts=counts)
    rows = _top_n(rows, ["country", "product_id"], cfg.top_n_product)
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
    latest = lines.sort_values("order_date").drop_duplicates("buying_center_id", keep="last")
    from_lines = latest[["buying_center_id", "customer_id", "country"]].assign(segment="")
    if customers is None or customers.empty:
        out = from_lines
    else:
        master = customers.assign(**{c: customers[c] if c in customers else "" for c in cols})[cols]
        out = pd.concat([master, from_lines[~from_lines["buying_center_id"].isin(master["buying_center_id"])]], ignore_index=True)
    out = out[cols].fillna("").astype(str).drop_duplicates("buying_center_id")
    out["customer_id"] = out["customer_id"].where(out["customer_id"] != "", out["buying_center_id"])
    out["country"] = out["country"].where(out["country"] != "", ALL_COUNTRIES)
    return out.reset_index(drop=True)


def _anchored(anchors: pd.DataFrame, links: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Best link per (buying center, recommended product) from the buying center's anchors, using
    the rows of its country where the table has them, else ``ALL``."""
    have = pd.MultiIndex.from_frame(links[["country", "product_id"]].drop_duplicates())
    own = pd.MultiIndex.from_arrays([anchors["country"], anchors["product_id"]]).isin(have)
    keyed = anchors.assign(country=np.where(own, anchors["country"], ALL_COUNTRIES))
    hits = keyed.merge(links[["country", "product_id", "rec_product_id", "score", "reason"]], on=["country", "product_id"])
    hits = hits.sort_values(["buying_center_id", "rec_product_id", "score", "product_id"], ascending=[True, True, False, True])
    best = hits.drop_duplicates(["buying_center_id", "rec_product_id"])
    return best.rename(
        columns={"product_id": f"{prefix}_anchor", "rec_product_id": "product_id", "score": f"{prefix}_score", "reason": f"{prefix}_reason"}
    )[["buying_center_id", "product_id", f"{prefix}_anchor", f"{prefix}_score", f"{prefix}_reason"]]


def _popularity(targets: pd.DataFrame, bought: pd.DataFrame, buyers: pd.DataFrame, depth: int, months: int) -> pd.DataFrame:
    """Popular products for ``targets`` (buying centers): their (country, segment), then their
    country, then overall; distinct buying centers in the last ``months`` months."""
    recent = bought.merge(buyers[["buying_center_id", "segment"]], on="buying_center_id", how="left")
    recent["segment"] = recent["segment"].fillna("")
    scopes = [(0, ["country", "segment"]), (1, ["country"]), (2, [])]
    parts = []
    for level, keys in scopes:
        pop = recent.groupby([*keys, "product_id"])["buying_center_id"].nunique().rename("n").reset_index()
        pop = pop.sort_values([*keys, "n", "product_id"], ascending=[True] * len(keys) + [False, True])
        pop = pop[pop.groupby(keys).cumcount() < depth] if keys else pop.head(depth)
        tgt = targets[targets["segment"] != ""] if level == 0 else targets
        hit = tgt.merge(pop, on=keys) if keys else tgt.merge(pop, how="cross")
        parts.append(hit.assign(level=level))
    pops = pd.concat(parts, ignore_index=True).sort_values(["buying_center_id", "level", "n", "product_id"], ascending=[True, True, False, True])
    pops = pops.drop_duplicates(["buying_center_id", "product_id"])
    pops["rank"] = pops.groupby("buying_center_id").cumcount() + 1
    pops = pops[pops["rank"] <= depth]
    where = np.select(
        [pops["level"] == 0, pops["level"] == 1],
        ["in " + pops["country"] + " (segment " + pops["segment"] + ")", "in " + pops["country"]],
        "across all countries",
    )
    reason = "popular with " + _plural(pops["n"], "buying center").to_numpy() + " " + where + f" in the last {months} months"
    return pops.assign(score=1.0 - (pops["rank"] - 1) / depth, reason=reason, kind="cross_sell", anchor_product_id="")


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
    suggested. Buying centers with no candidate (new ones) get (country, segment) popularity."""
    counts: dict[str, int] = {}
    table = "buying_center_suggestions"
    buyers = buyer_directory(lines, customers)
    bought = purchases(lines).astype({"buying_center_id": str, "product_id": str, "country": str})
    bought = bought[["buying_center_id", "country", "product_id", "order_id", "order_date", "net_value"]]
    home = buyers.set_index("buying_center_id")["country"]

    recent = bought[bought["order_date"] >= months_before(ctx.today, cfg.regular_months)]
    n_orders = recent.groupby(["buying_center_id", "product_id"])["order_id"].nunique()
    regular = n_orders[n_orders >= cfg.regular_min_orders].index

    anchors = bought[bought["order_date"] >= months_before(ctx.today, cfg.anchor_months)][["buying_center_id", "product_id"]].drop_duplicates()
    anchors = anchors.assign(country=anchors["buying_center_id"].map(home).fillna(ALL_COUNTRIES).astype(str))
    w = {k: cfg.buying_center_weights.get(k, 0.0) for k in ("personal", "cross_sell", "up_sell")}
    pers = rank_normalise(
        personal.astype({"buying_center_id": str, "item_id": str})[["buying_center_id", "item_id", "score"]],
        cfg.candidates_per_source,
        query="buying_center_id",
        item="item_id",
    ).rename(columns={"item_id": "product_id", "norm": "p_score"})[["buying_center_id", "product_id", "p_score"]]
    cand = pers.merge(_anchored(anchors, cross_sell, "c"), on=["buying_center_id", "product_id"], how="outer")
    cand = cand.merge(_anchored(anchors, up_sell, "u"), on=["buying_center_id", "product_id"], how="outer")
    cand = cand[cand["buying_center_id"].isin(buyers["buying_center_id"])]
    parts = {k: cand[f"{k[0]}_score"].fillna(0.0).to_numpy() * w[k] for k in w}
    cand["score"] = (parts["personal"] + parts["cross_sell"] + parts["up_sell"]) / max(sum(w.values()), 1e-12)
    up = (parts["up_sell"] > parts["cross_sell"]) & cand["u_score"].notna().to_numpy()
    cand["kind"] = np.where(up, "up_sell", "cross_sell")
    cand["anchor_product_id"] = np.where(up, cand["u_anchor"], cand["c_anchor"])
    cand["anchor_product_id"] = cand["anchor_product_id"].fillna("").astype(str)
    table_reason = pd.Series(np.where(up, cand["u_reason"], cand["c_reason"]), index=cand.index).fillna("").astype(str)
    also = np.where(cand["p_score"].notna(), f"; also a top pick of the {personal_source} model for buying centers like yours", "")
    cand = cand.assign(country=cand["buying_center_id"].map(home).astype(str))
    local_buyers = bought.groupby(["country", "product_id"])["buying_center_id"].nunique().rename("n").reset_index()
    n_local = cand[["country", "product_id"]].merge(local_buyers, on=["country", "product_id"], how="left")["n"].fillna(0)
    where = np.where(cand["country"].to_numpy() == ALL_COUNTRIES, "", " in " + cand["country"].to_numpy(dtype=object))
    alone = (
        f"buying centers with purchase histories like yours buy this ({personal_source} model; "
        + _plural(n_local, "buying center").to_numpy(dtype=object) + where + " bought it)"
    )
    cand["reason"] = np.where(table_reason.to_numpy() != "", (table_reason + also).to_numpy(dtype=object), alone)
    cand = cand[cand["score"] > 0]

    is_regular = pd.MultiIndex.from_frame(cand[["buying_center_id", "product_id"]]).isin(regular)
    cand = drop_rows(cand, is_regular, "regular_purchase", table, counts)
    empty = buyers[~buyers["buying_center_id"].isin(cand["buying_center_id"])]
    popular = _popularity(empty, bought[bought["order_date"] >= months_before(ctx.today, cfg.popularity_months)], buyers, cfg.candidates_per_source, cfg.popularity_months)
    cols = ["buying_center_id", "country", "product_id", "score", "kind", "anchor_product_id", "reason"]
    rows = pd.concat([cand[cols], popular[cols]], ignore_index=True)
    rows = rows.merge(buyers[["buying_center_id", "customer_id"]], on="buying_center_id", how="left")

    rows["variant_id"] = resolve_variants(rows[["buying_center_id", "country", "product_id"]], lines, ctx)
    rows, counts = apply_business_rules(rows, ctx, cfg, table=table, product_col="product_id", variant_col="variant_id", counts=counts)
    rows = _top_n(rows, ["buying_center_id"], cfg.top_n_buying_center, rec_col="product_id")
    local_value = bought[bought["net_value"] > 0].groupby(["country", "product_id"])["net_value"].median().rename("value")
    value = rows[["country", "product_id"]].merge(local_value.reset_index(), on=["country", "product_id"], how="left")["value"]
    value = pd.Series(value.to_numpy(dtype=float), index=rows.index)
    value = value.fillna(pd.Series(ctx.product_attr(rows["product_id"], "line_value", np.nan), index=rows.index))
    rows["expected_value"] = rows["score"] * value
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    anchor_name = ctx.name_of(rows["anchor_product_id"]).to_numpy()
    rows["anchor_product_name"] = np.where(rows["anchor_product_id"] != "", anchor_name, "")
    return Table(_finish(rows, BUYING_CENTER_COLUMNS, ("product_name", "anchor_product_name")), counts)
