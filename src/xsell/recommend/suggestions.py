"""``buying_center_suggestions``: per buying center, the champion's ranking of products new to it.

The ranking is the champion's (``personal``: the model registered as champion, a blend of a
personal model, anchor-based cross-sell and a popularity prior when that won), so what is
published is what the evaluation measured. On top of it, in this order:

1. products the buying center already owns (``owned_pairs``: bought, net of returns) are
   removed: a cross-sell suggestion is by definition new to the buying center;
2. curated pins (``curated_links.csv``) of a product it bought within ``anchor_months`` come
   first, as product management asked;
3. buying centers left without candidates (new since the champion was trained) get
   (country, segment) -> country -> overall popularity of the last ``popularity_months``;
4. the variant is resolved and the business rules are applied; the best ``top_n_buying_center``
   are kept;
5. each kept row is explained by the cross-sell / up-sell link from a product the buying center
   bought recently (``kind = up_sell`` when an up-sell link leads to it), else by the model.

Steps 1-5 run per block of ``_BUYER_BLOCK`` buying centers (each keeps only its top rows), so
memory follows the block, not the number of buying centers; the tables are the same in any block size.

``score`` is rank-normalised (``1 - (rank - 1) / candidates`` of the champion's list, 1 for
pins) and ``expected_value`` = score x the product's median line value in the country.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xsell.interactions.build import buyer_countries, is_purchase, owned_keys, purchases, signed_quantity
from xsell.messages import REASON_CODE, REASON_PARAMS, TEXT_REASON, distinct_reason_columns, reason_columns
from xsell.models.config import BASELINES
from xsell.parallel import available_cores, ordered_map
from xsell.recommend.blend import rank_normalise
from xsell.recommend.business_rules import business_rules_keep, count_rows
from xsell.recommend.codes import Coded, encode, member, purchase_codes, sorted_ids
from xsell.recommend.common import CURATED, Table, finish, reason_country, top_n
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext, months_before
from xsell.recommend.variants import VariantResolver
from xsell.schema import ALL_COUNTRIES, BUYING_CENTER_COLUMNS
from xsell.sparse import distinct, first_occurrence, in_sorted, keys_in, lexsort_ints, ranges, run_starts, stable_argsort

POPULARITY_SOURCE = "popularity"
"""``source`` of the rows of buying centers the champion could not rank (new ones)."""

EXTRA_COLUMNS: tuple[str, ...] = ("product_name", "anchor_product_name", "source", REASON_CODE, REASON_PARAMS)
"""Columns after ``BUYING_CENTER_COLUMNS``: names, what produced the row (the champion's name,
``curated`` or ``popularity``) and the reason as catalogue code and fields (``xsell.messages``)."""
LINK_COLUMNS: tuple[str, ...] = ("country", "product_id", "rec_product_id", "rank", "score", "source", "reason", REASON_CODE, REASON_PARAMS)
"""The columns of the cross-sell and up-sell tables the buying-center table reads (pins, links
that explain a suggestion and their reasons)."""
POPULAR_FIELDS: tuple[str, ...] = ("buyers", "country", "segment", "months")
"""Fields of the popularity reason (``reason.suggestion.popular``)."""


def buyer_directory(lines: pd.DataFrame, customers: pd.DataFrame | None, countries: pd.Series | None = None) -> pd.DataFrame:
    """One row per buying center, sorted by id: ``buying_center_id, customer_id, country, segment``.
    Country: ``buyer_countries`` (the one rule; ``countries``: its result for these lines and
    customers when the caller has it); customer and segment from the customer master, else the
    latest order line (no segment)."""
    cols = ["buying_center_id", "customer_id", "country", "segment"]
    latest = _last_lines(lines)
    out = lines[["buying_center_id", "customer_id"]].iloc[latest].assign(segment="")
    if customers is not None and not customers.empty:
        master = customers.assign(**{c: customers[c] if c in customers else "" for c in cols})[["buying_center_id", "customer_id", "segment"]]
        out = pd.concat([master, out[~member(out["buying_center_id"], master["buying_center_id"])]], ignore_index=True)
    out = out.fillna("").astype(str).drop_duplicates("buying_center_id")
    out["customer_id"] = out["customer_id"].where(out["customer_id"] != "", out["buying_center_id"])
    country = buyer_countries(lines, customers) if countries is None else countries
    out["country"] = country.reindex(out["buying_center_id"].to_numpy()).fillna(ALL_COUNTRIES).replace("", ALL_COUNTRIES).to_numpy()
    out = out[cols]
    return out.iloc[np.argsort(out["buying_center_id"].to_numpy(dtype=object), kind="stable")].reset_index(drop=True)


def _last_lines(lines: pd.DataFrame) -> np.ndarray:
    """Position of each buying center's last line: the latest ``order_date`` (missing dates
    last), then the last such line; what a stable sort by date keeps with ``drop_duplicates(keep=
    "last")``, found on int codes (a sort of the 20M-line frame took seconds)."""
    buyer, _ = pd.factorize(lines["buying_center_id"], use_na_sentinel=False)
    date = lines["order_date"].to_numpy(dtype="datetime64[ns]")
    stamp = np.where(np.isnat(date), np.iinfo(np.int64).max, date.view(np.int64))
    latest = np.full(int(buyer.max(initial=-1)) + 1, np.iinfo(np.int64).min)
    np.maximum.at(latest, buyer, stamp)
    at_latest = np.flatnonzero(stamp == latest[buyer])
    last = np.full(len(latest), -1, dtype=np.int64)
    np.maximum.at(last, buyer[at_latest], at_latest)
    return last


@dataclass(frozen=True)
class History:
    """The purchase history as int codes, built once per table.

    ``buyers`` / ``products`` / ``countries``: sorted ids the codes point into; ``home``: country
    code per buyer; ``segment``: segment codes per buyer; ``lines``: ``b, p, c, date, value`` per
    purchase line; ``owned``: sorted ``b * n_products + p`` keys of what each buying center owns."""

    directory: pd.DataFrame
    buyers: np.ndarray
    products: np.ndarray
    countries: np.ndarray
    home: np.ndarray
    segment: Coded
    lines: pd.DataFrame
    owned: np.ndarray

    @property
    def n_products(self) -> int:
        return len(self.products)

    def key(self, b: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.asarray(b, dtype=np.int64) * self.n_products + np.asarray(p, dtype=np.int64)


def coded_history(
    lines: pd.DataFrame, customers: pd.DataFrame | None, ctx: RecommendContext, *id_columns: pd.Series, directory: pd.DataFrame | None = None
) -> History:
    """``History`` of ``lines``; ``id_columns`` add product ids (rankings, link tables) to the axis.
    ``directory``: ``buyer_directory(lines, customers)`` when the caller has it."""
    directory = buyer_directory(lines, customers) if directory is None else directory
    def column(name: str) -> pd.Series:
        return purchases(lines, [name])[name]  # one column at a time (see ``purchase_codes``)

    products = sorted_ids(ctx.products.index, column("product_id"), *id_columns)
    countries = sorted_ids(directory["country"], column("country"), np.array([ALL_COUNTRIES], dtype=object))
    buyers = directory["buying_center_id"].to_numpy(dtype=object)
    # buying center and product of every line, returns too (what is owned nets them), on the axes;
    # what is owned first (``owned_pairs`` on the codes: its pairs' ids were made and encoded again,
    # ~7 s at 20M lines), then the purchases, so the two sets of transients never meet
    b, p = encode(lines["buying_center_id"], buyers), encode(lines["product_id"], products)
    known = (b >= 0) & (p >= 0)
    owned = owned_keys(b[known] * len(products) + p[known], signed_quantity(lines)[known])
    del known
    bought = is_purchase(lines)
    b, p = b[bought], p[bought]
    coded = pd.DataFrame(
        {
            "b": b,
            "p": p,
            "c": purchase_codes(lines, "country", countries),
            "date": column("order_date").to_numpy(),
            "value": column("net_value").to_numpy(dtype=float),
        }
    )
    del b, p, bought
    return History(
        directory, buyers, products, countries, encode(directory["country"], countries), Coded.of(directory["segment"]),
        coded, owned,
    )  # fmt: skip


def _anchors(hist: History, months_start: pd.Timestamp) -> pd.DataFrame:
    """``b, c, a``: products ``a`` each buying center ``b`` (home country ``c``) bought since
    ``months_start`` and still owns, by ``b`` then ``a`` (the order no result depends on: ``anchored``
    breaks ties by anchor code). Sorted distinct keys: a hash ``pd.unique`` and a binary search of
    unsorted keys took 3.5x as long on the medium history."""
    recent = (hist.lines["date"] >= months_start).to_numpy()
    keys = distinct(hist.key(hist.lines["b"].to_numpy()[recent], hist.lines["p"].to_numpy()[recent]))
    keys = keys[in_sorted(keys, hist.owned)]
    b, a = keys // max(hist.n_products, 1), keys % max(hist.n_products, 1)
    return pd.DataFrame({"b": b, "c": hist.home[b], "a": a})


_ANCHOR_BLOCK = 5_000_000
"""Anchor-link rows expanded at a time in ``anchored`` (bounds its memory at ~40 bytes a row)."""


_DENSE_KEYS = 16_000_000
"""Most ``country * len(products) + product`` keys a ``LinkIndex`` holds a row range for each of
(int32 starts: 64 MB at most); above it, an anchor's range is found by binary search."""


