"""Global temporal split and the evaluation targets (pure functions of canonical order lines).

- ``temporal_split``: train = lines before the cutoff, test = lines in
  ``[cutoff, cutoff + test_days)``.
- ``build_targets``: per evaluated buying center, the products bought in the test window,
  split into ``cross_sell`` (never bought before the cutoff) and ``reorder`` (bought before).
  Purchases are non-return lines with positive quantity; returns never count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.errors import ConfigError, InputDataError
from xsell.evaluation.config import EvaluationConfig
from xsell.interactions.build import CodedLines, buyer_countries, is_purchase, owned_keys, owned_pairs, purchases
from xsell.schema import ALL_COUNTRIES
from xsell.sparse import distinct, group_keys, in_sorted
from xsell.vocab import Vocabulary

TARGETS: tuple[str, ...] = ("cross_sell", "reorder")
"""Evaluation targets; models are ranked on ``cross_sell``."""


@dataclass(frozen=True, eq=False)
class Split:
    """Order lines split at ``cutoff``: ``train`` before it, ``test`` in ``[cutoff, end)``.

    Holds the whole history and the positions of each part in it; the ``train`` / ``test``
    frames are taken on first use (at 20M lines a part is ~3 GiB: the codes of the evaluation
    select lines by ``train_rows`` / ``test_rows`` without them)."""

    cutoff: pd.Timestamp
    end: pd.Timestamp
    lines: pd.DataFrame = field(repr=False)
    train_rows: np.ndarray
    """Ascending positions in ``lines`` of the lines before ``cutoff``."""
    test_rows: np.ndarray
    """Ascending positions in ``lines`` of the lines in ``[cutoff, end)``."""

    @cached_property
    def train(self) -> pd.DataFrame:
        """The lines before ``cutoff`` (taken on first use, then kept)."""
        return self.lines.iloc[self.train_rows]

    @cached_property
    def test(self) -> pd.DataFrame:
        """The lines in ``[cutoff, end)`` (taken on first use, then kept)."""
        return self.lines.iloc[self.test_rows]


@dataclass(frozen=True)
class Targets:
    """Relevant items of the evaluated buying centers for one target.

    - ``buyers``: object array (n_buyers,) of buying_center_id, the row order of the matrices.
    - ``countries``: object array (n_buyers,) country of each buyer.
    - ``items``: item axis (products of train and test).
    - ``relevant``: binary CSR (n_buyers, n_items).
    - ``values``: CSR (n_buyers, n_items), test-window net value of each relevant item (>= 0).
    - ``n_catalog``: items known before the cutoff (denominator of catalog coverage).
    - ``n_new_buyers``: buying centers that bought in the test window without any purchase
      before the cutoff (not evaluated; reported).
    """

    name: str
    buyers: np.ndarray
    countries: np.ndarray
    items: Vocabulary
    relevant: sp.csr_matrix
    values: sp.csr_matrix
    n_catalog: int
    n_new_buyers: int
    n_population: int = -1
    """Buying centers with this target before sampling (``evaluation.max_buyers``); -1: not sampled."""


MIN_WINDOW_DAYS = 7
"""Shortest automatic test / validation window."""
MAX_AUTO_WINDOW_DAYS = 90
"""Longest automatic test window."""
FEW_BUYERS = 50
"""Below this many evaluated buying centers in a window the figures are noisy (warned)."""


@dataclass(frozen=True)
class Windows:
    """The nested temporal split: tuning fits train before ``validation_start`` and are scored on
    ``[validation_start, cutoff)``; measured fits train before ``cutoff`` and are scored on
    ``[cutoff, end)``. ``first`` / ``last`` are the first and last order days of the history."""

    first: pd.Timestamp
    last: pd.Timestamp
    validation_start: pd.Timestamp
    cutoff: pd.Timestamp
    end: pd.Timestamp

    @property
    def span_days(self) -> int:
        return int((self.last - self.first).days) + 1

    @property
    def test_days(self) -> int:
        return int((self.end - self.cutoff).days)

    @property
    def validation_days(self) -> int:
        return int((self.cutoff - self.validation_start).days)

    def describe(self) -> str:
        day = pd.Timedelta(days=1)
        return (
            f"history {self.first.date()}..{self.last.date()} ({self.span_days} days); train ..{(self.validation_start - day).date()}, "
            f"validation {self.validation_start.date()}..{(self.cutoff - day).date()}, "
            f"test {self.cutoff.date()}..{(self.end - day).date()}"
        )


def _purchase_days(lines: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    bought = purchases(lines, ["order_date"])
    if bought.empty:
        raise InputDataError("no purchases in the order lines: nothing to learn from or evaluate on")
    dates = bought["order_date"]
    return pd.Timestamp(dates.min()).normalize(), pd.Timestamp(dates.max()).normalize()


def auto_window_days(span_days: int) -> int:
    """Default test (and validation) window: a quarter of the history's span, 7 to 90 days."""
    return int(min(MAX_AUTO_WINDOW_DAYS, max(MIN_WINDOW_DAYS, span_days // 4)))


def plan_windows(lines: pd.DataFrame, cfg: EvaluationConfig, cutoff: dt.date | pd.Timestamp | None = None) -> Windows:
    """The windows of ``cfg`` (or an explicit ``cutoff``) for ``lines``; an impossible split is a
    ``ConfigError`` naming the span and values that would work. Cheap: run it right after ingest."""
    first, last = _purchase_days(lines)
    span = int((last - first).days) + 1
    test_days = cfg.test_days or auto_window_days(span)
    val_days = cfg.validation_days or test_days
    chosen = cutoff if cutoff is not None else cfg.cutoff
    cut = pd.Timestamp(chosen).normalize() if chosen is not None else last + pd.Timedelta(days=1 - test_days)
    windows = Windows(first, last, cut - pd.Timedelta(days=val_days), cut, cut + pd.Timedelta(days=test_days))
    if windows.validation_start <= first or cut > last:
        fit = max(MIN_WINDOW_DAYS, span // 4)
        hint = (
            f"this history needs test_days + validation_days < {span} days, e.g. "
            f"evaluation.test_days: {fit} (validation the same) and no explicit evaluation.cutoff"
            if span > 2 * MIN_WINDOW_DAYS + 1
            else f"a history of {span} days is too short for a temporal evaluation: at least {2 * MIN_WINDOW_DAYS + 2} days are needed"
        )
        raise ConfigError(
            f"the evaluation windows do not fit the history: {windows.describe()}; {hint}",
            key="evaluation.cutoff" if chosen is not None else "evaluation.test_days",
        )
    return windows


def split_at(lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> Split:
    """Train = lines before ``start``, test = lines in ``[start, end)``; both must hold purchases."""
    dates = lines["order_date"]
    train = np.flatnonzero((dates < start).to_numpy())
    test = np.flatnonzero(((dates >= start) & (dates < end)).to_numpy())
    bought = is_purchase(lines)
    for part, rows in (("train", train), ("test", test)):
        if not bought[rows].any():
            first, last = dates.min(), dates.max()
            raise ConfigError(
                f"a window starting {start.date()} leaves no purchases in its {part} part (orders run from "
                f"{pd.Timestamp(first).date()} to {pd.Timestamp(last).date()})",
                key="evaluation.cutoff",
            )
    return Split(cutoff=start, end=end, lines=lines, train_rows=train, test_rows=test)


def default_cutoff(lines: pd.DataFrame, test_days: int | None) -> pd.Timestamp:
    """Last order day minus the test window plus one day (the window ends with the last order day)."""
    first, last = _purchase_days(lines)
    days = test_days or auto_window_days(int((last - first).days) + 1)
    return last + pd.Timedelta(days=1 - days)


def evaluation_cutoffs(lines: pd.DataFrame, cfg: EvaluationConfig) -> list[pd.Timestamp]:
    """The cutoff (``cfg.cutoff`` or its default), preceded by the rolling ones; ascending."""
    latest = pd.Timestamp(cfg.cutoff) if cfg.cutoff is not None else default_cutoff(lines, cfg.test_days)
    n = cfg.rolling.n_cutoffs if cfg.rolling is not None else 1
    step = cfg.rolling.step_days if cfg.rolling is not None else 0
    return [latest - pd.Timedelta(days=step * i) for i in reversed(range(n))]


def temporal_split(lines: pd.DataFrame, cfg: EvaluationConfig, cutoff: dt.date | pd.Timestamp | None = None) -> Split:
    """The test split of ``plan_windows``: train before the cutoff, test on the test window."""
    windows = plan_windows(lines, cfg, cutoff)
    return split_at(lines, windows.cutoff, windows.end)


def validation_split(lines: pd.DataFrame, windows: Windows) -> Split:
    """The validation split of ``windows``: train before the validation window, test on it."""
    return split_at(lines, windows.validation_start, windows.cutoff)


def sample_buyers(buyers: np.ndarray, countries: np.ndarray, max_buyers: int, seed: int) -> np.ndarray:
    """Bool mask keeping at most ``max_buyers`` of ``buyers``, the same share of every country
    (at least one per country), drawn with ``seed``; all of them when there are few enough."""
    n = len(buyers)
    if n <= max_buyers:
        return np.ones(n, dtype=bool)
    share = max_buyers / n
    order = np.random.default_rng(seed).permutation(n)
    frame = pd.DataFrame({"c": np.asarray(countries, dtype=object)[order], "pos": order})
    rank = frame.groupby("c", sort=False).cumcount().to_numpy()
    size = frame.groupby("c", sort=False)["pos"].transform("size").to_numpy()
    keep = np.zeros(n, dtype=bool)
    keep[order[rank < np.maximum(1, np.floor(size * share))]] = True
    return keep


def build_targets(
    split: Split,
    *,
    item_col: str = "product_id",
    countries: pd.Series | None = None,
    max_buyers: int | None = None,
    seed: int = 0,
    coded: CodedLines | None = None,
) -> dict[str, Targets]:
    """``cross_sell`` and ``reorder`` targets of ``split`` at the ``item_col`` level.

    Only buying centers with at least one purchase before the cutoff and a non-empty target
    are evaluated; more than ``max_buyers`` of them are sampled per target (``sample_buyers``).
    A product is ``reorder`` when the buying center owned it at the cutoff (net of returns,
    ``owned_pairs``), else ``cross_sell``. ``countries`` (buying_center_id -> country) defaults to
    ``buyer_countries`` of train and test lines. ``coded``: ``encode_lines`` of the lines the split
    was taken from (the same targets from int codes instead of the id strings).
    """
    if countries is None:
        countries = buyer_countries(pd.concat([split.train, split.test]))
    rows = coded.rows(split.lines) if coded is not None and item_col == "product_id" else None
    if coded is not None and rows is not None:
        items, n_catalog, bought, was_owned, n_new = _bought_from_codes(coded, rows[split.train_rows], rows[split.test_rows])
    else:
        items, n_catalog, bought, was_owned, n_new = _bought(split, item_col)

    out: dict[str, Targets] = {}
    for name, mask in (("cross_sell", ~was_owned), ("reorder", was_owned)):
        part = bought[mask]
        population = Vocabulary.from_values(part["buying_center_id"])
        n_population = -1
        if max_buyers is not None and len(population) > max_buyers:
            country_of = countries.reindex(population.ids).fillna(ALL_COUNTRIES).to_numpy(dtype=object)
            kept = population.ids[sample_buyers(population.ids, country_of, max_buyers, seed)]
            part = part[part["buying_center_id"].isin(set(kept)).to_numpy()]
            n_population = len(population)
        buyers = Vocabulary.from_values(part["buying_center_id"])
        rows = buyers.index(part["buying_center_id"])
        cols = items.index(part[item_col])
        shape = (len(buyers), len(items))
        relevant = sp.csr_matrix((np.ones(len(part)), (rows, cols)), shape=shape)
        values = sp.csr_matrix((part["_value"].to_numpy(), (rows, cols)), shape=shape)
        country = countries.reindex(buyers.ids).fillna(ALL_COUNTRIES).to_numpy(dtype=object)
        out[name] = Targets(
            name=name,
            buyers=buyers.ids,
            countries=country,
            items=items,
            relevant=relevant,
            values=values,
            n_catalog=n_catalog,
            n_new_buyers=n_new,
            n_population=n_population,
        )
    return out


Bought = tuple[Vocabulary, int, pd.DataFrame, np.ndarray, int]
"""Item axis, catalog size, test purchases per (buying center, item) with their value (buying
centers with history only, sorted), whether each was owned at the cutoff, new buying centers."""


def _bought(split: Split, item_col: str) -> Bought:
    train = purchases(split.train)
    test = purchases(split.test)
    items = Vocabulary.from_values(pd.concat([train[item_col], test[item_col]]).astype(str))
    n_catalog = int(train[item_col].astype(str).nunique())
    owned = pd.MultiIndex.from_frame(owned_pairs(split.train, item_col))
    bought = (
        test.assign(
            buying_center_id=test["buying_center_id"].astype(str),
            **{item_col: test[item_col].astype(str)},
            _value=test["net_value"].to_numpy(dtype=np.float64).clip(min=0.0)
            if "net_value" in test
            else np.zeros(len(test)),
        )
        .groupby(["buying_center_id", item_col], sort=True, observed=True)["_value"]
        .sum()
        .reset_index()
    )
    has_history = bought["buying_center_id"].isin(pd.unique(train["buying_center_id"].astype(str))).to_numpy()
    n_new = int(bought.loc[~has_history, "buying_center_id"].nunique())
    bought = bought[has_history]
    was_owned = pd.MultiIndex.from_frame(bought[["buying_center_id", item_col]]).isin(owned)
    return items, n_catalog, bought, was_owned, n_new


def _bought_from_codes(coded: CodedLines, train: np.ndarray, test: np.ndarray) -> Bought:
    """``_bought`` at product level from the codes of the train and test lines (positions)."""
    n_items = len(coded.product_ids)
    train_buys, test_buys = train[coded.purchase[train]], test[coded.purchase[test]]
    catalog = distinct(coded.product[train_buys])
    items = Vocabulary(coded.product_ids[distinct(np.r_[catalog, coded.product[test_buys]])])
    owned = owned_keys(coded.buyer[train] * n_items + coded.product[train], coded.quantity[train])
    keys, cell = group_keys(coded.buyer[test_buys] * n_items + coded.product[test_buys])
    value = np.bincount(cell, np.maximum(coded.value[test_buys], 0.0), len(keys))
    history = np.zeros(len(coded.buyer_ids), dtype=bool)
    history[coded.buyer[train_buys]] = True
    buyer = keys // n_items
    n_new = len(distinct(buyer[~history[buyer]]))
    keep = history[buyer]
    keys, buyer, value = keys[keep], buyer[keep], value[keep]
    was_owned = in_sorted(keys, owned)
    bought = pd.DataFrame(
        {"buying_center_id": coded.buyer_ids[buyer], "product_id": coded.product_ids[keys % n_items], "_value": value}
    )
    return items, len(catalog), bought, was_owned, n_new
