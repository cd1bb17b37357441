"""``cross_sell``: complements of each product, blended from association rules and model
similarity (``recommend.cross_sell_weights``), with each country's own basket evidence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from xsell.recommend.blend import blend
from xsell.recommend.business_rules import blocked_pairs, drop_rows
from xsell.recommend.common import CURATED, Table, country_prefix, country_top_n, curated_reason, finish, fmt, plural, with_pins
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext
from xsell.recommend.evidence import pair_evidence
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
    links = with_pins(links, pins)
    links = drop_rows(links, links["product_id"] == links["rec_product_id"], "self_or_variant", table, counts)
    fam = ctx.product_attr(links["product_id"], "family", "")
    substitute = (fam != "") & (fam == ctx.product_attr(links["rec_product_id"], "family", ""))
    links = drop_rows(links, substitute & (links["source"] != CURATED).to_numpy(), "same_family", table, counts)
    links = drop_rows(links, blocked_pairs(links, blocks), "curated_block", table, counts)

    rows = pair_evidence(lines, country_top_n(links, lines, ctx, cfg, table, counts))
    rows["product_name"] = ctx.name_of(rows["product_id"]).to_numpy()
    rows["rec_product_name"] = ctx.name_of(rows["rec_product_id"]).to_numpy()
    rows["reason"] = _cross_sell_reason(rows).to_numpy()
    return Table(finish(rows, CROSS_SELL_COLUMNS, ("product_name", "rec_product_name")), counts)


def _cross_sell_reason(rows: pd.DataFrame) -> pd.Series:
    n_both = np.asarray(rows["buyers_both"], dtype=np.int64)
    # "1 DE buying center buys both", "37 DE buying centers buy both"
    who_buy = (
        pd.Series(n_both).astype(str) + " " + country_prefix(rows["country"]).reset_index(drop=True)
        + np.where(n_both == 1, "buying center buys both", "buying centers buy both")
    )
    together = (
        "bought together with " + rows["product_name"].reset_index(drop=True) + " in " + plural(rows["orders_together"], "order")
        + "; " + who_buy + " (lift " + fmt(rows["lift"]) + ")"
    )
    both = (
        who_buy + " this and " + rows["product_name"].reset_index(drop=True) + " (" + rows["sources"].reset_index(drop=True) + ")"
    )
    similar = "buyers of " + rows["product_name"].reset_index(drop=True) + " have similar purchase patterns (" + rows["sources"].reset_index(drop=True) + ")"
    n_orders = rows["orders_together"].to_numpy()
    n_buyers = rows["buyers_both"].to_numpy()
    learned = np.where(n_orders > 0, together, np.where(n_buyers > 0, both, similar))
    return pd.Series(np.where(rows["source"].to_numpy() == CURATED, curated_reason(rows["note"]), learned), dtype="str")
