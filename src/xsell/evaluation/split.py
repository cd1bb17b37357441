"""Global temporal split and the evaluation targets (pure functions of canonical order lines).

- ``temporal_split``: train = lines before the cutoff, test = lines in
  ``[cutoff, cutoff + test_days)``.
- ``build_targets``: per evaluated buying center, the products bought in the test window,
  split into ``cross_sell`` (never bought before the cutoff) and ``reorder`` (bought before).
  Purchases are non-return lines with positive quantity; returns never count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.errors import ConfigError, InputDataError
from xsell.evaluation.config import EvaluationConfig
from xsell.schema import ALL_COUNTRIES
from xsell.vocab import Vocabulary
from xsell.interactions.build import buyer_countries, purchases

TARGETS: tuple[str, ...] = ("cross_sell", "reorder")
"""Evaluation targets; models are ranked on ``cross_sell``."""


@dataclass(frozen=True)
class Split:
    """Order lines split at ``cutoff``: ``train`` before it, ``test`` in ``[cutoff, end)``."""

    cutoff: pd.Timestamp
    end: pd.Timestamp
    train: pd.DataFrame
    test: pd.DataFrame


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


def default_cutoff(lines: pd.DataFrame, test_days: int) -> pd.Timestamp:
    """Last order day minus ``test_days`` (so the test window ends with the last order day)."""
    if lines.empty:
        raise InputDataError("no order lines to evaluate on")
    last = pd.Timestamp(lines["order_date"].max()).normalize()
    return last + pd.Timedelta(days=1) - pd.Timedelta(days=test_days)


def evaluation_cutoffs(lines: pd.DataFrame, cfg: EvaluationConfig) -> list[pd.Timestamp]:
    """The cutoff (``cfg.cutoff`` or its default), preceded by the rolling ones; ascending."""
    latest = pd.Timestamp(cfg.cutoff) if cfg.cutoff is not None else default_cutoff(lines, cfg.test_days)
    n = cfg.rolling.n_cutoffs if cfg.rolling is not None else 1
    step = cfg.rolling.step_days if cfg.rolling is not None else 0
    return [latest - pd.Timedelta(days=step * i) for i in reversed(range(n))]


def temporal_split(lines: pd.DataFrame, cfg: EvaluationConfig, cutoff: dt.date | pd.Timestamp | None = None) -> Split:
    """Split at ``cutoff`` (default ``cfg.cutoff``, else last order date minus ``test_days``)."""
    if cutoff is None:
        cutoff = cfg.cutoff
    cut = pd.Timestamp(cutoff).normalize() if cutoff is not None else default_cutoff(lines, cfg.test_days)
    end = cut + pd.Timedelta(days=cfg.test_days)
    dates = lines["order_date"]
    train = lines[(dates < cut).to_numpy()]
    test = lines[((dates >= cut) & (dates < end)).to_numpy()]
    if purchases(train).empty or purchases(test).empty:
        first, last = dates.min(), dates.max()
        raise ConfigError(
            f"cutoff {cut.date()} leaves no purchases in the {'train' if purchases(train).empty else 'test'} "
            f"part (orders run from {pd.Timestamp(first).date()} to {pd.Timestamp(last).date()}, "
            f"test_days={cfg.test_days})",
            key="evaluation.cutoff",
        )
    return Split(cutoff=cut, end=end, train=train, test=test)


def build_targets(split: Split, *, item_col: str = "product_id", countries: pd.Series | None = None) -> dict[str, Targets]:
    """``cross_sell`` and ``reorder`` targets of ``split`` at the ``item_col`` level.

    Only buying centers with at least one purchase before the cutoff and a non-empty target
    are evaluated. ``countries`` (buying_center_id -> country) defaults to ``buyer_countries``
    of train and test lines.
    """
    train = purchases(split.train)
    test = purchases(split.test)
    if countries is None:
        countries = buyer_countries(pd.concat([split.train, split.test]))
    items = Vocabulary.from_values(pd.concat([train[item_col], test[item_col]]).astype(str))
    n_catalog = int(train[item_col].astype(str).nunique())

    owned = train[["buying_center_id", item_col]].astype(str).drop_duplicates()
    owned_keys = pd.MultiIndex.from_frame(owned)
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
    history = set(owned["buying_center_id"])
    has_history = bought["buying_center_id"].isin(history).to_numpy()
    n_new = int(bought.loc[~has_history, "buying_center_id"].nunique())
    bought = bought[has_history]
    was_owned = pd.MultiIndex.from_frame(bought[["buying_center_id", item_col]]).isin(owned_keys)

    out: dict[str, Targets] = {}
    for name, mask in (("cross_sell", ~was_owned), ("reorder", was_owned)):
        part = bought[mask]
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
        )
    return out