@dataclass(frozen=True)
class LinkIndex:
    """A link table's rows as codes for ``anchored``, built once per table (not once per block):
    ``by_key`` orders the rows by ``country * len(products) + product`` (``sorted_key``); ``rec``
    and ``score`` per row in that order; ``starts``: where each key's rows start in that order
    (one entry per possible key, and one past the last), None when the keys are too many
    (``_DENSE_KEYS``)."""

    by_key: np.ndarray
    sorted_key: np.ndarray
    rec: np.ndarray
    score: np.ndarray
    starts: np.ndarray | None

    @classmethod
    def of(cls, links: pd.DataFrame, products: np.ndarray, countries: np.ndarray) -> LinkIndex:
        link_key = encode(links["country"], countries) * len(products) + encode(links["product_id"], products)
        by_key = stable_argsort(link_key)
        sorted_key = link_key[by_key]
        n_keys = (len(countries) + 1) * len(products)  # a country code one past the last one included (``searchsorted``'s)
        starts = None
        if n_keys <= _DENSE_KEYS:
            starts = np.searchsorted(sorted_key, np.arange(n_keys + 1)).astype(np.int32 if len(links) < 2**31 else np.int64)
        rec = encode(links["rec_product_id"], products)[by_key]
        return cls(by_key, sorted_key, rec, links["score"].to_numpy(dtype=float)[by_key], starts)

    def rows_of(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per key: the first position of its rows in key order and how many there are (0 for a key without rows)."""
        if self.starts is None:
            lo = np.searchsorted(self.sorted_key, key, "left")
            return lo, np.searchsorted(self.sorted_key, key, "right") - lo
        inside = (key >= 0) & (key < len(self.starts) - 1)
        at = np.where(inside, key, 0)
        lo = self.starts[at].astype(np.int64)
        return lo, np.where(inside, self.starts[at + 1] - lo, 0)


def anchored(
    anchors: pd.DataFrame, links: pd.DataFrame | LinkIndex, products: np.ndarray, countries: np.ndarray, wanted: np.ndarray | None = None
) -> pd.DataFrame:
    """Best link per (buying center, recommended product) from the buying center's anchors
    (``b, c, a``: codes of buying center, its country, anchor product), using the links of its
    country where the table has them for the anchor, else ``ALL``. Returns ``b, p, a, score, link``
    (``p``: recommended product code, ``link``: row position in ``links``), by ``b * len(products)
    + p``. ``wanted``: only those sorted ``b * len(products) + p`` keys (the rows to explain).
    ``links`` may be given as its ``LinkIndex`` (on the same ``products`` and ``countries``)."""
    n_p = len(products)
    index = links if isinstance(links, LinkIndex) else LinkIndex.of(links, products, countries)
    anchor = anchors["a"].to_numpy().astype(np.int64)
    own_key = anchors["c"].to_numpy() * n_p + anchor
    lo, count = index.rows_of(own_key)
    fallback = count == 0  # no links of its own country for the anchor: those of ALL
    lo[fallback], count[fallback] = index.rows_of(int(np.searchsorted(countries, ALL_COUNTRIES)) * n_p + anchor[fallback])
    ends = np.cumsum(count)
    buyer = anchors["b"].to_numpy().astype(np.int64)
    parts = []
    start = 0
    while start < len(anchors):  # blocks of anchors whose expansion holds about _ANCHOR_BLOCK rows
        stop = max(int(np.searchsorted(ends, ends[start] - count[start] + _ANCHOR_BLOCK, "right")), start + 1)
        c = count[start:stop]
        source = np.repeat(np.arange(start, stop), c)
        at = ranges(lo[start:stop], c)  # positions in key order
        pair = buyer[source] * n_p + index.rec[at]
        if wanted is not None:
            hit = keys_in(pair, wanted)
            source, at, pair = source[hit], at[hit], pair[hit]
        parts.append(_best_link(pair, anchor[source], index.score[at], index.by_key[at]))
        start = stop
    if len(parts) == 1:
        pair, a, score, link = parts[0]  # one block's best links are already one per pair, by pair
    else:  # a pair found in two blocks: the best of the blocks' bests (blocks are in anchor order, as before)
        pair, a, score, link = (np.concatenate(x) for x in zip(*parts)) if parts else (np.zeros(0, dtype=np.int64),) * 4
        pair, a, score, link = _best_link(pair, a, score.astype(float), link)
    return pd.DataFrame({"b": pair // max(n_p, 1), "p": pair % max(n_p, 1), "a": a, "score": score, "link": link})


def _best_link(pair: np.ndarray, a: np.ndarray, score: np.ndarray, link: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per distinct ``pair``: its best link (highest score, then smallest anchor code; then the
    first in the given order), by pair."""
    order = lexsort_ints([a, -score, pair])
    first = order[run_starts(pair[order])] if len(order) else order
    return pair[first], a[first], score[first], link[first]


def _popular_lists(hist: History, since: pd.Timestamp, depth: int) -> list[tuple[int, list[str], pd.DataFrame]]:
    """The ``depth`` most popular products per (country, segment), per country and overall:
    distinct buying centers among the purchases since ``since`` (``level, keys, pop`` per list)."""
    recent = hist.lines.loc[hist.lines["date"] >= since, ["b", "p", "c"]]
    recent = recent.assign(s=hist.segment.codes[recent["b"].to_numpy()])
    lists = []
    for level, keys in ((0, ["c", "s"]), (1, ["c"]), (2, [])):
        pop = distinct_counts({k: recent[k].to_numpy() for k in [*keys, "p"]}, recent["b"].to_numpy())
        pop = pop.sort_values([*keys, "n", "p"], ascending=[True] * len(keys) + [False, True])
        lists.append((level, keys, pop[pop.groupby(keys).cumcount() < depth] if keys else pop.head(depth)))
    return lists


def _popularity(
    hist: History, targets: np.ndarray, lists: list[tuple[int, list[str], pd.DataFrame]], depth: int, months: int
) -> pd.DataFrame:
    """Popular products for buyer codes ``targets``: their (country, segment), then their country,
    then overall (``lists``: ``_popular_lists``). Returns ``b, p,
    score`` (rank-normalised over ``depth``) and the popularity reason's fields ``buyers, country,
    segment, months``."""
    tgt = pd.DataFrame({"b": targets, "c": hist.home[targets], "s": hist.segment.codes[targets]})
    no_segment = int(np.searchsorted(hist.segment.ids, "")) if "" in set(hist.segment.ids) else -1
    parts = []
    for level, keys, pop in lists:
        who = tgt[tgt["s"] != no_segment] if level == 0 else tgt
        hit = who.merge(pop, on=keys) if keys else who.merge(pop, how="cross")
        parts.append(hit.assign(level=level))
    pops = pd.concat(parts, ignore_index=True).sort_values(["b", "level", "n", "p"], ascending=[True, True, False, True])
    pops = pops[first_occurrence(hist.key(pops["b"].to_numpy(), pops["p"].to_numpy()))]
    pops = pops[~in_sorted(hist.key(pops["b"].to_numpy(), pops["p"].to_numpy()), hist.owned)]
    pops["rank"] = pops.groupby("b").cumcount() + 1
    pops = pops[pops["rank"] <= depth].reset_index(drop=True)
    level = pops["level"].to_numpy()
    country = Coded(pops["c"].to_numpy(), hist.countries).strings().astype(object)
    segment = Coded(pops["s"].to_numpy(), hist.segment.ids).strings().astype(object)
    return pd.DataFrame(
        {
            "b": pops["b"], "p": pops["p"], "score": 1.0 - (pops["rank"] - 1) / depth,
            # the reason's fields: how many bought it, where (segment, country or everywhere), since when
            "buyers": pops["n"].to_numpy(), "country": np.where(level < 2, reason_country(country), ""),
            "segment": np.where(level == 0, segment, ""), "months": months,
        }
    )  # fmt: skip


def _candidates(
    pers: pd.DataFrame, pins: pd.DataFrame, pin_index: LinkIndex, anchors: pd.DataFrame, hist: History, buyers: np.ndarray,
    popular_lists: list[tuple[int, list[str], pd.DataFrame]], cfg: RecommendConfig, counts: dict[str, int], table: str,
) -> pd.DataFrame:
    """``b, p, score, pin_order, pin_link, popular`` candidates of the buyer codes ``buyers``
    (``pers``: their ranking as codes ``b, p, score``; ``anchors``: theirs): the champion's ranking
    and curated pins, without owned products; popularity for buyers left without any."""
    pers = rank_normalise(pers, cfg.candidates_per_source, query="b", item="p")
    model = pers[["b", "p"]].assign(score=pers["norm"].to_numpy(), pin_order=np.nan, pin_link=-1)
    pinned = anchored(anchors, pin_index, hist.products, hist.countries)
    pinned = pinned.assign(score=1.0, pin_order=pins["pin_order"].to_numpy(dtype=float)[pinned["link"].to_numpy()] if len(pins) else [], pin_link=pinned["link"])
    cand = pd.concat([pinned[model.columns], model], ignore_index=True)
    cand = cand[first_occurrence(hist.key(cand["b"].to_numpy(), cand["p"].to_numpy()))]  # drop_duplicates(["b", "p"]) on one int key
    owned = in_sorted(hist.key(cand["b"].to_numpy(), cand["p"].to_numpy()), hist.owned)
    cand = cand[~count_rows(owned, "already_bought", table, counts)].assign(popular=-1)
    empty = np.setdiff1d(buyers, cand["b"].to_numpy())
    popular = _popularity(hist, empty, popular_lists, cfg.candidates_per_source, cfg.popularity_months)
    fallback = popular[["b", "p", "score"]].assign(pin_order=np.nan, pin_link=-1, popular=np.arange(len(popular)))
    out = pd.concat([cand, fallback], ignore_index=True)
    out.attrs["popular"] = popular[list(POPULAR_FIELDS)].reset_index(drop=True)
    return out


def build_buying_center_suggestions(*args: Any, **kwargs: Any) -> Table:
    """``buying_center_suggestions`` (see the module docstring) as one frame: the blocks of
    ``buying_center_blocks`` (the same arguments but ``counts``, described there) concatenated,
    with the rows each rule removed."""
    counts: dict[str, int] = {}
    parts = list(buying_center_blocks(*args, counts=counts, **kwargs))
    return Table(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0], counts)


