"""Evidence behind links, per country and overall (``ALL``), computed from purchases.

- ``pair_evidence``: for (country, product, rec_product) rows, the orders containing both
  (``orders_together``), the buying centers that bought both (``buyers_both``, not necessarily in
  one order) and the basket ``support``, ``confidence`` (P(rec | product)) and ``lift``.
- ``switch_evidence``: buying centers that *switched* from X to Y inside one up-sell group:
  every purchase of X is strictly before the first purchase of Y (bought X, later Y, and never X
  again once Y started). ``switchers`` counts them, ``buyers`` counts buyers of X.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.interactions.build import purchases
from xsell.recommend.codes import Coded, encode, purchase_codes, sorted_ids
from xsell.schema import ALL_COUNTRIES
from xsell.sparse import pair_overlap, stable_argsort

EVIDENCE_COLUMNS: tuple[str, ...] = ("orders_together", "buyers_both", "support", "confidence", "lift")


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """(n_rows, n_cols) 0/1 CSR matrix with a one at each (row, col)."""
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=shape)
    m.data[:] = 1.0
    return m


def gram_at(rows_items: sp.csr_matrix, a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``(X.T @ X)[a, b]`` for a (n_rows, n_items) matrix X without forming the full Gram matrix:
    anchors are processed ``chunk`` at a time."""
    out = np.zeros(len(a), dtype=np.float64)
    if len(a) == 0:
        return out
    csc = rows_items.tocsc()
    anchors, inverse = np.unique(a, return_inverse=True)
    for start in range(0, len(anchors), chunk):
        block = (csc[:, anchors[start : start + chunk]].T @ rows_items).tocsr()
        sel = (inverse >= start) & (inverse < start + chunk)
        out[sel] = np.asarray(block[inverse[sel] - start, b[sel]]).ravel()
    return out


