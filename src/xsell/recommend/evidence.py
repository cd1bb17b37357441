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

from xsell.frames import text_codes
from xsell.interactions.build import purchases
from xsell.parallel import available_cores, ordered_map
from xsell.recommend.codes import Coded, encode, purchase_codes, sorted_ids
from xsell.schema import ALL_COUNTRIES
from xsell.sparse import distinct, lexsort_ints, pair_overlap, ranges, run_starts, stable_argsort

EVIDENCE_COLUMNS: tuple[str, ...] = ("orders_together", "buyers_both", "support", "confidence", "lift")


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """(n_rows, n_cols) 0/1 CSR matrix with a one at each (row, col), built from the sorted distinct
    cells (canonical: sorted indices, no duplicates)."""
    cells = distinct(rows.astype(np.int64) * shape[1] + cols)  # sorted: by row, then column
    row, col = np.divmod(cells, shape[1])
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((np.ones(len(cells), dtype=np.float64), col, indptr), shape=shape)


def gram_at(rows_items: sp.csr_matrix, a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``(X.T @ X)[a, b]`` for a (n_rows, n_items) matrix X without forming the full Gram matrix:
    anchors are processed ``chunk`` at a time. A row with one stored item adds to the diagonal
    only, so the products run on the rows with two or more (most orders hold one product) and
    ``a == b`` takes the column's sum of squares."""
    out = np.zeros(len(a), dtype=np.float64)
    if len(a) == 0:
        return out
    rows_items = sp.csr_matrix(rows_items)
    multi = rows_items[np.diff(rows_items.indptr) > 1]
    csc = multi.tocsc()
    anchors, inverse = np.unique(a, return_inverse=True)
    for start in range(0, len(anchors), chunk):
        block = (csc[:, anchors[start : start + chunk]].T @ multi).tocsr()
        sel = (inverse >= start) & (inverse < start + chunk)
        out[sel] = np.asarray(block[inverse[sel] - start, b[sel]]).ravel()
    same = np.flatnonzero(a == b)
    if len(same):
        out[same] = np.asarray(rows_items.multiply(rows_items).sum(axis=0)).ravel()[a[same]]
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
    # the first line of each (order, product): one sort of the pair's packed codes (-1: missing)
    by_pair = lexsort_ints([product + 1, order + 1])
    first = np.zeros(len(order), dtype=bool)
    first[by_pair[run_starts((order[by_pair] + 1) * (len(product_ids) + 1) + product[by_pair] + 1)]] = True
    order, product = order[first], product[first]
    buyer = purchase_codes(lines, "buying_center_id")[first]  # row numbers of a matrix: any numbering counts the same
    where = purchase_codes(lines, "country", country.ids)[first]
    item = encode(pd.Series(product_ids), products)[product] if len(product_ids) else np.zeros(0, dtype=np.int64)
    n_items, n_all = len(products), int(order.max()) + 1 if len(order) else 0
    out = {c: np.zeros(len(a)) for c in EVIDENCE_COLUMNS}

    def one(code: int) -> None:
        """Fill the rows of country ``code`` (each call writes its own rows of ``out``)."""
        rows = np.flatnonzero(country.codes == code)
        sub = np.ones(len(order), dtype=bool) if code >= 0 and country.ids[code] == ALL_COUNTRIES else where == code
        seen = np.zeros(n_all + 1, dtype=bool)
        seen[order[sub] + 1] = True  # + 1: a missing order (-1) counts as one, as pd.unique did
        n_orders = max(int(np.count_nonzero(seen)), 1)
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

    # the countries side by side: their sorts, sparse products and bit counts run without the GIL
    for _ in ordered_map(one, np.unique(country.codes).tolist(), workers=available_cores(), name="pair-evidence"):
        pass
    frame = pd.DataFrame(out)
    return frame.astype({"orders_together": np.int64, "buyers_both": np.int64})


def switch_evidence(lines: pd.DataFrame, group: pd.Series) -> pd.DataFrame:
    """Switch counts per ``(country, product_id, rec_product_id)``, for ``ALL`` and each country.

    ``group`` maps product_id -> up-sell group (family); products with an empty group are ignored.
    Returns ``country, product_id, rec_product_id, switchers, buyers`` (``buyers``: buying centers
    of that country that bought ``product_id``), ordered by country, product and rec product.
    Everything runs on packed int keys: a buying center's products within a group are contiguous
    rows of the spans sorted by (buying center, country, group, product)."""
    product = Coded(*text_codes(purchases(lines, ["product_id"])["product_id"]))  # as Coded.of(... .astype(str)), one text per id
    group_of = group.reindex(pd.Index(product.ids, dtype=object)).fillna("").astype(str).to_numpy(dtype=object)
    countries = sorted_ids(purchases(lines, ["country"])["country"], np.array([ALL_COUNTRIES], dtype=object))
    n_p, n_c = max(len(product.ids), 1), len(countries) + 1  # country codes + 1: a missing one (-1) sorts first
    # per product, not per line: its group's code and whether it has one (any numbering groups the same)
    group_code = pd.factorize(group_of)[0] if len(group_of) else np.zeros(0, dtype=np.int64)
    grouped = (group_of != "")[product.codes] if len(group_of) else np.zeros(len(product), dtype=bool)
    # the products ordered by (group, product): a key's last digit sorts as the pair did
    by_group = np.lexsort((np.arange(len(group_code)), group_code))
    rank = np.empty(len(group_code), dtype=np.int64)
    rank[by_group] = np.arange(len(group_code))
    b = purchase_codes(lines, "buying_center_id")[grouped] + 1  # + 1: a missing buying center (-1) sorts first
    c = purchase_codes(lines, "country", countries)[grouped] + 1
    dates = purchases(lines, ["order_date"])["order_date"].to_numpy()[grouped]
    key, first, last = _date_span((b * n_c + c) * n_p + rank[product.codes[grouped]], dates)
    rest, ranked = np.divmod(key, n_p)
    p, g = by_group[ranked], group_code[by_group[ranked]]
    b, c = np.divmod(rest, n_c)
    # ALL: the country spans of a (buying center, product) merged, as grouping the lines by (b, g, p) did
    all_key, all_first, all_last = _span_of_spans(b * n_p + ranked, first, last)
    all_b, all_ranked = np.divmod(all_key, n_p)
    all_p = by_group[all_ranked]
    all_c = np.full(len(all_p), int(np.searchsorted(countries, ALL_COUNTRIES)) + 1, dtype=np.int64)
    out = [
        _switchers(all_b * n_p + group_code[all_p], all_c, all_p, all_first, all_last, n_p),
        _switchers((b * n_c + c) * n_p + g, c, p, first, last, n_p),
    ]
    cc, pp, rec, switchers, buyers = (np.concatenate(parts) for parts in zip(*out))
    return pd.DataFrame(
        {
            "country": pd.Series(countries[cc - 1], dtype="str"),
            "product_id": pd.Series(product.ids[pp], dtype="str"),
            "rec_product_id": pd.Series(product.ids[rec], dtype="str"),
            "switchers": switchers,
            "buyers": buyers,
        }
    )


def _date_span(key: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct non-negative int ``key`` values with the earliest and latest of their
    ``dates`` (datetime64; NaT skipped, as pandas' ``min`` / ``max``). Each date is replaced by its
    rank among the distinct dates and packed below the key: one ``np.sort`` orders the rows by key
    and date, so a key's first row holds its earliest date and its last row its latest."""
    stamp = dates.view(np.int64)
    rank, days = pd.factorize(stamp, sort=True)
    rank_bits = max(len(days) - 1, 0).bit_length()
    top = int(key.max()) if len(key) else 0
    if np.isnat(dates).any() or top.bit_length() + rank_bits > 62:
        span = pd.Series(dates).groupby(key, sort=True).agg(["min", "max"])
        return span.index.to_numpy(dtype=np.int64), span["min"].to_numpy(), span["max"].to_numpy()
    packed = np.sort((key.astype(np.int64) << rank_bits) | rank.astype(np.int64))
    starts = run_starts(packed >> rank_bits)
    ends = np.r_[starts[1:], True] if len(packed) else starts
    mask = (1 << rank_bits) - 1
    days = np.asarray(days, dtype=np.int64)
    return packed[starts] >> rank_bits, days[packed[starts] & mask].view(dates.dtype), days[packed[ends] & mask].view(dates.dtype)


def _span_of_spans(key: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct int ``key`` values with the earliest ``first`` and latest ``last`` of their
    rows (datetime64; NaT skipped unless all are, as pandas' ``min`` / ``max``)."""
    order = stable_argsort(key)
    ordered = key[order]
    starts = np.flatnonzero(run_starts(ordered))
    if len(starts) == 0:
        return ordered, first[:0], last[:0]
    never = np.iinfo(np.int64).max
    lo = np.minimum.reduceat(np.where(np.isnat(first), never, first.view(np.int64))[order], starts)
    hi = np.maximum.reduceat(last.view(np.int64)[order], starts)  # NaT is int64's minimum: skipped
    lo = np.where(lo == never, np.iinfo(np.int64).min, lo)
    return ordered[starts], lo.view(first.dtype), hi.view(last.dtype)


_PAIR_BLOCK = 10_000_000
"""Product pairs formed at a time in ``_switchers`` (memory bound)."""


def _switchers(group: np.ndarray, c: np.ndarray, p: np.ndarray, first: np.ndarray, last: np.ndarray, n_p: int) -> list[np.ndarray]:
    """``c, p, p_rec, switchers, buyers`` sorted by ``(c, p, p_rec)``: per (country, product,
    product) the spans (rows: ``group`` (buying center, country, group), non-decreasing, country
    ``c``, product ``p`` distinct within a group, ``first`` and ``last`` date) whose every purchase
    of ``p`` is before their first of ``p_rec`` in one group; ``buyers``: rows per ``(c, p)``.
    Each group's pairs of rows are formed in blocks of groups of about ``_PAIR_BLOCK`` pairs."""
    bounds = np.r_[np.flatnonzero(run_starts(group)), len(group)]
    size = np.diff(bounds)
    row_size, row_start = np.repeat(size, size), np.repeat(bounds[:-1], size)
    block = np.cumsum(size * size) // _PAIR_BLOCK
    cut = bounds[np.r_[0, np.flatnonzero(block[1:] != block[:-1]) + 1, len(size)]] if len(size) else np.zeros(1, dtype=np.int64)
    keys, counts = [], []
    for lo, hi in zip(cut[:-1], cut[1:]):
        left = np.repeat(np.arange(lo, hi), row_size[lo:hi])
        right = ranges(row_start[lo:hi], row_size[lo:hi])
        moved = (left != right) & (last[left] < first[right])
        found = np.sort((c[left[moved]] * n_p + p[left[moved]]) * n_p + p[right[moved]])
        at = np.flatnonzero(run_starts(found))
        keys.append(found[at])
        counts.append(np.diff(np.r_[at, len(found)]))
    del row_size, row_start
    several = len(keys) > 1
    key, count = (np.concatenate(keys), np.concatenate(counts)) if keys else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    del keys, counts  # the blocks' arrays: as large as the concatenation
    if several:
        order = stable_argsort(key)
        key = key[order]
        at = np.flatnonzero(run_starts(key))
        key, count = key[at], np.add.reduceat(count[order], at) if len(at) else count
        del order, at
    bought = np.sort(c * n_p + p)
    at = np.flatnonzero(run_starts(bought))
    buyers = np.diff(np.r_[at, len(bought)])[np.searchsorted(bought[at], key // n_p)] if len(key) else np.zeros(0, dtype=np.int64)
    pair, rec = np.divmod(key, n_p)
    cc, pp = np.divmod(pair, n_p)
    return [cc, pp, rec, count.astype(np.int64), buyers.astype(np.int64)]
