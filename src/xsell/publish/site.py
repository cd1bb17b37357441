"""The run's static site (``site/`` in every published run): an index of the countries and one
page per country with its call list and product links, searchable as one types.

No server is needed: the pages work opened from disk (``file://``) and from any static web
server (``xsell serve``). Every link is relative and stays inside the run folder, so
``latest/site/index.html`` shows the latest run and an old run's page still shows that run.
Rows are not in the pages: each country's rows load on demand from ``site/data/<country>/``
(script files, since browsers refuse ``fetch`` on ``file://``), in chunks of at most
``CHUNK_ROWS`` rows cut between buying centers / products; strings are dictionary-encoded per
chunk and the page searches the dictionaries, so a country of 200,000 buying centers stays
usable while it loads. Values reach the page only as JSON data and are put into the document
as text (``textContent``), never as HTML: a product name ``<script>`` stays text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import resources
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.messages import format_count, message, template
from xsell.publish.sales import LANGUAGE_NAMES, CountryBook, RunFacts, group_starts, run_facts, split_points

CHUNK_ROWS = 20_000
"""Rows per data file (a chunk ends where a buying center's or product's rows end)."""
ASSETS: tuple[str, ...] = ("xsell.js", "xsell.css")
"""Files of ``xsell/publish/site_assets/`` copied to ``site/assets/``."""
CHUNK_PREFIX = "xsell.chunk("
_NUMBER_DIGITS = {"score": 4, "expected_value": 2, "support": 6, "confidence": 4, "lift": 3, "price_ratio": 3}


@dataclass(frozen=True)
class SiteFile:
    """One file of the site: path relative to the run folder, its content (made when written,
    so a large country's data is never all in memory at once), data rows and columns."""

    path: str
    content: Callable[[], str]
    rows: int = 0
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """A searchable table of a country page."""

    name: str
    frame: pd.DataFrame
    key: str
    """Column whose runs of equal values are the groups (buying center, product)."""
    group: tuple[str, ...]
    """Columns shown once per group, in a group row."""
    columns: tuple[str, ...]
    """Columns of the table's rows."""
    search: tuple[str, ...]
    """Columns the search box looks in."""
    headers: dict[str, str]


@dataclass(frozen=True)
class BookSummary:
    """What the index says of a country: its counts, without its rows."""

    country: str
    lang: str
    buying_centers: int
    calls: int
    links: int
    """Cross-sell and up-sell rows."""

    @classmethod
    def of(cls, book: CountryBook) -> BookSummary:
        return cls(book.country, book.lang, int(book.calls["buying_center_id"].nunique()), len(book.calls), len(book.cross_sell) + len(book.up_sell))


DATASETS: dict[str, dict[str, tuple[str, ...]]] = {
    "calls": {
        "key": ("buying_center_id",),
        "group": ("customer", "customer_id", "buying_center_id", "sales_rep", "last_order"),
        "columns": ("rank", "product", "product_id", "variant_id", "kind", "score", "expected_value", "reason"),
        "search": ("customer", "customer_id", "buying_center_id", "product", "product_id"),
    },
    "cross_sell": {
        "key": ("product_id",),
        "group": ("product", "product_id"),
        "columns": ("rank", "rec_product", "rec_product_id", "rec_variant_id", "score", "support", "confidence", "lift", "reason"),
        "search": ("product", "product_id", "rec_product", "rec_product_id"),
    },
    "up_sell": {
        "key": ("product_id",),
        "group": ("product", "product_id"),
        "columns": ("rank", "rec_product", "rec_product_id", "rec_variant_id", "score", "price_ratio", "reason"),
        "search": ("product", "product_id", "rec_product", "rec_product_id"),
    },
}
_HEADER_KEYS = {"up_sell": {"rec_product": "upgrade", "rec_product_id": "upgrade_id"}}


def page_name(country_stem: str) -> str:
    """File name of a country's page (``index`` is the index's)."""
    return f"{country_stem}.html" if country_stem != "index" else "country-index.html"


def _datasets(book: CountryBook) -> list[Dataset]:
    frames = {"calls": book.calls, "cross_sell": book.cross_sell, "up_sell": book.up_sell}
    out = []
    for name, spec in DATASETS.items():
        frame = frames[name]
        keep = {k: tuple(c for c in v if c in frame) for k, v in spec.items() if k != "key"}
        labels = {c: _HEADER_KEYS.get(name, {}).get(c, c) for c in (*keep["group"], *keep["columns"])}
        headers = {c: message(f"col.{label}", book.lang) for c, label in labels.items()}
        out.append(Dataset(name, frame, spec["key"][0], keep["group"], keep["columns"], keep["search"], headers))
    return out


def _json_list(items: pa.Array) -> str:
    """A JSON array of already JSON-rendered Arrow strings, joined in Arrow."""
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(items)], type=pa.int32()), items.cast(pa.string())), ",")
    return "[" + (joined[0].as_py() or "") + "]"


