"""The sales ops files of a published run, as publish jobs (relative path, writer):

| file | what |
|---|---|
| ``sales/<country>.xlsx`` | the country's workbook: call list, cross-sell, up-sell, Read me (``publish.formats``: ``xlsx``) |
| ``sales/<country>/<rep>.xlsx`` | per sales rep (``data.customer_columns.sales_rep``): the rep's call list and a Read me |
| ``sales/<country>.csv`` | the call list as CSV, the workbook's headers (``publish.formats``: ``csv``) |
| ``site/...`` | the static site (``xsell.publish.site``), always |

The jobs are made one country at a time (the country's book when its first job is asked for);
the file contents are rendered as each file is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pandas as pd

from xsell.errors import InputDataError
from xsell.publish.config import PublishConfig
from xsell.publish.sales import MAX_SHEET_ROWS, CountryBook, OrderFacts, RunFacts, country_books, csv_frame, rep_call_lists, rep_file_stems, workbook_sheets
from xsell.publish.site import BookSummary, Downloads, SiteFile, asset_files, country_site_files, index_file
from xsell.publish.tables import countries
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
) -> Iterator[Job]:
    """Jobs for the workbooks, call-list CSVs and site of a run written into ``root``, made one
    country at a time: a country's book is built when its first job is asked for and is held
    only by its own jobs (workbooks, CSV, the site's data files and page), so a run holds one or
    two countries' books at a time, not all of them. Then the site's assets and index. The
    manifest lists them in another order (``listing_rank``)."""
    names = product_names(products)
    stems = country_stems(countries(tables))
    tables_files = {name: [f"{name}.{ext}" for ext in ("csv", "parquet") if ext in pc.formats] for name in tables}
    downloads: dict[str, Downloads] = {}
    summaries: list[BookSummary] = []
    n_reps = n_site = 0
    for book in country_books(tables, customers, facts, pc.languages, pc.currencies, names):
        stem = stems[book.country]
        xlsx = f"sales/{stem}.xlsx" if "xlsx" in pc.formats else None
        csv = f"sales/{stem}.csv" if "csv" in pc.formats else None
        jobs: list[Job] = []
        reps: list[tuple[str, str]] = []
        if xlsx:
            jobs.append((xlsx, partial(_write_book, book, run, root / xlsx, max_rows=max_rows)))
            calls = rep_call_lists(book)
            for rep, rep_stem in rep_file_stems(list(calls)).items():
                rel = f"sales/{stem}/{rep_stem}.xlsx"
                jobs.append((rel, partial(_write_book, book, run, root / rel, max_rows=max_rows, calls=calls[rep], rep=rep)))
                reps.append((rep, rel))
            n_reps += len(calls)
            del calls
        if csv:
            jobs.append((csv, partial(_write_call_list, book, root / csv, bom=pc.csv_bom)))
        downloads[book.country] = Downloads(xlsx, csv, tuple(reps))
        site = country_site_files(book, stem, run, downloads[book.country])
        n_site += len(site)
        summaries.append(BookSummary.of(book))
        log.info("publish: sales: %s (%d of %d countries): %d file(s)", book.country, len(summaries), len(stems), len(jobs) + len(site))
        del book
        yield from jobs
        del jobs
        yield from ((f.path, partial(_write_site_file, f, root / f.path)) for f in site)
        del site
    rest = [*asset_files(), index_file(summaries, stems, run, downloads, {k: v for k, v in tables_files.items() if v})]
    yield from ((f.path, partial(_write_site_file, f, root / f.path)) for f in rest)
    log.info("publish: sales: %d countr%s, %d sales rep workbook(s), site of %d file(s)", len(stems), "y" if len(stems) == 1 else "ies", n_reps, n_site + len(rest))


def country_stems(countries: list[str]) -> dict[str, str]:
    """Country -> file-name-safe stem of its files; ``InputDataError`` when two countries' stems
    differ only in case (one file would overwrite the other on some file systems)."""
    stems: dict[str, str] = {}
    for country in countries:
        stem = safe_file_stem(country)
        clash = next((c for c, s in stems.items() if s.casefold() == stem.casefold()), None)
        if clash is not None:
            raise InputDataError(f"countries {clash!r} and {country!r} share the file name sales/{stem}.xlsx", column="country", value=country)
        stems[country] = stem
    return stems


def listing_rank(rel: str) -> int:
    """Where the manifest lists a file of ``sales_jobs``: 0 the workbooks and CSVs of every
    country, 1 the site's assets, 2 every country's data files and page, 3 the index. A stable
    sort by it keeps each country's files in their order: the order of the files when the
    whole site was written after all the workbooks."""
    if rel == "site/index.html":
        return 3
    if rel.startswith("site/assets/"):
        return 1
    return 2 if rel.startswith("site/") else 0
