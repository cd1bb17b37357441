"""Chunked generator of synthetic ERP order lines (pure, no I/O).

Each chunk covers a fixed batch of buying centers and is drawn from its own random stream
(``seed``, chunk number), so output depends only on seed and scale. Purchases of a buying
center come from four mechanisms, all vectorised over the chunk:

* core events: a machine of a (segment-, country- and popularity-weighted) core product; its
  planted complements join the same order (p=0.5 accessories, 0.6 consumables) or follow within
  weeks, and consumables are re-bought every few weeks;
* upgrade sequences: a basic product with a planted upgrade target is bought several times,
  then the buying center switches to the higher-tier product of the same family;
* filler orders: accessories, consumables and spare parts by popularity;
* returns (``R`` + original order id, negative quantity) of earlier purchases.

Then custom-made lines get unique variants, discontinued products are replaced by their
successor after the discontinuation day, non-product lines (freight, postage, fees) are added
and a few dirty rows are injected (counted exactly in ``OrderChunk.counts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.demo.catalog import (
    CONSUMABLE,
    CORE,
    COUNTRIES,
    CURRENCIES,
    SEGMENTS,
    BuyingCenters,
    Catalog,
    format_ids,
    group_cdf,
)
from xsell.demo.scales import DemoScale

ORDER_COLUMNS: tuple[str, ...] = (
    "VBELN", "POSNR", "AUDAT", "KUNNR", "KUNWE", "LAND1", "MATNR", "KWMENG", "NETPR", "NETWR", "WAERK",
    "SONDERANF", "MAKTX",
)
NON_PRODUCT_CODES: tuple[str, ...] = ("FRACHT", "PORTO", "GEBUEHR-EXPRESS", "GEBUEHR-MINDERMENGE", "GEBUEHR-ZOLL")
_NON_PRODUCT_TEXT = ("Frachtkosten", "Porto und Verpackung", "Gebühr Expresszuschlag", "Mindermengenzuschlag", "Zollgebühr")
_NON_PRODUCT_P = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
_NON_PRODUCT_PRICE = np.array([[25.0, 150.0], [4.9, 12.0], [15.0, 50.0], [10.0, 25.0], [20.0, 80.0]])
DIRTY_KINDS: tuple[str, ...] = (
    "empty_customer", "bad_date", "bad_quantity", "negative_price", "unknown_variant", "duplicate",
)
_DIRTY_RATE = dict(zip(DIRTY_KINDS, (0.0008, 0.0008, 0.0008, 0.0008, 0.0008, 0.001)))

_FIRST_ORDER_NO = 10_000_001
_CORE_SHARE = 0.60  # share of lines driven by core events (with complements and re-buys)
_LINES_PER_CORE_EVENT = 4.3  # calibrated: core line + complements + follow-ups + re-buys
_FILLER_EXTRA_LINES = 1.3  # a filler order has 1 + Poisson(this) lines
_P_UPGRADE_SEQUENCE = 0.5
_P_SAME_ORDER = np.array([0.0, 0.35, 0.45, 0.0])  # by partner kind
_P_LATER = np.array([0.0, 0.6, 0.7, 0.0])
_LATER_MEAN_DAYS = 75.0  # accessories and consumables follow the machine over weeks to months
_REBUY_MEAN = 3.0
_FILLER_KIND_WEIGHT = np.array([0.05, 1.0, 1.0, 1.0])
_QTY_GEOMETRIC_P = np.array([0.85, 0.6, 0.15, 0.5])
_CUSTOM_SHARE = 0.20
_CUSTOM_KIND_WEIGHT = np.array([1.5, 1.0, 0.15, 1.2])
_P_RETURN = 0.015
_P_NON_PRODUCT = 0.04


@dataclass
class OrderChunk:
    """Order lines of one batch of buying centers plus what the writer needs to record."""

    lines: pd.DataFrame
    """Columns ``ORDER_COLUMNS``; AUDAT ``datetime64`` (NaT = unparseable date in the source),
    KWMENG/NETPR/NETWR float64 (KWMENG NaN = non-numeric quantity), the rest strings."""
    custom_variants: pd.DataFrame
    """Product-master rows of the custom-made variants sold in this chunk."""
    counts: dict[str, int] = field(default_factory=dict)
    """Injected dirty rows by kind, non-product lines by code, and line totals."""


class _Orders:
    """Growing lists of orders (buying center, day) and their lines (order, product)."""

    def __init__(self) -> None:
        self.bc: list[np.ndarray] = []
        self.day: list[np.ndarray] = []
        self.line_order: list[np.ndarray] = []
        self.line_product: list[np.ndarray] = []
        self.n = 0

    def add(self, bc: np.ndarray, day: np.ndarray, product: np.ndarray) -> np.ndarray:
        """One new single-line order per element; returns the new order numbers."""
        orders = np.arange(self.n, self.n + len(bc))
        self.n += len(bc)
        self.bc.append(bc)
        self.day.append(day)
        self.add_lines(orders, product)
        return orders

    def add_lines(self, orders: np.ndarray, product: np.ndarray) -> None:
        self.line_order.append(orders)
        self.line_product.append(product)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cat = np.concatenate
        return cat(self.bc), cat(self.day), cat(self.line_order), cat(self.line_product)


def _positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of a repeat with ``counts``."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


class SamplingTables:
    """Per (country, segment) cumulative product weights for core and filler purchases."""

    def __init__(self, catalog: Catalog) -> None:
        n_p, n_c, n_s = catalog.n_products, len(COUNTRIES), len(SEGMENTS)
        core = catalog.product_kind == CORE
        kind_w = _FILLER_KIND_WEIGHT[catalog.product_kind]
        w_core = np.empty((n_c * n_s, n_p))
        w_fill = np.empty((n_c * n_s, n_p))
        for c in range(n_c):
            for s in range(n_s):
                w = catalog.product_weights(c, s)
                w_core[c * n_s + s] = w * core
                w_fill[c * n_s + s] = w * kind_w
        ptr = np.arange(0, n_c * n_s * n_p + 1, n_p)
        self.n_products = n_p
        self.core = group_cdf(w_core.ravel(), ptr)
        self.filler = group_cdf(w_fill.ravel(), ptr)

    def draw(self, table: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One product per element of ``group`` (= country * n_segments + segment)."""
        idx = np.searchsorted(table, group + rng.random(len(group)), side="right")
        return idx - group * self.n_products


