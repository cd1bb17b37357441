"""Helpers every suggestion table shares: country rows with variants and business rules, top-n
ranking, curated pins, the country of reasons and the final column typing (pure functions on frames)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xsell.parallel import available_cores, ordered_map
from xsell.recommend.business_rules import business_rules_keep
from xsell.recommend.codes import Coded, encode, sorted_ids
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext
from xsell.recommend.variants import VariantResolver
from xsell.schema import ALL_COUNTRIES
from xsell.sparse import lexsort_ints, stable_argsort

CURATED = "curated"


@dataclass(frozen=True)
class Table:
    """A finished table and the rows each rule removed on the way."""

    frame: pd.DataFrame
    rules_applied: dict[str, int] = field(default_factory=dict)


def reason_country(country: pd.Series | np.ndarray) -> np.ndarray:
    """Country as a reason names it: empty for ``ALL`` (the reason then speaks of every country)."""
    country = np.asarray(country, dtype=object).astype(str)
    return np.where(country == ALL_COUNTRIES, "", country).astype(object)


def with_pins(links: pd.DataFrame, pins: pd.DataFrame) -> pd.DataFrame:
    """Learned links plus curated pins (pins win over a learned row of the same pair)."""
    pinned = pins.assign(score=1.0, source=CURATED, sources=CURATED, pin_order=pins["order"].astype(float))
    learned = links.assign(pin_order=np.nan, note="")
    cols = ["product_id", "rec_product_id", "score", "source", "sources", "pin_order", "note"]
    both = pd.concat([pinned[cols], learned[cols]], ignore_index=True)
    return both.drop_duplicates(["product_id", "rec_product_id"]).reset_index(drop=True)


_EXPANDED_BLOCK = 4_000_000
"""(link, country) rows ``country_top_n`` resolves, checks and ranks at a time (a memory bound:
at large a link table expands to tens of millions of rows). A product's links are never split,
so every (country, product) keeps the same top n in any block size."""


def country_top_n(
    links: pd.DataFrame, lines: pd.DataFrame, ctx: RecommendContext, cfg: RecommendConfig, table: str, counts: dict[str, int],
    variants: VariantResolver | None = None,
) -> pd.DataFrame:
    """Each link as one ``ALL`` row plus one row per country where its product sold recently, with
    the recommended product's variant resolved, the business rules applied (``counts`` updated) and
    the best ``top_n_product`` per (country, product) kept: those rows of ``links`` with
    ``country``, ``rec_variant_id`` and ``rank`` added, by country, product and rank. The expansion
    runs on int codes (link row, country), per block of products of about ``_EXPANDED_BLOCK``
    rows; strings are made for the kept rows only. ``variants``: the run's resolver (default: one
    built from ``lines``)."""
    products = sorted_ids(ctx.products.index, links["product_id"], links["rec_product_id"])
    countries = sorted_ids(ctx.sold["country"], np.array([ALL_COUNTRIES], dtype=object))
    everywhere = int(np.searchsorted(countries, ALL_COUNTRIES))
    product, rec = encode(links["product_id"], products), encode(links["rec_product_id"], products)
    sold = pd.DataFrame({"p": encode(ctx.sold["product_id"], products), "c": encode(ctx.sold["country"], countries)})
    resolver = variants or VariantResolver.build(lines, ctx)
    pin_order, score = links["pin_order"].to_numpy(dtype=float), links["score"].to_numpy(dtype=float)
    # the links by product (stable: a group's rows keep their order), in blocks of whole products
    by_product = stable_argsort(product)
    sold_in = np.bincount(sold["p"].to_numpy()[sold["p"].to_numpy() >= 0], minlength=len(products))
    run = np.flatnonzero(np.r_[True, np.diff(product[by_product]) != 0]) if len(links) else np.zeros(0, dtype=np.int64)
    run_rows = np.add.reduceat(1 + sold_in[product[by_product]], run) if len(links) else np.zeros(0, dtype=np.int64)
    workers = available_cores()  # blocks made at once: each 1/workers of _EXPANDED_BLOCK, the same memory together
    block_of_run = (np.cumsum(run_rows) - run_rows) // max(_EXPANDED_BLOCK // workers, 1)  # rows before the product's run
    bounds = np.r_[run[np.flatnonzero(np.r_[True, np.diff(block_of_run) != 0])], len(links)] if len(links) else np.zeros(2, dtype=np.int64)

    def one(lo: int, hi: int) -> tuple[pd.DataFrame, dict[str, int]]:
        """The block's best rows per (country, product) and the rows each rule removed from it."""
        removed: dict[str, int] = {}
        label = table if len(bounds) == 2 else f"{table} (links {lo + 1:,}-{hi:,} of {len(links):,} by product)"
        block = np.sort(by_product[lo:hi])  # the block's links in table order, as one table would take them
        local = pd.DataFrame({"p": product[block], "link": block}).merge(sold, on="p")
        link = np.concatenate([block, local["link"].to_numpy()])
        country = Coded(np.concatenate([np.full(len(block), everywhere), local["c"].to_numpy()]), countries)
        recommended = Coded(rec[link], products)
        variant = resolver.resolve(country, recommended)
        keep = business_rules_keep(ctx, cfg, country, recommended, variant, table=label, counts=removed)
        candidates = pd.DataFrame(
            {
                "country": country.codes[keep], "product_id": product[link[keep]], "pin_order": pin_order[link[keep]],
                "score": score[link[keep]], "rec_product_id": recommended.codes[keep], "link": link[keep], "variant": variant.codes[keep],
            }
        )  # fmt: skip
        return top_n(candidates, ["country", "product_id"], cfg.top_n_product), removed

    tops = []  # the blocks on the available cores, taken in order: the rule counts add up as one after another
    for best, removed in ordered_map(lambda b: one(*b), list(zip(bounds[:-1], bounds[1:])), workers=workers, name="link-blocks"):
        for rule, n in removed.items():
            counts[rule] = counts.get(rule, 0) + n
        tops.append(best)
    top = pd.concat(tops, ignore_index=True) if len(tops) > 1 else tops[0]
    if len(tops) > 1:  # the blocks' rows in one table's order: by country, product and rank
        top = top.iloc[lexsort_ints([top["rank"].to_numpy(), top["product_id"].to_numpy(), top["country"].to_numpy()])].reset_index(drop=True)
    rows = links.iloc[top["link"].to_numpy()].reset_index(drop=True)
    rows["country"] = pd.Series(countries[top["country"].to_numpy()], dtype="str")
    rows["rec_variant_id"] = pd.Series(Coded(top["variant"].to_numpy(), resolver.variant_ids).strings(), dtype="str")
    rows["rank"] = top["rank"].to_numpy()
    return rows


