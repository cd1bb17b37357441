"""Order lines -> sparse buying-center x item matrices and basket x product matrices.

Pure functions of a canonical order-line frame (``xsell.schema.ORDER_LINE_COLUMNS``) and an
``InteractionsConfig``; no I/O. Everything is vectorised (``pd.factorize`` / ``np.sort`` /
``np.bincount`` -> ``scipy.sparse.coo_matrix`` -> CSR).

Definitions (the contract other stages rely on):

- **Net of returns.** Return lines (``is_return``) count with negative quantity whatever the
  sign in the data. A buyer x item cell exists only when the summed quantity of all its lines
  (purchases and returns) is > 0, so a return never creates a positive cell.
- **Purchases** are the lines with ``is_return`` false and ``quantity`` > 0.
- **Weighting** (``cfg.weighting``) of a cell with net quantity ``Q`` and net value ``V``:
  ``binary`` 1; ``order_count`` the number of distinct purchase orders; ``log_quantity``
  ``log1p(Q)``; ``net_value`` ``max(V, 0)``.
- **Recency** (``cfg.recency_half_life_days`` = h): each purchase line decays by
  ``d = 0.5 ** (age_days / h)`` with ``age_days = max(as_of - order_date, 0)`` in days.
  ``binary`` takes the decay of the most recent purchase, ``order_count`` sums the decay of
  each distinct order, ``log_quantity`` and ``net_value`` multiply ``Q`` and ``V`` by the
  quantity-weighted mean decay of the cell's purchases (returns are decayed like the purchases
  they cancel, so a late return can never flip a cell negative). Without recency these reduce
  exactly to the undecayed values.
- **Scaling** (``cfg.scaling``) is applied last, as implicit's ``BM25Recommender`` does:
  ``bm25_weight(buyer_items.T).T`` (items are the BM25 documents, buyers the terms: buyers who
  buy everything weigh less, popular items are length-normalised); ``tfidf`` likewise.
- **Variant columns.** Custom-made variants (``is_custom``) and variants with fewer than
  ``cfg.min_variant_support`` distinct buying centers holding a positive net cell are folded
  into a column whose id **is the product id itself**. ``Interactions.variant_product`` gives
  the product of every column; a column is product level iff its id equals its product.
- **Axes.** Rows of both buyer matrices are the buying centers with at least one positive cell
  in either matrix (so rows may be empty in one of them when returns net out differently at
  variant and product level); the product axis of ``buyer_products`` and ``order_products`` is
  every product id present in the lines; the variant axis every column id present. All
  vocabularies are sorted. A stored cell may hold 0 (free goods under ``net_value``, or after
  TF-IDF/BM25 when a buyer bought nearly every item); it still marks the item as owned.
- **Baskets.** ``basket_window_days`` = 0: one basket per ``order_id`` (row id = order id).
  N > 0: a buying center's purchase days are sessionised greedily: a basket starts at the
  first purchase day and takes every later day within N days of that start; the first day
  after ``start + N`` starts the next basket. Row id ``<buying_center_id>|<YYYY-MM-DD of start>``.
  A basket holds the products whose summed purchase quantity in it is > 0 (returns excluded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight

from xsell.errors import InputDataError
from xsell.frames import most_frequent, text_codes
from xsell.interactions.config import InteractionsConfig
from xsell.interactions.matrix import InteractionMatrix, Interactions, TrainingData, needs_variants
from xsell.parallel import available_cores, ordered_map
from xsell.sparse import distinct, group_keys, run_starts, sorted_csr
from xsell.vocab import Vocabulary

log = logging.getLogger(__name__)

NEEDED_COLUMNS: tuple[str, ...] = (
    "order_id", "order_date", "buying_center_id", "variant_id", "product_id", "quantity",
    "net_value", "is_custom", "is_return",
)
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class CodedLines:
    """Order lines as integer codes (one entry per line) over sorted id arrays: what every matrix
    of ``build_interactions`` is computed from. ``encode_lines`` makes it from a canonical frame
    (the costly part at millions of lines: factorizing the id strings); ``take`` / ``part`` select
    lines of the same history (an evaluation window) without factorizing again."""

    buyer: np.ndarray
    buyer_ids: np.ndarray
    product: np.ndarray
    product_ids: np.ndarray
    order: np.ndarray
    order_ids: np.ndarray
    quantity: np.ndarray
    """Signed: return lines are always negative."""
    purchase: np.ndarray
    """Bool: not a return and quantity > 0."""
    value: np.ndarray
    """Net value (missing: 0), signed like ``quantity``."""
    order_date: np.ndarray
    """``datetime64[ns]``."""
    is_custom: np.ndarray
    variant: np.ndarray | None = None
    """Variant codes over ``variant_ids`` (None: encoded without variants, baskets only)."""
    variant_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    """Sorted union of ``variant_ids`` and ``product_ids`` (the ids a variant column can take)."""
    variant_item: np.ndarray | None = None
    """Position in ``item_ids`` of each variant id."""
    product_item: np.ndarray | None = None
    """Position in ``item_ids`` of each product id."""
    index: pd.Index | None = field(default=None, compare=False)
    """The encoded frame's index when unique (``part`` finds a window's lines by it)."""

    def __len__(self) -> int:
        return len(self.buyer)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(code per line, sorted ids) of the id column ``name`` of the encoded frame
        (``buying_center_id``, ``product_id``, ``order_id``, ``variant_id``; None: not encoded)."""
        found = {
            "buying_center_id": (self.buyer, self.buyer_ids), "product_id": (self.product, self.product_ids),
            "order_id": (self.order, self.order_ids), "variant_id": (self.variant, self.variant_ids),
        }.get(name)  # fmt: skip
        if found is None or found[0] is None or found[1] is None:
            return None
        return found[0], found[1]

    def take(self, rows: np.ndarray) -> CodedLines:
        """The lines at positions ``rows`` (in that order), each id axis reduced to the ids they
        use: equal to ``encode_lines`` of those lines."""
        rows = np.asarray(rows, dtype=np.int64)
        buyer, buyer_ids, _ = _compact(self.buyer[rows], self.buyer_ids)
        product, product_ids, product_used = _compact(self.product[rows], self.product_ids)
        order, order_ids, _ = _compact(self.order[rows], self.order_ids)
        variants: dict[str, np.ndarray | None] = {}
        if self.variant is not None and self.variant_ids is not None:
            assert self.variant_item is not None and self.product_item is not None and self.item_ids is not None
            variant, variant_ids, variant_used = _compact(self.variant[rows], self.variant_ids)
            item = np.r_[self.variant_item[variant_used], self.product_item[product_used]]
            item, item_ids, _ = _compact(item, self.item_ids)
            variants = {
                "variant": variant, "variant_ids": variant_ids, "item_ids": item_ids,
                "variant_item": item[: len(variant_ids)], "product_item": item[len(variant_ids) :],
            }  # fmt: skip
        index = self.index[rows] if self.index is not None else None
        return CodedLines(
            buyer, buyer_ids, product, product_ids, order, order_ids, self.quantity[rows], self.purchase[rows],
            self.value[rows], self.order_date[rows], self.is_custom[rows], index=index, **variants,
        )  # fmt: skip

    def rows(self, lines: pd.DataFrame) -> np.ndarray | None:
        """Positions of ``lines``, rows of the encoded frame (selected, unchanged), found by their
        index (None when the encoded frame's index was not unique)."""
        if self.index is None:
            return None
        if lines.index is self.index or (isinstance(lines.index, pd.RangeIndex) and lines.index.equals(self.index)):
            return np.arange(len(lines), dtype=np.int64)  # the encoded frame itself
        rows = self.index.get_indexer(lines.index)
        if len(rows) and rows.min() < 0:
            raise ValueError("lines that are not rows of the encoded frame")
        return rows

    def part(self, lines: pd.DataFrame, positions: np.ndarray | None = None) -> CodedLines:
        """The encoding of ``lines`` (or of ``lines.iloc[positions]``), rows of the encoded frame
        (``rows``); ``encode_lines`` of them when the encoded frame's index was not unique."""
        rows = self.rows(lines)
        if rows is None:
            return encode_lines(lines if positions is None else lines.iloc[positions], variants=self.variant is not None)
        return self.take(rows if positions is None else rows[positions])


