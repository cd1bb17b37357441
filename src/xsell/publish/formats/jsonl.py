"""``shop/product_links.jsonl``: one JSON object per product (machine format, values exact).

``{"product_id", "variant_id", "cross_sell": [...], "up_sell": [...]}``; each list item is
``{"rank", "product_id", "variant_id", "score"}`` in rank order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from xsell.publish.writers import Written, write_lines

PATH = "shop/product_links.jsonl"
FIELDS: tuple[str, ...] = ("product_id", "variant_id", "cross_sell", "up_sell")


def product_link_records(links: pd.DataFrame) -> Iterator[dict]:
    """One JSON-ready object per product: product_id, variant_id, cross_sell, up_sell (ranked)."""
    items = links.assign(
        item=[
            {"rank": int(r), "product_id": p, "variant_id": v, "score": None if np.isnan(s) else float(s)}
            for r, p, v, s in zip(
                links["rank"], links["rec_product_id"], links["rec_variant_id"].where(links["rec_variant_id"].notna(), None), links["score"]
            )
        ]
    )
    grouped = items.groupby(["sku", "table"], sort=True)["item"].agg(list).to_dict()
    heads = links.drop_duplicates("sku").sort_values("sku", kind="mergesort")
    for sku_value, product_id, variant_id in zip(heads["sku"], heads["product_id"], heads["variant_id"]):
        yield {
            "product_id": product_id,
            "variant_id": None if pd.isna(variant_id) else variant_id,
            "cross_sell": grouped.get((sku_value, "cross_sell"), []),
            "up_sell": grouped.get((sku_value, "up_sell"), []),
        }


def jsonl_lines(links: pd.DataFrame) -> Iterator[str]:
    """``product_link_records`` as compact JSON lines (UTF-8 text, fixed key order)."""
    for record in product_link_records(links):
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def write(links: pd.DataFrame, path: Path) -> Written:
    """Write the JSONL file."""
    return write_lines(jsonl_lines(links), path, list(FIELDS))