def top_n(frame: pd.DataFrame, keys: list[str], n: int, rec_col: str = "rec_product_id") -> pd.DataFrame:
    """Pins first (``pin_order``, file order), then by score, then by ``rec_col``; keep ``n`` per
    ``keys``; ``rank`` = 1..n. ``keys`` and ``rec_col`` hold int codes (code order = id order)."""
    pin = frame["pin_order"].to_numpy(dtype=float) if "pin_order" in frame else np.zeros(len(frame))
    columns = [frame[k].to_numpy() for k in keys]
    order = lexsort_ints([frame[rec_col].to_numpy(), -frame["score"].to_numpy(dtype=float), np.where(np.isnan(pin), np.inf, pin), *columns[::-1]])
    new_group = np.zeros(len(order), dtype=bool)
    new_group[:1] = True
    for col in columns:
        new_group[1:] |= col[order][1:] != col[order][:-1]
    position = np.arange(len(order))
    rank = position - np.maximum.accumulate(np.where(new_group, position, 0)) + 1
    return frame.iloc[order[rank <= n]].assign(rank=rank[rank <= n]).reset_index(drop=True)


def finish(frame: pd.DataFrame, columns: tuple[str, ...], extras: tuple[str, ...]) -> pd.DataFrame:
    out = frame[[*columns, *extras]].reset_index(drop=True)
    out["rank"] = out["rank"].astype("int64")
    for col in out.columns:
        if col in ("score", "support", "confidence", "lift", "price_ratio", "expected_value"):
            out[col] = out[col].astype("float64")
        elif col != "rank":
            out[col] = out[col].fillna("").astype("str")
    return out