def buying_center_blocks(
    personal: pd.DataFrame,
    cross_sell: pd.DataFrame,
    up_sell: pd.DataFrame,
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    *,
    counts: dict[str, int],
    personal_source: str = "model",
    variants: VariantResolver | None = None,
    directory: pd.DataFrame | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of ``buying_center_suggestions`` (see the module docstring), one finished frame
    per block of ``_BUYER_BLOCK`` buying centers in buying-center order (at least one frame), so a
    caller can write them as they come instead of holding the whole table. ``personal``: the
    champion's ranking ``buying_center_id, item_id, score`` at product level (owned products
    excluded or not, they are removed here); ``cross_sell`` / ``up_sell``: the finished link
    tables (their curated rows are the pins, all rows explain suggestions). ``counts``: the rows
    each rule removed, added to as the blocks are made. ``variants``: the run's variant resolver
    (default: one built from ``lines``); ``directory``: ``buyer_directory(lines, customers)`` when
    the caller has it. ``lines`` is read before the first block is made and not held after it."""
    hist = coded_history(
        lines, customers, ctx, personal["item_id"], cross_sell["product_id"], cross_sell["rec_product_id"],
        up_sell["product_id"], up_sell["rec_product_id"], directory=directory,
    )  # fmt: skip
    resolver = variants or VariantResolver.build(lines, ctx)
    del lines  # its purchases are in ``hist`` as codes: a caller that drops its own reference frees the frame (1.2 GiB at 20M lines)
    pins = _pins(cross_sell, up_sell)
    anchors = _anchors(hist, months_before(ctx.today, cfg.anchor_months))  # recent purchases (pins and explanations), by buyer
    pers = pd.DataFrame(
        {"b": encode(personal["buying_center_id"], hist.buyers), "p": encode(personal["item_id"], hist.products), "score": personal["score"].to_numpy()}
    )
    pers = pers[(pers["b"] >= 0) & (pers["p"] >= 0)]
    pers = pers.iloc[stable_argsort(pers["b"].to_numpy())]  # a block's rows are one slice, each buyer's in ranking order
    popular_lists = _popular_lists(hist, months_before(ctx.today, cfg.popularity_months), cfg.candidates_per_source)
    local = _local_stats(hist)
    indexes = {name: LinkIndex.of(t, hist.products, hist.countries) for name, t in (("pins", pins), ("cross_sell", cross_sell), ("up_sell", up_sell))}
    n_buyers = len(hist.buyers)

    def one(lo: int) -> tuple[pd.DataFrame, dict[str, int]]:
        """Block ``lo``'s finished rows and the rows each rule removed from it."""
        hi, removed = min(lo + _BUYER_BLOCK, n_buyers), dict[str, int]()
        table = "buying_center_suggestions" if n_buyers <= _BUYER_BLOCK else f"buying_center_suggestions (buying centers {lo + 1:,}-{hi:,} of {n_buyers:,})"
        block = slice(*np.searchsorted(pers["b"].to_numpy(), [lo, hi]))
        own = slice(*np.searchsorted(anchors["b"].to_numpy(), [lo, hi]))
        cand = _candidates(pers.iloc[block], pins, indexes["pins"], anchors.iloc[own], hist, np.arange(lo, hi), popular_lists, cfg, removed, table)
        b, p = cand["b"].to_numpy(), cand["p"].to_numpy()
        country, product = Coded(hist.home[b], hist.countries), Coded(p, hist.products)
        variant = resolver.resolve(country, product, Coded(b, hist.buyers))
        keep = business_rules_keep(ctx, cfg, country, product, variant, table=table, counts=removed)
        rows = cand.assign(variant=variant.codes)[keep]
        rows = top_n(rows, ["b"], cfg.top_n_buying_center, rec_col="p")
        frame = _explain(rows, hist, anchors.iloc[own], cross_sell, up_sell, pins, ctx, personal_source, cand.attrs["popular"], variant.ids, local, indexes)
        return finish(frame, BUYING_CENTER_COLUMNS, EXTRA_COLUMNS), removed

    # the blocks are independent: made on the available cores (their sorts, takes and Arrow
    # work run without the GIL), taken in order; the rule counts add up in block order
    for frame, removed in ordered_map(one, range(0, max(n_buyers, 1), _BUYER_BLOCK), workers=available_cores(), name="buying-centers"):
        for rule, n in removed.items():
            counts[rule] = counts.get(rule, 0) + n
        yield frame