def pair_evidence(lines: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Evidence for each ``(country, product_id, rec_product_id)`` row of ``pairs``.

    ``country == ALL`` counts every order; other rows count the orders of that country only.
    Returns ``pairs`` (index reset) with ``EVIDENCE_COLUMNS`` added (zeros / NaN without evidence).
    """
    pairs = pairs.reset_index(drop=True)
    products = sorted_ids(pairs["product_id"], pairs["rec_product_id"])
    evidence = pair_evidence_codes(
        lines, Coded.of(pairs["country"].astype(str)), encode(pairs["product_id"], products), encode(pairs["rec_product_id"], products), products
    )
    return pd.concat([pairs, evidence], axis=1)


def pair_evidence_codes(lines: pd.DataFrame, country: Coded, a: np.ndarray, b: np.ndarray, products: np.ndarray) -> pd.DataFrame:
    """``EVIDENCE_COLUMNS`` for rows given as codes: ``country`` and the product codes ``a``
    (product) and ``b`` (recommended product) into ``products``. Index ``0..len(a)-1``."""
    order = purchase_codes(lines, "order_id")
    product, product_ids = pd.factorize(purchases(lines, ["product_id"])["product_id"])
    first = ~pd.DataFrame({"o": order, "p": product}).duplicated().to_numpy()
    order, product = order[first], product[first]
    buyer = purchase_codes(lines, "buying_center_id")[first]  # row numbers of a matrix: any numbering counts the same
    where = purchase_codes(lines, "country", country.ids)[first]
    item = encode(pd.Series(product_ids), products)[product] if len(product_ids) else np.zeros(0, dtype=np.int64)
    n_items, n_all = len(products), int(order.max()) + 1 if len(order) else 0
    out = {c: np.zeros(len(a)) for c in EVIDENCE_COLUMNS}
    for code in np.unique(country.codes):
        rows = np.flatnonzero(country.codes == code)
        sub = np.ones(len(order), dtype=bool) if code >= 0 and country.ids[code] == ALL_COUNTRIES else where == code
        n_orders = max(len(pd.unique(order[sub])), 1)
        known = sub & (item >= 0)
        orders_items = _binary(order[known], item[known], (n_all, n_items))
        buyers_items = _binary(buyer[known], item[known], (int(buyer.max()) + 1 if len(buyer) else 0, n_items))
        ra, rb = a[rows], b[rows]
        per_item = np.asarray(orders_items.sum(axis=0)).ravel()
        together = gram_at(orders_items, ra, rb)
        with np.errstate(divide="ignore", invalid="ignore"):
            confidence = np.where(per_item[ra] > 0, together / per_item[ra], np.nan)
            lift = np.where(per_item[rb] > 0, confidence / (per_item[rb] / n_orders), np.nan)
        out["orders_together"][rows] = together
        out["buyers_both"][rows] = pair_overlap(buyers_items, ra, rb)
        out["support"][rows] = together / n_orders
        out["confidence"][rows] = confidence
        out["lift"][rows] = lift
    frame = pd.DataFrame(out)
    return frame.astype({"orders_together": np.int64, "buyers_both": np.int64})


def switch_evidence(lines: pd.DataFrame, group: pd.Series) -> pd.DataFrame:
    """Switch counts per ``(country, product_id, rec_product_id)``, for ``ALL`` and each country.

    ``group`` maps product_id -> up-sell group (family); products with an empty group are ignored.
    Returns ``country, product_id, rec_product_id, switchers, buyers`` (``buyers``: buying centers
    of that country that bought ``product_id``), ordered by country, product and rec product.
    The self-join of each buying center's products within a group runs on int codes.
    """
    product = Coded.of(purchases(lines, ["product_id"])["product_id"].astype(str))
    group_of = group.reindex(pd.Index(product.ids, dtype=object)).fillna("").astype(str).to_numpy(dtype=object)
    countries = sorted_ids(purchases(lines, ["country"])["country"], np.array([ALL_COUNTRIES], dtype=object))
    # per product, not per line: its group's code and whether it has one (any numbering groups the same)
    group_code = pd.factorize(group_of)[0] if len(group_of) else np.zeros(0, dtype=np.int64)
    grouped = (group_of != "")[product.codes] if len(group_of) else np.zeros(len(product), dtype=bool)
    codes = pd.DataFrame(
        {
            "b": purchase_codes(lines, "buying_center_id")[grouped],
            "c": purchase_codes(lines, "country", countries)[grouped],
            "g": group_code[product.codes[grouped]],
            "p": product.codes[grouped],
            "date": purchases(lines, ["order_date"])["order_date"].to_numpy()[grouped],
        }
    )
    out = []
    for scope in (ALL_COUNTRIES, "country"):
        keys = ["b", "g", "p"] if scope == ALL_COUNTRIES else ["b", "c", "g", "p"]
        span = codes.groupby(keys)["date"].agg(first="min", last="max").reset_index()
        if scope == ALL_COUNTRIES:
            span["c"] = int(np.searchsorted(countries, ALL_COUNTRIES))
        buyers = span.groupby(["c", "p"]).size().rename("buyers")
        out.append(_switchers(span).join(buyers, on=["c", "p"]))
    both = pd.concat(out, ignore_index=True)
    return pd.DataFrame(
        {
            "country": pd.Series(countries[both["c"].to_numpy()], dtype="str"),
            "product_id": pd.Series(product.ids[both["p"].to_numpy()], dtype="str"),
            "rec_product_id": pd.Series(product.ids[both["p_rec"].to_numpy()], dtype="str"),
            "switchers": both["switchers"].to_numpy(dtype=np.int64),
            "buyers": both["buyers"].to_numpy(dtype=np.int64),
        }
    )


_PAIR_BLOCK = 10_000_000
"""Product pairs of one buying center's group formed at a time in ``_switchers`` (memory bound)."""


def _switchers(span: pd.DataFrame) -> pd.DataFrame:
    """``c, p, p_rec, switchers`` sorted by the keys: buying centers whose every purchase of ``p``
    in a group (``span``: ``b, c, g, p, first, last``, sorted by ``b``) is before their first of
    ``p_rec``. The self-join runs over blocks of buying centers of about ``_PAIR_BLOCK`` pairs."""
    sizes = span.groupby(["b", "c", "g"], sort=False).size()
    per_buyer = (sizes.to_numpy(dtype=np.int64) ** 2).astype(np.int64)
    load = pd.Series(per_buyer).groupby(sizes.index.get_level_values("b").to_numpy(), sort=True).sum()
    block_of = pd.Series(np.cumsum(load.to_numpy()) // _PAIR_BLOCK, index=load.index)
    row_block = block_of.reindex(span["b"].to_numpy()).to_numpy()
    order = stable_argsort(row_block)
    bounds = np.searchsorted(row_block[order], np.unique(row_block), "left").tolist() + [len(order)]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part = span.iloc[order[lo:hi]]
        pairs = part.merge(part, on=["b", "c", "g"], suffixes=("", "_rec"))
        moved = pairs[(pairs["p"] != pairs["p_rec"]) & (pairs["last"] < pairs["first_rec"])]
        parts.append(moved.groupby(["c", "p", "p_rec"]).size())
    if not parts:
        return pd.DataFrame({"c": pd.Series(dtype=np.int64), "p": pd.Series(dtype=np.int64), "p_rec": pd.Series(dtype=np.int64), "switchers": pd.Series(dtype=np.int64)})
    counts = pd.concat(parts).groupby(level=["c", "p", "p_rec"], sort=True).sum() if len(parts) > 1 else parts[0]
    return counts.rename("switchers").reset_index()
