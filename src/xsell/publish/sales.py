"""Sales ops outputs: per country a call list a field rep can act on, the product links and a Read
me, in the country's language (``xsell.messages``), as workbook sheets (``sales/<country>.xlsx``,
per sales rep ``sales/<country>/<rep>.xlsx``) and as the rows of the run's site.

- **Call list**: one block per buying center (customer name before the ids), the buying centers
  with the highest total expected value first, each block in rank order; expected value in the
  country's currency, score as a percentage, the last order as a date, reasons in the language.
- **Product links**: the country's ``cross_sell`` / ``up_sell`` rows, by product name then rank;
  basket evidence is empty where it does not apply.
- **Read me**: what each sheet and column means, as of when, on which data, by which model and
  how that model did against popularity.
- A sheet of more rows than ``max_rows`` continues on numbered sheets, split between blocks.

Pure functions of frames; ``xsell.steps.publish`` reads the inputs and writes the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell import __version__
from xsell.frames import rows_at
from xsell.messages import format_date, language_of, localised_reasons, message
from xsell.publish.tables import countries
from xsell.publish.writers import XLSX_MAX_ROWS, XlsxColumn, XlsxSheet
from xsell.schema import ALL_COUNTRIES

MAX_SHEET_ROWS = XLSX_MAX_ROWS - 1
"""Data rows of one sheet (Excel's 1,048,576 rows, less the header)."""
CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "PLN": "zł", "SEK": "kr", "DKK": "kr", "NOK": "kr", "CZK": "Kč"}
"""Symbols of the currency number formats; other ISO codes are shown as the code."""
_SYMBOL_FIRST = frozenset({"$", "£", "¥"})
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch"}


@dataclass(frozen=True)
class Field:
    """A column of a sales sheet: frame column, catalogue key of its header/meaning, look."""

    key: str
    label: str
    width: float
    number_format: str | None = None
    wrap: bool = False


CALL_LIST_FIELDS: tuple[Field, ...] = (
    Field("customer", "customer", 28, wrap=True),
    Field("customer_id", "customer_id", 11),
    Field("buying_center_id", "buying_center_id", 14),
    Field("sales_rep", "sales_rep", 15),
    Field("last_order", "last_order", 11),
    Field("rank", "rank", 6, "0"),
    Field("product", "product", 30, wrap=True),
    Field("product_id", "product_id", 11),
    Field("variant_id", "variant_id", 13),
    Field("kind", "kind", 11),
    Field("score", "score", 7, "0%"),
    Field("expected_value", "expected_value", 12),
    Field("reason", "reason", 55, wrap=True),
)
"""Columns of the call list, names before ids (``customer_id``, ``sales_rep`` and ``last_order``
only where the customer master / order lines have them)."""
CROSS_SELL_FIELDS: tuple[Field, ...] = (
    Field("product", "product", 30, wrap=True),
    Field("product_id", "product_id", 11),
    Field("rank", "rank", 6, "0"),
    Field("rec_product", "rec_product", 30, wrap=True),
    Field("rec_product_id", "rec_product_id", 11),
    Field("rec_variant_id", "rec_variant_id", 13),
    Field("score", "score", 7, "0%"),
    Field("support", "support", 9, "0.00%"),
    Field("confidence", "confidence", 9, "0%"),
    Field("lift", "lift", 7, "0.0"),
    Field("reason", "reason", 55, wrap=True),
)
UP_SELL_FIELDS: tuple[Field, ...] = (
    Field("product", "product", 30, wrap=True),
    Field("product_id", "product_id", 11),
    Field("rank", "rank", 6, "0"),
    Field("rec_product", "upgrade", 30, wrap=True),
    Field("rec_product_id", "upgrade_id", 11),
    Field("rec_variant_id", "rec_variant_id", 13),
    Field("score", "score", 7, "0%"),
    Field("price_ratio", "price_ratio", 9, '0.00"×"'),
    Field("reason", "reason", 55, wrap=True),
)
SHEETS: dict[str, tuple[Field, ...]] = {"call_list": CALL_LIST_FIELDS, "cross_sell": CROSS_SELL_FIELDS, "up_sell": UP_SELL_FIELDS}