def _json_numbers(numbers: np.ndarray) -> str:
    """Floats as a JSON array: ``null`` when not finite, an integer when integral (huge ones
    exact), else the float's ``repr`` (what ``json.dumps`` writes); each distinct value once."""
    codes, uniques = pd.factorize(numbers, use_na_sentinel=True)  # NaN: -1
    shown = [
        "null" if not math.isfinite(v) else str(int(v)) if v.is_integer() else repr(v)
        for v in uniques.tolist()
    ]
    return _json_list(pa.array(shown, type=pa.string()).take(pa.array(codes, mask=codes < 0)).fill_null("null"))


def _column_json(values: pd.Series, key: str) -> str:
    """One column of a chunk as JSON text: ``{"d": dictionary, "c": codes}`` for text and
    dates, ``{"v": values}`` for numbers; built in Arrow (``json.dumps`` of the whole chunk
    took seconds), only the dictionary goes through ``json.dumps``."""
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float)
        if key in _NUMBER_DIGITS:
            numbers = np.round(numbers, _NUMBER_DIGITS[key])
        return '{"v":' + _json_numbers(numbers) + "}"
    text = pa.array(values.fillna("").astype(str), type=pa.string(), from_pandas=True)
    encoded = (text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text).dictionary_encode()
    codes = pc.cast(encoded.indices, pa.string())
    return '{"d":' + _script_json(encoded.dictionary.to_pylist()) + ',"c":' + _json_list(codes) + "}"


def _chunks(country: str, stem: str, data: Dataset, chunk_rows: int) -> list[SiteFile]:
    frame = data.frame
    keys = tuple(dict.fromkeys((data.key, *data.group, *data.columns)))
    parts = split_points(group_starts(frame[data.key]), chunk_rows) if len(frame) else [(0, 0)]

    def render(i: int, begin: int, end: int) -> str:
        part = frame.iloc[begin:end]
        head = {"country": country, "dataset": data.name, "part": i, "parts": len(parts), "rows": end - begin}
        columns = ",".join(_script_json(k) + ":" + _column_json(part[k], k) for k in keys)
        return CHUNK_PREFIX + _script_json(head)[:-1] + ',"columns":{' + columns + "}});\n"

    return [
        SiteFile(f"site/data/{stem}/{data.name}-{i}.js", partial(render, i, begin, end), end - begin, keys)
        for i, (begin, end) in enumerate(parts)
    ]


def count_chunk_rows(text: str) -> int:
    """Rows of a data file of the site (0 for the other files), read from its content."""
    if not text.startswith(CHUNK_PREFIX):
        return 0
    payload = json.loads(text[len(CHUNK_PREFIX) : text.rindex(")")])
    columns = list(payload["columns"].values())
    if not columns:
        return 0
    first = columns[0]
    return len(first["c"] if "c" in first else first["v"])


def _script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element or file: ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(path: str) -> str:
    return _e(quote(path, safe="/.-_~"))


