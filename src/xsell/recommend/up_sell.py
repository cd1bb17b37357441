"""``up_sell``: higher-value alternatives in the same group, backed by observed switches and
model similarity, inside the price window, never in a cycle."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from xsell.messages import REASON_CODE, REASON_PARAMS, reason_columns
from xsell.recommend.blend import blend
from xsell.recommend.business_rules import blocked_pairs, drop_rows
from xsell.recommend.common import CURATED, Table, country_top_n, finish, reason_country, with_pins
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext
from xsell.recommend.evidence import switch_evidence
from xsell.recommend.variants import VariantResolver
from xsell.schema import ALL_COUNTRIES, UP_SELL_COLUMNS

log = logging.getLogger(__name__)

NO_FAMILIES = (
    "products have no families (each product is its own: no product master family column and no "
    "data.family_rule), so up-sell has no candidates; map data.product_columns.family or set data.family_rule"
)
"""Why ``up_sell`` is empty when nothing groups products into families (the run publishes without it)."""


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
    *,
    variants: VariantResolver | None = None,
) -> Table:
    """``up_sell``: higher-value alternatives in the same group (family), typical price within
    ``[upsell_min_price_ratio, upsell_max_price_ratio]`` x the product's, backed by buying centers
    that switched (``switch``, at least ``upsell_min_switchers``) and/or model similarity within the
    group. Pins may leave the price window but never go down or flat in price; no cycles.
    ``variants``: the run's variant resolver (default: one built from ``lines``)."""
    counts: dict[str, int] = {}
    table = "up_sell"
    group = ctx.products["group"]
    if not group[group != ""].duplicated().any():
        log.warning("up_sell: %s; the run publishes without up-sell", NO_FAMILIES)
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
    links = with_pins(links, pins)
    links = drop_rows(links, blocked_pairs(links, blocks), "curated_block", table, counts)
    links["price_ratio"] = ratio(links)
    links = drop_rows(links, links["price_ratio"].notna() & (links["price_ratio"] <= 1.0), "upsell_not_higher_price", table, counts)
    links = drop_rows(links, upsell_cycle_edges(links), "upsell_cycle", table, counts)

    rows = country_top_n(links, lines, ctx, cfg, table, counts, variants).merge(switches, on=["country", "product_id", "rec_product_id"], how="left")
    rows[["switchers", "buyers"]] = rows[["switchers", "buyers"]].fillna(0).astype("int64")
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    for column, values in _up_sell_reason(rows, ctx).items():
        rows[column] = values
    return Table(finish(rows, UP_SELL_COLUMNS, ("product_name", "rec_product_name", REASON_CODE, REASON_PARAMS)), counts)


def _up_sell_reason(rows: pd.DataFrame, ctx: RecommendContext) -> dict[str, np.ndarray]:
    """Reason columns: buying centers that switched, else the higher-value choice of the family
    bought by similar buyers; curated rows say so. No model names: they stay in ``source``."""
    code = np.select(
        [rows["source"].to_numpy() == CURATED, rows["switchers"].to_numpy() > 0], ["up_sell.curated", "up_sell.switched"], "up_sell.similar"
    )
    params = pd.DataFrame(
        {
            "anchor": rows["product_name"].to_numpy(dtype=object),
            "switchers": rows["switchers"].to_numpy(),
            "buyers": rows["buyers"].to_numpy(),
            "country": reason_country(rows["country"]),
            "ratio": rows["price_ratio"].to_numpy(dtype=float),
            "family": ctx.product_attr(rows["product_id"], "family", ""),
            "note": rows["note"].fillna("").to_numpy(dtype=object),
        }
    )
    return reason_columns(code, params)
