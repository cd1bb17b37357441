"""The sales ops files of a published run, as publish jobs (relative path, writer):

| file | what |
|---|---|
| ``sales/<country>.xlsx`` | the country's workbook: call list, cross-sell, up-sell, Read me (``publish.formats``: ``xlsx``) |
| ``sales/<country>/<rep>.xlsx`` | per sales rep (``data.customer_columns.sales_rep``): the rep's call list and a Read me |
| ``sales/<country>.csv`` | the call list as CSV, the workbook's headers (``publish.formats``: ``csv``) |
| ``site/...`` | the static site (``xsell.publish.site``), always |

Everything is computed when the jobs are made except the file contents, which are rendered as
each file is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from xsell.errors import InputDataError
from xsell.publish.config import PublishConfig
from xsell.publish.sales import MAX_SHEET_ROWS, CountryBook, OrderFacts, RunFacts, country_books, csv_frame, rep_call_lists, rep_file_stems, workbook_sheets
from xsell.publish.site import Downloads, SiteFile, site_files
from xsell.publish.writers import Written, safe_file_stem, write_csv, write_text, write_workbook

log = logging.getLogger(__name__)

Job = tuple[str, Callable[[], Written]]


def product_names(products: pd.DataFrame) -> pd.Series:
    """Product id -> its first non-empty name in the product master."""
    named = products.loc[products["name"].fillna("").astype(str) != "", ["product_id", "name"]] if "name" in products else products.iloc[0:0]
    return named.drop_duplicates("product_id").set_index("product_id")["name"].astype(str)


# Writers of the jobs: each renders its file's content only when it is written.
def _write_book(book: CountryBook, run: RunFacts, path: Path, *, max_rows: int, calls: pd.DataFrame | None = None, rep: str | None = None) -> Written:
    return write_workbook(workbook_sheets(book, run, calls=calls, rep=rep, max_rows=max_rows), path, max_rows=max_rows)


def _write_call_list(book: CountryBook, path: Path, *, bom: bool) -> Written:
    return write_csv(csv_frame(book), path, bom=bom)


def _write_site_file(file: SiteFile, path: Path) -> Written:
    return write_text(file.content(), path, rows=file.rows, columns=list(file.columns))


def sales_jobs(
    pc: PublishConfig,
    tables: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    customers: pd.DataFrame | None,
    facts: OrderFacts,
    run: RunFacts,
    *,
    root: Path,
    max_rows: int = MAX_SHEET_ROWS,
) -> list[Job]:
    """Jobs for the workbooks, call-list CSVs and site of a run written into ``root``."""
    books = list(country_books(tables, customers, facts, pc.languages, pc.currencies, product_names(products)))
    stems: dict[str, str] = {}
    for book in books:
        stem = safe_file_stem(book.country)
        clash = next((c for c, s in stems.items() if s.casefold() == stem.casefold()), None)
        if clash is not None:
            raise InputDataError(f"countries {clash!r} and {book.country!r} share the file name sales/{stem}.xlsx", column="country", value=book.country)
        stems[book.country] = stem
    jobs: list[Job] = []
    downloads: dict[str, Downloads] = {}
    n_reps = 0
    for book in books:
        stem = stems[book.country]
        xlsx = f"sales/{stem}.xlsx" if "xlsx" in pc.formats else None
        csv = f"sales/{stem}.csv" if "csv" in pc.formats else None
        reps: list[tuple[str, str]] = []
        if xlsx:
            jobs.append((xlsx, partial(_write_book, book, run, root / xlsx, max_rows=max_rows)))
            calls = rep_call_lists(book)
            for rep, rep_stem in rep_file_stems(list(calls)).items():
                rel = f"sales/{stem}/{rep_stem}.xlsx"
                jobs.append((rel, partial(_write_book, book, run, root / rel, max_rows=max_rows, calls=calls[rep], rep=rep)))
                reps.append((rep, rel))
            n_reps += len(calls)
        if csv:
            jobs.append((csv, partial(_write_call_list, book, root / csv, bom=pc.csv_bom)))
        downloads[book.country] = Downloads(xlsx, csv, tuple(reps))
    tables_files = {name: [f"{name}.{ext}" for ext in ("csv", "parquet") if ext in pc.formats] for name in tables}
    site = site_files(books, stems, run, downloads, {k: v for k, v in tables_files.items() if v})
    for f in site:
        jobs.append((f.path, partial(_write_site_file, f, root / f.path)))
    log.info("publish: sales: %d countr%s, %d sales rep workbook(s), site of %d file(s)", len(books), "y" if len(books) == 1 else "ies", n_reps, len(site))
    return jobs
