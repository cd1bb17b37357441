"""Magento 2 / Adobe Commerce product import files (a spreadsheet format: cells neutralised).

- ``shop/magento_product_links.csv``: the ``publish.shop_country`` links (default ``ALL``).
- ``shop/magento/<store_code>.csv``: one per ``publish.magento.stores`` entry, that country's
  links (``ALL`` where it has none, see ``xsell.publish.shop``).
- ``<file>.clear.csv`` beside a links file, only when the run drops links that the previous
  published run's same file had: ``sku, crosssell_skus, upsell_skus`` with Magento's empty
  attribute value constant (``publish.magento.empty_value``, default ``__EMPTY__VALUE__``) in
  the link types that lost a link, which deletes that product's links of that type.

Columns ``sku, crosssell_skus, crosssell_position, upsell_skus, upsell_position``: comma-separated
SKUs in rank order and their ranks as positions; UTF-8 without BOM.

Import both with System > Import, entity *Products*, behaviour *Add/Update*: first the
``.clear.csv``, then the links file. Add/Update only adds and re-positions links (Magento's
``LinkProcessor``), so without the clearing file a dropped link would stay in the shop. Do not
use the *Replace* behaviour: it deletes and re-creates every product in the file, and a file of
SKUs and links cannot re-create a product. Magento keeps links per product, not per store view;
the per-store files are for a Magento installation per country.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.errors import InputDataError
from xsell.frames import isin
from xsell.publish.safety import neutralise
from xsell.publish.writers import Written, read_text_csv, write_csv

log = logging.getLogger(__name__)

PATH = "shop/magento_product_links.csv"
COLUMNS: tuple[str, ...] = ("sku", "crosssell_skus", "crosssell_position", "upsell_skus", "upsell_position")
"""Magento 2 / Adobe Commerce product import columns for cross-sell and up-sell links."""
CLEAR_COLUMNS: tuple[str, ...] = ("sku", "crosssell_skus", "upsell_skus")
PREFIX: dict[str, str] = {"cross_sell": "crosssell", "up_sell": "upsell"}


def store_path(store_code: str) -> str:
    """Relative path of a store's links file."""
    return f"shop/magento/{store_code}.csv"


def clear_path(rel: str) -> str:
    """Relative path of the clearing file beside the links file ``rel``."""
    return rel.removesuffix(".csv") + ".clear.csv"


def frame(links: pd.DataFrame) -> pd.DataFrame:
    """Magento 2 product import rows (``COLUMNS``); lists are comma-separated, positions parallel
    to the SKUs. A SKU containing a comma cannot be listed in Magento's multi-value cells:
    ``InputDataError``."""
    bad = pd.concat([links["sku"], links["rec_sku"]]).astype(str)
    bad = bad[bad.str.contains(",", regex=False)]
    if len(bad):
        raise InputDataError("a SKU contains ',' which Magento uses to separate linked SKUs", column="sku", value=bad.iloc[0])
    out = pd.DataFrame({"sku": sorted(links["sku"].astype(str).unique())})
    for name, prefix in PREFIX.items():
        part = links.loc[links["table"] == name, ["sku", "rec_sku", "rank"]].astype(str)
        joined = _joined_lists(part, "sku", ["rec_sku", "rank"])
        out[f"{prefix}_skus"] = out["sku"].map(joined["rec_sku"]).astype(object).fillna("")
        out[f"{prefix}_position"] = out["sku"].map(joined["rank"]).astype(object).fillna("")
    return out[list(COLUMNS)]


def _joined_lists(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Per ``key`` value (the index), each of the text ``columns`` of its rows joined with ``,`` in
    row order (Arrow's single-threaded list aggregation keeps the order; a Python join per group
    took seconds)."""
    table = pa.table({c: pa.array(frame[c], type=pa.large_string(), from_pandas=True) for c in [key, *columns]})
    grouped = table.group_by(key, use_threads=False).aggregate([(c, "list") for c in columns])
    joined = {c: pc.binary_join(grouped[f"{c}_list"], pa.scalar(",", pa.large_string())).to_numpy(zero_copy_only=False) for c in columns}
    return pd.DataFrame(joined, index=grouped[key].to_numpy(zero_copy_only=False))


def clear_frame(previous: pd.DataFrame, current: pd.DataFrame, empty_value: str) -> pd.DataFrame:
    """Clearing rows (``CLEAR_COLUMNS``): per SKU of the ``previous`` file (as read back), the
    empty value in each link type that lost a link in ``current`` (a ``frame`` result), else
    ``""`` (left alone); SKUs that lost nothing are not listed. Compared as written, i.e. with
    neutralised cells on both sides."""
    now = neutralise(current)[0]
    out = pd.DataFrame({"sku": previous["sku"].to_numpy(dtype=object)})
    for prefix in PREFIX.values():
        column = f"{prefix}_skus"
        before, after = _links(previous["sku"], previous[column]), _links(now["sku"], now[column])
        lost = before["sku"][~isin(before["sku"] + "\x00" + before["rec"], after["sku"] + "\x00" + after["rec"])]
        out[column] = np.where(isin(out["sku"], lost), empty_value, "").astype(object)
    out = out[(out[[f"{p}_skus" for p in PREFIX.values()]] != "").any(axis=1)]
    return out[list(CLEAR_COLUMNS)].sort_values("sku", kind="mergesort").reset_index(drop=True)


def _links(skus: pd.Series, lists: pd.Series) -> pd.DataFrame:
    """(sku, rec) pairs of comma-separated SKU lists, empty items dropped."""
    pairs = pd.DataFrame({"sku": skus.astype(str).to_numpy(dtype=object), "rec": lists.fillna("").astype(str).str.split(",").to_numpy()})
    pairs = pairs.explode("rec")
    pairs = pairs[pairs["rec"].notna() & (pairs["rec"] != "")]
    return pairs.astype({"sku": str, "rec": str}).reset_index(drop=True)


def read(path: Path) -> pd.DataFrame:
    """A Magento file (links or clearing) read back as text cells."""
    return read_text_csv(path)


def write(table: pd.DataFrame, path: Path) -> Written:
    """Write a links or clearing file (no BOM: import tools read it); warns about altered SKUs."""
    written = write_csv(table, path, bom=False)
    if written.neutralised_cells:
        log.warning("publish: %d Magento cell(s) in %s start with = + - @ and were prefixed with '; those SKUs will not match in Magento", written.neutralised_cells, path.name)
    return written
