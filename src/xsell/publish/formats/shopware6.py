"""Shopware 6 cross-selling import (a spreadsheet format: cells neutralised).

``shop/shopware6_cross_selling.csv`` is a file for Shopware's "Default cross-selling"
import/export profile (``Migration1625831469AddImportExportCrossSellingProfile``: source entity
``product_cross_selling``, delimiter ``;``, enclosure ``"``), UTF-8 without BOM, header
``id;name;product_id;active;position;limit;type;sort_by;sort_direction;assigned_products``.

One row (cross-selling group) per product and relation: ``name`` from
``publish.shopware.names`` (default "Accessories" for cross-sell, "Upgrades" for up-sell),
``position`` 1 and 2, ``type`` ``productList``, ``active`` 1, ``limit`` the number of products,
``sort_by``/``sort_direction`` ``name``/``ASC`` (the administration's defaults; a product list
shows its products by position), ``assigned_products`` the product UUIDs joined with ``|`` in rank
order (``ProductCrossSellingSerializer`` turns the list order into positions).

Shopware references products by UUID: ``publish.shopware.product_ids`` maps our product numbers
(the shop SKU) to them. Links whose product or target the file lacks are skipped; the products
are counted in the manifest (``details``) and a warning names the first ones.

The group ``id`` is a UUID derived from the product's UUID and the relation, so each run updates
the same groups. An import never deletes a group's assigned products, so a link dropped since the
previous published run would stay; for those groups (and groups that are gone) the run also writes
``shop/shopware6_cross_selling_delete.json``, an Admin API sync payload (``POST /api/_action/sync``)
deleting them by id. Send it before importing the CSV; the import re-creates them with their
current products.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd

from xsell.publish.config import LinkTable
from xsell.publish.formats.mapping import SHOPWARE_UUID, map_links, read_mapping
from xsell.publish.writers import Written, read_text_csv, write_csv, write_text

PATH = "shop/shopware6_cross_selling.csv"
DELETE_PATH = "shop/shopware6_cross_selling_delete.json"
COLUMNS: tuple[str, ...] = (
    "id", "name", "product_id", "active", "position", "limit", "type", "sort_by", "sort_direction", "assigned_products",
)
SEP = ";"
POSITIONS: dict[str, int] = {"cross_sell": 1, "up_sell": 2}
_NAMESPACE = uuid.UUID("5b1f4f57-8a3e-4f5e-9a36-7c0de1c2b8a1")
"""Namespace of the group ids (uuid5); changing it would duplicate every group in the shop."""


def group_id(product_uuid: str, table: str) -> str:
    """Stable id of the cross-selling group of one product and relation (32 hex digits)."""
    return uuid.uuid5(_NAMESPACE, f"xsell/{product_uuid}/{table}").hex


def read_product_ids(path: Path) -> pd.Series:
    """product number -> product UUID from ``publish.shopware.product_ids`` (see ``mapping``)."""
    mapping = read_mapping(path, "product_number", "id", pattern=SHOPWARE_UUID, lower=True)
    return mapping.set_index("product_number")["id"]


def frame(links: pd.DataFrame, product_ids: pd.Series, names: dict[LinkTable, str]) -> tuple[pd.DataFrame, dict]:
    """Import rows (``COLUMNS``) and the mapping report ``{"unmapped_products", "unmapped_examples",
    "links_skipped"}``. Rows are sorted by product UUID and position."""
    kept, report = map_links(links, product_ids, owner="sku", target="rec_sku", setting="publish.shopware.product_ids")
    groups = kept.groupby(["owner_ref", "table"], sort=True)["target_ref"].agg(list)
    rows = [
        {
            "id": group_id(product, table), "name": names[table], "product_id": product, "active": 1,
            "position": POSITIONS[table], "limit": len(targets), "type": "productList", "sort_by": "name",
            "sort_direction": "ASC", "assigned_products": "|".join(targets),
        }
        for (product, table), targets in groups.items()
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS)), report


def read(path: Path) -> pd.DataFrame:
    """A cross-selling file read back as text cells."""
    return read_text_csv(path, sep=SEP)


def deleted_groups(previous: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Ids of the ``previous`` groups that are gone from ``current`` or lost an assigned product."""
    now = dict(zip(current["id"].astype(str), current["assigned_products"].astype(str)))
    gone = []
    for gid, before in zip(previous["id"].astype(str), previous["assigned_products"].astype(str)):
        if gid not in now or set(filter(None, before.split("|"))) - set(now[gid].split("|")):
            gone.append(gid)
    return sorted(gone)


def delete_payload(ids: list[str]) -> dict:
    """Admin API sync payload deleting the ``product_cross_selling`` groups ``ids`` (their
    assigned products go with them)."""
    return {"xsell-delete-cross-selling": {"entity": "product_cross_selling", "action": "delete", "payload": [{"id": i} for i in ids]}}


def count_payload(path: Path) -> int:
    """Groups a delete payload file deletes."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return sum(len(op.get("payload", [])) for op in payload.values())


def write(table: pd.DataFrame, path: Path, report: dict) -> Written:
    """Write the import file (``;``, UTF-8 without BOM)."""
    return write_csv(table, path, bom=False, sep=SEP, details=report)


def write_deletions(ids: list[str], path: Path) -> Written:
    """Write the delete payload."""
    text = json.dumps(delete_payload(ids), indent=2) + "\n"
    return write_text(text, path, rows=len(ids), columns=["id"])
