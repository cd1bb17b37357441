"""Other order histories than ``xsell demo-data``: benchmark data xsell was never tuned on.

Three generative stories, each written as an ERP-style export that xsell ingests through
``DIR/config.yaml`` alone (a different file dialect each), see ``benchmarks/HISTORIES.md``:

- ``grocery_short``: four months of supermarket receipts, loyalty cards as buying centers,
  big baskets, a Zipf head of staples, personal pantries re-bought trip after trip; new
  products come mostly from popularity. CSV ``,`` + ISO timestamps, monthly files, product master.
- ``grocery_year``: a year of weekly shopping lists of a few hundred households, seasonal
  products, launches and brand switches; no product master (descriptions in the lines).
  Tab-separated ``.csv.gz``, decimal comma, ``dd/mm/yyyy``, cp1252.
- ``b2b``: three years of an equipment manufacturer: accounts with ship-tos in five countries,
  industries, machine series with a good/better/best ladder, configured and custom-made
  variants, consumables / wear parts / accessories following a machine with lags, upgrades,
  returns and cancellations. Parquet order lines and product master, ``|`` CSV customer master,
  planted truth in ``planted.json``.

Usage (from the repo root)::

    python benchmarks/histories.py --kind grocery_short --out .bench/histories/grocery_short [--seed 7] [--scale small]
    .venv/bin/xsell run retrain --config .bench/histories/grocery_short/config.yaml
    python benchmarks/histories.py --describe .bench/histories/grocery_short

``--describe DIR`` reads the canonical order lines ``xsell ingest`` wrote under ``DIR/work`` and
prints the history's shape: rows, buyers, products, span, basket sizes, and the share of
test-window purchases new to the buyer (xsell's own split and targets).

Everything is vectorised with numpy; a seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from xsell.io.writers import atomic_write  # noqa: E402

KINDS: tuple[str, ...] = ("grocery_short", "grocery_year", "b2b")


@dataclass(frozen=True)
class Scale:
    """Multipliers of the default sizes: ``buyers`` (shoppers / accounts) and ``catalog`` (products)."""

    buyers: float
    catalog: float


SCALES: dict[str, Scale] = {
    "default": Scale(1.0, 1.0),
    "small": Scale(0.2, 0.6),  # about 5x fewer order lines
    "tiny": Scale(0.03, 0.15),  # seconds; for tests
}


# ---------------------------------------------------------------------------------------------
# vectorised sampling helpers
# ---------------------------------------------------------------------------------------------


def _rng(seed: int, kind: str, part: str) -> np.random.Generator:
    """An independent random stream per (seed, kind, part), so changing one part of a story does
    not shift the draws of the others."""
    key = [int.from_bytes(name.encode("utf-8")[:8].ljust(8, b"\0"), "little") for name in (kind, part)]
    return np.random.default_rng([seed, *key])


def draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` indices drawn from the categorical distribution ``weights`` (zero weight: never)."""
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return np.minimum(idx, len(weights) - 1)


def draw_in_groups(rng: np.random.Generator, weights: np.ndarray, start: np.ndarray, end: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One index per entry of ``groups``, drawn by ``weights`` within the contiguous item range
    ``[start[g], end[g])`` of its group (items sorted by group)."""
    cum = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    lo, hi = cum[start[groups]], cum[end[groups]]
    idx = np.searchsorted(cum, lo + rng.random(len(groups)) * (hi - lo), side="right") - 1
    return np.clip(idx, start[groups], end[groups] - 1)


def draw_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One column index per entry of ``rows``, drawn from row ``rows[i]`` of the weight matrix
    ``probs`` (rows need not be normalised; an all-zero row gives -1)."""
    cum = np.cumsum(probs, axis=1)
    total = cum[:, -1]
    u = rng.random(len(rows)) * total[rows]
    out = (u[:, None] >= cum[rows]).sum(axis=1)
    return np.where(total[rows] > 0, np.minimum(out, probs.shape[1] - 1), -1)


def segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position): for ``counts = [2, 0, 3]`` -> owner ``[0 0 2 2 2]``, position ``[0 1 0 1 2]``."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def cross_join(left_group: np.ndarray, right_group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (left, right) index pair whose groups are equal; ``right_group`` must be sorted."""
    right_counts = np.bincount(right_group, minlength=n_groups)
    right_start = np.cumsum(right_counts) - right_counts
    left, pos = segments(right_counts[left_group])
    return left, right_start[left_group[left]] + pos