_HEAD = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="assets/xsell.css">
</head>
<body>
"""


def _facts_list(run: RunFacts, lang: str) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in run_facts(run, lang))
    return f'<dl class="facts">{rows}</dl>\n'


@dataclass(frozen=True)
class Downloads:
    """Run-relative paths of a country's files (None: not written)."""

    xlsx: str | None = None
    csv: str | None = None
    reps: tuple[tuple[str, str], ...] = ()
    """(rep, workbook path) per sales rep."""


def _download_links(d: Downloads, lang: str) -> str:
    links = []
    if d.xlsx:
        links.append(f'<a class="download" href="../{_href(d.xlsx)}">{_e(message("site.workbook", lang))}</a>')
    if d.csv:
        links.append(f'<a class="download" href="../{_href(d.csv)}">{_e(message("site.csv", lang))}</a>')
    return " ".join(links)


def country_page(book: CountryBook, stem: str, run: RunFacts, downloads: Downloads, datasets: list[Dataset], parts: Mapping[str, int]) -> str:
    """``site/<country>.html``: facts, downloads and a searchable table per dataset."""
    lang = book.lang
    title = message("site.country_title", lang, country=book.country)
    tabs = {"calls": message("sheet.call_list", lang), "cross_sell": message("sheet.cross_sell", lang), "up_sell": message("sheet.up_sell", lang)}
    hints = {"calls": message("site.search_hint", lang), "cross_sell": message("site.search_links_hint", lang), "up_sell": message("site.search_links_hint", lang)}
    config = {
        "country": book.country, "stem": stem, "lang": lang, "currency": book.currency or "",
        "texts": {k: template(f"site.{k}", lang) for k in ("loading", "showing", "no_match")},
        "datasets": {
            d.name: {"parts": parts[d.name], "rows": len(d.frame), "key": d.key, "group": list(d.group), "columns": list(d.columns),
                     "search": list(d.search), "headers": d.headers}
            for d in datasets
        },
    }  # fmt: skip
    out = [_HEAD.format(lang=_e(lang), title=_e(title))]
    out.append(f'<header><p><a href="index.html">← {_e(message("site.all_countries", lang))}</a></p>\n<h1>{_e(title)}</h1>\n')
    out.append(_facts_list(run, lang))
    out.append(f'<p class="downloads">{_e(message("site.downloads", lang))}: {_download_links(downloads, lang)}</p>\n')
    if downloads.reps:
        reps = " · ".join(f'<a href="../{_href(path)}">{_e(rep)}</a>' for rep, path in downloads.reps)
        out.append(f'<p class="reps">{_e(message("site.rep_workbooks", lang))}: {reps}</p>\n')
    out.append("</header>\n<nav class=\"tabs\" role=\"tablist\">\n")
    for i, d in enumerate(datasets):
        out.append(f'<button type="button" role="tab" id="tab-{d.name}" data-dataset="{d.name}" aria-selected="{"true" if i == 0 else "false"}">'
                   f'{_e(tabs[d.name])} <span class="count">({format_count(len(d.frame), lang)})</span></button>\n')  # fmt: skip
    out.append("</nav>\n")
    for i, d in enumerate(datasets):
        hidden = "" if i == 0 else " hidden"
        out.append(f'<section id="section-{d.name}" class="dataset" data-dataset="{d.name}" role="tabpanel"{hidden}>\n')
        out.append(f'<p class="search"><label for="search-{d.name}">{_e(message("site.search", lang))}</label> '
                   f'<input type="search" id="search-{d.name}" placeholder="{_e(hints[d.name])}" autocomplete="off"></p>\n')  # fmt: skip
        out.append('<p class="status" aria-live="polite"></p>\n')
        heads = "".join(f'<th scope="col" class="col-{_e(c)}">{_e(d.headers[c])}</th>' for c in d.columns)
        out.append(f'<table class="rows"><thead><tr>{heads}</tr></thead><tbody></tbody></table>\n</section>\n')
    out.append(f'<noscript><p>{_e(message("site.no_script", lang))}</p></noscript>\n')
    out.append(f'<script id="xsell-page" type="application/json">{_script_json(config)}</script>\n')
    out.append('<script src="assets/xsell.js"></script>\n</body>\n</html>\n')
    return "".join(out)


