"""publish stage: versioned, atomic, checked recommendation files for sales ops and the shop.

Layout (``publish.outputs``)::

    runs/<run_id>/                      run_id = <UTC yyyymmddThhmmssZ>-<7 hex of config + input hashes>
        manifest.json                   provenance, guardrail results, path/rows/columns/sha256 per file
        cross_sell.csv|.parquet  up_sell.csv|.parquet  buying_center_suggestions.csv|.parquet
        sales/<country>.xlsx            one workbook per country (and ALL.xlsx for the ALL rows)
        shop/...                        the publish.shop_formats files (see xsell.publish.formats)
    latest -> runs/<run_id>             relative symlink to the newest accepted run

Decisions:

- **CSV**: comma-separated, ``.`` decimal mark, ``\\n`` line ends, UTF-8 with a BOM
  (``publish.csv_bom``) so Excel shows umlauts right. Sales staff are meant to use the XLSX
  workbooks; the CSVs are for tools. The Magento file never has a BOM (import tools read it).
- **Spreadsheet safety**: text cells starting with ``= + - @``, tab or CR get a leading ``'`` in
  every CSV and XLSX (OWASP), the shop CSVs (Magento, Shopware, Shopify) included; numbers are
  untouched; Parquet, JSONL, ImpEx and BMEcat XML are machine formats and keep raw values. The
  manifest counts the neutralised cells per file. In the Magento file a SKU starting with such a
  character would be altered too (and logged as a warning): rename such SKUs in the ERP.
- **Sales workbooks**: ``sales/<country>.xlsx`` holds exactly the rows of that country in three
  sheets (``cross_sell``, ``up_sell``, ``buying_center_suggestions``); rows of the ``ALL``
  pseudo-country go to ``sales/ALL.xlsx`` rather than being repeated in every workbook. Bold
  frozen header, autofilter, column widths from the content (8 to 60); buying centers sorted by
  expected value, highest first.
- **Shop files** (``publish.shop_formats``) render one selection of links
  (``xsell.publish.shop``): the ``publish.shop_country`` rows (default ``ALL``) of active,
  assortment-valid products, SKUs per ``publish.shop_sku``, rank order, ``publish.shop_top_n``.
  Each format is a module of ``xsell.publish.formats``; formats that cannot remove links by a
  plain re-import get what the previous published run had and this one dropped (Magento
  clearing file, Shopware delete payload, ImpEx ``REMOVE`` block, BMEcat and Shopify rows
  without links).
- **Determinism**: rows are sorted on full keys, XLSX zip entries and document properties carry
  fixed timestamps, so the same tables and config give byte-identical files; only
  ``manifest.json`` (created_at, run_id) differs, and the shop files that list what the
  previous run dropped depend on that run too.
- **Guardrails** (``publish.guardrails``, see ``xsell.publish.guardrails``): a failed check
  still writes the run (manifest ``status: rejected`` with the reasons) but leaves ``latest``
  alone and exits 4.
"""
