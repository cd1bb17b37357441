"""``xsell links review``: learned links with evidence, in the shape of ``curated_links.csv``.

See ``xsell.recommend.curated`` for the loop. The export holds the ``ALL`` rows of ``cross_sell``
and ``up_sell`` (learned links with an empty ``action``) and the current curated pins and blocks
(with their ``action``, ``note`` and ``valid_until``), so saving the file after marking rows gives a
complete ``curated_links.csv``: nothing curated earlier is lost. The last columns carry the
measured uptake of each link (``xsell monitor``: of the buying centers that bought the product
after a published run, and did not have the recommended product, how many bought it then), so
product managers review with evidence; they are empty for links not measured yet.
"""

from __future__ import annotations

import pandas as pd

from xsell.recommend.context import RecommendContext
from xsell.schema import ALL_COUNTRIES

REVIEW_COLUMNS: tuple[str, ...] = (
    "product_id", "product_name", "rec_product_id", "rec_product_name", "kind", "score", "source",
    "reason", "action", "note", "valid_until",
)
UPTAKE_REVIEW_COLUMNS: tuple[str, ...] = ("uptake_buying_centers", "uptake_bought", "uptake", "uptake_run")
"""Appended after ``REVIEW_COLUMNS``: buying centers that bought the product in the measured run's
window without having the recommended product, how many of them bought it afterwards, the share,
and the published run measured (``xsell.monitor.uptake``, ``link_uptake.csv``)."""


def build_links_review(
    cross_sell: pd.DataFrame, up_sell: pd.DataFrame, ctx: RecommendContext, uptake: pd.DataFrame | None = None, uptake_run: str = ""
) -> pd.DataFrame:
    """``REVIEW_COLUMNS`` + ``UPTAKE_REVIEW_COLUMNS`` rows: curated pins and blocks first (action
    filled), then learned links by kind, product and rank (action empty, for product managers to
    fill with pin or block). ``uptake``: ``kind, product_id, rec_product_id, suggested, bought,
    uptake`` per link of the published run ``uptake_run``."""
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
    measured = pd.DataFrame(columns=[*key, "suggested", "bought", "uptake"]) if uptake is None else uptake
    measured = measured[[*key, "suggested", "bought", "uptake"]].astype({c: str for c in key})
    measured = measured.rename(columns={"suggested": "uptake_buying_centers", "bought": "uptake_bought"})
    out = out.merge(measured, on=key, how="left", validate="many_to_one")
    out["uptake_run"] = pd.Series(uptake_run, index=out.index, dtype="str").where(out["uptake_buying_centers"].notna(), "")
    return out[[*REVIEW_COLUMNS, *UPTAKE_REVIEW_COLUMNS]].reset_index(drop=True)