@dataclass(frozen=True)
class RunFacts:
    """What the Read me and the site say about the run (nothing that changes between two
    publishes of the same tables, so re-published files stay byte-identical)."""

    as_of: str | None = None
    """The date the recommendations were made for (``tables.json``: ``today``)."""
    data_start: str | None = None
    data_end: str | None = None
    lines: int | None = None
    """Accepted order lines of the history."""
    model: str | None = None
    """The champion that ranks the buying centers (``tables.json``: ``personal_model``)."""
    model_name: str | None = None
    model_version: str | None = None
    evaluation: dict[str, Any] | None = None
    """``<workdir>/evaluation/champion.json``: the champion against the popularity baselines."""


@dataclass(frozen=True)
class OrderFacts:
    """Facts of the canonical order lines the workbooks show."""

    last_order: pd.Series = field(default_factory=lambda: pd.Series(dtype="datetime64[ns]"))
    """Buying center -> date of its latest order (returns not counted)."""
    currency: dict[str, str] = field(default_factory=dict)
    """Country -> the currency most of its order lines carry."""
    lines: int | None = None
    start: str | None = None
    end: str | None = None


def order_facts(lines: pa.Table | Iterable[pa.RecordBatch]) -> OrderFacts:
    """``OrderFacts`` of canonical order lines (columns ``buying_center_id, order_date, country,
    currency, is_return``; ``currency`` and ``is_return`` optional), computed in Arrow. ``lines``:
    a table, or its record batches (a file read batch by batch: memory holds one batch and the
    per-buying-center dates, never the whole history)."""
    n, low, high = 0, None, None
    last_fold, count_fold = _Fold(["buying_center_id"], "order_date", "max"), _Fold(["country", "currency"], "count_all", "sum")
    has_currency = False
    for batch in lines.to_batches() if isinstance(lines, pa.Table) else lines:
        if not batch.num_rows:
            continue
        part = pa.Table.from_batches([batch])
        n += part.num_rows
        span = pc.min_max(part["order_date"]).as_py()
        low = span["min"] if low is None or (span["min"] is not None and span["min"] < low) else low
        high = span["max"] if high is None or (span["max"] is not None and span["max"] > high) else high
        orders = part.filter(pc.invert(part["is_return"])) if "is_return" in part.column_names else part
        last_fold.add(orders.group_by("buying_center_id").aggregate([("order_date", "max")]))
        if "currency" in part.column_names:
            has_currency = True
            count_fold.add(part.filter(pc.not_equal(part["currency"], "")).group_by(["country", "currency"]).aggregate([([], "count_all")]))
    last, counts = last_fold.result(), count_fold.result()
    if n == 0 or last is None:
        return OrderFacts(lines=0)
    latest = last.to_pandas()
    currency: dict[str, str] = {}
    if has_currency and counts is not None:
        counted = counts.to_pandas().sort_values(["country", "count_all", "currency"], ascending=[True, False, True], kind="mergesort")
        currency = dict(counted.drop_duplicates("country")[["country", "currency"]].itertuples(index=False, name=None))
    return OrderFacts(
        last_order=pd.Series(pd.to_datetime(latest["order_date"]).to_numpy(), index=latest["buying_center_id"].astype(str).to_numpy()),
        currency=currency,
        lines=n,
        start=str(pd.Timestamp(low).date()),
        end=str(pd.Timestamp(high).date()),
    )


