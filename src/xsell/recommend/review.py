"""``xsell links review``: learned links with evidence, in the shape of ``curated_links.csv``.

See ``xsell.recommend.curated`` for the loop. The export holds the ``ALL`` rows of ``cross_sell``
and ``up_sell`` (learned links with an empty ``action``) and the current curated pins and blocks
(with their ``action``, ``note`` and ``valid_until``), so saving the file after marking rows gives a
complete ``curated_links.csv``: nothing curated earlier is lost.
"""

from __future__ import annotations

import pandas as pd

from xsell.recommend.context import RecommendContext
from xsell.schema import ALL_COUNTRIES

REVIEW_COLUMNS: tuple[str, ...] = (
    "product_id", "product_name", "rec_product_id", "rec_product_name", "kind", "score", "source",
    "reason", "action", "note", "valid_until",
)


def build_links_review(cross_sell: pd.DataFrame, up_sell: pd.DataFrame, ctx: RecommendContext) -> pd.DataFrame:
    """``REVIEW_COLUMNS`` rows: curated pins and blocks first (action filled), then learned links by
    kind, product and rank (action empty, for product managers to fill with pin or block)."""
    key = ["product_id", "rec_product_id", "kind"]
    learned = pd.concat(
        [cross_sell.assign(kind="cross_sell"), up_sell.assign(kind="up_sell")], ignore_index=True
    )
    learned = learned[learned["country"] == ALL_COUNTRIES]
    evidence = learned[[*key, "score", "source", "reason", "rank"]]
    curated = pd.concat(
        [ctx.curated.pins.assign(action="pin"), ctx.curated.blocks.assign(action="block")], ignore_index=True
    )[[*key, "action", "note", "valid_until"]]
    curated = curated.merge(evidence, on=key, how="left")
    fresh = evidence[evidence["source"] != "curated"]
    fresh = fresh[~pd.MultiIndex.from_frame(fresh[key]).isin(pd.MultiIndex.from_frame(curated[key]))]
    fresh = fresh.sort_values(["kind", "product_id", "rank"]).assign(action="", note="", valid_until="")
    out = pd.concat([curated, fresh], ignore_index=True)
    out["product_name"] = ctx.name_of(out["product_id"]).to_numpy()
    out["rec_product_name"] = ctx.name_of(out["rec_product_id"]).to_numpy()
    out = out[list(REVIEW_COLUMNS)]
    text = [c for c in REVIEW_COLUMNS if c != "score"]
    out[text] = out[text].fillna("").astype(str)
    return out.reset_index(drop=True)
