"""The three suggestion tables as the publish step sees them: validated, in contract column
order, sorted deterministically (the sort order is what makes re-published files byte-identical)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsell.errors import InputDataError
from xsell.schema import TABLES
from xsell.sparse import lexsort_ints

SORT_KEYS: dict[str, list[str]] = {
    "cross_sell": ["country", "product_id", "rank", "rec_product_id", "rec_variant_id"],
    "up_sell": ["country", "product_id", "rank", "rec_product_id", "rec_variant_id"],
    "buying_center_suggestions": ["country", "buying_center_id", "rank", "kind", "product_id", "variant_id"],
}
"""Row order of every published copy of a table (the buying-center sheets re-sort by value)."""

LINK_KEYS: dict[str, tuple[list[str], str]] = {
    "cross_sell": (["country", "product_id"], "rec_product_id"),
    "up_sell": (["country", "product_id"], "rec_product_id"),
    "buying_center_suggestions": (["country", "buying_center_id"], "product_id"),
}
"""Per table: the columns that own a ranked list, and the column holding the linked item."""

NOT_NULL: tuple[str, ...] = ("country", "rank")


def link_columns(name: str) -> list[str]:
    """The columns of table ``name`` that say which links it ranks: owner, item, ``rank``."""
    owner, item = LINK_KEYS[name]
    return [*owner, item, "rank"]


def prepare_table(name: str, frame: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check ``frame`` against the column contract of table ``name`` and return it sorted.

    Contract columns come first in contract order, extra columns keep their order after them.
    Raises ``InputDataError`` naming the file and column when a contract column is missing or a
    key column (``country``, ``rank`` and the link owner/item columns) has nulls.
    """
    contract = TABLES[name]
    missing = [c for c in contract if c not in frame.columns]
    if missing:
        raise InputDataError(f"table {name} lacks contract column(s) {missing}", file=source, column=missing[0])
    owner, item = LINK_KEYS[name]
    for col in dict.fromkeys([*NOT_NULL, *owner, item]):
        nulls = frame[col].isna().to_numpy().nonzero()[0]
        if len(nulls):
            raise InputDataError(f"table {name} has {len(nulls)} null value(s) in a key column", file=source, row=int(nulls[0]) + 1, column=col)
    extras = [c for c in frame.columns if c not in contract]
    out = frame[[*contract, *extras]].reset_index(drop=True)
    order = sort_order(out, SORT_KEYS[name])
    if np.array_equal(order, np.arange(len(out))):
        return out  # already in order (as the recommend step writes the link tables): no copy
    return out.take(order).reset_index(drop=True)


def sort_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Row positions of ``frame`` sorted by ``keys``, stable, missing values first: the order of
    ``sort_values(keys, kind="mergesort", na_position="first")``, from each key's sorted codes
    (missing: -1), so that a frame already in order can be told without copying it."""
    return lexsort_ints([pd.factorize(frame[key], sort=True)[0] for key in reversed(keys)])


def countries(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sorted distinct countries over all tables."""
    values: set[str] = set()
    for frame in tables.values():
        values.update(frame["country"].astype(str).unique().tolist())
    return sorted(values)