def _compact(codes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes over only the ids they use: (new codes, used ids (still sorted), used positions)."""
    present = np.zeros(len(ids), dtype=bool)
    present[codes] = True
    used = np.flatnonzero(present)
    remap = np.cumsum(present) - 1
    return remap[codes], ids[used], used


def _joint_ids(variant_ids: np.ndarray, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted union of two sorted distinct id arrays, and each array's positions in it (a merge:
    only the product ids are looked up in the variant ids)."""
    pos = np.searchsorted(variant_ids, product_ids)
    found = pos < len(variant_ids)
    found[found] = variant_ids[pos[found]] == product_ids[found]
    new_at = pos[~found]  # non-decreasing: the product ids are sorted
    joint = np.insert(variant_ids, new_at, product_ids[~found])
    position = np.arange(len(variant_ids))
    variant_pos = position + np.searchsorted(new_at, position, side="right")  # moved by the inserts before it
    product_pos = np.empty(len(product_ids), dtype=np.int64)
    product_pos[~found] = new_at + np.arange(len(new_at))
    product_pos[found] = variant_pos[pos[found]]
    return joint, variant_pos, product_pos


def filter_lines(
    lines: pd.DataFrame, *, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Lines with ``start <= order_date < end`` (either bound optional)."""
    mask = np.ones(len(lines), dtype=bool)
    if start is not None:
        mask &= (lines["order_date"] >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        mask &= (lines["order_date"] < pd.Timestamp(end)).to_numpy()
    return lines.loc[mask]


def _check_columns(lines: pd.DataFrame) -> None:
    missing = [c for c in NEEDED_COLUMNS if c not in lines.columns]
    if missing:
        raise InputDataError(f"order lines lack columns {missing}", column=missing[0])


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return text_codes(values)


def encode_lines(lines: pd.DataFrame, *, variants: bool = True) -> CodedLines:
    """``CodedLines`` of canonical order lines (``variants=False``: without the variant codes,
    enough for the basket matrix)."""
    _check_columns(lines)
    # the id columns side by side on the available cores (Arrow hashes and sorts them without the
    # GIL: at 20M lines 20 -> 12 s on two cores)
    columns = ["buying_center_id", "product_id", "order_id", *(["variant_id"] if variants else [])]
    coded = list(ordered_map(lambda col: _factorize(lines[col]), columns, workers=available_cores(), name="encode-lines"))
    (buyer, buyer_ids), (product, product_ids), (order, order_ids) = coded[:3]
    quantity = signed_quantity(lines)
    net_value = np.nan_to_num(lines["net_value"].to_numpy(dtype=np.float64))
    extra: dict[str, np.ndarray] = {}
    if variants:
        variant, variant_ids = coded[3]
        item_ids, variant_item, product_item = _joint_ids(variant_ids, product_ids)
        extra = {"variant": variant, "variant_ids": variant_ids, "item_ids": item_ids, "variant_item": variant_item, "product_item": product_item}
    return CodedLines(
        buyer, buyer_ids, product, product_ids, order, order_ids, quantity, is_purchase(lines),
        np.where(quantity < 0, -np.abs(net_value), net_value), lines["order_date"].to_numpy(dtype="datetime64[ns]"),
        lines["is_custom"].to_numpy(dtype=bool), index=lines.index if lines.index.is_unique else None, **extra,
    )  # fmt: skip


def is_purchase(lines: pd.DataFrame) -> np.ndarray:
    """Bool per line: a purchase, i.e. not a return and positive quantity (the rule the matrices,
    the evaluation targets and the tables share)."""
    is_return = lines["is_return"].to_numpy(dtype=bool) if "is_return" in lines else np.zeros(len(lines), dtype=bool)
    return ~is_return & (lines["quantity"].to_numpy(dtype=np.float64) > 0)


def signed_quantity(lines: pd.DataFrame) -> np.ndarray:
    """Quantity per line (float), return lines (``is_return``) always negative: what "net of
    returns" sums (the matrices' cells, ``owned_keys``)."""
    is_return = lines["is_return"].to_numpy(dtype=bool) if "is_return" in lines else np.zeros(len(lines), dtype=bool)
    q = lines["quantity"].to_numpy(dtype=np.float64)
    return np.where(is_return, -np.abs(q), q)


def purchases(lines: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Canonical lines that are purchases (``is_purchase``); only ``columns`` where given."""
    return (lines if columns is None else lines[columns]).loc[is_purchase(lines)]


def owned_keys(keys: np.ndarray, signed_quantity: np.ndarray) -> np.ndarray:
    """Sorted distinct int ``keys`` (one per line, e.g. ``buyer * n_items + item``) whose summed
    signed quantity (returns negative) is > 0: the one rule of "owned" (``owned_pairs``)."""
    distinct_keys, code = group_keys(keys)
    return distinct_keys[np.bincount(code, signed_quantity, len(distinct_keys)) > 0]


def owned_pairs(lines: pd.DataFrame, item_col: str = "product_id") -> pd.DataFrame:
    """Distinct ``buying_center_id, <item_col>`` pairs a buying center owns: the summed quantity of
    its purchases and returns (returns always negative) is > 0, the rule of the matrices' cells.
    What "already bought" means for the evaluation targets and the suggestion tables."""
    if lines.empty:
        return pd.DataFrame({"buying_center_id": pd.Series(dtype=str), item_col: pd.Series(dtype=str)})
    signed = signed_quantity(lines)
    # sorted codes: grouping on b * n_items + i orders the pairs as the ids sort
    b, b_ids = text_codes(lines["buying_center_id"])
    i, i_ids = text_codes(lines[item_col])
    known = (b >= 0) & (i >= 0)  # a missing id is no pair (as grouping on the strings dropped it)
    key = owned_keys(b[known].astype(np.int64) * len(i_ids) + i[known], signed[known])
    return pd.DataFrame(
        {"buying_center_id": np.asarray(b_ids, dtype=object)[key // len(i_ids)], item_col: np.asarray(i_ids, dtype=object)[key % len(i_ids)]}
    )


def _master_column(customers: pd.DataFrame | None, col: str) -> pd.Series:
    """buying_center_id -> non-empty ``col`` of the customer master (first row per buying center)."""
    if customers is None or customers.empty or col not in customers:
        return pd.Series(dtype=str, name=col)
    master = customers.drop_duplicates("buying_center_id")
    values = master[col].fillna("").astype(str)
    keep = (values.str.len() > 0).to_numpy()
    return pd.Series(values.to_numpy()[keep], index=master["buying_center_id"].astype(str).to_numpy()[keep], name=col)


def buyer_countries(lines: pd.DataFrame, customers: pd.DataFrame | None = None) -> pd.Series:
    """buying_center_id -> country: the customer master's country (the sales organisation's
    truth) where it has one, else the most frequent country of the buying center's order lines
    (ties: alphabetically first). The one rule of training, evaluation and the tables."""
    master = _master_column(customers, "country")
    from_lines = most_frequent(lines, "buying_center_id", "country")
    result = pd.concat([master, from_lines[~from_lines.index.isin(master.index)]])
    result.index.name = "buying_center_id"
    return result.astype(str).rename("country")


def buyer_segments(customers: pd.DataFrame | None) -> pd.Series:
    """buying_center_id -> customer segment from the customer master (empty when it has none)."""
    result = _master_column(customers, "segment")
    result.index.name = "buying_center_id"
    return result.rename("segment")


def _decay(coded: CodedLines, half_life: float | None, as_of: pd.Timestamp | None) -> np.ndarray:
    """Per-line recency factor ``0.5 ** (age_days / half_life)`` (ones when disabled)."""
    if half_life is None or len(coded) == 0:
        return np.ones(len(coded))
    dates = coded.order_date
    ref = np.datetime64(pd.Timestamp(as_of), "ns") if as_of is not None else dates.max()
    age = np.maximum((ref - dates) / _DAY, 0.0)
    return np.power(0.5, age / half_life)


@dataclass(frozen=True)
class CellIndex:
    """The buyer x item cell of every line on both item axes, and the variant columns: what the
    matrices of one set of ``CodedLines`` share whatever their weighting, recency or scaling
    (only ``min_variant_support`` changes the columns). ``cell_index`` makes it (the costly part
    of a build: three sorts of a packed key per line); ``build_interactions`` given one only
    weighs the cells, so configurations that differ in weights build from one index. Without
    variants (``variants=False``) only the product axis: the column fields are None."""

    min_variant_support: int | None
    """None: made without variants."""
    product_keys: np.ndarray
    """Sorted distinct ``buyer * n_products + product`` keys (the product cells)."""
    product_cell: np.ndarray
    """Per line: its position in ``product_keys`` (int32 while the cells fit)."""
    column_keys: np.ndarray | None = None
    """Sorted distinct ``buyer * n_columns + column`` keys (the variant-column cells)."""
    column_cell: np.ndarray | None = None
    """Per line: its position in ``column_keys``."""
    column_ids: np.ndarray | None = None
    """Sorted variant column ids."""
    variant_product: np.ndarray | None = None
    """Product id of every column."""

    def fits(self, cfg: InteractionsConfig, variants: bool) -> bool:
        """Whether the index is the one of ``cfg`` with or without variants."""
        return self.min_variant_support == (cfg.min_variant_support if variants else None)


def _small(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.int32) if len(codes) and int(codes.max()) <= np.iinfo(np.int32).max else codes


def cell_index(enc: CodedLines, cfg: InteractionsConfig, *, variants: bool = True) -> CellIndex:
    """The ``CellIndex`` of ``enc``: with ``variants``, under ``cfg.min_variant_support``
    (``_variant_columns``); without, the product axis only."""
    columns: dict[str, np.ndarray] = {}
    if variants:
        column, column_ids, variant_product = _variant_columns(enc, cfg)
        column_keys, column_cell = group_keys(enc.buyer * len(column_ids) + column)
        del column
        columns = {"column_keys": column_keys, "column_cell": _small(column_cell), "column_ids": column_ids, "variant_product": variant_product}
    product_keys, product_cell = group_keys(enc.buyer * len(enc.product_ids) + enc.product)
    return CellIndex(cfg.min_variant_support if variants else None, product_keys, _small(product_cell), **columns)


def _column_only_buyers(enc: CodedLines, cfg: InteractionsConfig, product_buyers: np.ndarray) -> np.ndarray:
    """Buyer codes with a positive variant-column cell but no positive product cell (``product_buyers``:
    the buyer codes of the positive product cells): rows of the buyer matrices too (the union of
    the module docstring), found without the variant matrix. Only a buyer whose every product nets
    to <= 0 can be one (a return of one variant beyond another's purchase), so only those buyers'
    lines are grouped by column, with the support of their variants from those variants' lines."""
    variant = _variant_codes(enc)
    assert enc.variant_ids is not None and enc.item_ids is not None  # checked with the codes
    has_product = np.zeros(len(enc.buyer_ids), dtype=bool)
    has_product[product_buyers] = True
    lines = np.flatnonzero(~has_product[enc.buyer])
    if len(lines) == 0:
        return np.zeros(0, dtype=np.int64)
    wanted = np.zeros(len(enc.variant_ids), dtype=bool)
    wanted[variant[lines]] = True
    column, _ = _column_items(enc, cfg, lines, np.flatnonzero(wanted[variant]))  # every line of those variants: their support
    n_items = len(enc.item_ids)
    column_keys, column_cell = group_keys(enc.buyer[lines] * n_items + column)
    net = np.bincount(column_cell, enc.quantity[lines], len(column_keys))
    return distinct(column_keys[net > 0] // n_items)


def _cells(
    enc: CodedLines, cell_keys: np.ndarray, cell: np.ndarray, n_items: int, decay: np.ndarray, cfg: InteractionsConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive buyer x item cells: (buyer codes, item codes, weights) per the module contract,
    of the lines' ``cell`` among the sorted ``cell_keys`` (``buyer * n_items + item``)."""
    n_cells = len(cell_keys)
    net_q = np.bincount(cell, enc.quantity, n_cells)
    weight: np.ndarray
    if cfg.weighting == "binary":
        weight = np.zeros(n_cells)
        np.maximum.at(weight, cell[enc.purchase], decay[enc.purchase])
    elif cfg.weighting == "order_count":
        p_cell, p_order = cell[enc.purchase].astype(np.int64), enc.order[enc.purchase]
        first = ~pd.Series(p_cell * len(enc.order_ids) + p_order).duplicated().to_numpy()
        weight = np.bincount(p_cell[first], decay[enc.purchase][first], n_cells)
    else:
        gross = np.bincount(cell, np.where(enc.purchase, enc.quantity, 0.0), n_cells)
        decayed = np.bincount(cell, np.where(enc.purchase, enc.quantity * decay, 0.0), n_cells)
        mean_decay = np.divide(decayed, gross, out=np.zeros(n_cells), where=gross > 0)
        if cfg.weighting == "log_quantity":
            weight = np.log1p(np.maximum(net_q, 0.0) * mean_decay)
        else:
            weight = np.maximum(np.bincount(cell, enc.value, n_cells), 0.0) * mean_decay
    keep = net_q > 0
    kept = cell_keys[keep]
    return kept // n_items, kept % n_items, weight[keep]


def _variant_codes(enc: CodedLines) -> np.ndarray:
    """The lines' variant codes; ``ValueError`` when they were encoded without variants."""
    if enc.variant is None or enc.variant_ids is None or enc.item_ids is None or enc.variant_item is None or enc.product_item is None:
        raise ValueError("lines encoded without variants (encode_lines(variants=False))")
    return enc.variant


def _column_items(
    enc: CodedLines, cfg: InteractionsConfig, lines: np.ndarray | slice, support_lines: np.ndarray | slice
) -> tuple[np.ndarray, np.ndarray]:
    """Per line of ``lines`` (positions, or a slice): its variant column as a position in
    ``enc.item_ids`` and whether it is folded. A folded line's column is its product id, the
    others' their variant id (equal ids share one). A variant's support (distinct buying centers
    with a positive net cell of it) is counted on ``support_lines``, which must hold every line
    of the variants of ``lines``."""
    variant = _variant_codes(enc)
    assert enc.variant_ids is not None and enc.variant_item is not None and enc.product_item is not None  # checked with the codes
    n_var = len(enc.variant_ids)
    cell_keys, cell = group_keys(enc.buyer[support_lines] * n_var + variant[support_lines])
    positive = np.bincount(cell, enc.quantity[support_lines], len(cell_keys)) > 0
    support = np.bincount(cell_keys[positive] % n_var, minlength=n_var)
    del cell_keys, cell
    v = variant[lines]
    fold = enc.is_custom[lines] | (support[v] < cfg.min_variant_support)
    return np.where(fold, enc.product_item[enc.product[lines]], enc.variant_item[v]), fold


def _variant_columns(enc: CodedLines, cfg: InteractionsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-line variant column code, sorted column ids, product id per column."""
    item, fold = _column_items(enc, cfg, slice(None), slice(None))
    assert enc.item_ids is not None and enc.variant_ids is not None  # ``_column_items`` checked
    column, column_ids, _ = _compact(item, enc.item_ids)
    del item
    # product of every column: the smallest product id seen with it (deterministic)
    pairs = distinct(column * len(enc.product_ids) + enc.product)
    col_of_pair = pairs // len(enc.product_ids)
    first = run_starts(col_of_pair)
    if not first.all():
        ambiguous = np.unique(col_of_pair[~first])
        log.warning(
            "%d variant columns map to several products (e.g. %r); using the smallest product id",
            len(ambiguous), column_ids[ambiguous[0]],
        )
    variant_product = enc.product_ids[pairs[first] % len(enc.product_ids)]
    log.info("variant columns: %d variants, %d folded lines, %d columns", len(enc.variant_ids), int(fold.sum()), len(column_ids))
    return column, column_ids, variant_product


def _scale(matrix: sp.csr_matrix, cfg: InteractionsConfig) -> sp.csr_matrix:
    """BM25 / TF-IDF on the (items x buyers) transpose, like implicit's BM25Recommender."""
    if cfg.scaling == "none" or matrix.nnz == 0:
        return matrix
    item_buyers = matrix.T.tocsr()
    if cfg.scaling == "bm25":
        weighted = bm25_weight(item_buyers, K1=cfg.bm25_k1, B=cfg.bm25_b)
    else:
        weighted = tfidf_weight(item_buyers)
    return sp.csr_matrix(weighted.T, dtype=np.float32)


def _order_products(enc: CodedLines, cfg: InteractionsConfig) -> InteractionMatrix:
    products = Vocabulary(enc.product_ids)
    idx = np.flatnonzero(enc.purchase)
    if cfg.basket_window_days == 0:
        basket_of_line, basket_ids = enc.order[idx], enc.order_ids
    else:
        basket_of_line, basket_ids = _sessions(enc, idx, cfg.basket_window_days)
    n_products = len(enc.product_ids)
    keys = distinct(basket_of_line * n_products + enc.product[idx])
    del idx, basket_of_line
    basket = keys // n_products  # sorted
    first = run_starts(basket)
    used, rows = basket[first], np.cumsum(first) - 1
    del basket, first
    matrix = sorted_csr(rows, keys % n_products, np.ones(len(keys), dtype=np.float32), (len(used), n_products))
    return InteractionMatrix(matrix, Vocabulary(basket_ids[used]), products)


def _sessions(enc: CodedLines, idx: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Basket code per purchase line ``idx`` and sorted basket ids (greedy N-day sessions)."""
    day = enc.order_date[idx].astype("datetime64[D]").astype(np.int64)
    day0 = day.min() if len(day) else 0
    span = int(day.max() - day0 if len(day) else 0) + window + 1
    keys, pair = np.unique(enc.buyer[idx] * span + (day - day0), return_inverse=True)
    group = keys // span
    n = len(keys)
    nxt = np.searchsorted(keys, keys + window, side="right")
    has_next = nxt < n
    has_next[has_next] = group[nxt[has_next]] == group[has_next]
    is_start = np.zeros(n, dtype=bool)
    frontier = np.flatnonzero(run_starts(group))
    while frontier.size:  # one pass per basket of the busiest buyer, each pass vectorised
        is_start[frontier] = True
        frontier = nxt[frontier[has_next[frontier]]]
    session = np.cumsum(is_start) - 1
    starts = np.flatnonzero(is_start)
    start_day = (keys[starts] % span + day0).astype("datetime64[D]").astype(str)
    labels = enc.buyer_ids[group[starts]].astype(str) + "|" + start_day
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[session[pair]], labels[order].astype(object)


def build_order_products(lines: pd.DataFrame, cfg: InteractionsConfig) -> InteractionMatrix:
    """Binary basket x product matrix, shape (n_baskets, n_products); see the module docstring."""
    return _order_products(encode_lines(lines, variants=False), cfg)


def build_interactions(
    lines: pd.DataFrame | CodedLines,
    cfg: InteractionsConfig,
    *,
    as_of: pd.Timestamp | None = None,
    order_products: InteractionMatrix | None = None,
    cells: CellIndex | None = None,
    variants: bool = True,
) -> Interactions:
    """All matrices of one set of canonical order lines, or of their ``encode_lines`` (see the
    module docstring).

    ``as_of`` is the reference date of the recency decay (default: latest ``order_date``).
    Returns ``buyer_variants`` (n_buying_centers, n_variant_columns) and ``buyer_products``
    (n_buying_centers, n_products) as float32 CSR with the same row vocabulary,
    ``order_products`` (n_baskets, n_products) binary, and ``variant_product``.
    ``order_products``: that matrix of the same lines and ``cfg.basket_window_days``, already
    built (it depends on nothing else): used as it is, so configurations can share it;
    ``cells``: the ``cell_index`` of the same encoded lines and ``cfg.min_variant_support``,
    likewise (the matrices are the same as without it). ``variants=False``: no
    ``buyer_variants`` and ``variant_product`` (None; what product-level models need, without
    the variant columns' sorts); the rows are the same as with them.
    """
    enc = lines if isinstance(lines, CodedLines) else encode_lines(lines)
    if cells is not None and not cells.fits(cfg, variants):
        raise ValueError(
            f"cell index of min_variant_support={cells.min_variant_support}, config has "
            f"{cfg.min_variant_support if variants else None} ({'with' if variants else 'without'} variants)"
        )
    # the basket matrix first: its transients do not meet the buyer matrices' (memory peak)
    baskets = order_products if order_products is not None else _order_products(enc, cfg)
    index = cells if cells is not None else cell_index(enc, cfg, variants=variants)
    column_ids, variant_product = index.column_ids, index.variant_product
    decay = _decay(enc, cfg.recency_half_life_days, as_of)
    n_products = len(enc.product_ids)
    pb, pc, pw = _cells(enc, index.product_keys, index.product_cell, n_products, decay, cfg)
    if index.column_keys is not None and index.column_cell is not None and column_ids is not None:
        vb, vc, vw = _cells(enc, index.column_keys, index.column_cell, len(column_ids), decay, cfg)
    else:
        vb = _column_only_buyers(enc, cfg, pb)  # rows only: no column cells are kept
        vc = vw = np.zeros(0)
    del decay, index
    inverse, buyer_ids, _ = _compact(np.r_[pb, vb], enc.buyer_ids)
    buyers = Vocabulary(buyer_ids)

    def csr(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n_cols: int) -> sp.csr_matrix:
        # rows: compacted buyer codes of sorted cell keys, so the cells come in CSR order
        return _scale(sorted_csr(rows, cols, weights.astype(np.float32), (len(buyer_ids), n_cols)), cfg)

    buyer_variants = None
    if column_ids is not None:
        buyer_variants = InteractionMatrix(csr(inverse[len(pb) :], vc, vw, len(column_ids)), buyers, Vocabulary(column_ids))
    del vb, vc, vw
    buyer_products = InteractionMatrix(csr(inverse[: len(pb)], pc, pw, n_products), buyers, Vocabulary(enc.product_ids))
    return Interactions(buyer_variants=buyer_variants, buyer_products=buyer_products, order_products=baskets, variant_product=variant_product)


def build_training_data(
    lines: pd.DataFrame | CodedLines,
    customers: pd.DataFrame | None,
    cfg: InteractionsConfig,
    *,
    level: str = "product",
    as_of: pd.Timestamp | None = None,
    countries: pd.Series | None = None,
    order_products: InteractionMatrix | None = None,
    cells: CellIndex | None = None,
    variants: bool = True,
) -> TrainingData:
    """What every model's ``fit`` receives: the matrices of ``lines`` (``build_interactions``; the
    lines or their ``encode_lines``; ``order_products``, ``cells`` and ``variants`` as there: a
    product-level caller may leave the variant matrix out) plus buyer countries
    (``countries``, default ``buyer_countries(lines, customers)``: required with encoded lines)
    and segments."""
    if not variants and needs_variants(level):
        raise ValueError(f"level {level!r} trains on the variant matrix: build it (variants=True)")
    if countries is None:
        if isinstance(lines, CodedLines):
            raise ValueError("build_training_data of encoded lines needs their countries")
        countries = buyer_countries(lines, customers)
    return TrainingData(
        interactions=build_interactions(lines, cfg, as_of=as_of, order_products=order_products, cells=cells, variants=variants),
        level=level,
        buyer_country=countries,
        buyer_segment=buyer_segments(customers),
    )
