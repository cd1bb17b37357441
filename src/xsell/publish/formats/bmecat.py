"""BMEcat 2005 ``T_UPDATE_PRODUCTS`` with ``PRODUCT_REFERENCE`` (a machine format: values exact).

``shop/bmecat_product_references.xml`` (UTF-8, namespace ``http://www.bmecat.org/bmecat/2005``,
``version="2005"``), in the element order of the BMEcat 2005 schema::

    BMECAT
      HEADER: GENERATOR_INFO, CATALOG (LANGUAGE, CATALOG_ID, CATALOG_VERSION, CATALOG_NAME?),
              SUPPLIER (SUPPLIER_ID?, SUPPLIER_NAME)                       from publish.bmecat
      T_UPDATE_PRODUCTS prev_version=N
        PRODUCT mode="update"                                             one per product
          SUPPLIER_PID                                                    the shop SKU
          PRODUCT_DETAILS / DESCRIPTION_SHORT                             the product name
          PRODUCT_ORDER_DETAILS / ORDER_UNIT                              publish.bmecat.order_unit
          PRODUCT_PRICE_DETAILS / PRODUCT_PRICE price_type="net_list"     (no amount)
          PRODUCT_REFERENCE type="accessories" / PROD_ID_TO               one per link, rank order

The schema makes details, order details and a price mandatory in every product of an update,
so they carry what xsell knows (name, the configured order unit, a price element without an
amount); the receiving system should take the references from this file. Reference types come
from ``publish.bmecat.reference_types``: ``accessories`` for cross-sell and ``similar`` for
up-sell by default (``others`` is the neutral alternative). An update transfers a product's
references completely, so a product's current list replaces its previous one; products with
references in the previous published run's file and no link now are sent with no
``PRODUCT_REFERENCE``, which removes theirs. ``prev_version`` counts the updates: 0 for the first,
the previous file's plus one when the content changed (a re-run on the same links repeats the
same update, byte for byte).
A SKU longer than 32 characters (``SUPPLIER_PID``), a linked SKU longer than 80 (``PROD_ID_TO``) or
either with control characters is rejected; names are cut to the 150 characters of
``DESCRIPTION_SHORT``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

from xsell.errors import InputDataError
from xsell.frames import isin
from xsell.publish.config import BmecatConfig, LinkTable, required
from xsell.publish.shop import reject_characters
from xsell.publish.writers import Written, write_text

log = logging.getLogger(__name__)

PATH = "shop/bmecat_product_references.xml"
NAMESPACE = "http://www.bmecat.org/bmecat/2005"
VERSION = "2005"
PID_MAX, PID_TO_MAX, DESCRIPTION_MAX = 32, 80, 150
_CONTROL = r"[\x00-\x1f\x7f]"
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NS = {"b": NAMESPACE}


@dataclass(frozen=True)
class Catalog:
    """What a BMEcat file says: ``prev_version`` and per product its description and references
    (``products``: ``supplier_pid, description``; ``references``: ``supplier_pid, type,
    prod_id_to``, in document order)."""

    prev_version: int
    products: pd.DataFrame
    references: pd.DataFrame


def _check_ids(links: pd.DataFrame) -> None:
    reject_characters(pd.concat([links["sku"], links["rec_sku"]]).astype(str), _CONTROL,
                      reason="BMEcat cannot carry a product id with control characters or line breaks", column="sku")
    for col, limit, element in (("sku", PID_MAX, "SUPPLIER_PID"), ("rec_sku", PID_TO_MAX, "PROD_ID_TO")):
        long = links.loc[links[col].astype(str).str.len() > limit, col]
        if len(long):
            raise InputDataError(f"BMEcat {element} holds at most {limit} characters", column=col, value=long.iloc[0])


def _description(name: str) -> str:
    text = _ILLEGAL_XML.sub("", str(name).replace("\r\n", "\n").replace("\r", "\n")).strip()
    return text[:DESCRIPTION_MAX]


def _element(tag: str, text: str, **attrs: str) -> str:
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f"<{tag}{attributes}>{escape(text)}</{tag}>"


def document(links: pd.DataFrame, cfg: BmecatConfig, *, previous: Catalog | None, generator: str) -> bytes:
    """The BMEcat document: every linking product with its references, plus the products that had
    references in the ``previous`` file and have no link now (no references). ``prev_version``:
    the previous file's when this update says the same (a re-run), else one more. Written as text
    (the schema's element order, two-space indentation), read back with an XML parser in ``parse``."""
    _check_ids(links)
    catalog_id = required(cfg.catalog_id, "bmecat.catalog_id", "bmecat")
    supplier_name = required(cfg.supplier_name, "bmecat.supplier_name", "bmecat")
    order = links.assign(t=links["table"].map({"cross_sell": 0, "up_sell": 1})).sort_values(["sku", "t", "rank"], kind="mergesort")
    names = order.drop_duplicates("sku").set_index("sku")["name"].astype(str).to_dict()
    refs: dict[str, list[tuple[LinkTable, str]]] = {}
    for sku, table, target in zip(order["sku"].astype(str).tolist(), order["table"].tolist(), order["rec_sku"].astype(str).tolist()):
        refs.setdefault(sku, []).append((table, target))
    products = [(sku, names[sku], refs[sku]) for sku in sorted(refs)]
    prev_version = 0
    if previous is not None:
        pids = previous.products["supplier_pid"]
        gone = previous.products[isin(pids, previous.references["supplier_pid"]) & ~isin(pids, list(refs))]  # Arrow's is_in: pandas' isin took seconds
        products += [(pid, desc, []) for pid, desc in zip(gone["supplier_pid"], gone["description"])]
        products.sort(key=lambda p: p[0])
        same = [(pid, _description(name) or pid) for pid, name, _ in products] == list(previous.products.itertuples(index=False, name=None)) and [
            (pid, cfg.reference_types[table], target) for pid, _, targets in products for table, target in targets
        ] == list(previous.references.itertuples(index=False, name=None))
        prev_version = previous.prev_version if same else previous.prev_version + 1
    long = sum(len(_description(name)) < len(str(name).strip()) for _, name, _ in products)
    if long:
        log.info("publish: bmecat: %d product name(s) cut to the %d characters of DESCRIPTION_SHORT", long, DESCRIPTION_MAX)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<BMECAT version="{VERSION}" xmlns="{NAMESPACE}">',
        "  <HEADER>",
        "    " + _element("GENERATOR_INFO", generator),
        "    <CATALOG>",
        "      " + _element("LANGUAGE", cfg.language),
        "      " + _element("CATALOG_ID", catalog_id),
        "      " + _element("CATALOG_VERSION", cfg.catalog_version),
        *(["      " + _element("CATALOG_NAME", cfg.catalog_name)] if cfg.catalog_name else []),
        "    </CATALOG>",
        "    <SUPPLIER>",
        *(["      " + _element("SUPPLIER_ID", cfg.supplier_id, type="supplier_specific")] if cfg.supplier_id else []),
        "      " + _element("SUPPLIER_NAME", supplier_name),
        "    </SUPPLIER>",
        "  </HEADER>",
        f'  <T_UPDATE_PRODUCTS prev_version="{prev_version}">',
    ]
    types = cfg.reference_types
    for pid, name, targets in products:
        out += [
            '    <PRODUCT mode="update">',
            "      " + _element("SUPPLIER_PID", str(pid)),
            "      <PRODUCT_DETAILS>" + _element("DESCRIPTION_SHORT", _description(name) or str(pid)) + "</PRODUCT_DETAILS>",
            "      <PRODUCT_ORDER_DETAILS>" + _element("ORDER_UNIT", cfg.order_unit) + "</PRODUCT_ORDER_DETAILS>",
            '      <PRODUCT_PRICE_DETAILS><PRODUCT_PRICE price_type="net_list"/></PRODUCT_PRICE_DETAILS>',
        ]
        out += [f"      <PRODUCT_REFERENCE type={quoteattr(types[table])}>{_element('PROD_ID_TO', target)}</PRODUCT_REFERENCE>" for table, target in targets]
        out.append("    </PRODUCT>")
    out += ["  </T_UPDATE_PRODUCTS>", "</BMECAT>", ""]
    return "\n".join(out).encode("utf-8")