_BUYER_BLOCK = 10_000
"""Buying centers whose candidates are built, resolved, ranked and explained at a time: each
keeps only its top ``top_n_buying_center``, so memory is bounded by the block, not the history."""


def _pins(cross_sell: pd.DataFrame, up_sell: pd.DataFrame) -> pd.DataFrame:
    """Curated rows of both link tables as one link frame, cross-sell pins first, each table's rank order."""
    parts = [t[t["source"] == CURATED].assign(kind=kind) for kind, t in (("cross_sell", cross_sell), ("up_sell", up_sell))]
    pins = pd.concat([x[["country", "product_id", "rec_product_id", "rank", "kind", "reason"]] for x in parts], ignore_index=True)
    return pins.assign(score=1.0, pin_order=np.arange(len(pins), dtype=float))


def _explain(
    rows: pd.DataFrame, hist: History, anchors: pd.DataFrame, cross_sell: pd.DataFrame, up_sell: pd.DataFrame, pins: pd.DataFrame,
    ctx: RecommendContext, source: str, popular: pd.DataFrame, variants: np.ndarray, local: tuple[pd.Series, pd.Series],
    indexes: dict[str, LinkIndex],
) -> pd.DataFrame:
    """The kept coded rows as table columns: kind and anchor from the strongest link of a recently
    bought product (up-sell first), reason from that link, else from the model / popularity
    (``popular``: the popularity reason's fields of each fallback candidate; ``local``: ``_local_stats``;
    ``indexes``: the ``LinkIndex`` of ``cross_sell`` and ``up_sell``)."""
    b, p = rows["b"].to_numpy(), rows["p"].to_numpy()
    key = hist.key(b, p)
    anchors = anchors[keys_in(anchors["b"].to_numpy(), b)]
    wanted = np.unique(key)

    def lookup(links: pd.DataFrame, index: LinkIndex) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Per row: found, its anchor (-1: none), and its link's reason columns as the distinct
        links' columns and each row's position among them (-1: none)."""
        found = anchored(anchors, index, hist.products, hist.countries, wanted)
        found_key = hist.key(found["b"].to_numpy(), found["p"].to_numpy())  # sorted, distinct
        at = np.minimum(np.searchsorted(found_key, key), max(len(found_key) - 1, 0))
        hit = found_key[at] == key if len(found_key) else np.zeros(len(key), dtype=bool)
        anchor = np.where(hit, found["a"].to_numpy()[at], -1) if len(found_key) else np.full(len(key), -1)
        at_link = np.full(len(key), -1, dtype=np.int64)
        if len(links) == 0 or not hit.any():
            return hit, anchor, {c: np.zeros(0, dtype=object) for c in ("reason", REASON_CODE, REASON_PARAMS)}, at_link
        # each distinct link of the rows once (a link explains the rows of many buying centers)
        at_link[hit], link = pd.factorize(found["link"].to_numpy()[at[hit]])
        return hit, anchor, _reason_of(links[[c for c in ("reason", REASON_CODE, REASON_PARAMS) if c in links]].iloc[link]), at_link

    up_hit, up_anchor, up_reason, at_up = lookup(up_sell, indexes["up_sell"])
    cross_hit, cross_anchor, cross_reason, at_cross = lookup(cross_sell, indexes["cross_sell"])
    pin = rows["pin_link"].to_numpy() >= 0
    pin_kind = np.where(pin, pins["kind"].to_numpy(dtype=object)[np.maximum(rows["pin_link"].to_numpy(), 0)] if len(pins) else "", "")
    is_up = np.where(pin, pin_kind == "up_sell", up_hit)
    anchor = np.where(is_up, up_anchor, cross_anchor)
    at_popular = rows["popular"].to_numpy()
    by_popularity = at_popular >= 0
    # the model's / popularity's reason, made only for the rows that show it: popularity's rows and
    # those without a link (a row's text depends on its own fields only: ints and plain strings)
    own_rows = np.flatnonzero(by_popularity | ~(is_up | cross_hit))
    b_own, p_own, popular_own = b[own_rows], p[own_rows], at_popular[own_rows] >= 0
    own_values: dict[str, np.ndarray | str | int] = {
        "buyers": _local(local[0], hist, hist.home[b_own], p_own).fillna(0).to_numpy(dtype=np.int64),
        "country": reason_country(hist.countries)[hist.home[b_own]], "segment": "", "months": 0,
    }  # fmt: skip
    if len(popular):
        chosen = popular.iloc[np.maximum(at_popular[own_rows], 0)]
        own_values = {c: np.where(popular_own, chosen[c].to_numpy(), v) for c, v in own_values.items()}
    own = pd.DataFrame(own_values, index=range(len(own_rows)))
    model_code = "suggestion.most_bought" if source in BASELINES else "suggestion.similar_buyers"
    own_reason, at_own_rows = distinct_reason_columns(np.where(popular_own, "suggestion.popular", model_code), own)
    at_own = np.full(len(rows), -1, dtype=np.int64)
    at_own[own_rows] = at_own_rows
    # each row's reason: popularity's, else its up-sell link's (none: empty), else its cross-sell link's, else the model's;
    # as positions in [own, up-sell, cross-sell, empty] of distinct reasons, each used one made text once
    n_own, n_up = len(own_reason["reason"]), len(up_reason["reason"])
    empty = n_own + n_up + len(cross_reason["reason"])
    at_up = np.where(at_up >= 0, n_own + at_up, empty)
    at_reason = np.where(by_popularity, at_own, np.where(is_up, at_up, np.where(cross_hit, n_own + n_up + at_cross, at_own)))
    used, at_used = np.unique(at_reason, return_inverse=True)
    reason = {
        c: pd.array(np.concatenate([own_reason[c], up_reason[c], cross_reason[c], [""]]).astype(object)[used], dtype="str").take(at_used.reshape(-1))
        for c in own_reason
    }
    products, at_product = _used_texts(hist.products, p)
    product_id = pd.Series(products.take(at_product))
    anchors_used, at_anchor = _used_texts(hist.products, anchor)
    anchor_names = np.where(np.asarray(anchors_used, dtype=object) != "", ctx.name_of(pd.Series(anchors_used)).to_numpy(dtype=object), "")
    value = _local(local[1], hist, hist.home[b], p).reset_index(drop=True).fillna(pd.Series(ctx.product_attr(product_id, "line_value", np.nan)))
    value = value.to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "country": _text_at(hist.countries, hist.home[b]),
            "customer_id": _text_at(hist.directory["customer_id"].to_numpy(dtype=object), b),
            "buying_center_id": _text_at(hist.buyers, b),
            "rank": rows["rank"].to_numpy(),
            "kind": _text_at(np.array(["cross_sell", "up_sell"], dtype=object), is_up.astype(np.int64)),
            "product_id": product_id,
            "variant_id": _text_at(variants, rows["variant"].to_numpy()),
            "anchor_product_id": anchors_used.take(at_anchor),
            "score": rows["score"].to_numpy(),
            "expected_value": rows["score"].to_numpy() * value,
            "reason": reason["reason"],
            "product_name": ctx.name_of(pd.Series(products)).array.take(at_product),
            "anchor_product_name": pd.array(anchor_names, dtype="str").take(at_anchor),
            "source": _text_at(np.array([source, POPULARITY_SOURCE, CURATED], dtype=object), np.where(pin, 2, np.where(by_popularity, 1, 0))),
            REASON_CODE: reason[REASON_CODE],
            REASON_PARAMS: reason[REASON_PARAMS],
        }
    )


def _used_texts(values: np.ndarray, at: np.ndarray, missing: str = "") -> tuple[pd.api.extensions.ExtensionArray, np.ndarray]:
    """The distinct ``values[at]`` (``missing`` where ``at`` is -1) as text (``str``) and each
    row's position among them: a column of the table is then a ``take`` of a few thousand texts,
    not one Arrow string made per row from a Python object (a fifth of ``_explain`` at 200k rows)."""
    used, inverse = np.unique(np.asarray(at, dtype=np.int64), return_inverse=True)
    texts = np.where(used >= 0, values[np.maximum(used, 0)], missing) if len(values) else np.full(len(used), missing, dtype=object)
    return pd.array(texts.astype(object), dtype="str"), inverse.reshape(-1)


def _text_at(values: np.ndarray, at: np.ndarray, missing: str = "") -> pd.api.extensions.ExtensionArray:
    """``values[at]`` (``missing`` where ``at`` is -1) as text (``str``), each distinct value made text once."""
    texts, inverse = _used_texts(values, at, missing)
    return texts.take(inverse)


def _reason_of(links: pd.DataFrame) -> dict[str, np.ndarray]:
    """A link table's reason columns; a table without reason codes gives its text (code ``text``)."""
    text = links["reason"].fillna("").astype(str).to_numpy(dtype=object)
    if REASON_CODE in links and REASON_PARAMS in links:
        return {"reason": text, REASON_CODE: links[REASON_CODE].to_numpy(dtype=object), REASON_PARAMS: links[REASON_PARAMS].to_numpy(dtype=object)}
    return reason_columns(np.full(len(text), TEXT_REASON, dtype=object), pd.DataFrame({"text": text}))


