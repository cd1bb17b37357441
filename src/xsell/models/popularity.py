"""Popularity baselines: global (``popularity``), per country (``popularity_country``) and per
customer segment (``popularity_segment``).

Popularity of an item = number of distinct buying centers with a positive cell for it
(not summed weights); ties are broken by item id. These are the baselines every other
model is compared with in the temporal evaluation, and candidates for champion themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.interactions.matrix import TrainingData
from xsell.models.base import Ranking, Recommender, csr_arrays, csr_from_arrays, drop_self, owned_part
from xsell.models.config import PopularityConfig
from xsell.vocab import Vocabulary

_CELL_BUDGET = 4_000_000
"""Dense (buyers x candidates) cells per chunk in ``first_unowned`` (bounds memory)."""


def rank_order(counts: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """Positions with ``counts > 0`` sorted by count descending, then by ``id_rank`` ascending."""
    cand = np.flatnonzero(counts > 0)
    return cand[np.lexsort((id_rank[cand], -counts[cand]))]


def first_unowned(order: np.ndarray, owned: sp.csr_matrix, n: int) -> np.ndarray:
    """For each row of ``owned`` (n_rows, n_items), the first ``n`` positions of ``order`` whose
    item that row does not own; shape (n_rows, n), -1 where ``order`` runs out.

    Vectorised per chunk of rows: a row owning ``k`` items only needs the first ``n + k``
    candidates, so rows are processed from the largest owner down with a width that fits.
    """
    n_rows = owned.shape[0]
    out = np.full((n_rows, n), -1, dtype=np.int64)
    if n_rows == 0 or len(order) == 0:
        return out
    slot = np.full(owned.shape[1], -1, dtype=np.int64)
    slot[order] = np.arange(len(order))
    nnz = np.diff(owned.indptr)
    by_size = np.argsort(-nnz, kind="stable")
    start = 0
    while start < n_rows:
        width = int(min(len(order), n + nnz[by_size[start]]))
        stop = min(n_rows, start + max(1, _CELL_BUDGET // max(width, 1)))
        rows = by_size[start:stop]
        block = owned[rows]
        taken = np.zeros((len(rows), width), dtype=bool)
        r = np.repeat(np.arange(len(rows)), np.diff(block.indptr))
        c = slot[block.indices]
        hit = (c >= 0) & (c < width)
        taken[r[hit], c[hit]] = True
        cols = np.argsort(taken, axis=1, kind="stable")[:, :n]
        free = ~np.take_along_axis(taken, cols, axis=1)
        out[rows, : cols.shape[1]] = np.where(free, cols, -1)
        start = stop
    return out


class Popularity(Recommender[PopularityConfig]):
    """Most popular items, globally or within the buying center's group (country or segment).

    ``scope`` ``global`` registers as ``popularity``, ``country`` as ``popularity_country`` and
    ``segment`` as ``popularity_segment``. A group's list ranks items bought in that group by
    their group popularity, followed by the remaining items in global order (score 0: nobody in
    the group bought them). Buyers without a known group, and unknown buyers, get the global
    list; ``exclude_owned`` removes items a known buyer owns. ``similar_items`` is honest about
    having no item-to-item signal: the globally most popular other items.
    """

    name = "popularity"
    config_class = PopularityConfig
    SCOPE_NAMES: ClassVar[dict[str, str]] = {
        "global": "popularity", "country": "popularity_country", "segment": "popularity_segment",
    }  # fmt: skip

    def __init__(self, config: PopularityConfig | None = None, *, seed: int = 42, **fields: Any):
        super().__init__(config, seed=seed, **fields)
        self.name = self.SCOPE_NAMES[self.config.scope]  # type: ignore[misc]

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(cls.SCOPE_NAMES.values())

    @property
    def _grouped(self) -> bool:
        return self.config.scope != "global"

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: TrainingData) -> Popularity:
        """Count distinct buyers per item, globally and per group.

        The group of a buyer is ``data.buyer_country`` (scope ``country``) or
        ``data.buyer_segment`` (scope ``segment``); buyers in that mapping but not in the
        matrix still get their group's list. A missing mapping leaves every buyer in the global list.
        """
        buyer_items = data.buyer_items
        owned = owned_part(buyer_items.matrix).astype(np.float32)
        self.items_ = buyer_items.cols
        self.buyers_ = buyer_items.rows
        self.buyer_items_ = owned
        self.item_counts_ = owned.getnnz(axis=0).astype(np.int64)
        if self._grouped:
            mapping = data.buyer_country if self.config.scope == "country" else data.buyer_segment
            mapping = pd.Series(dtype=str) if mapping is None else mapping.dropna().astype(str)
            mapping = mapping[(mapping != "") & ~mapping.index.astype(str).duplicated()]
            self.groups_ = Vocabulary.from_values(mapping.to_numpy())
            self.group_buyers_ = Vocabulary(mapping.index.astype(str).to_numpy())
            self.group_of_buyer_ = self.groups_.index(mapping.to_numpy())
            self.group_item_counts_ = self._count_by_group(owned)
        self._prepare()
        return self

    def _count_by_group(self, owned: sp.csr_matrix) -> sp.csr_matrix:
        """(n_groups, n_items) distinct-buyer counts: group indicator @ binary owned."""
        pos = self.group_buyers_.index(self.buyers_.ids, missing="ignore")
        known = np.flatnonzero(pos >= 0)
        group_of_row = self.group_of_buyer_[pos[known]]
        indicator = sp.csr_matrix(
            (np.ones(len(known), dtype=np.int64), (group_of_row, known)),
            shape=(len(self.groups_), len(self.buyers_)),
        )
        binary = owned.copy()
        binary.data = np.ones_like(binary.data, dtype=np.int64)
        return sp.csr_matrix(indicator @ binary)

    def _prepare(self) -> None:
        """Derived (not saved) state: item id ranks for tie-breaks and the global order."""
        ids = self.items_.to_array()
        self._id_rank = np.empty(len(ids), dtype=np.int64)
        self._id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
        self._global_order = rank_order(self.item_counts_, self._id_rank)

    def _order(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """Item positions best first and their scores, for a group position or -1 (global)."""
        if group < 0:
            return self._global_order, self.item_counts_[self._global_order]
        counts = self.group_item_counts_[group].toarray().ravel()
        local = rank_order(counts, self._id_rank)
        rest = self._global_order[counts[self._global_order] == 0]
        order = np.concatenate([local, rest])
        return order, counts[order]

    # -- predict --------------------------------------------------------------------------
    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` popular items per buyer (its group's list when known, else global)."""
        self._check_fitted()
        buyers = [str(b) for b in buyers]
        rows = self.buyers_.index(buyers, missing="ignore")
        groups = np.full(len(buyers), -1, dtype=np.int64)
        if self._grouped:
            pos = self.group_buyers_.index(buyers, missing="ignore")
            groups[pos >= 0] = self.group_of_buyer_[pos[pos >= 0]]
        index = np.full((len(buyers), n), -1, dtype=np.int64)
        scores = np.full((len(buyers), n), np.nan, dtype=np.float32)
        for group in np.unique(groups):
            sel = np.flatnonzero(groups == group)
            order, order_scores = self._order(int(group))
            owned = self._owned_rows(rows[sel]) if exclude_owned else sp.csr_matrix((len(sel), len(self.items_)))
            slots = first_unowned(order, owned, n)
            index[sel] = np.where(slots >= 0, order[slots], -1)
            scores[sel] = np.where(slots >= 0, order_scores[slots], np.nan)
        return Ranking.from_indices(buyers, index, scores, self.items_)

    def _owned_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Owned rows for buyer positions; unknown buyers (-1) get an empty row."""
        picked = self.buyer_items_[np.where(rows >= 0, rows, 0)]
        return sp.csr_matrix(sp.diags((rows >= 0).astype(np.float32)) @ picked)

    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """The globally most popular items other than the query item itself."""
        self._check_fitted()
        items = [str(i) for i in items]
        queries = self.items_.index(items, missing="ignore")
        top = self._global_order[: n + 1]
        index, _ = drop_self(queries, np.tile(top, (len(items), 1)), np.zeros((len(items), len(top))), n)
        scores = np.where(index >= 0, self.item_counts_[np.maximum(index, 0)], np.nan)
        return Ranking.from_indices(items, index, scores, self.items_)

    # -- persistence ----------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "items": self.items_.to_array(),
            "buyers": self.buyers_.to_array(),
            "item_counts": self.item_counts_,
            **csr_arrays("buyer_items", self.buyer_items_),
        }
        if self._grouped:
            arrays.update(
                groups=self.groups_.to_array(),
                group_buyers=self.group_buyers_.to_array(),
                group_of_buyer=self.group_of_buyer_,
                **csr_arrays("group_item_counts", self.group_item_counts_),
            )
        return arrays

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.items_ = Vocabulary(arrays["items"])
        self.buyers_ = Vocabulary(arrays["buyers"])
        self.item_counts_ = arrays["item_counts"]
        self.buyer_items_ = csr_from_arrays("buyer_items", arrays)
        if self._grouped:
            self.groups_ = Vocabulary(arrays["groups"])
            self.group_buyers_ = Vocabulary(arrays["group_buyers"])
            self.group_of_buyer_ = arrays["group_of_buyer"]
            self.group_item_counts_ = csr_from_arrays("group_item_counts", arrays)
        self._prepare()
