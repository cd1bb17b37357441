"""``cross_sell``: complements of each product, blended from association rules and model
similarity (``recommend.cross_sell_weights``), with each country's own basket evidence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from xsell.messages import REASON_CODE, REASON_PARAMS, reason_columns
from xsell.recommend.blend import blend
from xsell.recommend.business_rules import blocked_pairs, drop_rows
from xsell.recommend.common import CURATED, Table, country_top_n, finish, reason_country, with_pins
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext
from xsell.recommend.evidence import pair_evidence
from xsell.recommend.variants import VariantResolver
from xsell.schema import CROSS_SELL_COLUMNS


def rules_as_similarity(rules: pd.DataFrame) -> pd.DataFrame:
    """Association rules (``antecedent, consequent, ...``) as a similarity source, scored by
    ``damped_lift`` where present, else ``lift``."""
    metric = "damped_lift" if "damped_lift" in rules else "lift"
    return pd.DataFrame(
        {"item_id": rules["antecedent"].astype(str), "rec_item_id": rules["consequent"].astype(str), "score": rules[metric].astype(float)}
    )


def build_cross_sell(
    item_similarity: Mapping[str, pd.DataFrame],
    lines: pd.DataFrame,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    *,
    rules: pd.DataFrame | None = None,
    variants: VariantResolver | None = None,
) -> Table:
    """``cross_sell``: complements of each product, blended from the sources of
    ``cfg.cross_sell_weights`` (``item_similarity``: source -> ``item_id, rec_item_id, score`` at
    product level; ``rules``: optional association rules, used as source ``rules`` unless
    ``item_similarity`` already has one). Never the product itself, another variant of it or a
    same-family substitute (product managers may still pin one in ``curated_links.csv``).
    ``variants``: the run's variant resolver (default: one built from ``lines``)."""
    sources = dict(item_similarity)
    if rules is not None and "rules" not in sources:
        sources["rules"] = rules_as_similarity(rules)
    counts: dict[str, int] = {}
    table = "cross_sell"
    links = blend(sources, cfg.cross_sell_weights, cfg.candidates_per_source)
    pins, blocks = ctx.curated.of_kind("cross_sell")
    links = with_pins(links, pins)
    links = drop_rows(links, links["product_id"] == links["rec_product_id"], "self_or_variant", table, counts)
    fam = ctx.product_attr(links["product_id"], "family", "")
    substitute = (fam != "") & (fam == ctx.product_attr(links["rec_product_id"], "family", ""))
    links = drop_rows(links, substitute & (links["source"] != CURATED).to_numpy(), "same_family", table, counts)
    links = drop_rows(links, blocked_pairs(links, blocks), "curated_block", table, counts)

    rows = pair_evidence(lines, country_top_n(links, lines, ctx, cfg, table, counts, variants))
    # basket evidence applies to pairs ordered together; elsewhere it is empty, not a misleading 0
    rows.loc[rows["orders_together"].to_numpy() == 0, ["support", "confidence", "lift"]] = np.nan
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    for column, values in _cross_sell_reason(rows).items():
        rows[column] = values
    return Table(finish(rows, CROSS_SELL_COLUMNS, ("product_name", "rec_product_name", REASON_CODE, REASON_PARAMS)), counts)


def _cross_sell_reason(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Reason columns: bought together (orders and buyers), bought by the same buying centers, or
    similar buyers (a model's similarity, no shared buyer); curated rows say so. No model names:
    they stay in ``source``."""
    n_orders = rows["orders_together"].to_numpy()
    n_buyers = rows["buyers_both"].to_numpy()
    code = np.select(
        [rows["source"].to_numpy() == CURATED, n_orders > 0, n_buyers > 0],
        ["curated", "cross_sell.together", "cross_sell.buyers"],
        "cross_sell.similar",
    )
    params = pd.DataFrame(
        {
            "anchor": rows["product_name"].to_numpy(dtype=object),
            "orders": n_orders,
            "buyers": n_buyers,
            "country": reason_country(rows["country"]),
            "lift": rows["lift"].to_numpy(dtype=float),
            "note": rows["note"].fillna("").to_numpy(dtype=object),
        }
    )
    return reason_columns(code, params)