def index_page(
    books: list[BookSummary], pages: Mapping[str, str], run: RunFacts, downloads: Mapping[str, Downloads], tables: Mapping[str, list[str]]
) -> str:
    """``site/index.html``: the run's facts and one row per country with its counts and downloads."""
    lang = "en"
    title = message("site.title", lang)
    out = [_HEAD.format(lang=lang, title=_e(title)), f"<header><h1>{_e(title)}</h1>\n", _facts_list(run, lang), "</header>\n"]
    heads = ("site.country", "site.language", "site.buying_centers", "site.suggestions", "site.links", "site.downloads")
    out.append('<table class="countries"><thead><tr>' + "".join(f'<th scope="col">{_e(message(h, lang))}</th>' for h in heads) + "</tr></thead><tbody>\n")
    for book in books:
        cells = [
            f'<a href="{_href(pages[book.country])}">{_e(book.country)}</a>',
            _e(LANGUAGE_NAMES.get(book.lang, book.lang)),
            f"{book.buying_centers:,}",
            f"{book.calls:,}",
            f"{book.links:,}",
            _download_links(downloads[book.country], lang),
        ]
        out.append('<tr data-country="' + _e(book.country) + '">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n")
    out.append("</tbody></table>\n")
    if tables:
        out.append(f'<h2>{_e(message("site.all_tables", lang))}</h2>\n<ul class="tables">\n')
        for table, paths in tables.items():
            links = ", ".join(f'<a href="../{_href(p)}">{_e(p.rsplit(".", 1)[-1].upper())}</a>' for p in paths)
            out.append(f"<li>{_e(table)}: {links}</li>\n")
        out.append("</ul>\n")
    out.append("</body>\n</html>\n")
    return "".join(out)


def asset_files() -> list[SiteFile]:
    """``site/assets/``: the page script and style sheet."""
    return [SiteFile(f"site/assets/{name}", partial(_asset, name)) for name in ASSETS]


def country_site_files(book: CountryBook, stem: str, run: RunFacts, downloads: Downloads, *, chunk_rows: int = CHUNK_ROWS) -> list[SiteFile]:
    """A country's data files (``site/data/<stem>/``) and page: they hold ``book`` until written."""
    datasets = _datasets(book)
    files: list[SiteFile] = []
    parts = {}
    for data in datasets:
        chunks = _chunks(book.country, stem, data, chunk_rows)
        parts[data.name] = len(chunks)
        files += chunks
    files.append(SiteFile(f"site/{page_name(stem)}", partial(country_page, book, stem, run, downloads, datasets, parts)))
    return files


def index_file(
    books: list[BookSummary], stems: Mapping[str, str], run: RunFacts, downloads: Mapping[str, Downloads], tables: Mapping[str, list[str]]
) -> SiteFile:
    """``site/index.html`` from the countries' counts (their books need not be held any more)."""
    pages = {book.country: page_name(stems[book.country]) for book in books}
    return SiteFile("site/index.html", partial(index_page, books, pages, run, downloads, tables))


def site_files(
    books: list[CountryBook],
    stems: Mapping[str, str],
    run: RunFacts,
    downloads: Mapping[str, Downloads],
    tables: Mapping[str, list[str]],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> list[SiteFile]:
    """Every file of ``site/``: assets, a country's data files and page per country, the index.
    ``stems``: country -> file-name-safe stem; ``tables``: table -> run-relative files."""
    files = asset_files()
    for book in books:
        files += country_site_files(book, stems[book.country], run, downloads[book.country], chunk_rows=chunk_rows)
    files.append(index_file([BookSummary.of(book) for book in books], stems, run, downloads, tables))
    return files


def _asset(name: str) -> str:
    return resources.files("xsell.publish").joinpath("site_assets", name).read_text(encoding="utf-8")