def distinct_counts(columns: dict[str, np.ndarray], of: np.ndarray) -> pd.DataFrame:
    """Per distinct combination of ``columns`` (int codes, -1 allowed), the number of distinct
    ``of`` values (int codes) among its rows, as ``<columns...>, n`` sorted by the columns: what
    ``frame[[*columns, of]].drop_duplicates().groupby(columns).size()`` gives, on one packed int64
    key, by sorting (pandas grouped 17M rows on three columns in seconds; numpy 2.4's hash ``np.unique``
    with counts took 2.2 s for 2M random lines, the sort 0.05 s)."""
    radix = [int(v.max(initial=-1)) + 2 for v in columns.values()]
    r_of = int(of.max(initial=-1)) + 2
    if float(np.prod([float(r) for r in radix])) * r_of >= 2.0**62:
        raise ValueError(f"distinct_counts: codes too wide to pack ({radix}, {r_of})")
    key = np.zeros(len(of), dtype=np.int64)
    for values, r in zip(columns.values(), radix):
        key = key * r + (values.astype(np.int64) + 1)
    pairs = distinct(key * r_of + (of.astype(np.int64) + 1)) // r_of  # sorted: each group's pairs are one run
    starts = np.flatnonzero(run_starts(pairs))
    groups, n = pairs[starts], np.diff(np.append(starts, len(pairs)))
    out: dict[str, np.ndarray] = {}
    for name, r in reversed(list(zip(columns, radix))):
        groups, code = np.divmod(groups, r)
        out[name] = code - 1
    return pd.DataFrame({**{name: out[name] for name in columns}, "n": n.astype(np.int64)})


def _local_stats(hist: History) -> tuple[pd.Series, pd.Series]:
    """Per ``c * n_products + p`` (product ``p`` in country ``c``): the distinct buying centers
    that bought it, and the median positive line value (computed once, looked up per block)."""
    n_p = hist.n_products
    c, p = hist.lines["c"].to_numpy(dtype=np.int64), hist.lines["p"].to_numpy(dtype=np.int64)
    counts = distinct_counts({"c": c, "p": p}, hist.lines["b"].to_numpy())
    buyers = pd.Series(counts["n"].to_numpy(), index=counts["c"].to_numpy() * n_p + counts["p"].to_numpy())
    positive = (hist.lines["value"] > 0).to_numpy()
    # c * n_p + p orders and groups as (c, p) does (p < n_p): one int key instead of two columns
    value = pd.Series(hist.lines["value"].to_numpy()[positive]).groupby(c[positive] * n_p + p[positive]).median()
    return buyers, value


def _local(stat: pd.Series, hist: History, c: np.ndarray, p: np.ndarray) -> pd.Series:
    """``stat`` (of ``_local_stats``) of product ``p`` in country ``c`` per row (NaN where none)."""
    return stat.reindex(c.astype(np.int64) * hist.n_products + p)
