"""Shop and catalogue formats (issue 16) on published runs of the shared publish test data.

Two runs are published with every shop format: the second with shifted links, product P05
without any link and the DE rows of P01 gone (so the DE store falls back to the ALL rows).
Every file is read back with a real parser of its format (csv in the format's dialect, an XML
parser, the ImpEx line parser) and compared with the run's own tables.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from publish_helpers import ACTIVE, build_products, build_tables, make_config, write_workdir
from xsell.cli import main
from xsell.errors import ConfigError, InputDataError
from xsell.publish.config import BmecatConfig
from xsell.publish.formats import bmecat, jsonl, magento, sap_impex, shopify, shopware6
from xsell.publish.formats.mapping import SHOPWARE_UUID, read_mapping
from xsell.publish.shop import shop_context, shop_links
from xsell.steps.publish import run_publish, verify

T0 = dt.datetime(2026, 11, 27, 1, 2, 3, tzinfo=dt.timezone.utc)
ALL_FORMATS = "publish.shop_formats=[jsonl, magento, shopware6, sap_impex, bmecat, shopify]"
NOT_IN_SHOPWARE, NOT_IN_SHOPIFY, LOSES_ALL = "P10", "P09", "P05"
IMPEX_HEADER = (
    "INSERT_UPDATE ProductReference;source(code,$catalogVersion)[unique=true];target(code,$catalogVersion)[unique=true];"
    "referenceType(code);active[default=true];preselected[default=false]"
)
SHOPWARE_HEADER = "id;name;product_id;active;position;limit;type;sort_by;sort_direction;assigned_products"
SHOPIFY_HEADER = [
    "Handle",
    "Complementary products (product.metafields.shopify--discovery--product_recommendation.complementary_products)",
    "Related products (product.metafields.shopify--discovery--product_recommendation.related_products)",
]
TYPES = {"sap": {"cross_sell": "CROSSELLING", "up_sell": "UPSELLING"}, "bmecat": {"cross_sell": "accessories", "up_sell": "similar"}}
NS = {"b": bmecat.NAMESPACE}


def shopware_uuid(product: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shopware/{product}").hex


def handle(product: str) -> str:
    return f"handle-{product.lower()}"


def write_mappings(root: Path) -> None:
    """Shopware's product export (``;``, more columns) without P10; Shopify handles without P09."""
    rows = [f'{shopware_uuid(p)};;{p};"Name {p}; mit Semikolon"' for p in ACTIVE if p != NOT_IN_SHOPWARE]
    (root / "shopware_products.csv").write_text("id;parent_id;product_number;name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    rows = [f"{p},{handle(p)}" for p in ACTIVE if p != NOT_IN_SHOPIFY]
    (root / "handles.csv").write_text("product_id,handle\n" + "\n".join(rows) + "\n", encoding="utf-8")


def shop_config(root: Path, *overrides: str):
    return make_config(
        root, "publish.formats=[parquet]", ALL_FORMATS, "publish.guardrails.max_churn=1.0",
        "publish.shopware.product_ids=shopware_products.csv", "publish.shopify.handles=handles.csv",
        "publish.sap_commerce.catalog_id=acmeProductCatalog", "publish.bmecat.catalog_id=ACME-2026",
        "publish.bmecat.supplier_name=Acme Schrauben & Söhne", "publish.magento.stores={de_shop: DE, ch_shop: CH}", *overrides,
    )


def second_tables() -> dict[str, pd.DataFrame]:
    """Shifted links; DE rows unlike the ALL rows and none for P01; no links for P05; P02 keeps
    its first-run cross-sells (ALL) and gains a fourth, so it has nothing to clear there."""
    tables, de_rows, first = build_tables(shift=1), build_tables(shift=3), build_tables()
    for name in ("cross_sell", "up_sell"):
        frame = pd.concat([tables[name][tables[name]["country"] != "DE"], de_rows[name][de_rows[name]["country"] == "DE"]])
        tables[name] = frame[(frame["product_id"] != LOSES_ALL) & ~((frame["country"] == "DE") & (frame["product_id"] == "P01"))]
    cross, kept = tables["cross_sell"], first["cross_sell"]
    kept = kept[(kept["country"] == "ALL") & (kept["product_id"] == "P02")]
    gained = kept.iloc[[0]].assign(rank=4, rec_product_id="P06", rec_variant_id="P06-A")
    tables["cross_sell"] = pd.concat([cross[~((cross["country"] == "ALL") & (cross["product_id"] == "P02"))], kept, gained], ignore_index=True)
    return tables


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    write_mappings(root)
    cfg, path = shop_config(root)
    write_workdir(cfg.workdir)
    first = run_publish(cfg, now=T0).run_dir
    write_workdir(cfg.workdir, second_tables())
    second = run_publish(cfg, now=T0 + dt.timedelta(days=1)).run_dir
    return cfg, path, first, second


def expected(run: Path, country: str = "ALL") -> dict[tuple[str, str], list[str]]:
    """(product, table) -> linked products in rank order, from the run's own Parquet tables."""
    out = {}
    for table in ("cross_sell", "up_sell"):
        frame = pd.read_parquet(run / f"{table}.parquet").query("country == @country").sort_values(["product_id", "rank"])
        for product, rows in frame.groupby("product_id"):
            out[(product, table)] = rows["rec_product_id"].tolist()
    return out


def manifest_entry(run: Path, rel: str) -> dict:
    files = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["files"]
    return next(f for f in files if f["path"] == rel)


# -- layout, manifest, verify -------------------------------------------------------------
def test_every_shop_file_is_in_the_manifest_and_removal_files_only_when_links_drop(runs):
    cfg, path, first, second = runs
    core = {
        "shop/product_links.jsonl", "shop/magento_product_links.csv", "shop/magento/de_shop.csv", "shop/magento/ch_shop.csv",
        "shop/shopware6_cross_selling.csv", "shop/sap_commerce_product_references.impex",
        "shop/bmecat_product_references.xml", "shop/shopify_products.csv",
    }
    removals = {
        "shop/magento_product_links.clear.csv", "shop/magento/de_shop.clear.csv", "shop/magento/ch_shop.clear.csv",
        "shop/shopware6_cross_selling_delete.json",
    }
    for run, want in ((first, core), (second, core | removals)):
        files = {p.relative_to(run).as_posix() for p in (run / "shop").rglob("*") if p.is_file()}
        assert files == want
        for rel in files:
            assert manifest_entry(run, rel)["sha256"]
    assert verify(cfg, first.name) == 0 and main(["-q", "publish", "verify", "--config", str(path)]) == 0


def test_republishing_the_same_tables_gives_the_same_shop_files_except_removal_state(runs, tmp_path):
    """A forced re-run of the first run's inputs (no previous run) gives byte-identical files."""
    _, _, first, _ = runs
    write_mappings(tmp_path)
    cfg, _ = shop_config(tmp_path)
    write_workdir(cfg.workdir)
    again = run_publish(cfg, now=T0 + dt.timedelta(hours=5)).run_dir
    for rel in ("shop/shopware6_cross_selling.csv", "shop/sap_commerce_product_references.impex", "shop/bmecat_product_references.xml", "shop/shopify_products.csv"):
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel


# -- Shopware 6 ---------------------------------------------------------------------------
def _shopware_groups(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / shopware6.PATH, sep=";", quotechar='"', dtype=str, keep_default_na=False)


def test_shopware6_groups_map_uuids_in_rank_order_and_count_unmapped(runs):
    _, _, first, second = runs
    for run in (first, second):
        assert (run / shopware6.PATH).read_text(encoding="utf-8").splitlines()[0] == SHOPWARE_HEADER
        groups = _shopware_groups(run)
        want = {}
        for (product, table), recs in expected(run).items():
            targets = [shopware_uuid(r) for r in recs if r != NOT_IN_SHOPWARE]
            if product != NOT_IN_SHOPWARE and targets:
                want[(shopware_uuid(product), {"cross_sell": "Accessories", "up_sell": "Upgrades"}[table])] = targets
        got = {(r.product_id, r.name): r.assigned_products.split("|") for r in groups.itertuples()}
        assert got == want
        assert set(groups["type"]) == {"productList"} and set(groups["active"]) == {"1"}
        assert (groups["limit"].astype(int) == groups["assigned_products"].str.count(r"\|") + 1).all()
        assert groups["id"].str.match(SHOPWARE_UUID).all() and groups["id"].is_unique
        skipped = sum(len(recs) if p == NOT_IN_SHOPWARE else recs.count(NOT_IN_SHOPWARE) for (p, _), recs in expected(run).items())
        details = manifest_entry(run, shopware6.PATH)["details"]
        assert details == {"unmapped_products": 1, "unmapped_examples": [NOT_IN_SHOPWARE], "links_skipped": skipped}
    ids = [dict(zip(zip(g["product_id"], g["position"]), g["id"])) for g in map(_shopware_groups, (first, second))]
    shared = set(ids[0]) & set(ids[1])
    assert shared and all(ids[0][k] == ids[1][k] for k in shared)  # stable: a re-import updates the same group


def test_shopware6_delete_payload_lists_groups_that_lost_products(runs):
    _, _, first, second = runs
    assert not (first / shopware6.DELETE_PATH).exists()
    before, after = expected(first), expected(second)
    ids = dict(zip(zip(_shopware_groups(first)["product_id"], _shopware_groups(first)["name"]), _shopware_groups(first)["id"]))
    names = {"cross_sell": "Accessories", "up_sell": "Upgrades"}
    want = set()
    for (product, table), recs in before.items():
        if product == NOT_IN_SHOPWARE:
            continue
        lost = {r for r in recs if r != NOT_IN_SHOPWARE} - set(after.get((product, table), []))
        if lost:
            want.add(ids[(shopware_uuid(product), names[table])])
    payload = json.loads((second / shopware6.DELETE_PATH).read_text(encoding="utf-8"))
    (operation,) = payload.values()
    assert operation["entity"] == "product_cross_selling" and operation["action"] == "delete"
    assert {item["id"] for item in operation["payload"]} == want
    assert any(k[0] == shopware_uuid(LOSES_ALL) for k, v in ids.items() if v in want)
    assert manifest_entry(second, shopware6.DELETE_PATH)["rows"] == len(want)


# -- SAP Commerce ImpEx -------------------------------------------------------------------
def _impex_rows(run: Path) -> list[tuple[str, str, str]]:
    return [
        (product, rec, TYPES["sap"][table])
        for (product, table), recs in sorted(expected(run).items(), key=lambda kv: (kv[0][0], kv[0][1] != "cross_sell"))
        for rec in recs
    ]


def test_sap_impex_insert_update_per_link_in_rank_order_and_remove_block(runs):
    _, _, first, second = runs
    for run in (first, second):
        text = (run / sap_impex.PATH).read_text(encoding="utf-8")
        lines = text.splitlines()
        assert "$catalogVersion=catalogVersion(catalog(id[default='acmeProductCatalog']),version[default='Staged'])" \
               "[unique=true,default='acmeProductCatalog:Staged']" in lines
        assert IMPEX_HEADER in lines
        assert not text.startswith("\ufeff")
        blocks = sap_impex.parse(text)
        assert list(blocks["INSERT_UPDATE"].itertuples(index=False, name=None)) == _impex_rows(run)
        start = lines.index(IMPEX_HEADER) + 1
        inserts = lines[start : lines.index("", start)]
        assert len(inserts) == len(_impex_rows(run)) and all(line.endswith(";true;false") for line in inserts)
    assert sap_impex.parse((first / sap_impex.PATH).read_text(encoding="utf-8"))["REMOVE"].empty
    now = {(s, t) for s, t, _ in _impex_rows(second)}
    gone = sorted((s, t, r) for s, t, r in _impex_rows(first) if (s, t) not in now)
    removed = sap_impex.parse((second / sap_impex.PATH).read_text(encoding="utf-8"))["REMOVE"]
    assert list(removed.itertuples(index=False, name=None)) == gone
    assert any(s == LOSES_ALL for s, _, _ in gone)
    assert manifest_entry(second, sap_impex.PATH)["details"] == {"references": len(_impex_rows(second)), "removed": len(gone)}


# -- BMEcat 2005 --------------------------------------------------------------------------
PRODUCT_ORDER = ["SUPPLIER_PID", "PRODUCT_DETAILS", "PRODUCT_ORDER_DETAILS", "PRODUCT_PRICE_DETAILS"]
"""Mandatory children of a T_UPDATE_PRODUCTS PRODUCT, in the schema's order; PRODUCT_REFERENCE
elements follow them."""


def _local(element: ET.Element) -> str:
    return element.tag.split("}", 1)[1]


def test_bmecat_document_structure_header_and_references_in_rank_order(runs):
    _, _, first, second = runs
    for run, prev_version in ((first, 0), (second, 1)):
        root = ET.parse(run / bmecat.PATH).getroot()
        assert root.tag == f"{{{bmecat.NAMESPACE}}}BMECAT" and root.get("version") == "2005"
        assert [_local(c) for c in root] == ["HEADER", "T_UPDATE_PRODUCTS"]
        header = root.find("b:HEADER", NS)
        assert [_local(c) for c in header] == ["GENERATOR_INFO", "CATALOG", "SUPPLIER"]
        assert [(_local(c), c.text) for c in header.find("b:CATALOG", NS)] == [("LANGUAGE", "deu"), ("CATALOG_ID", "ACME-2026"), ("CATALOG_VERSION", "1.0")]
        assert header.findtext("b:SUPPLIER/b:SUPPLIER_NAME", namespaces=NS) == "Acme Schrauben & Söhne"
        update = root.find("b:T_UPDATE_PRODUCTS", NS)
        assert update.get("prev_version") == str(prev_version)
        got = {}
        for product in update.findall("b:PRODUCT", NS):
            children = [_local(c) for c in product]
            assert product.get("mode") == "update"
            assert children[:4] == PRODUCT_ORDER and set(children[4:]) <= {"PRODUCT_REFERENCE"}
            assert product.findtext("b:PRODUCT_ORDER_DETAILS/b:ORDER_UNIT", namespaces=NS) == "C62"
            assert product.find("b:PRODUCT_PRICE_DETAILS/b:PRODUCT_PRICE", NS).get("price_type") == "net_list"
            pid = product.findtext("b:SUPPLIER_PID", namespaces=NS)
            got[pid] = [(ref.get("type"), ref.findtext("b:PROD_ID_TO", namespaces=NS)) for ref in product.findall("b:PRODUCT_REFERENCE", NS)]
        want = {}
        for (product, table), recs in sorted(expected(run).items(), key=lambda kv: (kv[0][0], kv[0][1] != "cross_sell")):
            want.setdefault(product, []).extend((TYPES["bmecat"][table], r) for r in recs)
        if run == second:
            want[LOSES_ALL] = []  # had references in the first run: sent with none, which removes them
        assert got == want
        names = {p.findtext("b:SUPPLIER_PID", namespaces=NS): p.findtext("b:PRODUCT_DETAILS/b:DESCRIPTION_SHORT", namespaces=NS) for p in update}
        assert names["P08"] == "Gewindestange M10 <verzinkt> & geölt A"  # '<' and '&' escaped and read back
        entry = manifest_entry(run, bmecat.PATH)
        assert entry["rows"] == len(want) and entry["details"]["references"] == sum(map(len, want.values()))


# -- Shopify ------------------------------------------------------------------------------
def test_shopify_metafield_columns_hold_handles_in_rank_order_and_clear_dropped_products(runs):
    _, _, first, second = runs
    for run in (first, second):
        rows = pd.read_csv(run / shopify.PATH, dtype=str, keep_default_na=False)
        assert list(rows.columns) == SHOPIFY_HEADER
        want = {}
        for (product, table), recs in expected(run).items():
            if product == NOT_IN_SHOPIFY:
                continue
            cells = want.setdefault(handle(product), {"cross_sell": "", "up_sell": ""})
            cells[table] = ", ".join(handle(r) for r in recs if r != NOT_IN_SHOPIFY)
        if run == second:
            want[handle(LOSES_ALL)] = {"cross_sell": "", "up_sell": ""}
        got = {r[0]: {"cross_sell": r[1], "up_sell": r[2]} for r in rows.itertuples(index=False)}
        assert got == want
        details = manifest_entry(run, shopify.PATH)["details"]
        assert details["unmapped_products"] == 1 and details["unmapped_examples"] == [NOT_IN_SHOPIFY]
        assert details["cleared"] == (1 if run == second else 0)


def test_shopify_title_column_from_the_handle_file(tmp_path):
    (tmp_path / "h.csv").write_text('product_id;handle;title\nA;a-handle;"Titel; mit ""Quote"""\nB;b-handle;B\n', encoding="utf-8")
    handles = shopify.read_handles(tmp_path / "h.csv")
    links = pd.DataFrame({"product_id": ["A"], "rec_product_id": ["B"], "table": ["cross_sell"], "rank": [1]})
    rows, _ = shopify.frame(links, handles, None)
    assert list(rows.columns) == [SHOPIFY_HEADER[0], "Title", *SHOPIFY_HEADER[1:]]
    assert rows.iloc[0].tolist() == ["a-handle", 'Titel; mit "Quote"', "b-handle", ""]


# -- Magento ------------------------------------------------------------------------------
def _magento(path: Path) -> dict[str, dict[str, list[str]]]:
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(rows.columns) == list(magento.COLUMNS)
    out = {}
    for r in rows.itertuples():
        assert [int(p) for p in filter(None, r.crosssell_position.split(","))] == sorted(int(p) for p in filter(None, r.crosssell_position.split(",")))
        out[r.sku] = {"cross_sell": list(filter(None, r.crosssell_skus.split(","))), "up_sell": list(filter(None, r.upsell_skus.split(",")))}
    return out


def _sellable_in(country: str) -> set[str]:
    products = build_products()
    listed = products.drop_duplicates("product_id").set_index("product_id")["countries"]
    return {p for p in ACTIVE if listed[p] == "" or country in listed[p].split(";")}


def test_magento_store_files_use_the_country_rows_and_all_where_it_has_none(runs):
    _, _, first, second = runs
    for run in (first, second):
        for store, country in (("de_shop", "DE"), ("ch_shop", "CH")):
            own, fallback, sold = expected(run, country), expected(run, "ALL"), _sellable_in(country)
            want = {}
            for product in ACTIVE:
                for table in ("cross_sell", "up_sell"):
                    recs = own[(product, table)] if (product, table) in own else fallback.get((product, table))
                    recs = [r for r in recs or [] if product in sold and r in sold]
                    if recs:
                        want.setdefault(product, {"cross_sell": [], "up_sell": []})[table] = recs
            assert _magento(run / magento.store_path(store)) == want, (run.name, store)
    assert not any(k[0] == "P01" for k in expected(second, "DE"))  # P01 falls back to ALL in the DE store
    assert expected(second, "DE")[("P02", "cross_sell")] != expected(second, "ALL")[("P02", "cross_sell")]
    assert "P01" in _magento(second / magento.store_path("de_shop"))


def test_magento_clearing_file_lists_link_types_that_lost_links(runs):
    _, _, first, second = runs
    for rel in (magento.PATH, magento.store_path("de_shop")):
        before, after = _magento(first / rel), _magento(second / rel)
        clear = pd.read_csv(second / magento.clear_path(rel), dtype=str, keep_default_na=False)
        assert list(clear.columns) == list(magento.CLEAR_COLUMNS)
        want = {}
        for sku, lists in before.items():
            lost = {t: bool(set(lists[t]) - set(after.get(sku, {}).get(t, []))) for t in ("cross_sell", "up_sell")}
            if any(lost.values()):
                want[sku] = ["__EMPTY__VALUE__" if lost[t] else "" for t in ("cross_sell", "up_sell")]
        assert {r.sku: [r.crosssell_skus, r.upsell_skus] for r in clear.itertuples()} == want
        assert want[LOSES_ALL] == ["__EMPTY__VALUE__", "__EMPTY__VALUE__"]
    assert pd.read_csv(second / magento.clear_path(magento.PATH), dtype=str, keep_default_na=False).set_index("sku").loc["P02", "crosssell_skus"] == ""


# -- selection rules shared by every format -------------------------------------------------
def test_selection_drops_products_discontinued_by_the_run_date_and_keeps_top_n():
    tables, products = build_tables(), build_products()
    products.loc[products["product_id"] == "P04", "discontinued_on"] = pd.Timestamp("2026-06-30")  # both variants
    before = shop_links(tables, products, country="ALL", sku="product_id", context=shop_context(products, dt.date(2026, 6, 1)))
    after = shop_links(tables, products, country="ALL", sku="product_id", context=shop_context(products, dt.date(2026, 7, 1)))
    assert "P04" in set(before["product_id"]) | set(before["rec_product_id"])
    assert "P04" not in set(after["product_id"]) | set(after["rec_product_id"])
    assert len(before) - len(after) == int(((before["product_id"] == "P04") | (before["rec_product_id"] == "P04")).sum())
    top = shop_links(tables, products, country="ALL", sku="product_id", top_n=2, context=shop_context(products, dt.date(2026, 6, 1)))
    assert top.groupby(["sku", "table"]).size().max() == 2
    assert top[top["table"] == "cross_sell"].groupby("sku")["rank"].apply(list).map(lambda r: r == [1, 2]).all()


def test_variant_skus_in_every_format(tmp_path):
    write_mappings(tmp_path)
    (tmp_path / "shopware_variants.csv").write_text(
        "product_number,id\n" + "".join(f"{p}-{v},{shopware_uuid(p + v)}\n" for p in ACTIVE for v in "AB"), encoding="utf-8"
    )
    cfg, _ = shop_config(tmp_path, "publish.shop_sku=variant_id", "publish.shopware.product_ids=shopware_variants.csv")
    write_workdir(cfg.workdir)
    run = run_publish(cfg, now=T0).run_dir
    refs = sap_impex.parse((run / sap_impex.PATH).read_text(encoding="utf-8"))["INSERT_UPDATE"]
    assert refs["source"].str.match(r"^P\d\d-[AB]$").all() and refs["target"].str.match(r"^P\d\d-[AB]$").all()
    catalog = bmecat.parse((run / bmecat.PATH).read_bytes())
    assert catalog.products["supplier_pid"].str.endswith(("-A", "-B")).all()
    assert _shopware_groups(run)["product_id"].isin([shopware_uuid(p + v) for p in ACTIVE for v in "AB"]).all()
    assert pd.read_csv(run / shopify.PATH, dtype=str)["Handle"].str.startswith("handle-p").all()  # Shopify maps product ids


# -- special characters ----------------------------------------------------------------------
EVIL = {"P01": 'P01;"x"', "P02": "P|02", "P03": "Ü<03>&", "P04": "Mutter, M8"}
"""Ids with the characters the shop formats treat specially; P04's comma is for Magento."""


def _evil_links(rename: dict[str, str]) -> pd.DataFrame:
    def ren(value):
        return rename.get(value, value) if isinstance(value, str) else value

    tables = {n: f[f["country"] == "ALL"].copy() for n, f in build_tables().items() if n != "buying_center_suggestions"}
    for frame in tables.values():
        for col in ("product_id", "rec_product_id"):
            frame[col] = frame[col].map(ren)
    products = build_products()
    products["product_id"] = products["product_id"].map(ren)
    return shop_links(tables, products, country="ALL", sku="product_id", context=shop_context(products, dt.date(2026, 1, 1)))


def test_special_characters_survive_in_machine_formats(tmp_path):
    links = _evil_links(EVIL)
    refs = sap_impex.references(links, TYPES["sap"])
    path = tmp_path / "x.impex"
    sap_impex.write(refs, refs.iloc[:2], path, catalog_id="c", version="Staged")
    text = path.read_text(encoding="utf-8")
    assert ';"P01;""x""";' in text  # quoted, inner quotes doubled
    back = sap_impex.parse(text)
    pd.testing.assert_frame_equal(back["INSERT_UPDATE"], refs)
    pd.testing.assert_frame_equal(back["REMOVE"], refs.iloc[:2].reset_index(drop=True))
    content = bmecat.document(links, BmecatConfig(catalog_id="C", supplier_name="S <&>"), previous=None, generator="xsell")
    catalog = bmecat.parse(content)
    assert set(catalog.products["supplier_pid"]) == set(links["sku"])
    assert set(zip(catalog.references["supplier_pid"], catalog.references["prod_id_to"])) == set(zip(links["sku"], links["rec_sku"]))
    lines = [json.loads(line) for line in jsonl.jsonl_lines(links)]
    assert {r["product_id"] for r in lines} == set(links["sku"]) and EVIL["P03"] in {r["product_id"] for r in lines}


def test_special_characters_survive_in_spreadsheet_formats(tmp_path):
    links = _evil_links({k: v for k, v in EVIL.items() if k != "P04"})
    path = tmp_path / "m.csv"
    magento.write(magento.frame(links), path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert set(back["sku"]) == set(links["sku"]) and EVIL["P01"] in set(back["sku"])
    with pytest.raises(InputDataError, match="Magento") as err:
        magento.frame(_evil_links(EVIL))
    assert err.value.value == EVIL["P04"]
    mapping = tmp_path / "ids.csv"
    ids = {p: shopware_uuid(p) for p in links["sku"]}
    pd.DataFrame({"product_number": list(ids), "id": list(ids.values())}).to_csv(mapping, sep=";", index=False)
    names = {"cross_sell": 'Zubehör; "Top" | <neu> & mehr\nZeile 2', "up_sell": "Größer"}
    table, report = shopware6.frame(links, shopware6.read_product_ids(mapping), names)
    assert report["unmapped_products"] == 0
    shopware6.write(table, tmp_path / "s.csv", report)
    back = pd.read_csv(tmp_path / "s.csv", sep=";", dtype=str, keep_default_na=False)
    assert set(back["name"]) == set(names.values())
    assert set(back["product_id"]) == {ids[s] for s in links["sku"]}


@pytest.mark.parametrize("bad", ["P01\nB", "P01:B", "P$01"])
def test_sap_impex_rejects_codes_it_cannot_carry(bad):
    with pytest.raises(InputDataError, match="ImpEx") as err:
        sap_impex.references(_evil_links({"P01": bad}), TYPES["sap"])
    assert err.value.value == bad


@pytest.mark.parametrize("bad", ["P01\nB", "P" * 33])
def test_bmecat_rejects_ids_it_cannot_carry(bad):
    with pytest.raises(InputDataError, match="BMEcat") as err:
        bmecat.document(_evil_links({"P01": bad}), BmecatConfig(catalog_id="C", supplier_name="S"), previous=None, generator="x")
    assert err.value.value == bad


# -- mapping files and config ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "row", "column"),
    [
        ("product_number;uuid\nP01;" + "a" * 32 + "\n", None, "id"),
        ("product_number;id\nP01;" + "a" * 32 + "\nP02;not-a-uuid\n", 2, "id"),
        ("product_number;id\nP01;" + "a" * 32 + "\n;" + "b" * 32 + "\n", 2, "product_number"),
        ("product_number;id\nP01;" + "a" * 32 + "\nP01;" + "b" * 32 + "\n", 2, "product_number"),
    ],
)
def test_mapping_file_errors_name_file_row_and_column(tmp_path, content, row, column):
    path = tmp_path / "ids.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_mapping(path, "product_number", "id", pattern=SHOPWARE_UUID, lower=True)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), row, column)


def test_mapping_file_accepts_bom_upper_case_uuids_and_repeated_rows(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("\ufeffid,product_number\n" + "A" * 32 + ",P01\n" + "a" * 32 + ",P01\n", encoding="utf-8")
    assert read_mapping(path, "product_number", "id", pattern=SHOPWARE_UUID, lower=True).to_dict("records") == [{"product_number": "P01", "id": "a" * 32}]


def test_bad_mapping_file_exits_3_and_missing_settings_exit_2(tmp_path):
    write_mappings(tmp_path)
    (tmp_path / "handles.csv").write_text("product_id,handle\nP01,has space\n", encoding="utf-8")
    cfg, path = shop_config(tmp_path)
    write_workdir(cfg.workdir)
    assert main(["-q", "publish", "--config", str(path)]) == 3
    assert not list((cfg.publish.outputs / "runs").iterdir())
    with pytest.raises(ConfigError, match="shop format bmecat needs publish.bmecat.catalog_id"):
        make_config(tmp_path, "publish.shop_formats=[bmecat]")
    with pytest.raises(ConfigError, match="jsonl moved to publish.shop_formats"):
        make_config(tmp_path, "publish.formats=[csv, jsonl]")


def test_sap_impex_writes_a_pair_in_both_tables_once_as_cross_sell():
    links = pd.DataFrame(
        {"sku": ["A", "A", "A"], "rec_sku": ["B", "C", "B"], "table": ["cross_sell", "cross_sell", "up_sell"], "rank": [2, 1, 1]}
    )
    refs = sap_impex.references(links, TYPES["sap"])
    assert list(refs.itertuples(index=False, name=None)) == [("A", "C", "CROSSELLING"), ("A", "B", "CROSSELLING")]


def test_variant_skus_never_name_a_discontinued_variant():
    tables, products = build_tables(), build_products()
    for frame in (tables["cross_sell"], tables["up_sell"]):
        frame.loc[frame["rec_product_id"] == "P10", "rec_variant_id"] = "P10-B"  # discontinued since 2020
    ctx = shop_context(products, dt.date(2026, 1, 1))
    links = shop_links(tables, products, country="ALL", sku="variant_id", context=ctx)
    assert links.loc[links["product_id"] == "P10", "sku"].unique().tolist() == ["P10-A"]  # the only one the tables use is discontinued
    assert "P10" not in set(links["rec_product_id"])  # links to P10-B are dropped
    rows = sum(int(((f["country"] == "ALL") & (f["rec_product_id"] != "P10")).sum()) for n, f in tables.items() if n != "buying_center_suggestions")
    assert len(links) == rows


@pytest.mark.slow
def test_runs_after_the_removals_on_unchanged_tables_drop_nothing_and_repeat_the_update(tmp_path):
    """Removal rows are sent once: the run after the removals, on the same tables, clears nothing
    (BMEcat: a new update without P05); the one after that repeats it byte for byte."""
    write_mappings(tmp_path)
    cfg, _ = shop_config(tmp_path)
    write_workdir(cfg.workdir)
    run_publish(cfg, now=T0)
    write_workdir(cfg.workdir, second_tables())
    runs = [run_publish(cfg, now=T0 + dt.timedelta(days=d)).run_dir for d in (1, 2, 3)]
    third, fourth = runs[1], runs[2]
    for rel in ("shop/magento_product_links.clear.csv", shopware6.DELETE_PATH):
        assert (runs[0] / rel).exists() and not (third / rel).exists()
    assert sap_impex.parse((third / sap_impex.PATH).read_text(encoding="utf-8"))["REMOVE"].empty
    catalogs = [bmecat.parse((run / bmecat.PATH).read_bytes()) for run in runs]
    assert [c.prev_version for c in catalogs] == [1, 2, 2]
    assert LOSES_ALL in set(catalogs[0].products["supplier_pid"]) and LOSES_ALL not in set(catalogs[1].products["supplier_pid"])
    assert handle(LOSES_ALL) not in set(pd.read_csv(third / shopify.PATH, dtype=str, keep_default_na=False)["Handle"])
    assert manifest_entry(third, shopify.PATH)["details"]["cleared"] == 0
    for rel in (bmecat.PATH, sap_impex.PATH, shopify.PATH, shopware6.PATH, magento.PATH):
        assert (fourth / rel).read_bytes() == (third / rel).read_bytes(), rel
