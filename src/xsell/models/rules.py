"""Exact pairwise association rules from sparse co-occurrence, and a recommender on top.

``mine_pair_rules`` counts every product pair at once with ``X.T @ X`` on the binary
(n_baskets, n_products) matrix, so it is exact (no sampling, no candidate pruning beyond
``min_support_count``) and never materialises one-hot frames.

Metrics follow mlxtend's ``association_rules`` (and arules) for a rule ``a -> b`` over N
baskets: ``support = n_ab / N``, ``confidence = s_ab / s_a``, ``lift = confidence / s_b``,
``leverage = s_ab - s_a s_b``, ``conviction = (1 - s_b) / (1 - confidence)``, and
``conviction = inf`` when ``confidence == 1`` (mlxtend's convention).

``damped_lift = 1 + (lift - 1) * n_ab / (n_ab + lift_shrinkage)``: the lift of a pair seen in
few baskets is pulled towards 1 (independence). This is the usual additive-smoothing view:
``lift - 1`` is a noisy ratio whose standard error falls like ``1 / sqrt(n_ab)``, and the
factor ``n / (n + k)`` is the posterior-mean shrinkage of a mean observed ``n`` times towards a
prior worth ``k`` observations; ``lift_shrinkage = 0`` gives the plain lift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.interactions.matrix import InteractionMatrix, TrainingData
from xsell.models.base import Ranking, Recommender
from xsell.models.config import RulesConfig
from xsell.sparse import scored_top_n, sparse_top_n
from xsell.vocab import Vocabulary

EXTRA_RULE_COLUMNS: tuple[str, ...] = ("antecedent_count", "consequent_count", "damped_lift")
"""Columns after ``RULE_COLUMNS`` in every rules table."""

SIMILARITY_COLUMNS: tuple[str, ...] = ("item_id", "rank", "rec_item_id", "score", "count", "support", "confidence", "lift")


def _binary_int(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Same structure as ``matrix`` with every stored non-zero set to 1 (int32)."""
    m = sp.csr_matrix(matrix, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.data = np.ones(len(m.data), dtype=np.int32)
    return m


def _rule_frame(
    antecedent: np.ndarray, consequent: np.ndarray, count: np.ndarray, item_count: np.ndarray,
    n_baskets: int, items: Vocabulary, lift_shrinkage: float,
) -> pd.DataFrame:
    """Rules table from product positions, pair counts and per-product basket counts."""
    n = float(n_baskets)
    count_a, count_b = item_count[antecedent], item_count[consequent]
    s_ab, s_a, s_b = count / n, count_a / n, count_b / n
    confidence = s_ab / s_a
    lift = confidence / s_b
    conviction = np.full(len(count), np.inf)
    finite = confidence < 1.0
    conviction[finite] = (1.0 - s_b[finite]) / (1.0 - confidence[finite])
    return pd.DataFrame(
        {
            "antecedent": items.id_of(antecedent),
            "consequent": items.id_of(consequent),
            "count": count.astype(np.int64),
            "support": s_ab,
            "confidence": confidence,
            "lift": lift,
            "leverage": s_ab - s_a * s_b,
            "conviction": conviction,
            "antecedent_count": count_a.astype(np.int64),
            "consequent_count": count_b.astype(np.int64),
            "damped_lift": 1.0 + (lift - 1.0) * count / (count + lift_shrinkage),
        }
    )


def _pair_counts(order_products: InteractionMatrix, min_support_count: int) -> tuple[np.ndarray, ...]:
    """(antecedent, consequent, count) positions of every ordered pair, plus per-item counts."""
    x = _binary_int(order_products.matrix)
    co = (x.T @ x).tocoo()  # (n_products, n_products) int32, symmetric, diagonal = item counts
    item_count = np.asarray(x.sum(axis=0)).ravel().astype(np.int64)
    keep = (co.row != co.col) & (co.data >= min_support_count)
    a, b, c = co.row[keep].astype(np.int64), co.col[keep].astype(np.int64), co.data[keep].astype(np.int64)
    order = np.lexsort((b, a))
    return a[order], b[order], c[order], item_count


def mine_pair_rules(order_products: InteractionMatrix, cfg: RulesConfig) -> pd.DataFrame:
    """Every ordered product pair ``a -> b`` (a != b) co-occurring in >= ``min_support_count`` baskets.

    ``order_products`` is a (n_baskets, n_products) matrix; any stored non-zero counts as
    "in the basket". Returns ``RULE_COLUMNS`` + ``EXTRA_RULE_COLUMNS`` sorted by antecedent,
    then consequent (vocabulary order). See the module docstring for the formulas.
    """
    a, b, c, item_count = _pair_counts(order_products, cfg.min_support_count)
    return _rule_frame(a, b, c, item_count, order_products.shape[0], order_products.cols, cfg.lift_shrinkage)


def top_k_rules(rules: pd.DataFrame, metric: str, k: int) -> pd.DataFrame:
    """The ``k`` best consequents per antecedent by ``metric`` (descending).

    Ties are broken by ``count`` (descending), then consequent id (ascending). The result is
    sorted by antecedent, then rank, and gets a 1-based ``rank`` column at the end.
    """
    if metric not in rules.columns:
        raise KeyError(f"unknown rule metric {metric!r}; columns are {list(rules.columns)}")
    ante = rules["antecedent"].to_numpy(dtype=str)
    order = np.lexsort(
        (rules["consequent"].to_numpy(dtype=str), -rules["count"].to_numpy(), -rules[metric].to_numpy(dtype=float), ante)
    )
    ranked = rules.iloc[order]
    rank = ranked.groupby("antecedent", sort=False).cumcount().to_numpy() + 1
    out = ranked.assign(rank=rank)
    return out[rank <= k].reset_index(drop=True)


def _top_n_rows(scores: sp.csr_matrix, rows: np.ndarray, n: int, items: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` stored entries of each selected row of ``scores`` (row -1 = unknown: padding).

    Ties go to the lower column position (vocabulary order). Returns ``(ids, scores)`` of shape
    (len(rows), n) padded with ``None`` / NaN.
    """
    index = np.full((len(rows), n), -1, dtype=np.int64)
    out = np.full((len(rows), n), np.nan, dtype=np.float32)
    known = np.flatnonzero(rows >= 0)
    index[known], out[known] = sparse_top_n(scores[rows[known]], n)
    ids = np.full(index.shape, None, dtype=object)
    ids[index >= 0] = items.id_of(index[index >= 0])
    return ids, out


class AssociationRules(Recommender[RulesConfig]):
    """Pairwise association rules as a recommender (``name = "rules"``).

    ``fit`` mines the rules of a (n_baskets, n_products) basket matrix and keeps, per
    antecedent, the ``top_k`` consequents by ``metric`` in ``product_product_score_``
    (n_products, n_products) CSR. ``recommend`` sums the rule scores of the products a buyer
    owns (from ``buyer_items`` given to ``fit``); ``similar_items`` returns top consequents.
    Infinite conviction (confidence 1) is stored in the score matrix as the conviction the rule
    would have with one more antecedent basket lacking the consequent, ``(1 - s_b) (n_a + 1)``,
    so scores stay finite and summable; ``rules_`` keeps mlxtend's ``inf``.
    """

    name = "rules"
    config_class = RulesConfig

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, data: TrainingData) -> AssociationRules:
        """Mine rules from ``data.baskets`` (n_baskets, n_products); what ``recommend`` reads as
        "owned" is ``data.interactions.buyer_products``, matched to the basket products by id
        (products without rules are ignored)."""
        baskets = data.baskets
        a, b, c, item_count = _pair_counts(baskets, self.config.min_support_count)
        owned = self._owned(data.interactions.buyer_products, baskets.cols)
        self._set_learned(a, b, c, item_count, baskets.shape[0], baskets.cols, owned)
        return self

    @staticmethod
    def _owned(buyer_items: InteractionMatrix | None, items: Vocabulary) -> InteractionMatrix | None:
        """``buyer_items`` re-indexed onto ``items`` columns, binary."""
        if buyer_items is None:
            return None
        m = buyer_items.matrix.tocoo()
        col_map = items.index(buyer_items.cols.ids, missing="ignore")
        cols = col_map[m.col]
        keep = (cols >= 0) & (m.data > 0)
        owned = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (m.row[keep], cols[keep])), shape=(len(buyer_items.rows), len(items))
        )
        owned.data[:] = 1.0  # duplicates summed by the constructor
        return InteractionMatrix(owned, buyer_items.rows, items)

    def _set_learned(
        self, a: np.ndarray, b: np.ndarray, c: np.ndarray, item_count: np.ndarray, n_baskets: int,
        items: Vocabulary, owned: InteractionMatrix | None,
    ) -> None:
        self.n_baskets_ = int(n_baskets)
        self.item_count_ = item_count
        self.items_ = items
        self.rules_ = _rule_frame(a, b, c, item_count, n_baskets, items, self.config.lift_shrinkage)
        self.top_rules_ = top_k_rules(self.rules_, self.config.metric, self.config.top_k)
        score = np.array(self.top_rules_[self.config.metric], dtype=np.float64)
        if self.config.metric == "conviction":
            inf = ~np.isfinite(score)
            s_b = self.top_rules_["consequent_count"].to_numpy()[inf] / n_baskets
            score[inf] = (1.0 - s_b) * (self.top_rules_["antecedent_count"].to_numpy()[inf] + 1)
        rows = items.index(self.top_rules_["antecedent"].to_numpy())
        cols = items.index(self.top_rules_["consequent"].to_numpy())
        self.product_product_score_ = sp.csr_matrix(
            (score.astype(np.float32), (rows, cols)), shape=(len(items), len(items))
        )
        self.buyer_items_ = owned
        self.buyers_ = owned.rows if owned is not None else Vocabulary([])

    # -- querying ---------------------------------------------------------------------------
    def similar_items(self, items: Sequence[str], *, n: int = 10) -> Ranking:
        """Top ``n`` consequents per product id by ``metric``; unknown ids get padded rows."""
        self._check_fitted()
        queries = np.asarray([str(i) for i in items], dtype=object)
        ids, scores = _top_n_rows(self.product_product_score_, self.items_.index(queries, missing="ignore"), n, self.items_)
        return Ranking(queries, ids, scores)

    def recommend(self, buyers: Sequence[str], *, n: int = 10, exclude_owned: bool = True) -> Ranking:
        """Top ``n`` products per buyer: sum of the rule scores of the products the buyer owns.

        Only products reached by at least one rule are ranked; unknown buyers (or a model
        fitted without ``buyer_items``) get padded rows.
        """
        self._check_fitted()
        queries = np.asarray([str(b) for b in buyers], dtype=object)
        if self.buyer_items_ is None:
            rows = np.full(len(queries), -1, dtype=np.int64)
            return Ranking(queries, *_top_n_rows(self.product_product_score_, rows, n, self.items_))
        rows = self.buyer_items_.rows.index(queries, missing="ignore")
        index = np.full((len(queries), n), -1, dtype=np.int64)
        scores = np.full((len(queries), n), np.nan, dtype=np.float32)
        known = np.flatnonzero(rows >= 0)
        if len(known):
            owned = self.buyer_items_.matrix[rows[known]]
            index[known], scores[known] = scored_top_n(owned, self.product_product_score_, n, exclude_owned=exclude_owned)
        return Ranking.from_indices(queries, index, scores, self.items_)

    def similarity_table(self, items: Sequence[str] | None = None, n: int | None = None) -> pd.DataFrame:
        """Item-to-item table of the kept rules: ``item_id, rank, rec_item_id, score, count,
        support, confidence, lift`` (score = the ``metric`` value; sorted by item, rank).

        Same call as ``Recommender.similarity_table``: ``items`` restricts the antecedents,
        ``n`` the rank (default: all ``top_k`` kept rules); the rule evidence comes along."""
        self._check_fitted()
        top = self.top_rules_
        if items is not None:
            top = top[top["antecedent"].isin([str(i) for i in items])]
        if n is not None:
            top = top[top["rank"] <= n]
        return pd.DataFrame(
            {
                "item_id": top["antecedent"],
                "rank": top["rank"].astype(np.int64),
                "rec_item_id": top["consequent"],
                "score": top[self.config.metric],
                "count": top["count"],
                "support": top["support"],
                "confidence": top["confidence"],
                "lift": top["lift"],
            }
        )[list(SIMILARITY_COLUMNS)]

    # -- persistence ------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        items = self.items_
        out = {
            "items": items.to_array(),
            "item_count": self.item_count_,
            "n_baskets": np.asarray(self.n_baskets_, dtype=np.int64),
            "antecedent": items.index(self.rules_["antecedent"].to_numpy()),
            "consequent": items.index(self.rules_["consequent"].to_numpy()),
            "count": self.rules_["count"].to_numpy(dtype=np.int64),
        }
        if self.buyer_items_ is not None:
            m = self.buyer_items_.matrix
            out.update(buyers=self.buyer_items_.rows.to_array(), owned_indices=m.indices, owned_indptr=m.indptr)
        return out

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        items = Vocabulary(arrays["items"])
        owned = None
        if "buyers" in arrays:
            buyers = Vocabulary(arrays["buyers"])
            indices = arrays["owned_indices"]
            matrix = sp.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices, arrays["owned_indptr"]), shape=(len(buyers), len(items))
            )
            owned = InteractionMatrix(matrix, buyers, items)
        self._set_learned(
            arrays["antecedent"], arrays["consequent"], arrays["count"], arrays["item_count"],
            int(arrays["n_baskets"]), items, owned,
        )