def first_of_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask keeping the first occurrence of each (a, b) pair."""
    return ~pd.Index(a.astype(np.int64) * (int(b.max(initial=0)) + 1) + b.astype(np.int64)).duplicated()


def pair_hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) fixed per (a, b) pair: a buyer's stable choice among options
    (its preferred pack size or configuration of a product)."""
    x = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (b.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def unique_ids(rng: np.random.Generator, n: int, base: int, max_step: int) -> np.ndarray:
    """``n`` distinct integers above ``base`` in random order (random gaps, then shuffled)."""
    return rng.permutation(base + np.cumsum(rng.integers(1, max_step + 1, n)))


def zipf(rng: np.random.Generator, n: int, exponent: float, head: np.ndarray | None = None) -> np.ndarray:
    """Zipf weights ``1 / rank**exponent`` over a random order of ``n`` items; ``head`` items
    (indices) take ranks 0, 1, ... in the order given."""
    order = rng.permutation(n)
    if head is not None and len(head):
        order = np.concatenate([head, order[~np.isin(order, head)]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return 1.0 / (rank + 1.0) ** exponent


def pick(values: tuple[str, ...] | list[str], idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` as an object array of str."""
    return np.asarray(values, dtype=object)[idx]


def join_str(*parts: Any) -> np.ndarray:
    """Element-wise string concatenation of arrays / scalars (object arrays, vectorised by pandas)."""
    n = max(len(p) for p in parts if isinstance(p, (np.ndarray, pd.Series, list)))
    out = pd.Series([""] * n, dtype="str")
    for p in parts:
        out = out + (pd.Series(np.asarray(p, dtype=object), dtype="str") if isinstance(p, (np.ndarray, pd.Series, list)) else str(p))
    return out.to_numpy(dtype=object)


def zfill(values: np.ndarray, width: int) -> np.ndarray:
    return pd.Series(values.astype(np.int64)).astype("str").str.zfill(width).to_numpy(dtype=object)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """How a table is written: Parquet, or CSV with separator, decimal mark, encoding, gzip."""

    format: str = "csv"
    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    gzip: bool = False
    bom: bool = False


def write_table(frame: pd.DataFrame, path: Path, dialect: Dialect) -> Path:
    """Write ``frame`` atomically in ``dialect``; gzip without a timestamp so bytes are reproducible."""
    if dialect.format == "parquet":
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    text = frame.to_csv(sep=dialect.sep, decimal=dialect.decimal, index=False, lineterminator="\n")
    data = ("\ufeff" if dialect.bom else "").encode(dialect.encoding) + text.encode(dialect.encoding)
    if dialect.gzip:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


@dataclass
class History:
    """One generated history: files to write (relative path -> frame, dialect), its xsell config,
    the planted truth and the generator's own counts."""

    kind: str
    files: dict[str, tuple[pd.DataFrame, Dialect]]
    config: dict[str, Any]
    config_comment: str
    planted: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


DEFAULTS_NOTE = "# Evaluation, models and recommend are xsell's defaults, as a new user would run it.\n"


def _config(kind: str, data: dict[str, Any], ingest: dict[str, Any]) -> dict[str, Any]:
    """The xsell config of a history: everything under its folder, MLflow named after the kind;
    evaluation, models and recommend left at xsell's defaults (as a new user would)."""
    return {
        "workdir": "work",
        "data": data,
        "ingest": ingest,
        "models": {"dir": "models"},
        "mlflow": {"experiment": kind, "registered_model": kind},
        "publish": {"outputs": "outputs"},
    }


def write_history(history: History, out: Path) -> dict[str, Any]:
    """Write every file, ``config.yaml`` and ``planted.json`` into ``out``; return the facts."""
    out = Path(out)
    for rel, (frame, dialect) in history.files.items():
        write_table(frame, out / rel, dialect)
    text = history.config_comment + DEFAULTS_NOTE + yaml.safe_dump(history.config, sort_keys=False, allow_unicode=True, width=120)
    atomic_write(out / "config.yaml", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    planted = json.dumps({"kind": history.kind, **history.planted}, indent=1, ensure_ascii=False) + "\n"
    atomic_write(out / "planted.json", lambda tmp: tmp.write_text(planted, encoding="utf-8"))
    return history.facts


# ---------------------------------------------------------------------------------------------
# shared grocery catalog structure
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroceryCatalog:
    """Products sorted by category; ``pop`` a Zipf popularity with staples at the head;
    ``partner`` a planted complement (-1 for none)."""

    category: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pop: np.ndarray
    price: np.ndarray
    loose: np.ndarray
    partner: np.ndarray
    head: np.ndarray
    index: dict[str, int]  # category key -> category number


def grocery_catalog(
    rng: np.random.Generator,
    n_products: int,
    categories: tuple[tuple[Any, ...], ...],
    staples: tuple[str, ...],
    complements: tuple[tuple[str, str], ...],
    exponent: float,
) -> GroceryCatalog:
    """Products of ``categories`` (rows ``(key, name, typical price, sold by weight possible, ...)``):
    category sizes (lognormal shares, at least 4), a Zipf popularity whose first ranks go to the
    first products of the ``staples`` categories in turn (milk, bread, bananas ...), shelf prices
    around the category's typical price, half of the produce / counter products sold by weight,
    and for each ``(A, B)`` of ``complements`` half of A's products with one complement in B
    (drawn by popularity^0.5)."""
    index = {c[0]: i for i, c in enumerate(categories)}
    typical_price = np.array([c[2] for c in categories])
    loose_category = np.array([c[3] for c in categories])
    staple_categories = [index[c] for c in staples]
    n_cat = len(categories)
    share = rng.lognormal(0.0, 0.5, n_cat)
    sizes = 4 + rng.multinomial(n_products - 4 * n_cat, share / share.sum())
    end = np.cumsum(sizes)
    start = end - sizes
    category = np.repeat(np.arange(n_cat), sizes)
    occurrence = pd.Series(staple_categories).groupby(staple_categories).cumcount().to_numpy()
    head = start[np.asarray(staple_categories)] + occurrence
    pop = zipf(rng, n_products, exponent, head)
    price = np.round(typical_price[category] * rng.lognormal(0.0, 0.35, n_products), 1) - 0.01
    price = np.maximum(price, 0.19)
    loose = loose_category[category] & (rng.random(n_products) < 0.5)
    loose[head] = loose_category[category[head]]  # bananas, tomatoes: by weight
    partner = np.full(n_products, -1, dtype=np.int64)
    for a, b in complements:
        members = np.arange(start[index[a]], end[index[a]])
        chosen = members[rng.random(len(members)) < 0.5]
        partner[chosen] = draw_in_groups(rng, np.sqrt(pop), start, end, np.full(len(chosen), index[b]))
    return GroceryCatalog(category, start, end, pop, price, loose, partner, head, index)


def grocery_quantities(rng: np.random.Generator, loose: np.ndarray) -> np.ndarray:
    """Pieces (1, sometimes 2-4) for packaged goods, kilograms (3 decimals) for loose ones."""
    pieces = 1.0 + np.minimum(rng.poisson(0.25, len(loose)), 3)
    kilos = np.round(np.clip(rng.lognormal(np.log(0.55), 0.45, len(loose)), 0.05, 4.0), 3)
    return np.where(loose, kilos, pieces)


# ---------------------------------------------------------------------------------------------
# grocery_short
# ---------------------------------------------------------------------------------------------

SHORT_CATEGORIES: tuple[tuple[str, str, float, bool], ...] = (
    # (category, department, typical shelf price, sold by weight possible)
    ("Milk", "Dairy", 1.1, False), ("Yoghurt", "Dairy", 0.9, False), ("Cheese", "Dairy", 3.2, True),
    ("Butter & spreads", "Dairy", 2.3, False), ("Eggs", "Dairy", 2.9, False),
    ("Bread", "Bakery", 1.8, False), ("Pastries", "Bakery", 1.4, False), ("Cakes", "Bakery", 3.5, False),
    ("Fruit", "Produce", 2.4, True), ("Vegetables", "Produce", 1.9, True), ("Salad", "Produce", 1.3, False),
    ("Herbs", "Produce", 0.99, False),
    ("Fresh meat", "Meat & fish", 8.9, True), ("Poultry", "Meat & fish", 6.5, True), ("Sausages", "Meat & fish", 3.1, False),
    ("Fish", "Meat & fish", 9.5, True), ("Deli meats", "Meat & fish", 2.6, True),
    ("Ready meals", "Chilled", 3.9, False), ("Fresh pasta", "Chilled", 2.8, False), ("Dips & hummus", "Chilled", 1.9, False),
    ("Frozen vegetables", "Frozen", 2.2, False), ("Frozen pizza", "Frozen", 3.3, False), ("Ice cream", "Frozen", 3.9, False),
    ("Pasta", "Pantry", 1.3, False), ("Rice & grains", "Pantry", 2.1, False), ("Pasta sauces", "Pantry", 2.2, False),
    ("Canned vegetables", "Pantry", 1.1, False), ("Canned fish", "Pantry", 2.0, False), ("Soups", "Pantry", 1.8, False),
    ("Breakfast cereals", "Pantry", 3.0, False), ("Spreads & honey", "Pantry", 3.4, False), ("Baking", "Pantry", 1.6, False),
    ("Spices", "Pantry", 1.9, False), ("Oil & vinegar", "Pantry", 3.8, False), ("Condiments", "Pantry", 1.9, False),
    ("Coffee", "Drinks", 5.9, False), ("Tea", "Drinks", 2.6, False), ("Water", "Drinks", 0.6, False),
    ("Soft drinks", "Drinks", 1.4, False), ("Juice", "Drinks", 2.2, False), ("Beer", "Drinks", 1.2, False),
    ("Wine", "Drinks", 6.9, False),
    ("Crisps & snacks", "Snacks", 1.8, False), ("Chocolate", "Snacks", 1.9, False), ("Biscuits", "Snacks", 1.6, False),
    ("Cleaning", "Household", 2.9, False), ("Paper goods", "Household", 3.5, False), ("Personal care", "Household", 3.2, False),
    ("Baby", "Household", 4.5, False), ("Pet food", "Household", 2.4, False),
)  # fmt: skip
SHORT_STAPLES: tuple[str, ...] = (
    "Milk", "Bread", "Fruit", "Eggs", "Vegetables", "Butter & spreads", "Milk", "Yoghurt", "Fruit", "Vegetables",
    "Cheese", "Water", "Bread", "Pasta", "Coffee", "Vegetables",
)
SHORT_STAPLE_NAMES: tuple[str, ...] = (
    "Semi-skimmed milk 1L", "White sliced bread 800g", "Bananas, loose", "Free range eggs, 10", "Tomatoes, loose",
    "Salted butter 250g", "Whole milk 1L", "Natural yoghurt 500g", "Apples, loose", "Cucumbers, loose",
    "Mild cheddar, from the counter", "Still water 6x1.5L", "Wholemeal bread 800g", "Spaghetti 500g", "Ground coffee 250g",
    "Carrots, loose",
)
SHORT_COMPLEMENTS: tuple[tuple[str, str], ...] = (
    ("Pasta", "Pasta sauces"), ("Crisps & snacks", "Dips & hummus"), ("Bread", "Butter & spreads"), ("Bread", "Deli meats"),
    ("Breakfast cereals", "Milk"), ("Tea", "Biscuits"), ("Wine", "Cheese"), ("Beer", "Crisps & snacks"),
    ("Frozen pizza", "Soft drinks"), ("Fresh meat", "Vegetables"), ("Salad", "Oil & vinegar"), ("Rice & grains", "Spices"),
    ("Fish", "Herbs"), ("Baby", "Paper goods"), ("Fresh pasta", "Cheese"), ("Coffee", "Pastries"),
)
SHORT_BRANDS: tuple[str, ...] = (
    "Own brand", "Greenfield", "Valley", "Nonna", "Harvest", "Northwind", "Blue Cow", "Sunny", "Golden", "Orchard",
    "Coast", "Meadow", "Premium", "Basics", "Heritage",
)
STORES: tuple[str, ...] = ("S01", "S02", "S03", "S04", "S05")


def grocery_short(seed: int, scale: Scale) -> History:
    """Four months of supermarket receipts; see ``benchmarks/HISTORIES.md``."""
    kind = "grocery_short"
    days, start = 120, pd.Timestamp("2024-02-05")
    cat_names = [c[0] for c in SHORT_CATEGORIES]
    n_cat = len(SHORT_CATEGORIES)
    n_products = int(round(2400 * scale.catalog))
    n_shoppers = max(30, int(round(2500 * scale.buyers)))

    # -- catalog -----------------------------------------------------------------------------
    rng = _rng(seed, kind, "catalog")
    cat = grocery_catalog(rng, n_products, SHORT_CATEGORIES, SHORT_STAPLES, SHORT_COMPLEMENTS, exponent=1.0)
    cat_share = np.bincount(cat.category, weights=cat.pop, minlength=n_cat)
    cat_share /= cat_share.sum()
    sku = unique_ids(rng, n_products, 4_000_000_000_000, 9_000_000)
    brand = rng.integers(0, len(SHORT_BRANDS), n_products)
    names = join_str(pick(cat_names, cat.category), " ", pick(SHORT_BRANDS, brand), " no. ", np.arange(n_products) % 97 + 1)
    names[cat.head] = SHORT_STAPLE_NAMES[: len(cat.head)]
    names = join_str(names, np.where(cat.loose, " (per kg)", ""))

    # -- shoppers: category taste, personal pantry, shopping rhythm ---------------------------
    rng = _rng(seed, kind, "shoppers")
    pref = 0.5 * cat_share + 0.5 * rng.dirichlet(np.full(n_cat, 0.3), n_shoppers)
    n_pantry = 8 + rng.poisson(20, n_shoppers)
    p_owner = np.repeat(np.arange(n_shoppers), n_pantry)
    popular = rng.random(len(p_owner)) < 0.6
    p_prod = np.empty(len(p_owner), dtype=np.int64)
    p_prod[popular] = draw(rng, cat.pop, int(popular.sum()))
    p_prod[~popular] = draw_in_groups(rng, cat.pop**0.7, cat.start, cat.end, draw_rows(rng, pref, p_owner[~popular]))
    keep = first_of_pairs(p_owner, p_prod)
    p_owner, p_prod = p_owner[keep], p_prod[keep]
    p_prob = rng.beta(1.6, 3.0, len(p_owner))
    is_head = np.isin(p_prod, cat.head)
    p_prob = np.where(is_head, 1.0 - (1.0 - p_prob) * 0.6, p_prob)
    home = draw(rng, np.array([0.3, 0.25, 0.2, 0.15, 0.1]), n_shoppers)
    joined = np.where(rng.random(n_shoppers) < 0.8, 0, rng.integers(0, days - 14, n_shoppers))
    left = np.where(rng.random(n_shoppers) < 0.9, days, joined + 14 + (rng.random(n_shoppers) * (days - joined - 14)).astype(int))
    rate = np.clip(rng.gamma(2.0, 0.55, n_shoppers), 0.2, 5.0) / 7.0  # trips per day
    anonymous = rng.permutation(n_shoppers) < max(1, round(0.025 * n_shoppers))  # shop without a card: no buying center

    # -- trips: weekday-weighted days in the active window, a big shop or a top-up -----------
    rng = _rng(seed, kind, "trips")
    n_trips = np.maximum(1, rng.poisson(rate * (left - joined)))
    t_shop = np.repeat(np.arange(n_shoppers), n_trips)
    weekday = (start.day_of_week + np.arange(days)) % 7
    cum_w = np.concatenate([[0.0], np.cumsum(np.array([1.0, 0.9, 1.0, 1.1, 1.3, 1.6, 0.25])[weekday])])
    lo, hi = cum_w[joined[t_shop]], cum_w[left[t_shop]]
    t_day = np.clip(np.searchsorted(cum_w, lo + rng.random(len(t_shop)) * (hi - lo), side="right") - 1, joined[t_shop], left[t_shop] - 1)
    t_second = rng.integers(8 * 3600, 21 * 3600, len(t_shop))
    order = np.lexsort((t_second, t_day, t_shop))
    t_shop, t_day, t_second = t_shop[order], t_day[order], t_second[order]
    n_t = len(t_shop)
    t_mult = np.where(rng.random(n_t) < 0.3, 1.7, 0.7)  # big weekly shop vs top-up
    t_store = np.where(rng.random(n_t) < 0.9, home[t_shop], rng.integers(0, len(STORES), n_t))

    # -- exploration: new products, mostly by popularity, a little by taste and complements --
    rng = _rng(seed, kind, "explore")
    e_trip = np.repeat(np.arange(n_t), rng.poisson(1.5 * t_mult))
    e_shop = t_shop[e_trip]
    source = rng.random(len(e_trip))
    e_prod = draw(rng, cat.pop, len(e_trip))
    taste = (source >= 0.70) & (source < 0.88)
    e_prod[taste] = draw_in_groups(rng, cat.pop**0.7, cat.start, cat.end, draw_rows(rng, pref, e_shop[taste]))
    pantry_start = np.searchsorted(p_owner, np.arange(n_shoppers))
    pantry_n = np.bincount(p_owner, minlength=n_shoppers)
    comp = source >= 0.88
    anchor = p_prod[pantry_start[e_shop[comp]] + (rng.random(int(comp.sum())) * pantry_n[e_shop[comp]]).astype(np.int64)]
    partner = cat.partner[anchor]
    has_partner = partner >= 0
    e_prod[np.flatnonzero(comp)[has_partner]] = partner[has_partner]
    anchor_trip = e_trip[np.flatnonzero(comp)[has_partner]]
    anchor_prod = anchor[has_partner]
    adopt = rng.random(len(e_trip)) < 0.3  # a tried product joins the pantry from the next day
    entries = pd.DataFrame(
        {
            "shopper": np.concatenate([p_owner, e_shop[adopt]]),
            "product": np.concatenate([p_prod, e_prod[adopt]]),
            "from_day": np.concatenate([np.full(len(p_owner), -1), t_day[e_trip[adopt]] + 1]),
            "p": np.concatenate([p_prob, rng.beta(1.3, 4.0, int(adopt.sum()))]),
        }
    ).sort_values(["shopper", "from_day"], kind="stable")
    entries = entries[first_of_pairs(entries["shopper"].to_numpy(), entries["product"].to_numpy())]

    # -- staples: every pantry entry of the shopper, bought with its own probability ---------
    rng = _rng(seed, kind, "staples")
    trip_i, entry_i = cross_join(t_shop, entries["shopper"].to_numpy(), n_shoppers)
    p_eff = 1.0 - (1.0 - entries["p"].to_numpy()[entry_i]) ** t_mult[trip_i]
    bought = (entries["from_day"].to_numpy()[entry_i] <= t_day[trip_i]) & (rng.random(len(trip_i)) < p_eff)
    line_trip = np.concatenate([trip_i[bought], e_trip, anchor_trip])
    line_prod = np.concatenate([entries["product"].to_numpy()[entry_i[bought]], e_prod, anchor_prod])
    keep = first_of_pairs(line_trip, line_prod)
    line_trip, line_prod = line_trip[keep], line_prod[keep]
    order = np.lexsort((line_prod, line_trip))
    line_trip, line_prod = line_trip[order], line_prod[order]

    # -- quantities, prices (10% on promotion), refunds, bags and deposits --------------------
    rng = _rng(seed, kind, "lines")
    qty = grocery_quantities(rng, cat.loose[line_prod])
    price = np.round(cat.price[line_prod] * np.where(rng.random(len(line_prod)) < 0.1, 0.8, 1.0), 2)
    refund = rng.random(len(line_prod)) < 0.004
    cat_drinks = np.isin(cat.category[line_prod], [cat.index[c] for c in ("Water", "Soft drinks", "Beer")])
    bag_trip = np.flatnonzero(rng.random(n_t) < 0.35)
    dep_trip = np.unique(line_trip[cat_drinks])
    receipt_seq = pd.Series(np.arange(n_t)).groupby([t_store, t_day]).cumcount().to_numpy()
    day_dates = start + pd.to_timedelta(np.arange(days), unit="D")
    receipt = join_str(pick(STORES, t_store), "-", pick(list(day_dates.strftime("%Y%m%d")), t_day), "-", zfill(receipt_seq + 1, 4))
    stamp = (start + pd.to_timedelta(t_day, unit="D") + pd.to_timedelta(t_second, unit="s")).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    cards = zfill(unique_ids(rng, n_shoppers, 2_900_000_000_000, 7_000_000), 13)
    cards[anonymous] = ""

    def lines(trips: np.ndarray, skus: np.ndarray, text: np.ndarray, q: np.ndarray, p: np.ndarray, rec: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "receipt_id": rec, "ts": ts, "store_id": pick(STORES, t_store[trips]), "card_no": cards[t_shop[trips]],
                "sku": skus, "description": text, "qty": q, "unit_price": p, "line_total": np.round(q * p, 2),
            }
        )  # fmt: skip

    sku_text = sku.astype(str).astype(object)
    refund_day = np.minimum(t_day[line_trip[refund]] + rng.integers(0, 8, int(refund.sum())), days - 1)
    refund_stamp = (start + pd.to_timedelta(refund_day, unit="D") + pd.Timedelta(hours=18)).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    frames = [
        lines(line_trip, sku_text[line_prod], names[line_prod], qty, price, receipt[line_trip], stamp[line_trip]),
        lines(line_trip[refund], sku_text[line_prod[refund]], names[line_prod[refund]], -qty[refund], price[refund],
              join_str("RF", receipt[line_trip[refund]]), refund_stamp),
        lines(bag_trip, np.full(len(bag_trip), "BAG-LARGE", dtype=object), np.full(len(bag_trip), "Carrier bag", dtype=object),
              np.ones(len(bag_trip)), np.full(len(bag_trip), 0.25), receipt[bag_trip], stamp[bag_trip]),
        lines(dep_trip, np.full(len(dep_trip), "DEPOSIT-025", dtype=object), np.full(len(dep_trip), "Bottle deposit", dtype=object),
              1.0 + rng.poisson(3.0, len(dep_trip)), np.full(len(dep_trip), 0.25), receipt[dep_trip], stamp[dep_trip]),
    ]  # fmt: skip
    all_lines = pd.concat(frames, ignore_index=True).sort_values(["ts", "receipt_id", "sku"], kind="stable")
    month = all_lines["ts"].str.slice(0, 7)
    files: dict[str, tuple[pd.DataFrame, Dialect]] = {
        f"order_lines/receipts_{m}.csv": (part, Dialect(sep=",")) for m, part in all_lines.groupby(month, sort=True)
    }
    files["products.csv"] = (
        pd.DataFrame(
            {
                "sku": sku_text, "name": names, "category": pick(cat_names, cat.category),
                "department": pick([c[1] for c in SHORT_CATEGORIES], cat.category), "shelf_price": cat.price,
                "unit": np.where(cat.loose, "kg", "pc"), "status": "active",
            }
        ),
        Dialect(sep=","),
    )  # fmt: skip
    data = {
        "order_lines": "order_lines/receipts_*.csv",
        "products": "products.csv",
        "csv": {"sep": ",", "decimal": ".", "encoding": "utf-8"},
        "columns": {
            "order_id": "receipt_id", "order_date": "ts", "buying_center_id": "card_no", "variant_id": "sku",
            "quantity": "qty", "unit_price": "unit_price", "net_value": "line_total", "description": "description",
        },
        "product_columns": {"variant_id": "sku", "family": "category", "list_price": "shelf_price", "name": "name", "status": "status"},
    }  # fmt: skip
    ingest = {"return_order_prefixes": ["RF"], "exclude_variant_patterns": ["BAG-.*", "DEPOSIT-.*"]}
    comment = (
        "# grocery_short: four months of supermarket receipts (benchmarks/histories.py --kind grocery_short).\n"
        "# Loyalty card = buying center (receipts without a card are quarantined as 'missing buying center');\n"
        "# ',' CSV, ISO timestamps, one file per month; bags and bottle deposits are non-product lines; RF = refund.\n"
    )
    pairs = np.flatnonzero(cat.partner >= 0)
    planted = {
        "complements": [[str(sku[a]), str(sku[cat.partner[a]])] for a in pairs],
        "upgrades": [],
        "staples": [str(s) for s in sku[cat.head]],
    }
    facts = {"order_line_rows": len(all_lines), "shoppers": n_shoppers, "products": n_products, "trips": n_t, "anonymous_shoppers": int(anonymous.sum())}
    return History(kind, files, _config(kind, data, ingest), comment, planted, facts)


# ---------------------------------------------------------------------------------------------
# grocery_year
# ---------------------------------------------------------------------------------------------

YEAR_DEPARTMENTS: tuple[tuple[str, str, float, bool, str], ...] = (
    # (code, department, typical price, sold by weight possible, product nouns)
    ("LA", "Lait & crème", 1.2, False, "Lait demi-écrémé|Lait entier|Crème fraîche|Lait d'avoine"),
    ("YA", "Yaourts & desserts", 1.8, False, "Yaourt nature|Fromage blanc|Crème dessert|Yaourt aux fruits"),
    ("FR", "Fromages", 3.4, True, "Comté|Camembert|Emmental râpé|Chèvre frais|Roquefort"),
    ("BO", "Beurre & œufs", 2.6, False, "Beurre doux|Beurre demi-sel|Œufs plein air|Margarine"),
    ("PA", "Pain & viennoiserie", 1.5, False, "Baguette tradition|Pain de mie|Croissants|Pain complet|Brioche"),
    ("FL", "Fruits", 2.8, True, "Pommes|Bananes|Oranges|Poires|Clémentines|Raisin"),
    ("LG", "Légumes", 2.2, True, "Tomates|Carottes|Pommes de terre|Courgettes|Oignons|Poireaux"),
    ("SH", "Salades & herbes", 1.4, False, "Salade batavia|Mâche|Persil|Ciboulette"),
    ("VI", "Boucherie", 11.0, True, "Steak haché|Rôti de porc|Escalope de veau|Bœuf bourguignon"),
    ("VO", "Volaille", 8.5, True, "Poulet fermier|Filets de dinde|Cuisses de poulet"),
    ("CH", "Charcuterie", 3.2, True, "Jambon blanc|Saucisson sec|Lardons|Pâté de campagne"),
    ("PO", "Poissonnerie", 14.0, True, "Filet de cabillaud|Saumon|Crevettes|Moules"),
    ("TR", "Traiteur", 4.5, False, "Taboulé|Quiche lorraine|Hachis parmentier|Salade piémontaise"),
    ("SG", "Surgelés", 3.6, False, "Petits pois surgelés|Frites surgelées|Pizza surgelée|Poêlée de légumes"),
    ("GL", "Glaces", 4.2, False, "Glace vanille|Sorbet citron|Cônes chocolat"),
    ("PR", "Pâtes & riz", 1.6, False, "Spaghetti|Coquillettes|Riz basmati|Semoule|Lentilles"),
    ("CV", "Conserves", 1.9, False, "Haricots verts|Thon au naturel|Maïs doux|Ratatouille"),
    ("SC", "Sauces & condiments", 2.1, False, "Moutarde de Dijon|Mayonnaise|Sauce tomate|Ketchup|Cornichons"),
    ("SU", "Sucre & farine", 1.4, False, "Farine de blé|Sucre en poudre|Levure|Sucre vanillé"),
    ("PD", "Petit-déjeuner", 3.1, False, "Confiture de fraises|Pâte à tartiner|Miel|Biscottes"),
    ("BS", "Biscuits", 1.9, False, "Petits beurre|Madeleines|Gaufrettes|Cookies"),
    ("CF", "Café", 4.8, False, "Café moulu|Café en grains|Capsules de café"),
    ("TH", "Thé & infusions", 2.6, False, "Thé vert|Thé noir|Infusion tilleul|Verveine"),
    ("CN", "Chocolat & confiserie", 2.3, False, "Tablette chocolat noir|Chocolat au lait|Bonbons|Pâte de fruits"),
    ("AP", "Apéritif", 2.2, False, "Chips|Cacahuètes|Olives vertes|Crackers"),
    ("EA", "Eaux", 0.5, False, "Eau minérale|Eau gazeuse|Eau de source"),
    ("SO", "Sodas & jus", 1.7, False, "Jus d'orange|Limonade|Cola|Sirop de grenadine"),
    ("VN", "Vins", 7.5, False, "Côtes-du-Rhône|Bordeaux rouge|Muscadet|Rosé de Provence"),
    ("BI", "Bières", 1.3, False, "Bière blonde|Bière ambrée|Panaché"),
    ("HY", "Hygiène", 3.2, False, "Gel douche|Shampooing|Dentifrice|Savon"),
    ("BE", "Bébé", 4.5, False, "Couches|Petits pots|Lait infantile|Lingettes"),
    ("EN", "Entretien", 3.4, False, "Liquide vaisselle|Lessive|Nettoyant sol|Éponges"),
    ("PP", "Papier", 3.9, False, "Papier toilette|Essuie-tout|Mouchoirs"),
    ("AN", "Animaux", 2.6, False, "Croquettes chat|Pâtée chien|Litière"),
    ("BQ", "Bio", 2.9, False, "Flocons d'avoine bio|Lait bio|Quinoa bio|Tofu"),
    ("EP", "Épices", 1.9, False, "Poivre noir|Herbes de Provence|Curry|Cumin"),
    ("HU", "Huiles & vinaigres", 3.9, False, "Huile d'olive|Huile de tournesol|Vinaigre de vin"),
    ("SE", "Aides culinaires", 1.5, False, "Bouillon cube|Sel fin|Fond de veau"),
    ("CE", "Céréales", 3.0, False, "Corn flakes|Muesli|Céréales chocolat"),
    ("SB", "Soupes", 2.0, False, "Soupe de légumes|Velouté de potiron|Soupe à l'oignon"),
)
YEAR_HOUSEHOLDS: tuple[tuple[str, float, dict[str, float]], ...] = (
    # (household type, share, department multipliers)
    ("célibataire", 0.22, {"TR": 2.0, "SG": 1.5, "BE": 0.0}),
    ("couple", 0.24, {"VN": 2.0, "FR": 1.5, "BE": 0.2}),
    ("famille", 0.26, {"YA": 2.0, "BS": 2.0, "CE": 2.5, "GL": 2.0, "SO": 2.0, "BE": 2.5, "CN": 1.5}),
    ("végétarien", 0.10, {"VI": 0.0, "VO": 0.0, "CH": 0.0, "PO": 0.2, "LG": 2.0, "BQ": 3.0, "FL": 1.5, "BE": 0.3}),
    ("senior", 0.10, {"TH": 2.0, "SB": 2.0, "PA": 1.5, "SO": 0.5, "BI": 0.5, "BE": 0.0}),
    ("étudiant", 0.08, {"PR": 2.5, "SG": 2.0, "BI": 2.0, "AP": 2.0, "FL": 0.5, "LG": 0.5, "BE": 0.0, "VN": 0.3}),
)
YEAR_STAPLES: tuple[str, ...] = ("PA", "LA", "FL", "LG", "BO", "YA", "PA", "EA", "FR", "LG", "FL", "CF", "LA", "PR")
YEAR_COMPLEMENTS: tuple[tuple[str, str], ...] = (
    ("PR", "SC"), ("AP", "BI"), ("PA", "FR"), ("PA", "CH"), ("CE", "LA"), ("TH", "BS"), ("VN", "FR"), ("SG", "SO"),
    ("VI", "LG"), ("SH", "HU"), ("PO", "VN"), ("BE", "PP"), ("CF", "PD"), ("SU", "BO"),
)
YEAR_EVENTS: tuple[tuple[str, str, str, str], ...] = (
    # (event, first day, last day, "DEPT:noun|DEPT:noun...") — seasonal products sold only in the window
    ("Épiphanie", "2023-01-02", "2023-01-31", "PA:Galette des rois frangipane|PA:Galette briochée"),
    ("Chandeleur", "2023-01-20", "2023-02-05", "SU:Préparation pour crêpes|PD:Pâte à tartiner édition crêpes"),
    ("Pâques", "2023-03-13", "2023-04-10", "CN:Œufs en chocolat|CN:Lapin en chocolat|VI:Gigot d'agneau"),
    ("Printemps", "2023-04-10", "2023-06-30", "FL:Fraises gariguette|LG:Asperges blanches|FL:Cerises"),
    ("Barbecue", "2023-06-01", "2023-08-31", "CH:Merguez|CH:Chipolatas|VN:Rosé pamplemousse|GL:Bâtonnets glacés|FL:Melon"),
    ("Rentrée", "2023-08-21", "2023-09-30", "BS:Goûters fourrés|CE:Céréales rentrée"),
    ("Automne", "2023-09-18", "2023-11-30", "LG:Potiron|FL:Châtaignes|FR:Fromage à raclette|CH:Charcuterie raclette"),
    ("Beaujolais", "2023-11-13", "2023-11-30", "VN:Beaujolais nouveau"),
    ("Noël", "2023-11-27", "2023-12-31", "TR:Foie gras|PA:Bûche pâtissière|CN:Chocolats de Noël|VN:Champagne brut|PO:Huîtres|PO:Saumon fumé"),
)
YEAR_BRANDS: tuple[str, ...] = (
    "Maison Dupré", "Terres d'Or", "Le Fermier", "Vallée Verte", "Saveurs d'Antan", "Côté Jardin", "Bio Village",
    "Prix Doux", "La Belle Île", "Mère Lucie", "Douceur du Val", "Les Crémiers",
)
YEAR_SIZES: tuple[tuple[str, str, float], ...] = (("", "", 1.0), ("-P", " petit format", 0.6), ("-F", " format familial", 1.8))


def _window_draw(rng: np.random.Generator, start: np.ndarray, end: np.ndarray, weights: np.ndarray, days: int, on_day: np.ndarray) -> np.ndarray:
    """For each day in ``on_day``, one item among those whose window ``[start, end)`` holds that
    day, by ``weights``; -1 where none is open."""
    day = np.arange(days)[:, None]
    open_w = np.where((start[None, :] <= day) & (day < end[None, :]), weights[None, :], 0.0)
    return draw_rows(rng, open_w, on_day)


def grocery_year(seed: int, scale: Scale) -> History:
    """A year of weekly shopping of a few hundred households, no product master; see HISTORIES.md."""
    kind = "grocery_year"
    start = pd.Timestamp("2023-01-02")
    days = 364
    n_dept = len(YEAR_DEPARTMENTS)
    n_regular = int(round(1400 * scale.catalog))
    n_households = max(12, int(round(450 * scale.buyers)))

    # -- catalog: regular products by department, seasonal products per event, launches ------
    rng = _rng(seed, kind, "catalog")
    cat = grocery_catalog(rng, n_regular, YEAR_DEPARTMENTS, YEAR_STAPLES, YEAR_COMPLEMENTS, exponent=0.95)
    per_event = max(1, int(round(3 * scale.catalog)))
    s_event, s_dept, s_noun = [], [], []
    for e, (_, _, _, items) in enumerate(YEAR_EVENTS):
        for item in items.split("|"):
            dept, noun = item.split(":")
            s_event += [e] * per_event
            s_dept += [cat.index[dept]] * per_event
            s_noun += [noun] * per_event
    s_event, s_dept = np.array(s_event), np.array(s_dept)
    n_seasonal = len(s_event)
    n_products = n_regular + n_seasonal
    dept = np.concatenate([cat.category, s_dept])
    ev_first = np.array([(pd.Timestamp(e[1]) - start).days for e in YEAR_EVENTS])
    ev_last = np.array([(pd.Timestamp(e[2]) - start).days + 1 for e in YEAR_EVENTS])
    avail_from = np.concatenate([np.zeros(n_regular, dtype=np.int64), ev_first[s_event]])
    avail_to = np.concatenate([np.full(n_regular, days), ev_last[s_event]])
    launched = np.flatnonzero((rng.random(n_regular) < 0.05) & ~np.isin(np.arange(n_regular), cat.head))
    avail_from[launched] = rng.integers(40, 320, len(launched))
    pop = np.concatenate([cat.pop, rng.lognormal(-3.0, 0.6, n_seasonal)])
    price = np.concatenate([cat.price, np.round(np.array([d[2] for d in YEAR_DEPARTMENTS])[s_dept] * rng.lognormal(0.4, 0.3, n_seasonal), 1) - 0.01])
    loose = np.concatenate([cat.loose, np.zeros(n_seasonal, dtype=bool)])
    number = np.concatenate([np.arange(n_regular) - cat.start[cat.category] + 10, np.arange(n_seasonal) + 5000])
    product_id = join_str(pick([d[0] for d in YEAR_DEPARTMENTS], dept), zfill(number, 4))
    nouns = [d[4].split("|") for d in YEAR_DEPARTMENTS]
    noun = np.array([nouns[d][i % len(nouns[d])] for d, i in zip(cat.category, range(n_regular))] + s_noun, dtype=object)
    text = join_str(noun, " ", pick(YEAR_BRANDS, rng.integers(0, len(YEAR_BRANDS), n_products)))
    n_sizes = np.where(loose, 1, draw(rng, np.array([0.4, 0.35, 0.25]), n_products) + 1)

    # -- households: type, taste, shopping list with cadence, holidays -----------------------
    rng = _rng(seed, kind, "households")
    h_type = draw(rng, np.array([h[1] for h in YEAR_HOUSEHOLDS]), n_households)
    type_mult = np.ones((len(YEAR_HOUSEHOLDS), n_dept))
    for t, (_, _, mult) in enumerate(YEAR_HOUSEHOLDS):
        for code, m in mult.items():
            type_mult[t, cat.index[code]] = m
    dept_share = np.bincount(cat.category, weights=cat.pop, minlength=n_dept)
    type_share = type_mult * dept_share
    pref = type_mult[h_type] * (0.5 * dept_share / dept_share.sum() + 0.5 * rng.dirichlet(np.full(n_dept, 0.4), n_households))
    n_list = 14 + rng.poisson(16, n_households)
    l_owner = np.repeat(np.arange(n_households), n_list)
    l_prod = draw_in_groups(rng, cat.pop**0.9, cat.start, cat.end, draw_rows(rng, pref, l_owner))
    keep = first_of_pairs(l_owner, l_prod)
    l_owner, l_prod = l_owner[keep], l_prod[keep]
    joined = np.where(rng.random(n_households) < 0.88, 0, rng.integers(14, 300, n_households))
    left = np.where(rng.random(n_households) < 0.92, days, joined + 60 + (rng.random(n_households) * (days - joined - 60)).astype(int))
    has_holiday = rng.random(n_households) < 0.75
    hol_from = rng.integers(180, 230, n_households)
    hol_to = np.where(has_holiday, hol_from + 7 + rng.integers(0, 15, n_households), -1)

    # -- trips: a weekly-ish big shop (own interval, jitter) and occasional top-ups -----------
    rng = _rng(seed, kind, "trips")
    interval = pick([5, 6, 7, 7, 7, 7, 7, 8, 9, 10, 12, 14], rng.integers(0, 12, n_households)).astype(np.int64)
    steps = interval[:, None] + rng.integers(-1, 2, (n_households, 80))
    steps[:, 0] = joined + rng.integers(0, interval)
    day_grid = np.cumsum(steps, axis=1)
    ok = (day_grid < left[:, None]) & ~((day_grid >= hol_from[:, None]) & (day_grid < hol_to[:, None]))
    b_house, b_col = np.nonzero(ok)
    b_day = day_grid[b_house, b_col]
    b_k = np.cumsum(ok, axis=1)[b_house, b_col] - 1  # ordinal of the big shop
    n_top = rng.poisson(0.35 / 7 * (left - joined))
    u_house = np.repeat(np.arange(n_households), n_top)
    u_day = joined[u_house] + (rng.random(len(u_house)) * (left - joined)[u_house]).astype(np.int64)
    t_house = np.concatenate([b_house, u_house])
    t_day = np.concatenate([b_day, u_day])
    t_big = np.concatenate([np.ones(len(b_house), bool), np.zeros(len(u_house), bool)])
    t_k = np.concatenate([b_k, np.full(len(u_house), -1)])
    t_minute = rng.integers(8 * 60, 20 * 60, len(t_house))
    order = np.lexsort((t_minute, t_day, t_house))
    t_house, t_day, t_big, t_k, t_minute = t_house[order], t_day[order], t_big[order], t_k[order], t_minute[order]
    n_t = len(t_house)

    # -- exploration: popularity by household type, taste, complements, seasons, launches ----
    rng = _rng(seed, kind, "explore")
    e_trip = np.repeat(np.arange(n_t), rng.poisson(np.where(t_big, 1.3, 0.5)))
    e_house = t_house[e_trip]
    source = rng.random(len(e_trip))
    taste = (source >= 0.65) & (source < 0.9)
    e_dept = draw_rows(rng, type_share, h_type[e_house])
    e_dept[taste] = draw_rows(rng, pref, e_house[taste])
    e_prod = draw_in_groups(rng, cat.pop, cat.start, cat.end, e_dept)
    e_prod[taste] = draw_in_groups(rng, cat.pop**0.6, cat.start, cat.end, e_dept[taste])
    list_start = np.searchsorted(l_owner, np.arange(n_households))
    list_n = np.bincount(l_owner, minlength=n_households)
    comp = (source >= 0.9) & (list_n[e_house] > 0)
    anchor = l_prod[list_start[e_house[comp]] + (rng.random(int(comp.sum())) * list_n[e_house[comp]]).astype(np.int64)]
    partner = cat.partner[anchor]
    e_prod[np.flatnonzero(comp)[partner >= 0]] = partner[partner >= 0]
    for _ in range(4):  # a product not on the shelf that day (not launched yet) is drawn again
        closed = avail_from[e_prod] > t_day[e_trip]
        e_prod[closed] = draw_in_groups(rng, cat.pop, cat.start, cat.end, e_dept[closed])
    closed = avail_from[e_prod] > t_day[e_trip]
    e_trip, e_house, e_prod = e_trip[~closed], e_house[~closed], e_prod[~closed]
    s_trip = np.repeat(np.arange(n_t), rng.poisson(np.where(t_big, 0.7, 0.2)))
    s_prod = n_regular + _window_draw(rng, avail_from[n_regular:], avail_to[n_regular:], pop[n_regular:], days, t_day[s_trip])
    s_trip, s_prod = s_trip[s_prod >= n_regular], s_prod[s_prod >= n_regular]
    launch_pop = pop[launched] * 8.0
    n_trip = np.repeat(np.arange(n_t), rng.poisson(np.where(t_big, 0.35, 0.1)))
    n_pick = _window_draw(rng, avail_from[launched], avail_from[launched] + 42, launch_pop, days, t_day[n_trip])
    n_trip, n_prod = n_trip[n_pick >= 0], launched[n_pick[n_pick >= 0]]
    adopt = rng.random(len(e_trip)) < 0.15

    # -- the shopping list over time: initial list, brand switches, adopted products ---------
    rng = _rng(seed, kind, "list")
    n_l = len(l_owner)
    cadence = pick([1, 1, 1, 2, 2, 3, 4], rng.integers(0, 7, n_l)).astype(np.int64)
    cadence[np.isin(l_prod, cat.head)] = 1
    switch = rng.random(n_l) < 0.12
    switch_day = np.where(switch, rng.integers(30, days, n_l), days + 1)
    substitute = draw_in_groups(rng, cat.pop**0.8, cat.start, cat.end, cat.category[l_prod[switch]])
    a_house, a_prod = e_house[adopt], e_prod[adopt]
    a_from = t_day[e_trip[adopt]] + 1
    entries = pd.DataFrame(
        {
            "house": np.concatenate([l_owner, l_owner[switch], a_house]),
            "product": np.concatenate([l_prod, substitute, a_prod]),
            "from_day": np.concatenate([np.full(n_l, -1), switch_day[switch], a_from]),
            "to_day": np.concatenate([switch_day, np.full(int(switch.sum()) + len(a_house), days + 1)]),
            "cadence": np.concatenate([cadence, cadence[switch], pick([2, 3, 4, 6], rng.integers(0, 4, len(a_house))).astype(np.int64)]),
            "fidelity": np.concatenate([rng.beta(6.0, 2.0, n_l + int(switch.sum())), rng.beta(4.0, 3.0, len(a_house))]),
        }
    ).sort_values(["house", "from_day"], kind="stable")
    entries["from_day"] = np.maximum(entries["from_day"].to_numpy(), avail_from[entries["product"].to_numpy()])  # not before launch
    entries["phase"] = rng.integers(0, 1 << 20, len(entries)) % entries["cadence"].to_numpy()
    trip_i, entry_i = cross_join(t_house, entries["house"].to_numpy(), n_households)
    ent = {c: entries[c].to_numpy()[entry_i] for c in entries.columns}
    valid = (ent["from_day"] <= t_day[trip_i]) & (t_day[trip_i] < ent["to_day"])
    due = np.where(t_big[trip_i], (t_k[trip_i] + ent["phase"]) % ent["cadence"] == 0, ent["cadence"] == 1)
    chance = np.where(t_big[trip_i], ent["fidelity"], 0.25)
    bought = valid & due & (rng.random(len(trip_i)) < chance)

    line_trip = np.concatenate([trip_i[bought], e_trip, s_trip, n_trip])
    line_prod = np.concatenate([ent["product"][bought], e_prod, s_prod, n_prod])
    keep = first_of_pairs(line_trip, line_prod)
    line_trip, line_prod = line_trip[keep], line_prod[keep]
    order = np.lexsort((line_prod, line_trip))
    line_trip, line_prod = line_trip[order], line_prod[order]

    # -- lines: the household's usual pack size, kilos at the counters, inflation, promotions --
    rng = _rng(seed, kind, "lines")
    line_house = t_house[line_trip]
    thresholds = np.array([[1.0, 1.0], [0.7, 1.0], [0.6, 0.85]])[n_sizes[line_prod] - 1]  # usual pack: mostly the first
    size_u = pair_hash(line_house, line_prod)[:, None]
    size = (size_u >= thresholds).sum(axis=1)
    size_suffix = pick([s[0] for s in YEAR_SIZES], size)
    variant = join_str(product_id[line_prod], size_suffix)
    label = join_str(text[line_prod], pick([s[1] for s in YEAR_SIZES], size))
    family_size = pick([h[0] for h in YEAR_HOUSEHOLDS], h_type[line_house]) == "famille"
    qty = np.where(family_size & ~loose[line_prod], 1.0 + np.minimum(rng.poisson(0.6, len(line_prod)), 5), grocery_quantities(rng, loose[line_prod]))
    unit = price[line_prod] * np.array([s[2] for s in YEAR_SIZES])[size] * (1.0 + 0.06 * t_day[line_trip] / days)
    unit = np.round(unit * np.where(rng.random(len(line_prod)) < 0.12, 0.75, 1.0), 2)
    refund = rng.random(len(line_prod)) < 0.003
    store = draw(rng, np.array([0.55, 0.3, 0.15]), n_households)
    seq = pd.Series(np.arange(n_t)).groupby([store[t_house], t_day]).cumcount().to_numpy()
    ticket = join_str("T", store[t_house] + 1, pick(list((start + pd.to_timedelta(np.arange(days), unit="D")).strftime("%y%m%d")), t_day), zfill(seq + 1, 4))
    t_date = pick(list((start + pd.to_timedelta(np.arange(days), unit="D")).strftime("%d/%m/%Y")), t_day)
    t_time = join_str(zfill(t_minute // 60, 2), ":", zfill(t_minute % 60, 2))
    cards = zfill(unique_ids(rng, n_households, 1_000_000_000, 3_000_000), 10)
    no_card = rng.permutation(n_t) < max(1, round(0.015 * n_t))  # card not shown at the till: quarantined

    def lines(trips: np.ndarray, art: np.ndarray, lib: np.ndarray, q: np.ndarray, p: np.ndarray, tk: np.ndarray, dates: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "magasin": store[t_house[trips]] + 1, "ticket": tk, "date": dates, "heure": t_time[trips],
                "carte": np.where(no_card[trips], "", cards[t_house[trips]]), "article": art, "libelle": lib, "qte": q, "prix_unitaire": p,
                "montant": np.round(q * p, 2), "_day": t_day[trips],
            }
        )  # fmt: skip

    drinks = np.isin(dept[line_prod], [cat.index[c] for c in ("EA", "SO", "BI")])
    dep_trip = np.unique(line_trip[drinks])
    bag_trip = np.flatnonzero(rng.random(n_t) < 0.2)
    r_day = np.minimum(t_day[line_trip[refund]] + rng.integers(1, 10, int(refund.sum())), days - 1)
    frames = [
        lines(line_trip, variant, label, qty, unit, ticket[line_trip], t_date[line_trip]),
        lines(line_trip[refund], variant[refund], label[refund], -qty[refund], unit[refund], join_str("AV", ticket[line_trip[refund]]),
              pick(list((start + pd.to_timedelta(np.arange(days), unit="D")).strftime("%d/%m/%Y")), r_day)),
        lines(dep_trip, np.full(len(dep_trip), "CONSIGNE", dtype=object), np.full(len(dep_trip), "Consigne bouteilles", dtype=object),
              1.0 + rng.poisson(4.0, len(dep_trip)), np.full(len(dep_trip), 0.1), ticket[dep_trip], t_date[dep_trip]),
        lines(bag_trip, np.full(len(bag_trip), "SAC-CABAS", dtype=object), np.full(len(bag_trip), "Sac cabas réutilisable", dtype=object),
              np.ones(len(bag_trip)), np.full(len(bag_trip), 0.5), ticket[bag_trip], t_date[bag_trip]),
    ]  # fmt: skip
    all_lines = pd.concat(frames, ignore_index=True).sort_values(["_day", "ticket", "article"], kind="stable").drop(columns="_day")
    files = {"tickets_2023.csv.gz": (all_lines, Dialect(sep="\t", decimal=",", encoding="cp1252", gzip=True))}
    data = {
        "order_lines": "tickets_2023.csv.gz",
        "csv": {"sep": "\t", "decimal": ",", "encoding": "cp1252", "date_format": "%d/%m/%Y"},
        "columns": {
            "order_id": "ticket", "order_date": "date", "buying_center_id": "carte", "variant_id": "article",
            "quantity": "qte", "unit_price": "prix_unitaire", "net_value": "montant", "description": "libelle",
        },
        "variant_to_product": r"^([A-Z]{2}\d{4})-[A-Z]$",
        "family_rule": r"^([A-Z]{2})",
    }  # fmt: skip
    ingest = {"return_order_prefixes": ["AV"], "exclude_variant_patterns": ["CONSIGNE", "SAC-.*"]}
    comment = (
        "# grocery_year: a year of a few hundred households' shopping (benchmarks/histories.py --kind grocery_year).\n"
        "# No product master: products from the article code (LA0412-F = pack size F of LA0412), families = the\n"
        "# two-letter department, names from 'libelle'. Tab-separated, decimal comma, dd/mm/yyyy, cp1252, gzip.\n"
        "# AV = refund ticket; deposits and bags are non-product lines; no card = quarantined.\n"
    )
    pairs = np.flatnonzero(cat.partner >= 0)
    seasonal = np.arange(n_regular, n_products)
    planted = {
        "complements": [[str(product_id[a]), str(product_id[cat.partner[a]])] for a in pairs],
        "upgrades": [],
        "seasonal": {str(product_id[p]): [str((start + pd.Timedelta(days=int(avail_from[p]))).date()), str((start + pd.Timedelta(days=int(avail_to[p]) - 1)).date())] for p in seasonal},
        "launched": {str(product_id[p]): str((start + pd.Timedelta(days=int(avail_from[p]))).date()) for p in launched},
    }  # fmt: skip
    facts = {"order_line_rows": len(all_lines), "households": n_households, "products": n_products, "seasonal_products": n_seasonal, "trips": n_t, "brand_switches": int(switch.sum())}
    return History(kind, files, _config(kind, data, ingest), comment, planted, facts)


# ---------------------------------------------------------------------------------------------
# b2b
# ---------------------------------------------------------------------------------------------

B2B_COUNTRIES: tuple[tuple[str, str, float, float], ...] = (
    # (country, currency, units per EUR, share of accounts)
    ("DE", "EUR", 1.0, 0.34), ("FR", "EUR", 1.0, 0.20), ("CH", "CHF", 0.95, 0.14), ("PL", "PLN", 4.4, 0.16),
    ("GB", "GBP", 0.86, 0.16),
)  # fmt: skip
B2B_SEGMENTS: tuple[str, ...] = ("Automotive", "Food & beverage", "Pharma", "Metalworking", "Packaging", "Electronics", "Woodworking")
B2B_MACHINES: tuple[str, ...] = (
    "Labeller", "Capper", "Palletiser", "Press brake", "Lathe", "Laser cutter", "Case packer", "Dosing pump",
    "Welding cell", "Conveyor", "Shrink wrapper", "Grinder", "Compressor", "Dryer", "Mixer", "Router", "Filler", "Sealer",
)
B2B_GENERAL: tuple[str, ...] = (
    "Safety gloves", "Cutting fluid", "Fasteners", "Abrasives", "Cleaning agents", "Lubricants", "Hearing protection",
    "Safety glasses", "Cable ties", "Adhesives", "Tapes", "Drill bits", "Saw blades", "Air filters", "Hoses", "Fittings",
    "Bearings", "Drive belts", "Seals", "Workwear", "Labels", "Stretch film", "Marking paint", "Wipes", "Measuring tools",
    "Hand tools", "Batteries", "Work lamps", "Storage bins", "Pallet trucks", "Ladders", "First aid", "Spill kits",
    "Welding wire", "Grinding discs", "Threadlocker", "Sockets", "Torque tools", "Cable", "Fuses",
)
B2B_TIERS: tuple[str, ...] = ("Basic", "Plus", "Pro")
B2B_PART_NOUNS: tuple[tuple[str, ...], ...] = (  # per kind: what the product is called
    (),
    ("Ink cartridge", "Glue cartridge", "Filter cartridge", "Cutting insert", "Welding tip", "Sealing tape", "Label roll", "Nozzle set"),
    ("Guard kit", "Tool holder", "Infeed extension", "Remote panel", "Mounting frame", "Sensor kit"),
    ("Drive belt", "Seal kit", "Bearing set", "Brush set"),
    ("Motor", "Controller board", "Valve", "Pump", "Gearbox", "Proximity sensor", "Display", "Cylinder"),
    (),
)
# kinds of product and their variant option codes (XX, YY of P12345-XX-YY)
MACHINE, CONSUMABLE, ACCESSORY, WEAR, SPARE, GENERAL = range(6)
B2B_OPTIONS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("23", "40", "11", "48"), ("RD", "BL", "GR", "GY", "YL", "BK")),  # voltage x colour
    (("01", "05", "10", "25"), ("00",)),  # pack size
    (("00",), ("00", "BK")),
    (("00",), ("00",)),
    (("00",), ("00",)),
    (("SM", "MD", "LG", "XL"), ("00", "BL", "YL")),  # size x colour
)


@dataclass(frozen=True)
class B2BCatalog:
    """Product arrays (one entry per product): kind, series (-1: general), family, tier,
    next tier (-1: none), list price in EUR, country availability, variants, discontinuation."""

    kind: np.ndarray
    series: np.ndarray
    family: np.ndarray
    tier: np.ndarray
    next_tier: np.ndarray
    price: np.ndarray
    available: np.ndarray  # (n_products, n_countries) bool
    n_variants: np.ndarray
    discontinued: np.ndarray  # day, or a day after the end
    pop: np.ndarray
    name: np.ndarray
    by_series: dict[int, tuple[np.ndarray, np.ndarray]]  # kind -> (products sorted by series, start offsets per series)


def _b2b_catalog(rng: np.random.Generator, scale: Scale, days: int) -> B2BCatalog:
    n_series = max(4, int(round(70 * scale.catalog)))
    n_countries = len(B2B_COUNTRIES)
    kind, series, tier, price, fam = [], [], [], [], []

    def add(k: int, s: np.ndarray, t: np.ndarray, p: np.ndarray, family: np.ndarray) -> np.ndarray:
        first = sum(len(x) for x in kind)
        kind.append(np.full(len(s), k)), series.append(s), tier.append(t), price.append(p), fam.append(family)
        return np.arange(first, first + len(s))

    s_code = zfill(np.arange(n_series), 3)
    base = rng.lognormal(9.0, 0.6, n_series)
    machines = add(MACHINE, np.repeat(np.arange(n_series), 3), np.tile(np.arange(3), n_series),
                   np.repeat(base, 3) * np.tile([1.0, 1.45, 2.1], n_series) * rng.normal(1.0, 0.04, 3 * n_series),
                   join_str("MS", np.repeat(s_code, 3)))  # fmt: skip
    per = {}
    for k, prefix, mean, lo, mu, sigma in (
        (CONSUMABLE, "CS", 3.0, 2, 4.0, 0.7), (ACCESSORY, "AC", 3.0, 2, 6.0, 0.8), (WEAR, "SP", 0.0, 2, 5.0, 0.6),
        (SPARE, "SP", 10.0 * scale.catalog**0.5, 3, 5.0, 1.0),
    ):  # fmt: skip
        owner = np.repeat(np.arange(n_series), lo + rng.poisson(mean, n_series))
        per[k] = add(k, owner, np.zeros(len(owner), dtype=np.int64), rng.lognormal(mu, sigma, len(owner)), join_str(prefix, s_code[owner]))
    standard = per[CONSUMABLE]
    twin_of = standard[rng.random(len(standard)) < 0.4]
    twins = add(CONSUMABLE, np.concatenate(series)[twin_of], np.ones(len(twin_of), dtype=np.int64),
                np.concatenate(price)[twin_of] * rng.uniform(1.3, 1.8, len(twin_of)), np.concatenate(fam)[twin_of])  # fmt: skip
    n_fam = len(B2B_GENERAL)
    g_lines = np.repeat(np.arange(n_fam), 5 + rng.poisson(15 * scale.catalog, n_fam))
    g_tiers = 1 + draw(rng, np.array([0.15, 0.25, 0.6]), len(g_lines))
    line_of, g_tier = segments(g_tiers)
    g_base = rng.lognormal(2.5, 1.0, n_fam)[g_lines] * rng.lognormal(0.0, 0.5, len(g_lines))
    general = add(GENERAL, np.full(len(line_of), -1), g_tier, g_base[line_of] * np.array([1.0, 1.5, 2.2])[g_tier] * rng.normal(1.0, 0.04, len(line_of)),
                  join_str("GN", zfill(g_lines[line_of], 2)))  # fmt: skip

    kind_a, series_a, tier_a = np.concatenate(kind), np.concatenate(series), np.concatenate(tier)
    price_a, family_a = np.round(np.concatenate(price), 2), np.concatenate(fam)
    n = len(kind_a)
    next_tier = np.full(n, -1, dtype=np.int64)
    next_tier[machines[np.tile(np.arange(3), n_series) < 2]] = machines[np.tile(np.arange(3), n_series) > 0]
    next_tier[twin_of] = twins
    step = np.flatnonzero(g_tier < g_tiers[line_of] - 1)
    next_tier[general[step]] = general[step + 1]
    available = np.ones((n, n_countries), dtype=bool)
    restricted = general[rng.random(len(general)) < 0.3]
    keep_in = rng.random((len(restricted), n_countries)) < 0.45
    keep_in[np.arange(len(restricted)), rng.integers(0, n_countries, len(restricted))] = True
    available[restricted] = keep_in
    restricted_c = standard[rng.random(len(standard)) < 0.1]
    available[restricted_c] = rng.random((len(restricted_c), n_countries)) < 0.7
    available[restricted_c, 0] = True
    discontinued = np.full(n, days + 1)
    gone = general[rng.random(len(general)) < 0.05]
    discontinued[gone] = rng.integers(days // 3, days - 30, len(gone))
    pop = np.zeros(n)
    g_order = zipf(rng, len(general), 0.9)
    pop[general] = g_order * np.array([1.0, 0.6, 0.3])[g_tier]
    options = np.array([len(B2B_OPTIONS[k][0]) * len(B2B_OPTIONS[k][1]) for k in range(6)])
    n_variants = np.minimum(options[kind_a], np.where(kind_a == MACHINE, 2 + rng.poisson(5, n), np.where(kind_a == GENERAL, 1 + rng.poisson(1.5, n), 1 + rng.poisson(0.5, n))))
    machine = join_str(pick(B2B_MACHINES, np.maximum(series_a, 0) % len(B2B_MACHINES)), " MS", zfill(np.maximum(series_a, 0), 3))
    noun = np.full(n, "", dtype=object)
    for k, nouns in enumerate(B2B_PART_NOUNS):
        m = kind_a == k
        if nouns:
            noun[m] = pick(nouns, np.arange(int(m.sum())) % len(nouns))
    g_name = pick(B2B_GENERAL, np.clip(pd.Series(family_a).str.slice(2).astype(int).to_numpy(), 0, n_fam - 1))
    tier_name = pick(B2B_TIERS, tier_a)
    name = np.where(kind_a == MACHINE, join_str(machine, " ", tier_name),
                    np.where(kind_a == GENERAL, join_str(g_name, " ", tier_name, " no. ", np.arange(n) % 89 + 1),
                             join_str(noun, np.where(tier_a > 0, " premium", ""), " for ", machine)))  # fmt: skip
    by_series = {}
    for k in (CONSUMABLE, ACCESSORY, WEAR, SPARE):
        members = per[k]
        counts = np.bincount(series_a[members], minlength=n_series)
        by_series[k] = (members[np.argsort(series_a[members], kind="stable")], np.cumsum(counts) - counts)
    return B2BCatalog(kind_a, series_a, family_a, tier_a, next_tier, price_a, available, n_variants, discontinued, pop, name, by_series)


def variant_ids(product_code: np.ndarray, kind: np.ndarray, number: np.ndarray) -> np.ndarray:
    """``P12345-XX-YY``: variant ``number`` of a product of ``kind`` spelled with its option codes."""
    n_x = np.array([len(o[0]) for o in B2B_OPTIONS])[kind]
    x_code = np.empty(len(kind), dtype=object)
    y_code = np.empty(len(kind), dtype=object)
    for k, (xs, ys) in enumerate(B2B_OPTIONS):
        m = kind == k
        x_code[m], y_code[m] = pick(xs, (number % n_x)[m]), pick(ys, np.minimum((number // n_x)[m], len(ys) - 1))
    return join_str(product_code, "-", x_code, "-", y_code)


def business_day(day: np.ndarray, start: pd.Timestamp) -> np.ndarray:
    """Day numbers (from ``start``) on a Saturday move to Friday, on a Sunday to Monday."""
    weekday = (start.day_of_week + day) % 7
    return day + np.where(weekday == 5, -1, 0) + np.where(weekday == 6, 1, 0)


def _streams(rng: np.random.Generator, first: np.ndarray, end: np.ndarray, mean_gap: float, max_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurring purchases from ``first`` until ``end``, every ~``mean_gap`` days (own interval per
    stream, +-5 days jitter): (stream index, occurrence number, day) per purchase."""
    gap = np.clip(rng.lognormal(np.log(mean_gap), 0.3, len(first)), mean_gap / 3, mean_gap * 3)
    n = np.clip(((end - first) // gap).astype(np.int64) + 1, 0, max_n)
    n = np.where(first < end, n, 0)
    stream, k = segments(n)
    day = first[stream] + (k * gap[stream]).astype(np.int64) + rng.integers(-5, 6, len(stream)) * (k > 0)
    return stream, k, np.minimum(day, end[stream] - 1)


def b2b(seed: int, scale: Scale) -> History:
    """Three years of an equipment manufacturer's ERP; see ``benchmarks/HISTORIES.md``."""
    kind = "b2b"
    start, days = pd.Timestamp("2021-01-04"), 1092
    n_countries, n_segments = len(B2B_COUNTRIES), len(B2B_SEGMENTS)
    cat = _b2b_catalog(_rng(seed, kind, "catalog"), scale, days)
    n_products, n_series, n_fam = len(cat.kind), int(cat.series.max()) + 1, len(B2B_GENERAL)

    # -- accounts and their ship-tos (buying centers) ----------------------------------------
    rng = _rng(seed, kind, "customers")
    n_accounts = max(8, int(round(1100 * scale.buyers)))
    a_country = draw(rng, np.array([c[3] for c in B2B_COUNTRIES]), n_accounts)
    a_segment = draw(rng, rng.dirichlet(np.full(n_segments, 3.0)), n_accounts)
    a_size = rng.lognormal(0.0, 0.7, n_accounts)
    a_discount = rng.uniform(0.0, 0.15, n_accounts)
    n_bc = np.minimum(rng.geometric(0.55, n_accounts), 5)
    bc_account, bc_no = segments(n_bc)
    n_b = len(bc_account)
    abroad = (bc_no > 0) & (rng.random(n_b) < 0.08)
    bc_country = np.where(abroad, rng.integers(0, n_countries, n_b), a_country[bc_account])
    bc_segment = a_segment[bc_account]
    activity = a_size[bc_account] * rng.lognormal(0.0, 0.4, n_b)
    bc_start = np.where(rng.random(n_b) < 0.65, 0, rng.integers(0, days - 120, n_b))
    bc_end = np.where(rng.random(n_b) < 0.92, days, bc_start + 120 + (rng.random(n_b) * (days - bc_start - 120)).astype(np.int64))
    series_pref = rng.dirichlet(np.full(n_series, 0.15), n_segments) + 1e-4  # industries use different machines
    country_mult = rng.lognormal(0.0, 0.4, (n_countries, n_series))
    machine_w = (series_pref[:, None, :] * country_mult[None, :, :]).reshape(n_segments * n_countries, n_series)
    family_pref = rng.dirichlet(np.full(n_fam, 0.5), n_segments) + 1e-3
    product_country_mult = rng.lognormal(0.0, 0.5, (n_countries, n_products))

    # -- machines, their upgrades to the next tier --------------------------------------------
    rng = _rng(seed, kind, "machines")
    m_bc = np.repeat(np.arange(n_b), rng.poisson(1.1 * activity**0.6))
    m_bc = m_bc[bc_end[m_bc] - bc_start[m_bc] > 60]
    m_series = draw_rows(rng, machine_w, bc_segment[m_bc] * n_countries + bc_country[m_bc])
    m_tier = draw(rng, np.array([0.5, 0.33, 0.17]), len(m_bc))
    m_prod = m_series * 3 + m_tier  # machines are the first products, three per series
    m_day = bc_start[m_bc] + (rng.random(len(m_bc)) * (bc_end[m_bc] - bc_start[m_bc] - 60)).astype(np.int64)
    upgrade = (m_tier < 2) & (rng.random(len(m_bc)) < 0.3)
    u_day = m_day + rng.integers(150, 540, len(m_bc))
    upgrade &= u_day < bc_end[m_bc]
    events = [  # (bc, day, product, quantity)
        (m_bc, m_day, m_prod, 1.0 + (rng.random(len(m_bc)) < 0.1) * rng.integers(1, 3, len(m_bc))),
        (m_bc[upgrade], u_day[upgrade], cat.next_tier[m_prod[upgrade]], np.ones(int(upgrade.sum()))),
    ]
    switches = [(m_bc[upgrade], m_prod[upgrade], cat.next_tier[m_prod[upgrade]])]

    # -- what follows a machine: accessories, consumables (recurring), wear parts, spares -------
    rng = _rng(seed, kind, "follow")
    complement_seen = []  # (bc, machine product, complement product)

    def per_machine(k: int) -> tuple[np.ndarray, np.ndarray]:
        members, offsets = cat.by_series[k]
        counts = np.diff(np.append(offsets, len(members)))
        ev, pos = segments(counts[m_series])
        return ev, members[offsets[m_series[ev]] + pos]

    ev, acc = per_machine(ACCESSORY)
    take = rng.random(len(ev)) < 0.35
    ev, acc = ev[take], acc[take]
    lag = np.where(rng.random(len(ev)) < 0.5, 0, rng.integers(7, 60, len(ev)))
    ok = m_day[ev] + lag < bc_end[m_bc[ev]]
    events.append((m_bc[ev[ok]], m_day[ev[ok]] + lag[ok], acc[ok], np.ones(int(ok.sum()))))
    complement_seen.append((m_bc[ev[ok]], m_prod[ev[ok]], acc[ok]))

    ev, con = per_machine(CONSUMABLE)
    take = (rng.random(len(ev)) < 0.55) & cat.available[con, bc_country[m_bc[ev]]]
    ev, con = ev[take], con[take]
    first = m_day[ev] + np.where(rng.random(len(ev)) < 0.3, 0, rng.integers(7, 45, len(ev)))
    stream, k, day = _streams(rng, first, bc_end[m_bc[ev]], 60.0, 40)
    n_occ = np.bincount(stream, minlength=len(ev))
    twin = cat.next_tier[con]
    switch = (twin >= 0) & (n_occ > 1) & (rng.random(len(ev)) < 0.3)
    switch_at = np.where(switch, 1 + (rng.random(len(ev)) * np.maximum(n_occ - 1, 1)).astype(np.int64), 1 << 30)
    product = np.where(k >= switch_at[stream], twin[stream], con[stream])
    events.append((m_bc[ev[stream]], day, product, 1.0 + rng.poisson(3.0 * np.sqrt(activity[m_bc[ev[stream]]]))))
    complement_seen.append((m_bc[ev], m_prod[ev], con))
    switches.append((m_bc[ev[switch]], con[switch], twin[switch]))

    ev, wear = per_machine(WEAR)
    take = rng.random(len(ev)) < 0.6
    ev, wear = ev[take], wear[take]
    stream, _, day = _streams(rng, m_day[ev] + rng.integers(60, 300, len(ev)), bc_end[m_bc[ev]], 270.0, 8)
    events.append((m_bc[ev[stream]], day, wear[stream], 1.0 + rng.poisson(1.0, len(stream))))
    complement_seen.append((m_bc[ev[np.unique(stream)]], m_prod[ev[np.unique(stream)]], wear[np.unique(stream)]))

    members, offsets = cat.by_series[SPARE]
    counts = np.diff(np.append(offsets, len(members)))
    ev = np.repeat(np.arange(len(m_bc)), rng.poisson(1.2, len(m_bc)))
    spare = members[offsets[m_series[ev]] + (rng.random(len(ev)) * counts[m_series[ev]]).astype(np.int64)]
    s_day = m_day[ev] + rng.integers(90, 720, len(ev))
    ok = s_day < bc_end[m_bc[ev]]
    events.append((m_bc[ev[ok]], s_day[ok], spare[ok], 1.0 + rng.poisson(0.5, int(ok.sum()))))

    # -- general supplies: a repeat set per buying center plus fresh picks by industry ---------
    rng = _rng(seed, kind, "general")
    general = np.flatnonzero(cat.kind == GENERAL)
    g_family = pd.Series(cat.family[general]).str.slice(2).astype(int).to_numpy()
    g_counts = np.bincount(g_family, minlength=n_fam)
    g_end = np.cumsum(g_counts)
    g_start = g_end - g_counts

    def pick_general(bcs: np.ndarray) -> np.ndarray:
        """A general product per buying center: family by industry, product by popularity in its country."""
        fam = draw_rows(rng, family_pref, bc_segment[bcs])
        out = np.empty(len(bcs), dtype=np.int64)
        for c in range(n_countries):
            m = bc_country[bcs] == c
            w = cat.pop[general] * product_country_mult[c, general] * cat.available[general, c]
            out[m] = general[draw_in_groups(rng, w, g_start, g_end, fam[m])]
        return out

    r_bc = np.repeat(np.arange(n_b), 3 + rng.poisson(6, n_b))
    r_prod = pick_general(r_bc)
    keep = first_of_pairs(r_bc, r_prod)
    r_bc, r_prod = r_bc[keep], r_prod[keep]
    r_next = cat.next_tier[r_prod]
    r_switch_day = bc_start[r_bc] + (rng.random(len(r_bc)) * (bc_end - bc_start)[r_bc]).astype(np.int64)
    r_switch = (r_next >= 0) & (rng.random(len(r_bc)) < 0.2)  # moves up to the next tier (sold there, not yet withdrawn)
    nxt = np.maximum(r_next, 0)
    r_switch &= cat.available[nxt, bc_country[r_bc]] & (r_switch_day < cat.discontinued[nxt] - 30) & (r_switch_day < cat.discontinued[r_prod])
    r_switch_day = np.where(r_switch, r_switch_day, days + 1)
    r_start = np.searchsorted(r_bc, np.arange(n_b))
    r_n = np.bincount(r_bc, minlength=n_b)
    o_bc = np.repeat(np.arange(n_b), rng.poisson(activity * 10.0 * (bc_end - bc_start) / 365.0))
    o_day = bc_start[o_bc] + (rng.random(len(o_bc)) * (bc_end - bc_start)[o_bc]).astype(np.int64)
    ln_o, _ = segments(1 + rng.poisson(1.8, len(o_bc)))
    ln_bc, ln_day = o_bc[ln_o], o_day[ln_o]
    from_set = (rng.random(len(ln_o)) < 0.6) & (r_n[ln_bc] > 0)
    ri = r_start[ln_bc[from_set]] + (rng.random(int(from_set.sum())) * r_n[ln_bc[from_set]]).astype(np.int64)
    ln_prod = np.empty(len(ln_o), dtype=np.int64)
    switched = ln_day[from_set] >= r_switch_day[ri]
    ln_prod[from_set] = np.where(switched, cat.next_tier[r_prod[ri]], r_prod[ri])
    ln_prod[~from_set] = pick_general(ln_bc[~from_set])
    events.append((ln_bc, ln_day, ln_prod, 1.0 + rng.poisson(5.0, len(ln_o))))
    span = pd.DataFrame({"ri": ri, "day": ln_day[from_set]}).groupby("ri")["day"].agg(["min", "max"])
    acted = (span["min"] < r_switch_day[span.index]) & (span["max"] >= r_switch_day[span.index])  # bought X, then Y
    did_switch = span.index[acted.to_numpy()].to_numpy()
    switches.append((r_bc[did_switch], r_prod[did_switch], cat.next_tier[r_prod[did_switch]]))

    # -- order lines: business days, orders per (buying center, day), variants, prices ----------
    rng = _rng(seed, kind, "lines")
    bc = np.concatenate([e[0] for e in events])
    day = np.concatenate([e[1] for e in events]).astype(np.int64)
    prod = np.concatenate([e[2] for e in events])
    qty = np.concatenate([e[3] for e in events]).astype(np.float64)
    day = business_day(day, start)
    ok = (day < days) & (day < cat.discontinued[prod]) & cat.available[prod, bc_country[bc]]
    bc, day, prod, qty = bc[ok], day[ok], prod[ok], qty[ok]
    order_key = pd.factorize(day * (n_b + 1) + bc, sort=True)[0]  # orders numbered by date
    keep = first_of_pairs(order_key, prod)
    bc, day, prod, qty, order_key = bc[keep], day[keep], prod[keep], qty[keep], order_key[keep]
    srt = np.lexsort((prod, order_key))
    bc, day, prod, qty, order_key = bc[srt], day[srt], prod[srt], qty[srt], order_key[srt]
    n_lines = len(bc)
    u = pair_hash(bc, prod)
    variant_no = np.minimum((u**2 * cat.n_variants[prod]).astype(np.int64), cat.n_variants[prod] - 1)
    custom = rng.random(n_lines) < np.array([0.12, 0.0, 0.06, 0.0, 0.08, 0.0])[cat.kind[prod]]  # made to order
    product_code = join_str("P", zfill(unique_ids(rng, n_products, 10_000, 6), 5))
    variant = variant_ids(product_code[prod], cat.kind[prod], variant_no)
    custom_no = np.cumsum(custom)
    variant[custom] = join_str(product_code[prod[custom]], "-CU-", zfill(custom_no[custom], 6))
    country = bc_country[bc]
    fx = np.array([c[2] for c in B2B_COUNTRIES])[country]
    unit = cat.price[prod] * fx * (1.0 - a_discount[bc_account[bc]]) * (1.0 + 0.035 * day / 365.0) * rng.normal(1.0, 0.015, n_lines)
    unit = np.round(unit * np.where(custom, rng.uniform(1.15, 1.8, n_lines), 1.0), 2)
    order_no = join_str("45", zfill(order_key + 100_001, 8))
    item_no = (pd.Series(order_key).groupby(order_key).cumcount().to_numpy() + 1) * 10

    # -- returns, cancellations, freight and fees, a few faulty rows --------------------------
    returned = rng.random(n_lines) < 0.015
    cancelled = ~returned & (rng.random(n_lines) < 0.007)
    r_day = business_day(day[returned] + rng.integers(5, 40, int(returned.sum())), start)
    last_workday = days - 1 - max(0, (start.day_of_week + days - 1) % 7 - 4)
    r_qty = -np.ceil(qty[returned] * rng.uniform(0.2, 1.0, int(returned.sum())))
    first_line = np.flatnonzero(item_no == 10)
    freight = first_line[rng.random(len(first_line)) < 0.3]
    fee = first_line[rng.random(len(first_line)) < 0.05]
    sold_to = (200_000 + unique_ids(rng, n_accounts, 0, 40))[bc_account]
    ship_to = zfill(bc_no + 1, 3)

    def frame(rows: np.ndarray, doc: np.ndarray, item: np.ndarray, on_day: np.ndarray, material: np.ndarray, q: np.ndarray,
              price: np.ndarray, mto: np.ndarray, text: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "SalesDoc": doc, "Item": item.astype(np.int32), "DocDate": start + pd.to_timedelta(on_day, unit="D"),
                "SoldTo": sold_to[bc[rows]], "ShipTo": ship_to[bc[rows]], "ShipCountry": pick([c[0] for c in B2B_COUNTRIES], country[rows]),
                "Material": material, "OrderQty": q, "NetPrice": price, "NetAmount": np.round(q * price, 2),
                "Curr": pick([c[1] for c in B2B_COUNTRIES], country[rows]), "MTO": mto, "ShortText": text,
            }
        )  # fmt: skip

    texts = cat.name[prod]
    nf = len(freight) + len(fee)
    fee_rows = np.concatenate([freight, fee])
    parts = [
        frame(np.arange(n_lines), order_no, item_no, day, variant, qty, unit, custom, texts),
        frame(np.flatnonzero(returned), join_str("RT", order_no[returned]), item_no[returned], np.minimum(r_day, last_workday),
              variant[returned], r_qty, unit[returned], custom[returned], texts[returned]),
        frame(np.flatnonzero(cancelled), join_str("ST", order_no[cancelled]), item_no[cancelled], day[cancelled],
              variant[cancelled], -qty[cancelled], unit[cancelled], custom[cancelled], texts[cancelled]),
        frame(fee_rows, order_no[fee_rows], np.full(nf, 900), day[fee_rows],
              np.concatenate([np.full(len(freight), "FREIGHT"), np.full(len(fee), "MINORDER-FEE")]).astype(object), np.ones(nf),
              np.round(np.concatenate([rng.uniform(35, 180, len(freight)), np.full(len(fee), 25.0)]) * fx[fee_rows], 2),
              np.zeros(nf, dtype=bool), np.concatenate([np.full(len(freight), "Freight"), np.full(len(fee), "Minimum order fee")]).astype(object)),
    ]  # fmt: skip
    lines = pd.concat(parts, ignore_index=True).sort_values(["DocDate", "SalesDoc", "Item"], kind="stable").reset_index(drop=True)
    faulty = rng.random(len(lines)) < 0.0008
    no_ship = faulty & (rng.random(len(lines)) < 0.5)
    lines["ShipTo"] = lines["ShipTo"].where(~no_ship, None)
    typo = faulty & ~no_ship & lines["Material"].str.startswith("P").to_numpy()
    lines.loc[typo, "Material"] = lines.loc[typo, "Material"].str.replace("P", "PO", n=1, regex=False)  # unknown material
    years = lines["DocDate"].dt.year
    files: dict[str, tuple[pd.DataFrame, Dialect]] = {
        f"order_lines/sales_{y}.parquet": (part.reset_index(drop=True), Dialect(format="parquet")) for y, part in lines.groupby(years, sort=True)
    }

    # -- product master (every standard variant sold or not, every custom variant) and customer master --
    p_of, v_no = segments(cat.n_variants)
    master_p = np.concatenate([p_of, prod[custom]])
    codes = [c[0] for c in B2B_COUNTRIES]
    sales_countries = np.array([",".join(c for c, a in zip(codes, row) if a) if not row.all() else "" for row in cat.available], dtype=object)
    eol = cat.discontinued <= days
    products = pd.DataFrame(
        {
            "ItemNo": np.concatenate([variant_ids(product_code[p_of], cat.kind[p_of], v_no), variant[custom]]),
            "BaseItem": product_code[master_p], "ProductGroup": cat.family[master_p], "ListPriceEUR": cat.price[master_p],
            "Lifecycle": np.where(eol[master_p], "discontinued", "active"),
            "EndOfLife": pd.Series(start + pd.to_timedelta(np.where(eol, cat.discontinued, 0)[master_p], unit="D")).where(eol[master_p]),
            "SalesCountries": sales_countries[master_p], "Description": cat.name[master_p],
            "MadeToOrder": np.concatenate([np.zeros(len(p_of), dtype=bool), np.ones(int(custom.sum()), dtype=bool)]),
        }
    )  # fmt: skip
    files["products.parquet"] = (products, Dialect(format="parquet"))
    customers = pd.DataFrame(
        {
            "SoldTo": sold_to, "ShipTo": ship_to, "Name": join_str("Account ", sold_to, " / site ", bc_no + 1),
            "Country": pick(codes, bc_country), "Industry": pick(B2B_SEGMENTS, bc_segment),
        }
    )
    files["customers.csv"] = (customers, Dialect(sep="|", bom=True))
    data = {
        "order_lines": "order_lines/sales_*.parquet",
        "products": "products.parquet",
        "customers": "customers.csv",
        "csv": {"sep": "|", "encoding": "auto"},
        "columns": {
            "order_id": "SalesDoc", "order_line": "Item", "order_date": "DocDate", "customer_id": "SoldTo",
            "country": "ShipCountry", "variant_id": "Material", "quantity": "OrderQty", "unit_price": "NetPrice",
            "net_value": "NetAmount", "currency": "Curr", "is_custom": "MTO", "description": "ShortText",
        },
        "buying_center_key": ["customer_id", "ShipTo"],
        "product_columns": {
            "variant_id": "ItemNo", "product_id": "BaseItem", "family": "ProductGroup", "list_price": "ListPriceEUR",
            "status": "Lifecycle", "discontinued_on": "EndOfLife", "countries": "SalesCountries", "name": "Description",
            "is_custom": "MadeToOrder",
        },
        "customer_columns": {"customer_id": "SoldTo", "country": "Country", "segment": "Industry"},
    }  # fmt: skip
    ingest = {"return_order_prefixes": ["RT", "ST"], "exclude_variant_patterns": ["FREIGHT", "MINORDER-.*"]}
    comment = (
        "# b2b: three years of an equipment manufacturer's ERP (benchmarks/histories.py --kind b2b).\n"
        "# Parquet order lines (one file per year) and product master, '|' CSV customer master with BOM.\n"
        "# Buying center = account (SoldTo) + ship-to; RT = return, ST = cancellation; freight and fees excluded.\n"
    )
    seen = pd.DataFrame(
        {
            "bc": np.concatenate([c[0] for c in complement_seen]),
            "a": product_code[np.concatenate([c[1] for c in complement_seen])],
            "b": product_code[np.concatenate([c[2] for c in complement_seen])],
        }
    ).drop_duplicates()
    switched_pairs = pd.DataFrame(
        {
            "bc": np.concatenate([s[0] for s in switches]),
            "a": product_code[np.concatenate([s[1] for s in switches])],
            "b": product_code[np.concatenate([s[2] for s in switches])],
        }
    ).drop_duplicates()
    comp_support = seen.groupby(["a", "b"]).size()
    up_support = switched_pairs.groupby(["a", "b"]).size()
    story_comp = []
    for k in (ACCESSORY, CONSUMABLE, WEAR):
        members = np.flatnonzero((cat.kind == k) & (cat.tier == 0))
        mach, mem = np.nonzero(cat.series[np.arange(3 * n_series)][:, None] == cat.series[members][None, :])
        story_comp += list(zip(product_code[mach], product_code[members[mem]]))
    lower = np.flatnonzero(cat.next_tier >= 0)
    story_up = list(zip(product_code[lower], product_code[cat.next_tier[lower]]))
    planted = {
        "complements": [list(p) for p, n in comp_support.items() if n >= 2],
        "upgrades": [list(p) for p, n in up_support.items() if n >= 2],
        "complements_story": [list(map(str, p)) for p in sorted(story_comp)],
        "upgrades_story": [list(map(str, p)) for p in sorted(story_up)],
        "evidence_rule": "complements/upgrades: story pairs that at least 2 buying centers acted out in the generated lines",
        "segments": list(B2B_SEGMENTS),
        "countries": {c[0]: c[1] for c in B2B_COUNTRIES},
    }
    facts = {
        "order_line_rows": len(lines), "accounts": n_accounts, "buying_centers": n_b, "products": n_products,
        "machines_sold": len(m_bc), "custom_lines": int(custom.sum()), "returns": int(returned.sum()), "cancellations": int(cancelled.sum()),
        "planted_complements": len(planted["complements"]), "planted_upgrades": len(planted["upgrades"]),
    }  # fmt: skip
    return History(kind, files, _config(kind, data, ingest), comment, planted, facts)


# ---------------------------------------------------------------------------------------------
# describe an ingested history
# ---------------------------------------------------------------------------------------------


def _new_share(lines: pd.DataFrame, cfg: Any, test_days: int) -> dict[str, Any]:
    """xsell's own split and targets with a test window of ``test_days``: distinct (buyer,
    product) purchases in the window by buyers with history, and the share never bought before."""
    from xsell.evaluation.split import build_targets, temporal_split

    ecfg = cfg.evaluation.model_copy(update={"test_days": test_days, "cutoff": None})
    split = temporal_split(lines, ecfg)
    targets = build_targets(split)
    new, old = int(targets["cross_sell"].relevant.nnz), int(targets["reorder"].relevant.nnz)
    return {
        "test_days": test_days, "cutoff": str(split.cutoff.date()), "train_days": int((split.cutoff - lines["order_date"].min().normalize()).days),
        "test_purchases": new + old, "new_to_buyer_share": round(new / max(new + old, 1), 3),
        "buyers_with_new": len(targets["cross_sell"].buyers), "new_buyers_not_evaluated": targets["cross_sell"].n_new_buyers,
    }  # fmt: skip


def describe(out: Path) -> dict[str, Any]:
    """Shape of a history after ``xsell ingest`` (or ``run retrain``) on ``out/config.yaml``: the
    ingest counts, buyers, products, span, basket sizes (distinct products per purchase order),
    orders per buyer, popularity concentration and the share of test-window purchases new to the
    buyer at xsell's configured test window and at a quarter of the span."""
    from xsell.config import load_config
    from xsell.interactions.build import purchases
    from xsell.io.layout import Workdir

    cfg = load_config(Path(out) / "config.yaml")
    wd = Workdir(Path(cfg.workdir))
    if not wd.order_lines.is_file():
        raise SystemExit(f"{wd.order_lines} not found: run `xsell ingest --config {Path(out) / 'config.yaml'}` first")
    summary = json.loads(wd.ingest_summary.read_text(encoding="utf-8"))
    lines = pd.read_parquet(wd.order_lines)
    bought = purchases(lines)
    baskets = bought.groupby("order_id", observed=True)["product_id"].nunique()
    first, last = lines["order_date"].min(), lines["order_date"].max()
    span = int((last.normalize() - first.normalize()).days) + 1
    buyers_per_product = bought.groupby("product_id", observed=True)["buying_center_id"].nunique().sort_values(ascending=False)
    n_buyers = bought["buying_center_id"].nunique()
    top1 = max(1, len(buyers_per_product) // 100)
    product_lines = bought["product_id"].value_counts()
    return {
        "rows_read": summary.get("rows_read"), "rows_accepted": summary.get("rows_accepted"),
        "rows_quarantined": summary.get("rows_quarantined"), "rows_excluded": summary.get("rows_excluded"),
        "buyers": int(n_buyers), "products": int(lines["product_id"].nunique()), "variants": int(lines["variant_id"].nunique()),
        "countries": int(lines["country"].nunique()), "return_lines": int(lines["is_return"].sum()),
        "first_order": str(first.date()), "last_order": str(last.date()), "span_days": span,
        "orders": int(len(baskets)), "orders_per_buyer": round(len(baskets) / max(n_buyers, 1), 1),
        "basket_size": {
            "mean": round(float(baskets.mean()), 2),
            **{f"p{q}": float(baskets.quantile(q / 100)) for q in (10, 25, 50, 75, 90, 99)}, "max": int(baskets.max()),
        },
        "top_product_buyer_share": round(float(buyers_per_product.iloc[0]) / max(n_buyers, 1), 3),
        "top10_products_median_buyer_share": round(float(buyers_per_product.iloc[:10].median()) / max(n_buyers, 1), 3),
        "top1pct_products_line_share": round(float(product_lines.iloc[:top1].sum() / product_lines.sum()), 3),
        "new_share_configured": _new_share(lines, cfg, cfg.evaluation.test_days),
        "new_share_quarter_span": _new_share(lines, cfg, max(7, span // 4)),
        "planted_recovery": _recovery(Path(out), cfg),
    }  # fmt: skip


def _recovery(out: Path, cfg: Any, top: int = 10) -> dict[str, Any] | None:
    """Share of ``planted.json`` pairs (X, Y) with Y in X's top ``top`` rows (country ``ALL``) of the
    published ``cross_sell`` / ``up_sell`` (``outputs/latest``, else the workdir's tables): the
    evidenced pairs (``complements``, ``upgrades``) and, for b2b, every pair of the story
    (``*_story``); None when no tables exist yet."""
    from xsell.schema import ALL_COUNTRIES

    planted = json.loads((out / "planted.json").read_text(encoding="utf-8"))
    folder = Path(cfg.publish.outputs) / "latest"
    if not (folder / "cross_sell.parquet").is_file():
        folder = Path(cfg.workdir) / "tables"
    if not (folder / "cross_sell.parquet").is_file():
        return None
    result: dict[str, Any] = {"tables": str(folder)}
    for key, table in (("complements", "cross_sell"), ("upgrades", "up_sell"), ("complements_story", "cross_sell"), ("upgrades_story", "up_sell")):
        pairs = pd.DataFrame(planted.get(key, []), columns=["product_id", "rec_product_id"], dtype="str")
        if pairs.empty:
            continue
        links = pd.read_parquet(folder / f"{table}.parquet", columns=["country", "product_id", "rank", "rec_product_id"])
        links = links[(links["country"] == ALL_COUNTRIES) & (links["rank"] <= top)].astype({"product_id": "str", "rec_product_id": "str"})
        hit = pairs.merge(links, on=["product_id", "rec_product_id"], how="left")["rank"].notna()
        result[f"{key}_in_{table}_top{top}"] = round(float(hit.mean()), 3)
        result[f"{key}_planted"] = len(pairs)
    return result


GENERATORS: dict[str, Callable[[int, Scale], History]] = {"grocery_short": grocery_short, "grocery_year": grocery_year, "b2b": b2b}


def generate(kind: str, out: Path, *, seed: int = 7, scale: str = "default") -> dict[str, Any]:
    """Generate history ``kind`` at ``scale`` with ``seed`` into ``out``; return the generator's counts."""
    if kind not in GENERATORS:
        raise SystemExit(f"unknown --kind {kind!r} (expected one of {', '.join(GENERATORS)})")
    if scale not in SCALES:
        raise SystemExit(f"unknown --scale {scale!r} (expected one of {', '.join(SCALES)})")
    if (Path(out) / "work").exists():  # its MLflow registry would compare the new data with an old champion
        print(f"warning: {Path(out) / 'work'} exists from an earlier run; remove it for a clean retrain", file=sys.stderr)
    history = GENERATORS[kind](seed, SCALES[scale])
    facts = write_history(history, out)
    return {"kind": kind, "seed": seed, "scale": scale, **facts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, help="which history to generate")
    parser.add_argument("--out", type=Path, help="folder to write the export, config.yaml and planted.json into")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7); same seed, same bytes")
    parser.add_argument("--scale", choices=list(SCALES), default="default", help="default, small (~5x fewer lines) or tiny (tests)")
    parser.add_argument("--describe", type=Path, metavar="DIR", help="print the shape of an ingested history in DIR")
    args = parser.parse_args(argv)
    if args.describe:
        print(json.dumps(describe(args.describe), indent=1))
        return 0
    if not args.kind or not args.out:
        parser.error("--kind and --out are required (or --describe DIR)")
    print(json.dumps(generate(args.kind, args.out, seed=args.seed, scale=args.scale), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