class _Fold:
    """Per-batch aggregates (``<value>_<agg>`` per ``keys``) folded into one table of ``keys`` +
    ``value`` with ``how`` (``max``, ``sum``). The parts wait until they hold as many rows as
    the total (at least ``_FOLD_ROWS``) and are folded in at once: folding each batch's part into
    a total of 200k buying centers re-grouped the total once per batch (16 s of a publish at
    20M lines). The same rows in the same order (groups in order of first appearance)."""

    def __init__(self, keys: list[str], value: str, how: str) -> None:
        self.keys, self.value, self.how = keys, value, how
        self.total: pa.Table | None = None
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def add(self, part: pa.Table) -> None:
        self.pending.append(part.select([*self.keys, next(c for c in part.column_names if c not in self.keys)]).rename_columns([*self.keys, self.value]))
        self.pending_rows += part.num_rows
        if self.pending_rows >= max(_FOLD_ROWS, self.total.num_rows if self.total is not None else 0):
            self._fold()

    def result(self) -> pa.Table | None:
        """The folded table (None: no part was added)."""
        self._fold()
        return self.total

    def _fold(self) -> None:
        if not self.pending:
            return
        parts = [self.total, *self.pending] if self.total is not None else self.pending
        self.pending, self.pending_rows = [], 0
        both = pa.concat_tables(parts, promote_options="permissive")
        merged = both.group_by(self.keys, use_threads=False).aggregate([(self.value, self.how)])
        self.total = merged.select([*self.keys, f"{self.value}_{self.how}"]).rename_columns([*self.keys, self.value])


_FOLD_ROWS = 1_000_000
"""Rows of per-batch aggregates ``_Fold`` keeps before folding them in."""


def currency_format(code: str | None) -> str:
    """Excel number format of an amount in currency ``code`` (no currency: a plain amount)."""
    if not code:
        return "#,##0"
    symbol = CURRENCY_SYMBOLS.get(code, code)
    return f'"{symbol}"#,##0' if symbol in _SYMBOL_FIRST else f'#,##0 "{symbol}"'


# -- frames -------------------------------------------------------------------------------------
def _names(frame: pd.DataFrame, column: str, ids: str, product_names: pd.Series) -> pd.Series:
    """A name column of a table, else the product master's name, else the id (text kept in
    Arrow: a round trip through Python objects cost more than the rest of the sheet's frame)."""
    id_values = frame[ids].astype(str)
    if column in frame:
        names = frame[column].fillna("").astype(str)
    else:
        names = id_values.map(product_names).fillna("").astype(str)
    return names.where(names != "", id_values)


def call_list(
    suggestions: pd.DataFrame,
    customers: pd.DataFrame | None,
    facts: OrderFacts,
    lang: str,
    product_names: pd.Series | None = None,
) -> pd.DataFrame:
    """One country's ``buying_center_suggestions`` as the call list (columns named by
    ``CALL_LIST_FIELDS`` keys, those without data dropped): grouped by buying center, the highest
    total expected value first, rank order inside."""
    names = product_names if product_names is not None else pd.Series(dtype=str)
    rows = suggestions.reset_index(drop=True)
    bc = rows["buying_center_id"].astype(str)
    directory = _directory(customers)
    customer_name = bc.map(directory["customer_name"]).fillna("").astype(str) if len(directory) else pd.Series("", index=rows.index)
    rep = bc.map(directory["sales_rep"]).fillna("").astype(str) if len(directory) else pd.Series("", index=rows.index)
    out = pd.DataFrame(
        {
            "customer": customer_name.where(customer_name != "", rows["customer_id"].astype(str)),
            "customer_id": rows["customer_id"].astype(str),
            "buying_center_id": bc,
            "sales_rep": rep,
            "last_order": pd.to_datetime(bc.map(facts.last_order)) if len(facts.last_order) else pd.NaT,
            "rank": rows["rank"].astype("int64").to_numpy(),
            "product": _names(rows, "product_name", "product_id", names),
            "product_id": rows["product_id"].astype(str),
            "variant_id": rows["variant_id"].fillna("").astype(str),
            "kind": rows["kind"].map({k: message(f"kind.{k}", lang) for k in ("cross_sell", "up_sell")}).fillna(rows["kind"]),
            "score": rows["score"].astype(float).to_numpy(),
            "expected_value": rows["expected_value"].astype(float).to_numpy(),
            "reason": localised_reasons(rows, lang),
        }
    )
    total = out.groupby("buying_center_id", sort=False)["expected_value"].transform("sum")
    out = out.assign(_total=total.to_numpy()).sort_values(["_total", "buying_center_id", "rank"], ascending=[False, True, True], kind="mergesort")
    out = out.drop(columns="_total").reset_index(drop=True)
    dropped = [c for c, empty in (("customer_id", (customer_name == "").all()), ("sales_rep", (rep == "").all()),
                                   ("last_order", out["last_order"].isna().all())) if empty]  # fmt: skip
    return out.drop(columns=dropped)


