"""Variant resolution: recommend a product, then name the variant the buyer most likely needs.

Order of preference for a (buying center, country, product):

1. the buying center's own previous configuration of that product (most orders, then latest),
2. the variant ordered most in its country,
3. the variant ordered most overall,
4. the product master's first active standard variant (by id) when the product was never sold.

Only standard (never custom-made), not discontinued variants sold in the country are eligible.

Levels 2-4 depend on the (country, product) pair only, so they are resolved once per distinct
pair; level 1 once per distinct (buying center, country, product). Everything runs on int codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsell.interactions.build import purchases
from xsell.recommend.codes import Coded, encode
from xsell.recommend.context import RecommendContext
from xsell.schema import ALL_COUNTRIES


def _best(group: np.ndarray, n: np.ndarray, last: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """Row position of the best candidate per ``group``: most orders, then most recent (NaT
    last), then smallest variant code (= smallest id)."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64)
    stamp = last.astype("datetime64[ns]").view(np.int64)
    recency = np.where(np.isnat(last), np.iinfo(np.int64).max, -stamp)
    order = np.lexsort((variant, recency, -n, group))
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    return order[first]


def _order_stats(code: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per distinct ``keys`` (non-negative int code columns of ``code``): ``n`` distinct orders
    (``o``) and the ``last`` order date, as ``keys, n, last``. The keys are packed into one int
    (mixed radix) and the distinct (group, order) pairs counted, instead of pandas' ``nunique``."""
    radix = [int(code[k].max()) + 1 if len(code) else 1 for k in keys]
    packed = np.zeros(len(code), dtype=np.int64)
    for k, r in zip(keys, radix):
        packed = packed * r + code[k].to_numpy(dtype=np.int64)
    gid, groups = pd.factorize(packed)
    n_orders = int(code["o"].max()) + 1 if len(code) else 1
    pairs = pd.unique(gid.astype(np.int64) * n_orders + code["o"].to_numpy(dtype=np.int64))
    out: dict[str, np.ndarray] = {}
    rest = np.asarray(groups, dtype=np.int64)
    for k, r in reversed(list(zip(keys, radix))):
        rest, out[k] = np.divmod(rest, r)
    return pd.DataFrame(
        {
            **{k: out[k] for k in keys},
            "n": np.bincount(pairs // n_orders, minlength=len(groups)).astype(np.int64),
            "last": pd.Series(code["last"].to_numpy()).groupby(gid).max().to_numpy(),
        }
    )


def _country_filter(ctx: RecommendContext, variant_countries: pd.Series, countries: np.ndarray) -> np.ndarray | None:
    """(variants, countries) bool matrix of ``ctx.variant_in_country``; ``None``: all allowed."""
    if ctx.assortment_mode != "master":
        return None
    vc = variant_countries.fillna("").astype(str).reset_index(drop=True)
    allowed = np.ones((len(vc), len(countries)), dtype=bool)
    listed = np.flatnonzero((vc != "").to_numpy())
    for j, country in enumerate(countries):
        allowed[listed, j] = ctx.variant_in_country(pd.Series(country, index=range(len(listed))), vc.iloc[listed]).astype(bool)
    return allowed


def resolve_variant_codes(lines: pd.DataFrame, ctx: RecommendContext, country: Coded, product: Coded, buying_center: Coded | None = None) -> Coded:
    """Variant of each request row (``country``, ``product`` and optionally ``buying_center`` as
    codes); code -1 where no eligible variant exists. Ids of the result: eligible variant ids."""
    eligible = ctx.variants[~ctx.variants["is_custom"] & ~ctx.variants["discontinued"]]
    eligible = eligible[["variant_id", "product_id", "countries"]].drop_duplicates("variant_id")
    eligible = eligible.assign(variant_id=eligible["variant_id"].astype(str)).sort_values("variant_id").reset_index(drop=True)
    v_ids = eligible["variant_id"].to_numpy(dtype=object)
    allowed = _country_filter(ctx, eligible["countries"], country.ids)

    bought = purchases(lines, ["buying_center_id", "country", "product_id", "variant_id", "order_id", "order_date", "is_custom"])
    bought = bought[~bought["is_custom"].astype(bool)]
    code = pd.DataFrame(
        {
            "p": encode(bought["product_id"].astype(str), product.ids),
            "v": encode(bought["variant_id"].astype(str), v_ids),
            "c": encode(bought["country"].astype(str), country.ids),
            "o": pd.factorize(bought["order_id"])[0],
            "last": bought["order_date"].to_numpy(),
        }
    )
    if buying_center is not None:
        code["b"] = encode(bought["buying_center_id"].astype(str), buying_center.ids)
    code = code[(code["p"] >= 0) & (code["v"] >= 0)]

    def stats(keys: list[str]) -> pd.DataFrame:
        sub = code[(code[keys] >= 0).all(axis=1)] if keys != ["p"] else code
        return _order_stats(sub, [*keys, "v"])

    def pick(requests: pd.DataFrame, level: pd.DataFrame, on: list[str]) -> pd.DataFrame:
        """Best allowed variant per request row ``r`` among ``level`` rows matching on ``on``."""
        cands = requests.merge(level, on=on)
        if allowed is not None:
            cands = cands[allowed[cands["v"].to_numpy(), cands["c"].to_numpy()]]
        best = _best(cands["r"].to_numpy(), cands["n"].to_numpy(), cands["last"].to_numpy(), cands["v"].to_numpy())
        return cands.iloc[best][["r", "v"]]

    out = np.full(len(product), -1, dtype=np.int64)
    todo = np.flatnonzero((product.codes >= 0) & (country.codes >= 0))
    n_p = max(len(product.ids), 1)
    if buying_center is not None and len(todo):
        own = stats(["b", "p"])
        owned = pd.Index(pd.unique(own["b"].to_numpy() * n_p + own["p"].to_numpy()))
        mine = todo[owned.get_indexer(buying_center.codes[todo] * n_p + product.codes[todo]) >= 0]
        req = pd.DataFrame({"b": buying_center.codes[mine], "c": country.codes[mine], "p": product.codes[mine]})
        uniq = req.drop_duplicates().reset_index(drop=True)
        found = pick(uniq.assign(r=np.arange(len(uniq))), own, ["b", "p"])
        resolved = np.full(len(uniq), -1, dtype=np.int64)
        resolved[found["r"].to_numpy()] = found["v"].to_numpy()
        out[mine] = req.merge(uniq.assign(found=resolved), on=["b", "c", "p"], how="left")["found"].to_numpy()
        todo = todo[out[todo] < 0]

    inverse, pairs = pd.factorize(country.codes[todo] * n_p + product.codes[todo])
    pending = pd.DataFrame({"r": np.arange(len(pairs)), "c": pairs // n_p, "p": pairs % n_p})
    resolved = np.full(len(pairs), -1, dtype=np.int64)
    all_code = np.searchsorted(country.ids, ALL_COUNTRIES) if ALL_COUNTRIES in set(country.ids) else -1
    master = pd.DataFrame({"p": encode(eligible["product_id"].astype(str), product.ids), "v": np.arange(len(v_ids)), "n": 0, "last": pd.NaT})
    levels = [
        (["c", "p"], lambda: stats(["c", "p"])[lambda f: f["c"] != all_code]),
        (["p"], lambda: stats(["p"])),
        (["p"], lambda: master[master["p"] >= 0].astype({"last": "datetime64[ns]"})),
    ]
    for on, level in levels:
        if pending.empty:
            break
        found = pick(pending, level(), on)
        resolved[found["r"].to_numpy()] = found["v"].to_numpy()
        pending = pending[resolved[pending["r"].to_numpy()] < 0]
    out[todo] = resolved[inverse]
    return Coded(out, v_ids)


def resolve_variants(requests: pd.DataFrame, lines: pd.DataFrame, ctx: RecommendContext) -> pd.Series:
    """Variant id for each row of ``requests`` (``country, product_id`` and optionally
    ``buying_center_id``); ``""`` where no eligible variant exists. Index aligned with ``requests``."""
    bc = Coded.of(requests["buying_center_id"].astype(str)) if "buying_center_id" in requests else None
    found = resolve_variant_codes(lines, ctx, Coded.of(requests["country"].astype(str)), Coded.of(requests["product_id"].astype(str)), bc)
    return pd.Series(found.strings(""), index=requests.index, name="variant_id", dtype="str")