def generate_order_chunks(
    catalog: Catalog, centers: BuyingCenters, scale: DemoScale, seed: int, days: np.ndarray
) -> Iterator[OrderChunk]:
    """Yield the order lines chunk by chunk (``scale.chunk_buying_centers`` buying centers each)."""
    tables = SamplingTables(catalog)
    lines_per_bc = scale.target_lines / len(centers)
    order_no, custom_no = _FIRST_ORDER_NO, 1
    kunnr, kunwe = centers.kunnr(), centers.kunwe()
    for i, lo in enumerate(range(0, len(centers), scale.chunk_buying_centers)):
        bcs = np.arange(lo, min(lo + scale.chunk_buying_centers, len(centers)))
        rng = np.random.default_rng([seed, 2, i])
        chunk = _chunk(catalog, centers, tables, bcs, lines_per_bc, rng)
        frame, custom, counts, n_orders, n_custom = _assemble(
            chunk, catalog, centers, bcs, kunnr, kunwe, days, order_no, custom_no, rng
        )
        order_no += n_orders
        custom_no += n_custom
        yield OrderChunk(frame, custom, counts)


@dataclass
class _Lines:
    """Sales lines of one chunk, in generation order (indices are chunk-local)."""

    order_bc: np.ndarray
    order_day: np.ndarray
    order: np.ndarray
    product: np.ndarray