def _directory(customers: pd.DataFrame | None) -> pd.DataFrame:
    """Buying center -> ``customer_name``, ``sales_rep`` from the customer master (empty where absent)."""
    if customers is None or customers.empty:
        return pd.DataFrame(columns=["customer_name", "sales_rep"])
    cols = {c: customers[c].fillna("").astype(str).to_numpy() if c in customers else "" for c in ("customer_name", "sales_rep")}
    return pd.DataFrame(cols, index=customers["buying_center_id"].astype(str).to_numpy()).groupby(level=0, sort=False).first()


def link_sheet(links: pd.DataFrame, lang: str, product_names: pd.Series | None = None) -> pd.DataFrame:
    """One country's ``cross_sell`` or ``up_sell`` rows for a sheet: by product name, product, rank."""
    names = product_names if product_names is not None else pd.Series(dtype=str)
    rows = links.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "product": _names(rows, "product_name", "product_id", names),
            "product_id": rows["product_id"].astype(str),
            "rank": rows["rank"].astype("int64").to_numpy(),
            "rec_product": _names(rows, "rec_product_name", "rec_product_id", names),
            "rec_product_id": rows["rec_product_id"].astype(str),
            "rec_variant_id": rows["rec_variant_id"].fillna("").astype(str),
            "score": rows["score"].astype(float).to_numpy(),
            **{c: rows[c].astype(float).to_numpy() for c in ("support", "confidence", "lift", "price_ratio") if c in rows},
            "reason": localised_reasons(rows, lang),
        }
    )
    key = _casefolded(out["product"])
    return out.assign(_key=key).sort_values(["_key", "product_id", "rank"], kind="mergesort").drop(columns="_key").reset_index(drop=True)


def _casefolded(text: pd.Series) -> pd.Series:
    """``text.str.casefold()``, each distinct value folded once (product names repeat per link;
    pandas folds Arrow text one Python string at a time); text of another kind as pandas folds it."""
    if text.empty or text.dtype != "str":
        return text.str.casefold()
    codes, uniques = pd.factorize(text)
    return pd.Series(pd.array(uniques.str.casefold(), dtype=text.dtype).take(codes, allow_fill=True), index=text.index)


def group_starts(keys: pd.Series) -> np.ndarray:
    """True where a new group (a run of equal ``keys``) starts."""
    values = keys.to_numpy(dtype=object)
    start = np.ones(len(values), dtype=bool)
    start[1:] = values[1:] != values[:-1]
    return start


def split_points(group_start: np.ndarray, max_rows: int) -> list[tuple[int, int]]:
    """(start, end) row ranges of at most ``max_rows`` rows, cut where a group starts whenever a
    group fits (a group longer than a sheet is cut where the sheet ends)."""
    n = len(group_start)
    if n <= max_rows:
        return [(0, n)]
    starts = np.flatnonzero(group_start)
    parts, begin = [], 0
    while n - begin > max_rows:
        limit = begin + max_rows
        candidates = starts[(starts > begin) & (starts <= limit)]
        end = int(candidates[-1]) if len(candidates) else limit
        parts.append((begin, end))
        begin = end
    parts.append((begin, n))
    return parts


# -- sheets -------------------------------------------------------------------------------------
def _columns(frame: pd.DataFrame, fields: tuple[Field, ...], lang: str, currency: str | None) -> list[XlsxColumn]:
    formats = {"expected_value": currency_format(currency), "last_order": message("format.date", lang)}
    return [
        XlsxColumn(f.key, message(f"col.{f.label}", lang), f.width, formats.get(f.key, f.number_format), f.wrap)
        for f in fields
        if f.key in frame
    ]


def sheets_of(name: str, frame: pd.DataFrame, group_key: str, lang: str, currency: str | None, max_rows: int) -> list[XlsxSheet]:
    """Sheets of one table (``call_list``, ``cross_sell``, ``up_sell``): one, or numbered parts
    of at most ``max_rows`` rows each."""
    columns = _columns(frame, SHEETS[name], lang, currency)
    starts = group_starts(frame[group_key])
    parts = split_points(starts, max_rows)
    title = message(f"sheet.{name}", lang)
    out = []
    for i, (begin, end) in enumerate(parts, 1):
        part_title = title if len(parts) == 1 else message("sheet.part", lang, name=title, part=i)
        group = starts[begin:end].copy()
        if len(group):
            group[0] = False  # the header row is the first line
        out.append(XlsxSheet(part_title, frame.iloc[begin:end].reset_index(drop=True), columns, group_start=group))
    return out


