"""Config section ``publish``: where and how published runs are written, and the guardrails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from xsell.configbase import ConfigPath, StrictModel
from xsell.errors import ConfigError
from xsell.messages import Language

TableName = Literal["cross_sell", "up_sell", "buying_center_suggestions"]
LinkTable = Literal["cross_sell", "up_sell"]
TableFormat = Literal["csv", "parquet", "xlsx"]
"""Table file formats (``publish.formats``)."""
ShopFormat = Literal["magento", "jsonl", "shopware6", "sap_impex", "bmecat", "shopify"]
"""Shop and catalogue formats written under ``shop/`` (see ``xsell.publish.formats``)."""
BmecatReferenceType = Literal[
    "accessories", "base_product", "consists_of", "diff_orderunit", "followup", "mandatory",
    "similar", "select", "sparepart", "others",
]
"""Values of the ``type`` attribute of BMEcat 2005 ``PRODUCT_REFERENCE``."""
_MOVED_TO_SHOP_FORMATS = ("jsonl", "magento")
_STORE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_IMPEX_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_T = TypeVar("_T")


# Typed default factories (a lambda's dict or list literal would be typed with plain str keys).
def _min_rows() -> dict[TableName, int]:
    return {"cross_sell": 1, "up_sell": 1, "buying_center_suggestions": 1}


def _min_coverage() -> dict[TableName, float]:
    return {"cross_sell": 0.1, "up_sell": 0.0, "buying_center_suggestions": 0.25}


def _shopware_names() -> dict[LinkTable, str]:
    return {"cross_sell": "Accessories", "up_sell": "Upgrades"}


def _sap_reference_types() -> dict[LinkTable, str]:
    return {"cross_sell": "CROSSELLING", "up_sell": "UPSELLING"}


def _bmecat_reference_types() -> dict[LinkTable, BmecatReferenceType]:
    return {"cross_sell": "accessories", "up_sell": "similar"}


def _formats() -> list[TableFormat]:
    return ["csv", "parquet", "xlsx"]


def _shop_formats() -> list[ShopFormat]:
    return ["jsonl", "magento"]


class GuardrailsConfig(StrictModel):
    """Checks a run must pass before ``latest`` moves to it (a failure exits 4)."""

    min_rows: dict[TableName, int] = Field(default_factory=_min_rows)
    """Minimum rows per table (all countries together); tables not listed are not checked."""
    min_coverage: dict[TableName, float] = Field(default_factory=_min_coverage)
    """Minimum share of sellable products (active, not custom-made, in the product master) with
    at least one row in ``cross_sell`` / ``up_sell``, and of buying centers in the customer master
    with at least one row in ``buying_center_suggestions`` (skipped without a customer master)."""
    max_churn: float = Field(0.5, ge=0.0, le=1.0)
    """Largest allowed churn against the previous published run: per (table, country, product) the
    share of its previous top-``churn_top_k`` links that are gone, averaged over those products.
    Checked on ``cross_sell`` and ``up_sell``; skipped when there is no previous run."""
    churn_top_k: int = Field(10, ge=1)
    """How many top-ranked links per product the churn check compares."""


class MagentoConfig(StrictModel):
    """Magento 2 / Adobe Commerce product import files (``shop/magento_product_links.csv`` and per store)."""

    stores: dict[str, str] = Field(default_factory=dict)
    """Store code -> country: one more file ``shop/magento/<store_code>.csv`` per store with that
    country's rows, and the ``ALL`` rows for a product and relation the country has none for;
    only links between products the product master sells in that country."""
    empty_value: str = "__EMPTY__VALUE__"
    """Magento's "Empty attribute value constant" (System > Import): the clearing files put it in
    ``crosssell_skus`` / ``upsell_skus`` to delete a product's links of that type."""

    @field_validator("stores")
    @classmethod
    def _store_codes(cls, stores: dict[str, str]) -> dict[str, str]:
        for code, country in stores.items():
            if not _STORE_CODE.match(code):
                raise ValueError(f"store code {code!r} must start with a letter and hold only letters, digits and '_' (as in Magento)")
            if not str(country).strip():
                raise ValueError(f"store {code!r} has an empty country")
        return stores

    @field_validator("empty_value")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip() or "," in value:
            raise ValueError("must be a non-empty value without ','")
        return value


