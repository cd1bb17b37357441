"""Frame builders shared by the recommend tests (no tests here): canonical order lines, product
master rows and a recommend context, with the defaults the hand-worked examples assume."""

from __future__ import annotations

import pandas as pd

from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import build_context, resolve_today


def line(order, date, bc, variant, product=None, country="DE", qty=1.0, price=10.0, custom=False, ret=False) -> dict:
    """One canonical order line; ``product`` defaults to the variant id before ``-``."""
    return {
        "order_id": order,
        "order_line": "",
        "order_date": pd.Timestamp(date),
        "buying_center_id": bc,
        "customer_id": bc.split("/")[0],
        "country": country,
        "variant_id": variant,
        "product_id": product or variant.split("-")[0],
        "quantity": -qty if ret else qty,
        "unit_price": price,
        "net_value": (-qty if ret else qty) * price,
        "currency": "EUR",
        "is_custom": custom,
        "is_return": ret,
        "source_file": "test.csv",
        "source_row": 1,
    }


def lines_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return frame.astype({"quantity": float, "unit_price": float, "net_value": float, "is_custom": bool, "is_return": bool})


def product(variant, family, price=10.0, name=None, status="active", discontinued_on=None, countries="", custom=False, product_id=None) -> dict:
    """One product-master row (one variant)."""
    return {
        "variant_id": variant,
        "product_id": product_id or variant.split("-")[0],
        "family": family,
        "list_price": price,
        "status": status,
        "discontinued_on": pd.Timestamp(discontinued_on) if discontinued_on else pd.NaT,
        "countries": countries,
        "name": name or variant.split("-")[0],
        "is_custom": custom,
    }


def products_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({"list_price": float, "is_custom": bool, "discontinued_on": "datetime64[ns]"})


def context(lines, products, cfg=None, **kw):
    cfg = cfg or RecommendConfig()
    return build_context(lines, products, cfg, resolve_today(lines, cfg), **kw)
