"""Shop and catalogue formats under ``shop/`` (``publish.shop_formats``), one module each.

Every format renders the same selection (``xsell.publish.shop.shop_links``); each module is a
pure function of those links (plus its mapping file and the previous published run's file of
the same format, for what the run drops) and one writer. ``shop_jobs`` turns the configured
formats into the (relative path, writer) jobs of a published run; everything is computed when
the jobs are made, so a bad mapping file or id stops the run before any file is written.

| format | file(s) | kind |
|---|---|---|
| ``jsonl`` | ``shop/product_links.jsonl`` | machine, exact |
| ``magento`` | ``shop/magento_product_links.csv``, ``shop/magento/<store>.csv`` (+ ``.clear.csv``) | spreadsheet, neutralised |
| ``shopware6`` | ``shop/shopware6_cross_selling.csv`` (+ ``shop/shopware6_cross_selling_delete.json``) | spreadsheet, neutralised |
| ``sap_impex`` | ``shop/sap_commerce_product_references.impex`` | machine, exact |
| ``bmecat`` | ``shop/bmecat_product_references.xml`` | machine, exact |
| ``shopify`` | ``shop/shopify_products.csv`` | spreadsheet, neutralised |
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from xsell import __version__
from xsell.publish.config import PublishConfig, required
from xsell.publish.formats import bmecat, jsonl, magento, sap_impex, shopify, shopware6
from xsell.publish.shop import representative_variants, shop_context, shop_links
from xsell.publish.writers import Written
from xsell.recommend.context import RecommendContext

log = logging.getLogger(__name__)

Job = tuple[str, Callable[[], Written]]


def _previous(previous_run: Path | None, rel: str) -> Path | None:
    """The previous published run's file ``rel``, when it has one."""
    if previous_run is None:
        return None
    path = previous_run / rel
    return path if path.is_file() else None


def _magento_jobs(pc: PublishConfig, links: pd.DataFrame, rel: str, root: Path, previous_run: Path | None) -> list[Job]:
    table = magento.frame(links)
    jobs: list[Job] = [(rel, lambda: magento.write(table, root / rel))]
    before = _previous(previous_run, rel)
    if before is not None:
        clear = magento.clear_frame(magento.read(before), table, pc.magento.empty_value)
        if len(clear):
            log.info("publish: magento: %s clears the links of %d product(s) that lost links", magento.clear_path(rel), len(clear))
            jobs.append((magento.clear_path(rel), lambda: magento.write(clear, root / magento.clear_path(rel))))
    return jobs


def shop_jobs(
    pc: PublishConfig,
    tables: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    *,
    root: Path,
    today: dt.date | None,
    previous_run: Path | None,
    context: RecommendContext | None = None,
) -> list[Job]:
    """(relative path, writer) for every shop file ``pc.shop_formats`` asks for, in the order of
    the table above. ``previous_run``: the folder of the previous published run (for the links a
    run drops), or None. Mapping files are read here. ``context``: ``shop_context(products, today)``
    when the caller has it (built here otherwise)."""
    formats = set(pc.shop_formats)
    if not formats:
        return []
    ctx = context if context is not None else shop_context(products, today)
    select = partial(shop_links, tables, products, sku=pc.shop_sku, top_n=pc.shop_top_n, context=ctx, representatives=representative_variants(tables, ctx))
    links = select(country=pc.shop_country)
    if links.empty:
        log.warning("publish: no cross-/up-sell rows for shop_country %r: the shop files are empty", pc.shop_country)
    jobs: list[Job] = []
    if "jsonl" in formats:
        jobs.append((jsonl.PATH, lambda: jsonl.write(links, root / jsonl.PATH)))
    if "magento" in formats:
        jobs += _magento_jobs(pc, links, magento.PATH, root, previous_run)
        for code, country in sorted(pc.magento.stores.items()):
            store = select(country=country, fallback=True)
            jobs += _magento_jobs(pc, store, magento.store_path(code), root, previous_run)
    if "shopware6" in formats:
        product_ids = shopware6.read_product_ids(required(pc.shopware.product_ids, "shopware.product_ids", "shopware6"))
        table, report = shopware6.frame(links, product_ids, pc.shopware.names)
        jobs.append((shopware6.PATH, partial(shopware6.write, table, root / shopware6.PATH, report)))
        before = _previous(previous_run, shopware6.PATH)
        deleted = shopware6.deleted_groups(shopware6.read(before), table) if before is not None else []
        if deleted:
            jobs.append((shopware6.DELETE_PATH, partial(shopware6.write_deletions, deleted, root / shopware6.DELETE_PATH)))
    if "sap_impex" in formats:
        sc = pc.sap_commerce
        catalog_id = required(sc.catalog_id, "sap_commerce.catalog_id", "sap_impex")
        current = sap_impex.references(links, sc.reference_types)
        before = _previous(previous_run, sap_impex.PATH)
        previous = sap_impex.parse(before.read_text(encoding="utf-8")).get("INSERT_UPDATE") if before is not None else None
        gone = sap_impex.removed(previous, current) if previous is not None else current.iloc[0:0]
        jobs.append((sap_impex.PATH, partial(sap_impex.write, current, gone, root / sap_impex.PATH, catalog_id=catalog_id, version=sc.catalog_version)))
    if "bmecat" in formats:
        before = _previous(previous_run, bmecat.PATH)
        previous_catalog = bmecat.parse(before.read_bytes()) if before is not None else None
        content = bmecat.document(links, pc.bmecat, previous=previous_catalog, generator=f"xsell {__version__}")
        jobs.append((bmecat.PATH, partial(bmecat.write, content, root / bmecat.PATH)))
    if "shopify" in formats:
        before = _previous(previous_run, shopify.PATH)
        handles = shopify.read_handles(required(pc.shopify.handles, "shopify.handles", "shopify"))
        rows, report = shopify.frame(links, handles, shopify.read(before) if before is not None else None)
        jobs.append((shopify.PATH, partial(shopify.write, rows, root / shopify.PATH, report)))
    return jobs


def count_format_rows(path: Path) -> int:
    """Rows of a shop file that is neither CSV, Parquet, JSONL nor XLSX, read from disk."""
    suffix = path.suffix.lower()
    if suffix == ".impex":
        return sap_impex.count_value_lines(path)
    if suffix == ".xml":
        return bmecat.count_products(path)
    if suffix == ".json":
        return shopware6.count_payload(path)
    raise ValueError(f"cannot count rows of {path}")