class ShopwareConfig(StrictModel):
    """Shopware 6 cross-selling import (``shop/shopware6_cross_selling.csv``)."""

    product_ids: ConfigPath | None = None
    """CSV with the columns ``product_number,id`` (Shopware's "Default product" profile export has
    both; other columns are ignored, ``,`` or ``;`` separated): product number -> product UUID.
    Required when ``publish.shop_formats`` lists ``shopware6``."""
    names: dict[LinkTable, str] = Field(default_factory=_shopware_names)
    """Name of the cross-selling group per relation, as the shop shows it."""

    @field_validator("names")
    @classmethod
    def _names(cls, names: dict[str, str]) -> dict[str, str]:
        for table in ("cross_sell", "up_sell"):
            name = names.get(table, "")
            if not name.strip():
                raise ValueError(f"needs a non-empty name for {table}")
            if "\\" in name:
                raise ValueError(f"name {name!r} contains '\\', which Shopware's CSV reader treats as an escape character")
        return names


class SapCommerceConfig(StrictModel):
    """SAP Commerce (Hybris) ImpEx of ``ProductReference`` items (``shop/sap_commerce_product_references.impex``)."""

    catalog_id: str | None = None
    """Product catalog id of the ``$catalogVersion`` macro, e.g. ``acmeProductCatalog``. Required
    when ``publish.shop_formats`` lists ``sap_impex``."""
    catalog_version: str = "Staged"
    """Catalog version of the ``$catalogVersion`` macro (synchronise to ``Online`` as usual)."""
    reference_types: dict[LinkTable, str] = Field(default_factory=_sap_reference_types)
    """``ProductReferenceTypeEnum`` code per relation (SAP spells ``CROSSELLING`` with one S;
    e.g. ``ACCESSORIES`` for cross-sell)."""

    @field_validator("catalog_id", "catalog_version")
    @classmethod
    def _impex_name(cls, value: str | None) -> str | None:
        if value is not None and not _IMPEX_NAME.match(value):
            raise ValueError("may hold only letters, digits, '_', '.' and '-' (it goes into an ImpEx macro)")
        return value

    @field_validator("reference_types")
    @classmethod
    def _codes(cls, codes: dict[str, str]) -> dict[str, str]:
        for table in ("cross_sell", "up_sell"):
            if not re.match(r"^[A-Za-z0-9_]+$", codes.get(table, "")):
                raise ValueError(f"needs an enum code (letters, digits, '_') for {table}")
        return codes


class BmecatConfig(StrictModel):
    """BMEcat 2005 ``T_UPDATE_PRODUCTS`` with ``PRODUCT_REFERENCE`` (``shop/bmecat_product_references.xml``)."""

    catalog_id: str | None = Field(None, min_length=1, max_length=20)
    """``CATALOG_ID`` of the header (the catalogue the receiver already has). Required when
    ``publish.shop_formats`` lists ``bmecat``."""
    catalog_version: str = Field("1.0", pattern=r"^[0-9]{1,3}\.[0-9]{1,3}$")
    """``CATALOG_VERSION`` of the header (``major.minor``)."""
    catalog_name: str | None = Field(None, min_length=1, max_length=100)
    """``CATALOG_NAME`` of the header (optional)."""
    language: str = Field("deu", pattern=r"^[a-z]{3}$")
    """``LANGUAGE`` of the header: ISO 639-2 code such as ``deu`` or ``eng``."""
    supplier_name: str | None = Field(None, min_length=1, max_length=50)
    """``SUPPLIER_NAME`` of the header. Required when ``publish.shop_formats`` lists ``bmecat``."""
    supplier_id: str | None = Field(None, min_length=1, max_length=250)
    """``SUPPLIER_ID`` of the header (optional), with ``type="supplier_specific"``."""
    order_unit: str = Field("C62", min_length=1, max_length=3)
    """``ORDER_UNIT`` (UN/ECE Recommendation 20 code; ``C62`` = piece) of every product: the
    standard requires order details in a product update."""
    reference_types: dict[LinkTable, BmecatReferenceType] = Field(default_factory=_bmecat_reference_types)
    """``PRODUCT_REFERENCE`` ``type`` per relation."""


class ShopifyConfig(StrictModel):
    """Shopify product CSV with the Search & Discovery metafields (``shop/shopify_products.csv``)."""

    handles: ConfigPath | None = None
    """CSV with the columns ``product_id,handle`` (an optional ``title`` column adds Shopify's
    ``Title`` column): product id -> Shopify product handle. Required when
    ``publish.shop_formats`` lists ``shopify``."""


