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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from xsell.interactions.build import purchases
from xsell.parallel import available_cores, ordered_map
from xsell.recommend.codes import Coded, encode, purchase_codes, sorted_ids
from xsell.recommend.context import RecommendContext
from xsell.schema import ALL_COUNTRIES
from xsell.sparse import distinct, in_sorted, lexsort_ints, ranges, run_starts, stable_argsort


def _best(group: np.ndarray, n: np.ndarray, last: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """Row position of the best candidate per ``group``: most orders, then most recent (NaT
    last), then smallest variant code (= smallest id)."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64)
    stamp = last.astype("datetime64[ns]").view(np.int64)
    recency = np.where(np.isnat(last), np.iinfo(np.int64).max, -stamp)
    order = lexsort_ints([variant, recency, -n, group])
    return order[run_starts(group[order])]


def _order_stats(code: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per distinct ``keys`` (non-negative int code columns of ``code``): ``n`` distinct orders
    (``o``) and the ``last`` order date, as ``keys, n, last`` sorted by the keys. The rows are
    ordered by (keys, order) with ``lexsort_ints``; a group starts where the keys packed into one
    int (mixed radix) change, a distinct order where the order changes too."""
    radix = [int(code[k].max()) + 1 if len(code) else 1 for k in keys]
    packed = np.zeros(len(code), dtype=np.int64)
    for k, r in zip(keys, radix):
        packed = packed * r + code[k].to_numpy(dtype=np.int64)
    o = code["o"].to_numpy(dtype=np.int64)
    order = lexsort_ints([o, *(code[k].to_numpy() for k in reversed(keys))])
    packed, o = packed[order], o[order]
    group = run_starts(packed)
    at = np.flatnonzero(group)
    new_order = group.copy()
    new_order[1:] |= o[1:] != o[:-1]
    last = code["last"].to_numpy()
    # NaT is int64's minimum: the maximum skips it unless a group has only NaT, as pandas' max
    latest = np.maximum.reduceat(last.view(np.int64)[order], at).view(last.dtype) if len(at) else last[:0]
    out: dict[str, np.ndarray] = {}
    rest = packed[at]
    for k, r in reversed(list(zip(keys, radix))):
        rest, out[k] = np.divmod(rest, r)
    return pd.DataFrame(
        {
            **{k: out[k] for k in keys},
            "n": np.add.reduceat(new_order.astype(np.int64), at) if len(at) else np.zeros(0, dtype=np.int64),
            "last": latest,
        }
    )


@dataclass(frozen=True)
class VariantResolver:
    """The preference levels of one purchase history and product master, computed once: the
    eligible variants (sorted ids), the order statistics of each level on the resolver's own int
    codes and, per country, which eligible variants are sold there. ``resolve`` answers any
    number of request sets (one per table) without touching the order lines again."""

    ctx: RecommendContext
    variant_ids: np.ndarray
    """Eligible variant ids, sorted: the ids the results' codes point into."""
    variant_countries: pd.Series
    """``countries`` of each eligible variant (``;``-joined, ``""``: everywhere)."""
    products: np.ndarray
    countries: np.ndarray
    buyers: np.ndarray
    own: pd.DataFrame
    """``b, p, v, n, last``: a buying center's own orders of each standard variant."""
    local: pd.DataFrame
    """``c, p, v, n, last``: orders per country (``ALL`` rows excluded)."""
    overall: pd.DataFrame
    """``p, v, n, last``: orders everywhere."""
    master: pd.DataFrame
    """``p, v, n, last``: every eligible variant of the master (n 0, last NaT)."""
    _allowed: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _by_key: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _axis_codes: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def _on_axis(self, axis: str, ids: np.ndarray) -> np.ndarray:
        """``encode(ids, <axis>)`` (``axis``: ``products``, ``countries`` or ``buyers``), kept per
        ids array: a table's blocks pass the same product and buying-center ids every time (the
        200k buying-center ids were encoded again for each block of the buying-center table)."""
        key = (axis, id(ids))
        known = self._axis_codes.get(key)
        if known is not None and known[0] is ids:
            return known[1]
        codes = encode(ids, getattr(self, axis)) if len(ids) else np.zeros(0, dtype=np.int64)
        self._axis_codes[key] = (ids, codes)  # holding ``ids``: its id() is not reused while kept
        return codes

    def _key(self, frame: pd.DataFrame, on: list[str]) -> np.ndarray:
        """``on`` (``[x, "p"]`` or ``["p"]``) of each row packed into one int."""
        key = frame["p"].to_numpy(dtype=np.int64)
        return key if on == ["p"] else frame[on[0]].to_numpy(dtype=np.int64) * max(len(self.products), 1) + key

    def _matching(self, name: str, level: pd.DataFrame, on: list[str], requests: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``level`` whose ``on`` values some request has: a binary search in the
        level's keys, sorted once per resolver (a merge with the whole level factorized its
        millions of keys for every request set, i.e. per block of buying centers)."""
        if name not in self._by_key:
            key = self._key(level, on)
            order = stable_argsort(key)
            self._by_key[name] = (key[order], order)
        keys, order = self._by_key[name]
        wanted = distinct(self._key(requests, on))
        lo, hi = np.searchsorted(keys, wanted, "left"), np.searchsorted(keys, wanted, "right")
        return level.iloc[order[ranges(lo, hi - lo)]]

    @classmethod
    def build(cls, lines: pd.DataFrame, ctx: RecommendContext) -> VariantResolver:
        """Code the standard purchases of ``lines`` once and count the orders of every level."""
        eligible = ctx.variants[~ctx.variants["is_custom"] & ~ctx.variants["discontinued"]]
        eligible = eligible[["variant_id", "product_id", "countries"]].drop_duplicates("variant_id")
        eligible = eligible.assign(variant_id=eligible["variant_id"].astype(str)).sort_values("variant_id").reset_index(drop=True)
        v_ids = eligible["variant_id"].to_numpy(dtype=object)

        # one purchase column at a time, as int codes: never a copy of the history's string columns
        standard = ~purchases(lines, ["is_custom"])["is_custom"].to_numpy(dtype=bool)
        products = sorted_ids(purchases(lines, ["product_id"])["product_id"][standard], eligible["product_id"])
        countries = sorted_ids(purchases(lines, ["country"])["country"][standard])
        buyers = sorted_ids(purchases(lines, ["buying_center_id"])["buying_center_id"][standard])

        def codes(column: str, ids: np.ndarray | None = None) -> np.ndarray:
            return purchase_codes(lines, column, ids)[standard].astype(np.int32)

        p, v = codes("product_id", products), codes("variant_id", v_ids)
        known = (p >= 0) & (v >= 0)
        code = pd.DataFrame(
            {
                "p": p[known], "v": v[known], "c": codes("country", countries)[known], "b": codes("buying_center_id", buyers)[known],
                "o": codes("order_id")[known], "last": purchases(lines, ["order_date"])["order_date"].to_numpy()[standard][known],
            }
        )  # fmt: skip

        def stats(keys: list[str]) -> pd.DataFrame:
            known = (code[keys] >= 0).all(axis=1).to_numpy() if keys != ["p"] else None
            sub = code if known is None or known.all() else code[known]  # no copy of the 17M rows when every code is known
            return _order_stats(sub, [*keys, "v"])

        all_code = int(np.searchsorted(countries, ALL_COUNTRIES)) if ALL_COUNTRIES in set(countries) else -1
        # the three levels on the available cores: each is a sort of the packed keys (without the GIL)
        local, own, overall = ordered_map(stats, (["c", "p"], ["b", "p"], ["p"]), workers=available_cores(), name="variant-stats")
        master = pd.DataFrame({"p": encode(eligible["product_id"].astype(str), products), "v": np.arange(len(v_ids)), "n": 0, "last": pd.NaT})
        return cls(
            ctx, v_ids, eligible["countries"].fillna("").astype(str), products, countries, buyers,
            own=own.astype({"b": np.int32, "p": np.int32, "v": np.int32, "n": np.int32}),  # kept all run: ~20 bytes a row
            local=local[local["c"] != all_code], overall=overall, master=master[master["p"] >= 0].astype({"last": "datetime64[ns]"}),
        )  # fmt: skip

    @cached_property
    def owned(self) -> np.ndarray:
        """Sorted distinct ``b * len(products) + p`` keys of ``own``: who ordered which product
        (standard variants); a sorted array, not a hash table, as it lives for the whole run."""
        n_p = max(len(self.products), 1)
        return distinct(self.own["b"].to_numpy(dtype=np.int64) * n_p + self.own["p"].to_numpy(dtype=np.int64))

    def allowed(self, countries: np.ndarray) -> np.ndarray | None:
        """(eligible variants, ``countries``) bool matrix of ``ctx.variant_in_country``, each
        country's column computed once per resolver; ``None``: every variant allowed everywhere."""
        if self.ctx.assortment_mode != "master":
            return None
        vc = self.variant_countries
        listed = np.flatnonzero((vc != "").to_numpy())
        out = np.ones((len(vc), len(countries)), dtype=bool)
        for j, country in enumerate(countries):
            if country not in self._allowed:
                self._allowed[country] = self.ctx.variant_in_country(pd.Series(country, index=range(len(listed))), vc.iloc[listed]).astype(bool)
            out[listed, j] = self._allowed[country]
        return out

    def resolve(self, country: Coded, product: Coded, buying_center: Coded | None = None) -> Coded:
        """Variant of each request row (``country``, ``product`` and optionally ``buying_center``
        as codes); code -1 where no eligible variant exists. Ids: ``variant_ids``."""
        allowed = self.allowed(country.ids)
        # the request's codes on the resolver's axes; ``a``: the request's own country code (for ``allowed``)
        p_of, c_of = self._on_axis("products", product.ids), self._on_axis("countries", country.ids)

        def pick(requests: pd.DataFrame, name: str, on: list[str]) -> pd.DataFrame:
            """Best allowed variant per request row ``r`` among the rows of the level ``name``
            matching on ``on`` (the best is one whatever the rows' order: see ``_best``)."""
            level = getattr(self, name)
            cands = requests.merge(self._matching(name, level, on, requests), on=on)
            if allowed is not None:
                cands = cands[allowed[cands["v"].to_numpy(), cands["a"].to_numpy()]]
            best = _best(cands["r"].to_numpy(), cands["n"].to_numpy(), cands["last"].to_numpy(), cands["v"].to_numpy())
            return cands.iloc[best][["r", "v"]]

        out = np.full(len(product), -1, dtype=np.int64)
        todo = np.flatnonzero((product.codes >= 0) & (country.codes >= 0))
        todo = todo[p_of[product.codes[todo]] >= 0]  # a product neither bought nor in the master has no variant
        n_p = max(len(self.products), 1)
        if buying_center is not None and len(todo):
            b_of = self._on_axis("buyers", buying_center.ids)
            b = np.where(buying_center.codes[todo] >= 0, b_of[np.maximum(buying_center.codes[todo], 0)], -1)
            key = b * n_p + p_of[product.codes[todo]]
            hit = (b >= 0) & in_sorted(key, self.owned)
            mine = todo[hit]
            req = pd.DataFrame({"b": b[hit], "a": country.codes[mine], "p": p_of[product.codes[mine]]})
            uniq = req.drop_duplicates().reset_index(drop=True)
            found = pick(uniq.assign(r=np.arange(len(uniq))), "own", ["b", "p"])
            resolved = np.full(len(uniq), -1, dtype=np.int64)
            resolved[found["r"].to_numpy()] = found["v"].to_numpy()
            out[mine] = req.merge(uniq.assign(found=resolved), on=["b", "a", "p"], how="left")["found"].to_numpy()
            todo = todo[out[todo] < 0]

        inverse, pairs = pd.factorize(country.codes[todo] * n_p + p_of[product.codes[todo]])
        a = pairs // n_p
        pending = pd.DataFrame({"r": np.arange(len(pairs)), "a": a, "c": c_of[a] if len(a) else a, "p": pairs % n_p})
        resolved = np.full(len(pairs), -1, dtype=np.int64)
        for on, name in ((["c", "p"], "local"), (["p"], "overall"), (["p"], "master")):
            if pending.empty:
                break
            found = pick(pending if on == ["p"] else pending[pending["c"] >= 0], name, on)
            resolved[found["r"].to_numpy()] = found["v"].to_numpy()
            pending = pending[resolved[pending["r"].to_numpy()] < 0]
        out[todo] = resolved[inverse]
        return Coded(out, self.variant_ids)


def resolve_variant_codes(
    lines: pd.DataFrame, ctx: RecommendContext, country: Coded, product: Coded, buying_center: Coded | None = None
) -> Coded:
    """Variant of each request row (``country``, ``product`` and optionally ``buying_center`` as
    codes); code -1 where no eligible variant exists. Ids of the result: eligible variant ids.
    One request set; tables that resolve several share one ``VariantResolver``."""
    return VariantResolver.build(lines, ctx).resolve(country, product, buying_center)


def resolve_variants(requests: pd.DataFrame, lines: pd.DataFrame, ctx: RecommendContext) -> pd.Series:
    """Variant id for each row of ``requests`` (``country, product_id`` and optionally
    ``buying_center_id``); ``""`` where no eligible variant exists. Index aligned with ``requests``."""
    bc = Coded.of(requests["buying_center_id"].astype(str)) if "buying_center_id" in requests else None
    found = resolve_variant_codes(lines, ctx, Coded.of(requests["country"].astype(str)), Coded.of(requests["product_id"].astype(str)), bc)
    return pd.Series(found.strings(""), index=requests.index, name="variant_id", dtype="str")
