"""Variant resolution: recommend a product, then name the variant the buyer most likely needs.

Order of preference for a (buying center, country, product):

1. the buying center's own previous configuration of that product (most orders, then latest),
2. the variant ordered most in its country,
3. the variant ordered most overall,
4. the product master's first active standard variant (by id) when the product was never sold.

Only standard (never custom-made), not discontinued variants sold in the country are eligible.
"""

from __future__ import annotations

import pandas as pd

from xsell.recommend.context import RecommendContext, purchases
from xsell.schema import ALL_COUNTRIES


def _best(cands: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys``: most orders, then most recent, then smallest variant id."""
    ordered = cands.sort_values(
        [*keys, "n", "last", "variant_id"], ascending=[True] * len(keys) + [False, False, True], na_position="last"
    )
    return ordered.drop_duplicates(keys)


def resolve_variants(requests: pd.DataFrame, lines: pd.DataFrame, ctx: RecommendContext) -> pd.Series:
    """Variant id for each row of ``requests`` (``country, product_id`` and optionally
    ``buying_center_id``); ``""`` where no eligible variant exists. Index aligned with ``requests``."""
    eligible = ctx.variants[~ctx.variants["is_custom"] & ~ctx.variants["discontinued"]]
    eligible = eligible[["variant_id", "product_id", "countries"]].drop_duplicates("variant_id")
    bought = purchases(lines)
    bought = bought[~bought["is_custom"].astype(bool)][["buying_center_id", "country", "product_id", "variant_id", "order_id", "order_date"]]
    bought = bought.astype({"buying_center_id": str, "country": str, "product_id": str, "variant_id": str})
    bought = bought[bought["variant_id"].isin(eligible["variant_id"])]

    def stats(keys: list[str]) -> pd.DataFrame:
        return bought.groupby([*keys, "variant_id"]).agg(n=("order_id", "nunique"), last=("order_date", "max")).reset_index()

    has_bc = "buying_center_id" in requests
    req_keys = ["buying_center_id", "country", "product_id"] if has_bc else ["country", "product_id"]
    todo = requests[req_keys].astype(str).drop_duplicates()
    levels: list[tuple[list[str], pd.DataFrame]] = []
    if has_bc:
        levels.append((["buying_center_id", "product_id"], stats(["buying_center_id", "product_id"])))
    levels.append((["country", "product_id"], stats(["country", "product_id"])))
    levels.append((["product_id"], stats(["product_id"])))
    levels.append((["product_id"], eligible[["product_id", "variant_id"]].assign(n=0, last=pd.NaT)))

    found = []
    for keys, level in levels:
        if todo.empty:
            break
        if keys == ["country", "product_id"]:
            level = level[level["country"] != ALL_COUNTRIES]
        cands = todo.merge(level, on=keys).merge(eligible[["variant_id", "countries"]], on="variant_id")
        cands = cands[ctx.variant_in_country(cands["country"], cands["countries"])]
        best = _best(cands, req_keys)[[*req_keys, "variant_id"]]
        found.append(best)
        todo = todo.merge(best[req_keys], on=req_keys, how="left", indicator=True)
        todo = todo.loc[todo["_merge"] == "left_only", req_keys]
    resolved = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[*req_keys, "variant_id"])
    out = requests[req_keys].astype(str).merge(resolved, on=req_keys, how="left")["variant_id"]
    return pd.Series(out.fillna("").astype(str).to_numpy(), index=requests.index, name="variant_id")
