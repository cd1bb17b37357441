"""publish stage: versioned, atomic, checked recommendation files for sales ops and the shop.

Layout (``publish.outputs``)::

    runs/<run_id>/                      run_id = <UTC yyyymmddThhmmssZ>-<7 hex of config + input hashes>
        manifest.json                   provenance, guardrail results, path/rows/columns/sha256 per file
        cross_sell.csv|.parquet  up_sell.csv|.parquet  buying_center_suggestions.csv|.parquet
        sales/<country>.xlsx            one workbook per country (and ALL.xlsx for the ALL rows)
        shop/product_links.jsonl        {"product_id", "variant_id", "cross_sell": [...], "up_sell": [...]}
        shop/magento_product_links.csv  sku, crosssell_skus, crosssell_position, upsell_skus, upsell_position
    latest -> runs/<run_id>             relative symlink to the newest accepted run

Decisions:

- **CSV**: comma-separated, ``.`` decimal mark, ``\\n`` line ends, UTF-8 with a BOM
  (``publish.csv_bom``) so Excel shows umlauts right. Sales staff are meant to use the XLSX
  workbooks; the CSVs are for tools. The Magento file never has a BOM (import tools read it).
- **Spreadsheet safety**: text cells starting with ``= + - @``, tab or CR get a leading ``'`` in
  every CSV and XLSX (OWASP); numbers are untouched; Parquet and JSONL keep raw values. The
  manifest counts the neutralised cells per file. In the Magento file a SKU starting with such a
  character would be altered too (and logged as a warning): rename such SKUs in the ERP.
- **Sales workbooks**: ``sales/<country>.xlsx`` holds exactly the rows of that country in three
  sheets (``cross_sell``, ``up_sell``, ``buying_center_suggestions``); rows of the ``ALL``
  pseudo-country go to ``sales/ALL.xlsx`` rather than being repeated in every workbook. Bold
  frozen header, autofilter, column widths from the content (8 to 60); buying centers sorted by
  expected value, highest first.
- **Shop files** use the ``publish.shop_country`` rows (default ``ALL``). The SKU is the
  ``product_id`` (Magento links sit on the parent product) or, with ``publish.shop_sku:
  variant_id``, each product's representative variant (see ``xsell.publish.shop``). Positions
  are the table ranks. Import the Magento file with System > Import, entity *Products*,
  behaviour *Add/Update*; Magento keeps existing links that the file does not list.
- **Determinism**: rows are sorted on full keys, XLSX zip entries and document properties carry
  fixed timestamps, so the same tables and config give byte-identical files; only
  ``manifest.json`` (created_at, run_id) differs.
- **Guardrails** (``publish.guardrails``, see ``xsell.publish.guardrails``): a failed check
  still writes the run (manifest ``status: rejected`` with the reasons) but leaves ``latest``
  alone and exits 4.
"""