class PublishConfig(StrictModel):
    """Versioned, atomic output folders for sales ops and the shop."""

    outputs: ConfigPath = Path("outputs")
    """Root of the published runs: ``<outputs>/runs/<run_id>/`` and ``<outputs>/latest``."""
    formats: list[TableFormat] = Field(default_factory=_formats)
    """Which table files to write (the shop files: ``shop_formats``)."""
    shop_formats: list[ShopFormat] = Field(default_factory=_shop_formats)
    """Which shop and catalogue files to write under ``shop/``: ``jsonl``, ``magento``,
    ``shopware6``, ``sap_impex``, ``bmecat``, ``shopify``."""
    keep_runs: int = Field(10, ge=1)
    """Retention: keep the newest N runs (never the one ``latest`` points to)."""
    shop_country: str = "ALL"
    """Country whose ``cross_sell`` / ``up_sell`` rows go into the shop files (``shop/``)."""
    shop_sku: Literal["product_id", "variant_id"] = "product_id"
    """Which id is the shop SKU / product code in every shop file: ``product_id`` (Magento parent
    product, the default) or ``variant_id`` (each product's representative variant; links point at
    ``rec_variant_id``). Shopify maps product ids to handles either way."""
    shop_top_n: int | None = Field(None, ge=1)
    """At most this many links per product and relation in the shop files (``null``: all the
    tables hold, i.e. ``recommend.top_n_product``)."""
    languages: dict[str, Language] = Field(default_factory=dict)
    """Country -> language of its sales workbooks, call-list CSV and page (``en`` or ``de``):
    headers, the Read me and the reasons. Countries not listed get English, e.g.
    ``{DE: de, AT: de, CH: de}``."""
    currencies: dict[str, str] = Field(default_factory=dict)
    """Country -> ISO currency code of its expected values (e.g. ``{CH: CHF}``); countries not
    listed get the currency most of their order lines carry (``currency`` column), else none."""
    csv_bom: bool = True
    """Start the table CSVs with a UTF-8 BOM so Excel reads umlauts right; the shop files never
    have one (import tools read them)."""
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    """Checks before ``latest`` moves."""
    magento: MagentoConfig = Field(default_factory=MagentoConfig)
    """Magento files: per-store files and the clearing value."""
    shopware: ShopwareConfig = Field(default_factory=ShopwareConfig)
    """Shopware 6 cross-selling file."""
    sap_commerce: SapCommerceConfig = Field(default_factory=SapCommerceConfig)
    """SAP Commerce ImpEx file."""
    bmecat: BmecatConfig = Field(default_factory=BmecatConfig)
    """BMEcat 2005 file."""
    shopify: ShopifyConfig = Field(default_factory=ShopifyConfig)
    """Shopify product CSV."""

    @field_validator("currencies")
    @classmethod
    def _currency_codes(cls, codes: dict[str, str]) -> dict[str, str]:
        for country, code in codes.items():
            if not re.match(r"^[A-Z]{3}$", code):
                raise ValueError(f"currency of {country!r} must be an ISO 4217 code such as EUR or CHF, got {code!r}")
        return codes

    @field_validator("formats", mode="before")
    @classmethod
    def _shop_formats_moved(cls, value: object) -> object:
        moved = [f for f in value if f in _MOVED_TO_SHOP_FORMATS] if isinstance(value, list) else []
        if moved:
            raise ValueError(f"{', '.join(moved)} moved to publish.shop_formats")
        return value

    @model_validator(mode="after")
    def _format_settings(self) -> PublishConfig:
        needed: dict[str, list[tuple[str, object]]] = {
            "shopware6": [("shopware.product_ids", self.shopware.product_ids)],
            "sap_impex": [("sap_commerce.catalog_id", self.sap_commerce.catalog_id)],
            "bmecat": [("bmecat.catalog_id", self.bmecat.catalog_id), ("bmecat.supplier_name", self.bmecat.supplier_name)],
            "shopify": [("shopify.handles", self.shopify.handles)],
        }
        for fmt in self.shop_formats:
            missing = [f"publish.{key}" for key, value in needed.get(fmt, []) if value is None]
            if missing:
                raise ValueError(f"shop format {fmt} needs {' and '.join(missing)}")
        return self


def required(value: _T | None, key: str, shop_format: str) -> _T:
    """The value of setting ``publish.<key>`` that ``shop_format`` needs (``PublishConfig``
    refuses a config without it; this narrows the type for the format's code)."""
    if value is None:
        raise ConfigError(f"shop format {shop_format} needs publish.{key}", key=f"publish.{key}")
    return value