@dataclass(frozen=True)
class CountryBook:
    """Everything of one country's sales outputs."""

    country: str
    lang: str
    currency: str | None
    calls: pd.DataFrame
    cross_sell: pd.DataFrame
    up_sell: pd.DataFrame


def country_books(
    tables: Mapping[str, pd.DataFrame],
    customers: pd.DataFrame | None,
    facts: OrderFacts,
    languages: Mapping[str, str],
    currencies: Mapping[str, str],
    product_names: pd.Series | None = None,
) -> Iterator[CountryBook]:
    """One ``CountryBook`` per country of the tables, in country order (``ALL`` rows in their own)."""
    groups = {name: frame.groupby(frame["country"].astype(str), sort=True).indices for name, frame in tables.items()}  # row positions: one country's copy at a time
    for country in countries(dict(tables)):
        lang = language_of(country, languages)
        currency = currencies.get(country) or facts.currency.get(country)
        if country == ALL_COUNTRIES and not currency and len(set(facts.currency.values())) == 1:
            currency = next(iter(facts.currency.values()))

        def rows(name: str, country: str = country) -> pd.DataFrame:
            found = groups[name].get(country)
            return rows_at(tables[name], found) if found is not None else tables[name].iloc[0:0]  # the tables are sorted by country: a slice

        yield CountryBook(
            country=country,
            lang=lang,
            currency=currency,
            calls=call_list(rows("buying_center_suggestions"), customers, facts, lang, product_names),
            cross_sell=link_sheet(rows("cross_sell"), lang, product_names),
            up_sell=link_sheet(rows("up_sell"), lang, product_names),
        )


def readme_sheet(book: CountryBook, run: RunFacts, parts: Mapping[str, list[str]], *, rep: str | None = None, max_rows: int) -> XlsxSheet:
    """The Read me sheet: the run, then per sheet what its rows are and what each column means."""
    lang = book.lang
    items: list[tuple[str, str]] = []

    def add(label: str, value: object) -> None:
        items.append((label, "" if value is None else str(value)))

    title = message("readme.title_rep", lang, rep=rep, country=book.country) if rep else message("readme.title", lang, country=book.country)
    add(title, "")
    for label, value in run_facts(run, lang):
        add(label, value)
    add(message("readme.currency", lang), book.currency or "")
    add(message("readme.language", lang), LANGUAGE_NAMES.get(lang, lang))
    centers = book.calls["buying_center_id"].nunique()
    add(message("readme.rows", lang), message("readme.rows_value", lang, suggestions=len(book.calls), centers=centers, cross=len(book.cross_sell), up=len(book.up_sell)))
    frames = {"call_list": book.calls, "cross_sell": book.cross_sell, "up_sell": book.up_sell}
    for name, titles in parts.items():
        add("", "")
        split = max_rows if len(titles) > 1 else None
        about = message(f"readme.about.{name}", lang, country=book.country, split=split)
        add(message("readme.sheet", lang, sheet=", ".join(titles)), about)
        for f in SHEETS[name]:
            if f.key in frames[name]:
                add(message(f"col.{f.label}", lang), message(f"doc.{f.label}", lang, currency=book.currency or "-"))
    add("", "")
    add(message("readme.empty_cells", lang), "")
    add(message("readme.generated", lang), f"xsell {__version__}")
    frame = pd.DataFrame(items, columns=["item", "meaning"])
    columns = [XlsxColumn("item", message("col.item", lang), 34, bold=True, wrap=True), XlsxColumn("meaning", message("col.meaning", lang), 100, wrap=True)]
    return XlsxSheet(message("sheet.readme", lang), frame, columns, filter=False)