def parse(data: bytes) -> Catalog:
    """Read a BMEcat ``T_UPDATE_PRODUCTS`` document back (an XML parser, namespace-aware)."""
    root = ET.fromstring(data)
    update = root.find("b:T_UPDATE_PRODUCTS", _NS)
    if root.tag != f"{{{NAMESPACE}}}BMECAT" or update is None:
        raise ValueError("not a BMEcat 2005 T_UPDATE_PRODUCTS document")
    products, references = [], []
    for product in update.findall("b:PRODUCT", _NS):
        pid = product.findtext("b:SUPPLIER_PID", "", _NS)
        products.append((pid, product.findtext("b:PRODUCT_DETAILS/b:DESCRIPTION_SHORT", "", _NS)))
        references += [(pid, ref.get("type"), ref.findtext("b:PROD_ID_TO", "", _NS)) for ref in product.findall("b:PRODUCT_REFERENCE", _NS)]
    return Catalog(
        prev_version=int(update.get("prev_version", "0")),
        products=pd.DataFrame(products, columns=["supplier_pid", "description"]),
        references=pd.DataFrame(references, columns=["supplier_pid", "type", "prod_id_to"]),
    )


def _count(data: bytes, tag: str) -> int:
    """Start tags ``<tag`` + space or ``>`` in well-formed BMEcat bytes (markup never occurs in text:
    ``<`` is always escaped there)."""
    return data.count(f"<{tag} ".encode()) + data.count(f"<{tag}>".encode())


def count_products(path: Path) -> int:
    """``PRODUCT`` elements of a BMEcat file (its rows in the manifest)."""
    return _count(Path(path).read_bytes(), "PRODUCT")


def write(content: bytes, path: Path) -> Written:
    """Write the document; rows = ``PRODUCT`` elements, details = references."""
    return write_text(content, path, rows=_count(content, "PRODUCT"), columns=["SUPPLIER_PID", "PRODUCT_REFERENCE"],
                      details={"references": _count(content, "PRODUCT_REFERENCE")})
