"""Shopify product CSV with the Search & Discovery metafields (a spreadsheet format: neutralised).

``shop/shopify_products.csv``: comma-separated UTF-8 without BOM, header ``Handle`` (then
``Title`` when the handle mapping file has a ``title`` column: Shopify's help lists it as
required when updating products),
``Complementary products (product.metafields.shopify--discovery--product_recommendation.complementary_products)``
(cross-sell) and
``Related products (product.metafields.shopify--discovery--product_recommendation.related_products)``
(up-sell); each list holds the linked products' handles, comma-separated (``, ``), in rank order.

Shopify metafields reference products, so the file always maps ``product_id`` (whatever
``publish.shop_sku`` says) through ``publish.shopify.handles``; links whose product or target
the file lacks are skipped and counted in the manifest (``details``). Import with Products >
Import and "Overwrite products with matching handles": each row replaces both lists of its
product, and products with links in the previous published run's file and none now get a
row with empty lists, which clears them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xsell.publish.formats.mapping import SHOPIFY_HANDLE, map_links, read_mapping
from xsell.publish.writers import Written, read_text_csv, write_csv

PATH = "shop/shopify_products.csv"
HANDLE, TITLE = "Handle", "Title"
COMPLEMENTARY = "Complementary products (product.metafields.shopify--discovery--product_recommendation.complementary_products)"
RELATED = "Related products (product.metafields.shopify--discovery--product_recommendation.related_products)"
COLUMNS: tuple[str, ...] = (HANDLE, COMPLEMENTARY, RELATED)
LIST_COLUMN: dict[str, str] = {"cross_sell": COMPLEMENTARY, "up_sell": RELATED}
SEPARATOR = ", "


def read_handles(path: Path) -> pd.DataFrame:
    """``product_id, handle`` (and ``title`` when the file has one) from ``publish.shopify.handles``."""
    return read_mapping(path, "product_id", "handle", pattern=SHOPIFY_HANDLE, extra=("title",))


def frame(links: pd.DataFrame, handles: pd.DataFrame, previous: pd.DataFrame | None) -> tuple[pd.DataFrame, dict]:
    """Rows (``COLUMNS``, with ``Title`` after ``Handle`` when ``handles`` has titles) and the
    mapping report ``{"unmapped_products", "unmapped_examples", "links_skipped", "cleared"}``."""
    by_id = handles.drop_duplicates("product_id").set_index("product_id")["handle"]
    kept, report = map_links(links, by_id, owner="product_id", target="rec_product_id", setting="publish.shopify.handles")
    lists = kept.groupby(["owner_ref", "table"], sort=True)["target_ref"].agg(SEPARATOR.join)
    rows = pd.DataFrame({HANDLE: sorted(kept["owner_ref"].unique())})
    for table, column in LIST_COLUMN.items():
        part = lists.xs(table, level="table") if len(lists) and table in lists.index.get_level_values("table") else pd.Series(dtype=object)
        rows[column] = rows[HANDLE].map(part).astype(object).fillna("")
    cleared = []
    if previous is not None and len(previous):
        linked = previous[(previous[COMPLEMENTARY] != "") | (previous[RELATED] != "")]
        cleared = sorted(set(linked[HANDLE].astype(str)) - set(rows[HANDLE]))
        rows = pd.concat([rows, pd.DataFrame({HANDLE: cleared, COMPLEMENTARY: "", RELATED: ""})], ignore_index=True)
        rows = rows.sort_values(HANDLE, kind="mergesort").reset_index(drop=True)
    if "title" in handles.columns:
        titles = handles.drop_duplicates("handle").set_index("handle")["title"]
        rows.insert(1, TITLE, rows[HANDLE].map(titles).astype(object).fillna(""))
    return rows, {**report, "cleared": len(cleared)}


def read(path: Path) -> pd.DataFrame:
    """A Shopify product file read back as text cells."""
    return read_text_csv(path)


def write(table: pd.DataFrame, path: Path, report: dict) -> Written:
    """Write the product file (no BOM)."""
    return write_csv(table, path, bom=False, details=report)