def _chunk(
    catalog: Catalog, centers: BuyingCenters, tables: SamplingTables, bcs: np.ndarray, lines_per_bc: float,
    rng: np.random.Generator,
) -> _Lines:
    n_days = catalog.n_days
    first, last = centers.first_day[bcs], centers.last_day[bcs]
    span = last - first + 1
    act = centers.activity[bcs] * span / n_days
    group = centers.country[bcs] * len(SEGMENTS) + centers.segment[bcs]
    orders = _Orders()

    # core events and upgrade sequences
    ev_bc = np.repeat(np.arange(len(bcs)), rng.poisson(_CORE_SHARE * lines_per_bc / _LINES_PER_CORE_EVENT * act))
    ev_prod = tables.draw(tables.core, group[ev_bc], rng)
    up = (catalog.upgrade_to[ev_prod] >= 0) & (rng.random(len(ev_bc)) < _P_UPGRADE_SEQUENCE)
    ev_day = first[ev_bc] + (rng.random(len(ev_bc)) * np.where(up, 0.5, 1.0) * span[ev_bc]).astype(np.int64)
    seq_len = np.where(up, rng.integers(3, 7, len(ev_bc)), 1)
    ev = np.repeat(np.arange(len(ev_bc)), seq_len)
    pos = _positions(seq_len)
    gaps = np.where(pos == 0, 0, rng.integers(15, 46, len(ev)))
    cum = np.cumsum(gaps)
    day = ev_day[ev] + cum - np.repeat(cum[np.cumsum(seq_len) - seq_len], seq_len)
    prod = np.where(pos >= (seq_len[ev] + 1) // 2, catalog.upgrade_to[ev_prod][ev], ev_prod[ev])
    keep = day <= last[ev_bc[ev]]
    core_bc, core_day, core_prod = ev_bc[ev][keep], day[keep], prod[keep]
    core_orders = orders.add(core_bc, core_day, core_prod)

    # complements: same order, or a follow-up order within weeks; consumables re-bought
    counts = np.diff(catalog.partner_ptr)[core_prod]
    owner = np.repeat(np.arange(len(core_prod)), counts)
    partner = catalog.partner_idx[np.repeat(catalog.partner_ptr[core_prod], counts) + _positions(counts)]
    pkind = catalog.product_kind[partner]
    same = rng.random(len(partner)) < _P_SAME_ORDER[pkind]
    orders.add_lines(core_orders[owner[same]], partner[same])
    later_day = core_day[owner] + 5 + rng.geometric(1.0 / _LATER_MEAN_DAYS, len(partner))
    later = ~same & (rng.random(len(partner)) < _P_LATER[pkind]) & (later_day <= last[core_bc[owner]])
    orders.add(core_bc[owner[later]], later_day[later], partner[later])
    rebuy_base = np.flatnonzero((pkind == CONSUMABLE) & (same | later))
    n_rebuy = rng.poisson(_REBUY_MEAN, len(rebuy_base))
    src = np.repeat(rebuy_base, n_rebuy)
    cum = np.cumsum(rng.integers(10, 41, len(src)))
    starts = np.concatenate([[0], cum])[np.repeat(np.cumsum(n_rebuy) - n_rebuy, n_rebuy)]
    rebuy_day = np.where(same, core_day[owner], later_day)[src] + cum - starts
    ok = rebuy_day <= last[core_bc[owner[src]]]
    orders.add(core_bc[owner[src]][ok], rebuy_day[ok], partner[src][ok])

    # filler orders of accessories, consumables and spare parts
    fo_bc = np.repeat(np.arange(len(bcs)), rng.poisson((1 - _CORE_SHARE) * lines_per_bc / (1 + _FILLER_EXTRA_LINES) * act))
    fo_day = first[fo_bc] + (rng.random(len(fo_bc)) * span[fo_bc]).astype(np.int64)
    n_lines = 1 + rng.poisson(_FILLER_EXTRA_LINES, len(fo_bc))
    fill_orders = orders.add(fo_bc, fo_day, tables.draw(tables.filler, group[fo_bc], rng))
    extra = np.repeat(np.arange(len(fo_bc)), n_lines - 1)
    orders.add_lines(fill_orders[extra], tables.draw(tables.filler, group[fo_bc[extra]], rng))

    order_bc, order_day, line_order, line_product = orders.arrays()
    # discontinued products are replaced by their successor from the discontinuation day on
    gone = order_day[line_order] >= catalog.discontinued_day[line_product]
    line_product = np.where(gone, catalog.successor[line_product], line_product)
    return _Lines(order_bc, order_day, line_order, line_product)


def _assemble(
    chunk: _Lines, catalog: Catalog, centers: BuyingCenters, bcs: np.ndarray, kunnr: np.ndarray, kunwe: np.ndarray,
    days: np.ndarray, order_no: int, custom_no: int, rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int], int, int]:
    """Turn sales lines into ERP rows: variants, prices, order ids, returns, extra and dirty rows."""
    n, n_o = len(chunk.order), len(chunk.order_bc)
    prod = chunk.product
    day = chunk.order_day[chunk.order]
    kind = catalog.product_kind[prod]
    variant = np.searchsorted(catalog.variant_cdf, prod + rng.random(n), side="right")
    qty = rng.geometric(_QTY_GEOMETRIC_P[kind]).astype(np.float64)
    w = _CUSTOM_KIND_WEIGHT[kind]
    custom = rng.random(n) < np.minimum(0.9, w * (_CUSTOM_SHARE * n / w.sum()))
    custom_price = np.round(catalog.product_price[prod] * rng.uniform(1.1, 1.5, n), 2)
    list_price = np.where(custom, custom_price, catalog.variant_price[variant])
    order_discount = centers.discount[bcs][chunk.order_bc]

    # order numbers ascend with the order date; items 10, 20, ... within each order
    rank = np.empty(n_o, dtype=np.int64)
    rank[np.lexsort((np.arange(n_o), chunk.order_bc, chunk.order_day))] = np.arange(n_o)
    line_rank = rank[chunk.order]
    by_order = np.lexsort((np.arange(n), line_rank))
    posnr = np.empty(n, dtype=np.int64)
    posnr[by_order] = 10 * (_positions(np.bincount(line_rank, minlength=n_o)) + 1)

    # returns: document R<order id> with the item number of the returned line, a part of the
    # bought quantity, some business days later
    lag = rng.integers(3, 31, n_o)[chunk.order]
    returned = ~custom & (rng.random(n) < _P_RETURN) & (day + lag < catalog.n_days)
    r = np.flatnonzero(returned)
    r_qty = -rng.integers(1, qty[r].astype(np.int64) + 1).astype(np.float64)

    # non-product lines (freight, postage, fees) appended to some orders
    q_order = np.flatnonzero(rng.random(n_o) < _P_NON_PRODUCT)
    code = rng.choice(len(NON_PRODUCT_CODES), size=len(q_order), p=_NON_PRODUCT_P)
    lo, hi = _NON_PRODUCT_PRICE[code].T
    q_price = np.round(rng.uniform(lo, hi), 2)
    q_pos = 10 * (np.bincount(chunk.order, minlength=n_o)[q_order] + 1)

    # rows in generation order: sales lines, return lines, non-product lines
    cat = np.concatenate
    row_rank = cat([line_rank, line_rank[r], rank[q_order]])
    row_return = cat([np.zeros(n, bool), np.ones(len(r), bool), np.zeros(len(q_order), bool)])
    row_pos = cat([posnr, posnr[r], q_pos])
    row_day = cat([day, day[r] + lag[r], chunk.order_day[q_order]])
    row_bc = cat([chunk.order_bc[chunk.order], chunk.order_bc[chunk.order[r]], chunk.order_bc[q_order]])
    row_variant = cat([variant, variant[r], np.zeros(len(q_order), np.int64)])
    row_product = cat([prod, prod[r], np.zeros(len(q_order), np.int64)])
    row_custom = cat([custom, np.zeros(len(r) + len(q_order), bool)])
    row_code = cat([np.full(n + len(r), -1), code])
    row_qty = cat([qty, r_qty, np.ones(len(q_order))])
    unit = np.round(list_price * (1.0 - order_discount[chunk.order]), 2)
    row_price = cat([unit, unit[r], q_price])
    n_rows = len(row_rank)

    # dirty rows: disjoint sets of plain sales lines (not custom, not returned later)
    counts = {k: max(1, round(_DIRTY_RATE[k] * n_rows)) for k in DIRTY_KINDS}
    picked = rng.choice(np.flatnonzero(~custom & ~returned), size=sum(counts.values()), replace=False)
    dirty = dict(zip(DIRTY_KINDS, np.split(picked, np.cumsum(list(counts.values()))[:-1])))
    row_price[dirty["negative_price"]] *= -1.0
    row_value = np.round(row_qty * row_price, 2)
    row_qty[dirty["bad_quantity"]] = np.nan

    # final order: by date, order id, returns after sales, item; duplicates right after originals
    rows = cat([np.arange(n_rows), dirty["duplicate"]])
    rows = rows[np.lexsort((row_pos[rows], row_return[rows], row_rank[rows], row_day[rows]))]
    flag = np.zeros(n_rows, dtype=bool)

    def mask(kind_rows: np.ndarray) -> np.ndarray:
        flag[:] = False
        flag[kind_rows] = True
        return flag[rows]

    is_custom, is_code = row_custom[rows], row_code[rows] >= 0
    n_custom = int(is_custom.sum())
    custom_prod = row_product[rows][is_custom]
    custom_prefix = pc.binary_join_element_wise(pa.array(catalog.product_ids).take(custom_prod), "-S", "")
    custom_ids = format_ids(custom_prefix, custom_no + np.arange(n_custom), 6)
    custom_names = pc.binary_join_element_wise(pa.array(catalog.product_names).take(custom_prod), ", Sonderanfertigung", "")
    codes = row_code[rows][is_code]
    unknown = mask(dirty["unknown_variant"])
    matnr = catalog.variant_ids.take(row_variant[rows])
    matnr = pc.replace_with_mask(matnr, pa.array(is_custom), custom_ids)
    matnr = pc.replace_with_mask(matnr, pa.array(is_code), pa.array(np.array(NON_PRODUCT_CODES)[codes]))
    matnr = pc.replace_with_mask(matnr, pa.array(unknown), format_ids("M", rng.integers(0, 10**8, int(unknown.sum())), 8))
    maktx = catalog.variant_names.take(row_variant[rows])
    maktx = pc.replace_with_mask(maktx, pa.array(is_custom), custom_names)
    maktx = pc.replace_with_mask(maktx, pa.array(is_code), pa.array(np.array(_NON_PRODUCT_TEXT)[codes]))
    bc = bcs[row_bc[rows]]
    customer = np.where(mask(dirty["empty_customer"]), "", kunnr[bc])
    audat = days[row_day[rows]].astype("datetime64[s]")
    audat[mask(dirty["bad_date"])] = np.datetime64("NaT")
    country = centers.country[bc]
    frame = pd.DataFrame(
        {
            "VBELN": format_ids(pc.if_else(pa.array(row_return[rows]), "R", ""), order_no + row_rank[rows], 10).to_pandas(),
            "POSNR": format_ids("", row_pos[rows], 6).to_pandas(),
            "AUDAT": audat,
            "KUNNR": customer,
            "KUNWE": kunwe[bc],
            "LAND1": np.array(COUNTRIES)[country],
            "MATNR": matnr.to_pandas(),
            "KWMENG": row_qty[rows],
            "NETPR": row_price[rows],
            "NETWR": row_value[rows],
            "WAERK": np.array(CURRENCIES)[country],
            "SONDERANF": np.where(is_custom, "X", ""),
            "MAKTX": maktx.to_pandas(),
        }
    )
    custom_frame = catalog.master_frame(
        custom_ids, custom_prod, list_price[rows[is_custom]], custom_names, True, days
    )
    counts["non_product"] = len(q_order)
    counts.update({f"non_product:{c}": int((code == i).sum()) for i, c in enumerate(NON_PRODUCT_CODES)})
    counts.update(
        rows=len(rows), sales_lines=n, return_lines=len(r), custom_lines=n_custom, orders=n_o,
        return_documents=len(np.unique(line_rank[r])),
    )
    return frame, custom_frame, counts, n_o, n_custom