def run_facts(run: RunFacts, lang: str) -> list[tuple[str, str]]:
    """(label, text) of what is known about the run: as of, data, model, evaluation."""
    items = []
    if run.as_of:
        items.append((message("readme.as_of", lang), format_date(run.as_of, lang)))
    if run.lines is not None and run.data_start:
        span = message("readme.data_span", lang, lines=run.lines, start=format_date(run.data_start, lang), end=format_date(run.data_end, lang))
        items.append((message("readme.data", lang), span))
    if run.model:
        model = message("readme.model_value", lang, model=run.model, name=run.model_name, version=run.model_version) if run.model_name else run.model
        items.append((message("readme.model", lang), model))
    evaluation = evaluation_text(run.evaluation, lang)
    if evaluation:
        items.append((message("readme.evaluation", lang), evaluation))
    return items


def evaluation_text(champion: dict[str, Any] | None, lang: str) -> str | None:
    """The champion against the best popularity baseline, from ``champion.json``, or None."""
    if not champion or not champion.get("baselines"):
        return None
    name, baseline = max(champion["baselines"].items(), key=lambda kv: kv[1])
    value = champion.get("value")
    windows = champion.get("windows") or {}
    if value is None or not baseline:
        return None
    metric = re.sub(r"^cross_sell\.(\w+)\.at(\d+)$", lambda m: f"{m.group(1).upper()}@{m.group(2)}", str(champion.get("metric", "")))
    return message(
        "readme.evaluation_value", lang, start=format_date(windows.get("cutoff"), lang), end=format_date(windows.get("end"), lang),
        metric=metric, value=float(value), baseline=float(baseline), ratio=float(value) / float(baseline),
    )  # fmt: skip


def workbook_sheets(book: CountryBook, run: RunFacts, *, calls: pd.DataFrame | None = None, rep: str | None = None, max_rows: int = MAX_SHEET_ROWS) -> list[XlsxSheet]:
    """The sheets of a country's workbook (call list, cross-sell, up-sell, Read me) or, with
    ``rep``, of that rep's (``calls``: the rep's call list; call list and Read me only)."""
    sheets = {"call_list": sheets_of("call_list", book.calls if calls is None else calls, "buying_center_id", book.lang, book.currency, max_rows)}
    if rep is None:
        sheets["cross_sell"] = sheets_of("cross_sell", book.cross_sell, "product_id", book.lang, book.currency, max_rows)
        sheets["up_sell"] = sheets_of("up_sell", book.up_sell, "product_id", book.lang, book.currency, max_rows)
    view = book if calls is None else CountryBook(book.country, book.lang, book.currency, calls, book.cross_sell.iloc[0:0], book.up_sell.iloc[0:0])
    readme = readme_sheet(view, run, {k: [s.title for s in v] for k, v in sheets.items()}, rep=rep, max_rows=max_rows)
    return [s for group in sheets.values() for s in group] + [readme]


def rep_call_lists(book: CountryBook) -> dict[str, pd.DataFrame]:
    """Sales rep -> the rows of the rep's buying centers (reps with an empty name have none)."""
    if "sales_rep" not in book.calls:
        return {}
    reps = book.calls["sales_rep"].astype(str)
    return {rep: rows.reset_index(drop=True) for rep, rows in book.calls[reps != ""].groupby(reps[reps != ""], sort=True)}


def rep_file_stems(reps: list[str]) -> dict[str, str]:
    """A file name per rep (letters of any script, digits, ``-``, ``.``; the rest ``_``), unique:
    a second rep of the same name gets ``-2``, and so on."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for rep in sorted(reps):
        stem = re.sub(r"[^\w.-]", "_", rep.strip()).strip("._") or "_"
        candidate, n = stem, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate.casefold())
        out[rep] = candidate
    return out


def csv_frame(book: CountryBook) -> pd.DataFrame:
    """The call list with the sheet's headers, for ``sales/<country>.csv``."""
    columns = _columns(book.calls, CALL_LIST_FIELDS, book.lang, book.currency)
    frame = book.calls[[c.key for c in columns]].copy()
    if "last_order" in frame:
        frame["last_order"] = frame["last_order"].dt.strftime("%Y-%m-%d")
    frame.columns = [c.header for c in columns]
    return frame
