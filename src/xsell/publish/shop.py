"""Shop payloads built from ``cross_sell`` and ``up_sell`` (pure functions, no I/O).

Decisions (documented in ``xsell.publish``):

- Only the rows of ``publish.shop_country`` (default ``ALL``) go into the shop files.
- The SKU is ``publish.shop_sku``: ``product_id`` (default; in Magento the links sit on the
  parent product) or ``variant_id``. With ``variant_id`` a product's SKU is its representative
  variant (the ``rec_variant_id`` the recommend step uses most for that product; else the
  smallest active, not custom-made variant in the product master) and each link points at its
  ``rec_variant_id``; links without one are dropped.
- Lists keep the table ranks as positions (1 = first) and are ordered by rank.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd

from xsell.errors import InputDataError

LINK_TABLES: tuple[str, ...] = ("cross_sell", "up_sell")
MAGENTO_COLUMNS: tuple[str, ...] = ("sku", "crosssell_skus", "crosssell_position", "upsell_skus", "upsell_position")
"""Magento 2 / Adobe Commerce product import columns for cross-sell and up-sell links."""
_MAGENTO_PREFIX = {"cross_sell": "crosssell", "up_sell": "upsell"}


def representative_variants(tables: dict[str, pd.DataFrame], products: pd.DataFrame) -> pd.Series:
    """product_id -> representative variant_id (see module docstring); products without one are absent."""
    used = pd.concat([tables[t][["rec_product_id", "rec_variant_id"]] for t in LINK_TABLES if t in tables])
    used = used.dropna().rename(columns={"rec_product_id": "product_id", "rec_variant_id": "variant_id"})
    counts = used.value_counts().rename("n").reset_index()
    counts = counts.sort_values(["product_id", "n", "variant_id"], ascending=[True, False, True], kind="mergesort")
    from_tables = counts.drop_duplicates("product_id").set_index("product_id")["variant_id"]
    sellable = products[(products["status"].astype(str) != "discontinued") & ~products["is_custom"].fillna(False).astype(bool)]
    from_master = sellable.sort_values("variant_id", kind="mergesort").drop_duplicates("product_id").set_index("product_id")["variant_id"]
    combined = pd.concat([from_tables, from_master[~from_master.index.isin(from_tables.index)]])
    return combined.astype(object).sort_index()


def shop_links(
    tables: dict[str, pd.DataFrame], products: pd.DataFrame, *, country: str, sku: str
) -> pd.DataFrame:
    """Long frame of shop links: product_id, variant_id, sku, table, rank, rec_product_id,
    rec_variant_id, rec_sku, score; one row per kept link, sorted by (sku, table, rank)."""
    reps = representative_variants(tables, products)
    parts = []
    for name in LINK_TABLES:
        rows = tables[name]
        rows = rows[rows["country"].astype(str) == country]
        parts.append(
            pd.DataFrame(
                {
                    "product_id": rows["product_id"].astype(object),
                    "table": name,
                    "rank": rows["rank"].astype("int64"),
                    "rec_product_id": rows["rec_product_id"].astype(object),
                    "rec_variant_id": rows["rec_variant_id"].astype(object),
                    "score": rows["score"].astype("float64"),
                }
            )
        )
    links = pd.concat(parts, ignore_index=True)
    links.insert(1, "variant_id", links["product_id"].map(reps).astype(object))
    if sku == "variant_id":
        links["sku"], links["rec_sku"] = links["variant_id"], links["rec_variant_id"]
    else:
        links["sku"], links["rec_sku"] = links["product_id"], links["rec_product_id"]
    links = links.dropna(subset=["sku", "rec_sku"])
    links = links.sort_values(["sku", "table", "rank", "rec_sku"], kind="mergesort")
    links = links.drop_duplicates(["sku", "table", "rec_sku"]).reset_index(drop=True)
    return links


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


def magento_frame(links: pd.DataFrame) -> pd.DataFrame:
    """Magento 2 product import rows: ``sku, crosssell_skus, crosssell_position, upsell_skus,
    upsell_position``; lists are comma-separated, positions parallel to the SKUs.

    A SKU containing a comma cannot be listed in Magento's multi-value cells: ``InputDataError``.
    """
    bad = pd.concat([links["sku"], links["rec_sku"]]).astype(str)
    bad = bad[bad.str.contains(",", regex=False)]
    if len(bad):
        raise InputDataError("a SKU contains ',' which Magento uses to separate linked SKUs", column="sku", value=bad.iloc[0])
    out = pd.DataFrame({"sku": sorted(links["sku"].astype(str).unique())})
    for name, prefix in _MAGENTO_PREFIX.items():
        part = links.loc[links["table"] == name, ["sku", "rec_sku", "rank"]].astype(str)
        joined = part.groupby("sku", sort=True).agg(skus=("rec_sku", ",".join), position=("rank", ",".join))
        out[f"{prefix}_skus"] = out["sku"].map(joined["skus"]).astype(object).fillna("")
        out[f"{prefix}_position"] = out["sku"].map(joined["position"]).astype(object).fillna("")
    return out[list(MAGENTO_COLUMNS)]
