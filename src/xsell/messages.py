"""The one message catalogue: every text a sales rep reads (reasons, workbook headers, the Read me
sheet, the site), in English and German, and the renderer that fills it in.

A message is a template with fields:

- ``{name}``: the value (numbers without thousands separators; a missing value is empty);
- ``{name:.1f}``: a number in that format, with the language's decimal mark;
- ``{name|one|other}``: ``one`` when the number is 1, else ``other``;
- ``{name?then|else}``: ``then`` when the value is not empty, else ``else`` (``|else`` optional).

In ``one``, ``other``, ``then`` and ``else`` a ``#`` stands for the value. Every language of a
message uses the same fields (``tests/test_messages.py`` checks it).

Reasons are stored language-neutral next to the English text: ``reason_code`` (a key under
``reason.``) and ``reason_params`` (a JSON object of the code's fields), so the publish step
renders each country's language from the same facts (``localised_reasons``). ``render`` works on
whole columns at once: the tables hold millions of rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LANGUAGES: tuple[str, ...] = ("en", "de")
"""Languages of the catalogue; ``en`` is the default and the language of the ``reason`` column."""
Language = Literal["en", "de"]
"""A language of the catalogue (config values, e.g. ``publish.languages``)."""
DEFAULT_LANGUAGE = "en"
REASON_CODE, REASON_PARAMS = "reason_code", "reason_params"
"""Extra table columns: the reason's catalogue code (a key under ``reason.``) and its fields as JSON."""
TEXT_REASON = "text"
"""Code of a reason that exists only as text (tables written before reasons had codes)."""
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas' default text dtype (``str``): the dtype of rendered reasons."""

_FIELD = re.compile(r"\{(?P<name>[a-z_]+)(?::(?P<spec>[^|?}]+))?(?:(?P<op>[|?])(?P<arg>[^{}]*))?\}")

MESSAGES: dict[str, dict[str, str]] = {
    # -- reasons (reason.<code>) -------------------------------------------------------------
    "reason.text": {"en": "{text}", "de": "{text}"},
    "reason.curated": {
        "en": "recommended by product management{note?: #}",
        "de": "empfohlen vom Produktmanagement{note?: #}",
    },
    "reason.cross_sell.together": {
        "en": "bought together with {anchor} in {orders} {orders|order|orders}; {buyers} {country?# }"
        "{buyers|buying center buys|buying centers buy} both ({lift:.1f}× as often as by chance)",
        "de": "zusammen mit {anchor} in {orders} {orders|Auftrag|Aufträgen} gekauft; {buyers} "
        "{buyers|Einkaufsstelle|Einkaufsstellen}{country? in #} {buyers|kauft|kaufen} beides ({lift:.1f}-mal so oft wie zufällig)",
    },
    "reason.cross_sell.buyers": {
        "en": "{buyers} {country?# }{buyers|buying center buys|buying centers buy} both this and {anchor}",
        "de": "{buyers} {buyers|Einkaufsstelle|Einkaufsstellen}{country? in #} {buyers|kauft|kaufen} dies und {anchor}",
    },
    "reason.cross_sell.similar": {
        "en": "buyers of {anchor} have similar purchase patterns",
        "de": "Käufer von {anchor} kaufen ähnlich ein",
    },
    "reason.up_sell.switched": {
        "en": "chosen as an upgrade by {switchers} of the {buyers} {country?# }{buyers|buying center|buying centers} that bought {anchor}"
        "{ratio:.1f? (#× the price)}",
        "de": "{switchers} der {buyers} {buyers|Einkaufsstelle|Einkaufsstellen}{country? in #}, die {anchor} kauften, {switchers|stieg|stiegen} "
        "darauf um{ratio:.1f? (#-facher Preis)}",
    },
    "reason.up_sell.similar": {
        "en": "the higher-value choice in the {family} family{ratio:.1f? (#× the price)}, bought by buyers similar to those of {anchor}",
        "de": "die höherwertige Wahl der Familie {family}{ratio:.1f? (#-facher Preis)}, gekauft von Kunden wie denen von {anchor}",
    },
    "reason.up_sell.curated": {
        "en": "recommended by product management{note?: #}{ratio:.1f? (#× the price)}",
        "de": "empfohlen vom Produktmanagement{note?: #}{ratio:.1f? (#-facher Preis)}",
    },
    "reason.suggestion.most_bought": {
        "en": "one of the products most bought {country?in #|overall} ({buyers} {buyers|buying center|buying centers})",
        "de": "eines der meistgekauften Produkte {country?in #|insgesamt} ({buyers} {buyers|Einkaufsstelle|Einkaufsstellen})",
    },
    "reason.suggestion.similar_buyers": {
        "en": "buying centers with purchase histories like yours buy this ({buyers} {buyers|buying center|buying centers}"
        "{country? in #} bought it)",
        "de": "Einkaufsstellen mit ähnlicher Einkaufshistorie kaufen dies ({buyers} {buyers|Einkaufsstelle|Einkaufsstellen}"
        "{country? in #} {buyers|hat|haben} es gekauft)",
    },
    "reason.suggestion.popular": {
        "en": "popular with {buyers} {buyers|buying center|buying centers} {country?in #|across all countries}"
        "{segment? (segment #)} in the last {months} months",
        "de": "beliebt bei {buyers} {buyers|Einkaufsstelle|Einkaufsstellen} {country?in #|in allen Ländern}"
        "{segment? (Branche #)} in den letzten {months} Monaten",
    },
    # -- values --------------------------------------------------------------------------------
    "kind.cross_sell": {"en": "Cross-sell", "de": "Ergänzung"},
    "kind.up_sell": {"en": "Up-sell", "de": "Höherwertig"},
    "format.date": {"en": "yyyy-mm-dd", "de": "dd.mm.yyyy"},
    "format.date_text": {"en": "%Y-%m-%d", "de": "%d.%m.%Y"},
    # -- sheets --------------------------------------------------------------------------------
    "sheet.call_list": {"en": "Call list", "de": "Anrufliste"},
    "sheet.cross_sell": {"en": "Cross-sell", "de": "Ergänzungen"},
    "sheet.up_sell": {"en": "Up-sell", "de": "Höherwertige"},
    "sheet.readme": {"en": "Read me", "de": "Lies mich"},
    "sheet.part": {"en": "{name} ({part})", "de": "{name} ({part})"},
    # -- column headers (col.<key>) and their meaning (doc.<key>) ------------------------------
    "col.customer": {"en": "Customer", "de": "Kunde"},
    "doc.customer": {
        "en": "The customer's name from the customer master (its number where the master has no name).",
        "de": "Name des Kunden laut Kundenstamm (seine Nummer, wo der Stamm keinen Namen hat).",
    },
    "col.customer_id": {"en": "Customer no.", "de": "Kundennr."},
    "doc.customer_id": {"en": "The customer's account number in the ERP.", "de": "Kundennummer (Debitor) im ERP."},
    "col.buying_center_id": {"en": "Buying center", "de": "Einkaufsstelle"},
    "doc.buying_center_id": {
        "en": "The buying center (plant, department or ship-to of the customer) the suggestions are for.",
        "de": "Die Einkaufsstelle (Werk, Abteilung oder Warenempfänger des Kunden), für die die Vorschläge gelten.",
    },
    "col.sales_rep": {"en": "Sales rep", "de": "Außendienst"},
    "doc.sales_rep": {
        "en": "The sales representative or territory of the buying center (customer master); each has a workbook of their own.",
        "de": "Außendienstmitarbeiter oder Gebiet der Einkaufsstelle (Kundenstamm); jeder hat eine eigene Arbeitsmappe.",
    },
    "col.last_order": {"en": "Last order", "de": "Letzte Bestellung"},
    "doc.last_order": {"en": "Date of the buying center's latest order.", "de": "Datum der letzten Bestellung der Einkaufsstelle."},
    "col.rank": {"en": "Rank", "de": "Rang"},
    "doc.rank": {
        "en": "1 = the strongest suggestion for this buying center (or product).",
        "de": "1 = der stärkste Vorschlag für diese Einkaufsstelle (bzw. dieses Produkt).",
    },
    "col.product": {"en": "Product", "de": "Produkt"},
    "doc.product": {"en": "The product to offer (name from the product master).", "de": "Das anzubietende Produkt (Name laut Materialstamm)."},
    "col.product_id": {"en": "Product no.", "de": "Produktnr."},
    "doc.product_id": {"en": "The product's number.", "de": "Die Nummer des Produkts."},
    "col.variant_id": {"en": "Variant", "de": "Variante"},
    "doc.variant_id": {
        "en": "The variant to quote: the buying center's own earlier configuration, else the most ordered one in the country.",
        "de": "Die anzubietende Variante: die frühere Ausführung der Einkaufsstelle, sonst die im Land meistbestellte.",
    },
    "col.kind": {"en": "Kind", "de": "Art"},
    "doc.kind": {
        "en": "Cross-sell: goes with what the buying center buys. Up-sell: a higher-value alternative to it.",
        "de": "Ergänzung: passt zu dem, was die Einkaufsstelle kauft. Höherwertig: eine höherwertige Alternative dazu.",
    },
    "col.score": {"en": "Score", "de": "Score"},
    "doc.score": {
        "en": "How strongly the model recommends it: 100% = the top of its list, lower = further down.",
        "de": "Wie stark das Modell es empfiehlt: 100 % = ganz oben auf seiner Liste, weniger = weiter unten.",
    },
    "col.expected_value": {"en": "Expected value", "de": "Erwarteter Wert"},
    "doc.expected_value": {
        "en": "Score × the product's typical order line value in this country, in {currency}: a guide for whom to call first.",
        "de": "Score × typischer Positionswert des Produkts in diesem Land, in {currency}: ein Anhaltspunkt, wen man zuerst anruft.",
    },
    "col.reason": {"en": "Why", "de": "Begründung"},
    "doc.reason": {
        "en": "Why it is suggested, with the evidence from the order history, in words to use with the customer.",
        "de": "Warum es vorgeschlagen wird, mit den Belegen aus der Auftragshistorie, in Worten für das Kundengespräch.",
    },
    "col.rec_product": {"en": "Recommended product", "de": "Empfohlenes Produkt"},
    "doc.rec_product": {"en": "The product to offer with the product on the left.", "de": "Das Produkt, das zum Produkt links angeboten wird."},
    "col.rec_product_id": {"en": "Recommended no.", "de": "Empf. Produktnr."},
    "doc.rec_product_id": {"en": "The recommended product's number.", "de": "Die Nummer des empfohlenen Produkts."},
    "col.rec_variant_id": {"en": "Variant", "de": "Variante"},
    "doc.rec_variant_id": {"en": "The variant of the recommended product to quote.", "de": "Die anzubietende Variante des empfohlenen Produkts."},
    "col.upgrade": {"en": "Upgrade", "de": "Höherwertige Alternative"},
    "doc.upgrade": {"en": "The higher-value product to offer instead.", "de": "Das höherwertige Produkt, das stattdessen angeboten wird."},
    "col.upgrade_id": {"en": "Upgrade no.", "de": "Alternative Nr."},
    "doc.upgrade_id": {"en": "The higher-value product's number.", "de": "Die Nummer des höherwertigen Produkts."},
    "col.support": {"en": "Orders with both", "de": "Aufträge mit beiden"},
    "doc.support": {
        "en": "Share of this country's orders that contain both products; empty where they were never ordered together.",
        "de": "Anteil der Aufträge dieses Landes, die beide Produkte enthalten; leer, wo sie nie zusammen bestellt wurden.",
    },
    "col.confidence": {"en": "Also bought", "de": "Mitgekauft"},
    "doc.confidence": {
        "en": "Of the orders with the product, the share that also contain the recommended one; empty where none did.",
        "de": "Anteil der Aufträge mit dem Produkt, die auch das empfohlene enthalten; leer, wo keiner es tat.",
    },
    "col.lift": {"en": "Lift", "de": "Lift"},
    "doc.lift": {
        "en": "How many times as often the two are ordered together as by chance; empty where never together.",
        "de": "Wie viel mal so oft die beiden zusammen bestellt werden wie zufällig; leer, wo nie zusammen.",
    },
    "col.price_ratio": {"en": "Price factor", "de": "Preisfaktor"},
    "doc.price_ratio": {
        "en": "The upgrade's typical price divided by the product's.",
        "de": "Typischer Preis der Alternative geteilt durch den des Produkts.",
    },
    "col.item": {"en": "Item", "de": "Punkt"},
    "col.meaning": {"en": "Meaning", "de": "Bedeutung"},
    # -- the Read me sheet ------------------------------------------------------------------------
    "readme.title": {"en": "xsell call list for {country}", "de": "xsell-Anrufliste für {country}"},
    "readme.title_rep": {"en": "xsell call list of {rep} ({country})", "de": "xsell-Anrufliste von {rep} ({country})"},
    "readme.as_of": {"en": "Recommendations as of", "de": "Empfehlungen mit Stand"},
    "readme.data": {"en": "Order history", "de": "Auftragshistorie"},
    "readme.data_span": {
        "en": "{lines:,.0f} order lines from {start} to {end}",
        "de": "{lines:,.0f} Auftragspositionen vom {start} bis {end}",
    },
    "readme.model": {"en": "Model", "de": "Modell"},
    "readme.model_value": {"en": "{model} ({name} version {version})", "de": "{model} ({name} Version {version})"},
    "readme.evaluation": {"en": "Tested against popularity", "de": "Geprüft gegen Beliebtheit"},
    "readme.evaluation_value": {
        "en": "on the orders of {start} to {end}, held back from training: {metric} {value:.3f} against {baseline:.3f} "
        "for the best popularity list ({ratio:.1f}× as good)",
        "de": "an den Aufträgen vom {start} bis {end}, die beim Lernen zurückgehalten wurden: {metric} {value:.3f} "
        "gegenüber {baseline:.3f} für die beste Beliebtheitsliste ({ratio:.1f}-mal so gut)",
    },
    "readme.currency": {"en": "Currency", "de": "Währung"},
    "readme.language": {"en": "Language", "de": "Sprache"},
    "readme.rows": {"en": "Rows", "de": "Zeilen"},
    "readme.rows_value": {
        "en": "{suggestions} suggestions for {centers} buying centers; {cross} cross-sell and {up} up-sell links",
        "de": "{suggestions} Vorschläge für {centers} Einkaufsstellen; {cross} Ergänzungen und {up} höherwertige Alternativen",
    },
    "readme.sheet": {"en": "Sheet “{sheet}”", "de": "Blatt „{sheet}“"},
    "readme.about.call_list": {
        "en": "One block per buying center, the buying centers with the highest total expected value first, each "
        "block in rank order: whom to call and what to offer.{split? Above # rows a sheet continues on the next one.}",
        "de": "Ein Block je Einkaufsstelle, die mit dem höchsten erwarteten Gesamtwert zuerst, jeder Block nach Rang: "
        "wen man anruft und was man anbietet.{split? Über # Zeilen geht ein Blatt auf dem nächsten weiter.}",
    },
    "readme.about.cross_sell": {
        "en": "For each product sold in {country}: the products to offer with it, strongest first.",
        "de": "Zu jedem in {country} verkauften Produkt: die Produkte, die man dazu anbietet, die stärksten zuerst.",
    },
    "readme.about.up_sell": {
        "en": "For each product sold in {country}: higher-value alternatives of the same family, strongest first.",
        "de": "Zu jedem in {country} verkauften Produkt: höherwertige Alternativen derselben Familie, die stärksten zuerst.",
    },
    "readme.empty_cells": {
        "en": "Empty cells mean the figure does not apply to the row (e.g. two products never ordered together).",
        "de": "Leere Zellen bedeuten, dass die Angabe für die Zeile nicht zutrifft (z. B. zwei nie zusammen bestellte Produkte).",
    },
    "readme.generated": {"en": "Made by", "de": "Erstellt von"},
    # -- the site ---------------------------------------------------------------------------------
    "site.title": {"en": "xsell call lists", "de": "xsell-Anruflisten"},
    "site.country_title": {"en": "Call list {country}", "de": "Anrufliste {country}"},
    "site.all_countries": {"en": "All countries", "de": "Alle Länder"},
    "site.search": {"en": "Search", "de": "Suchen"},
    "site.search_hint": {
        "en": "customer, buying center or product (number or name)",
        "de": "Kunde, Einkaufsstelle oder Produkt (Nummer oder Name)",
    },
    "site.search_links_hint": {"en": "product (number or name)", "de": "Produkt (Nummer oder Name)"},
    "site.loading": {"en": "Loading {loaded} of {total} rows …", "de": "Lade {loaded} von {total} Zeilen …"},
    "site.showing": {"en": "{shown} of {matching} matching rows shown", "de": "{shown} von {matching} passenden Zeilen angezeigt"},
    "site.no_match": {"en": "No matching rows.", "de": "Keine passenden Zeilen."},
    "site.no_script": {
        "en": "This page needs JavaScript to show the rows; the downloads work without it.",
        "de": "Diese Seite braucht JavaScript, um die Zeilen zu zeigen; die Downloads gehen auch ohne.",
    },
    "site.downloads": {"en": "Downloads", "de": "Downloads"},
    "site.workbook": {"en": "Workbook (XLSX)", "de": "Arbeitsmappe (XLSX)"},
    "site.csv": {"en": "Call list (CSV)", "de": "Anrufliste (CSV)"},
    "site.rep_workbooks": {"en": "Sales reps' workbooks", "de": "Arbeitsmappen je Außendienst"},
    "site.country": {"en": "Country", "de": "Land"},
    "site.language": {"en": "Language", "de": "Sprache"},
    "site.buying_centers": {"en": "Buying centers", "de": "Einkaufsstellen"},
    "site.suggestions": {"en": "Suggestions", "de": "Vorschläge"},
    "site.links": {"en": "Product links", "de": "Produktverknüpfungen"},
    "site.all_tables": {"en": "All countries as tables", "de": "Alle Länder als Tabellen"},
    "site.table_files": {"en": "{table}: {files}", "de": "{table}: {files}"},
    "site.total": {"en": "total", "de": "gesamt"},
}


# -- lookup -----------------------------------------------------------------------------------
def template(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The template of message ``key`` in ``lang`` (English where the language lacks it)."""
    try:
        entry = MESSAGES[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in the catalogue") from None
    return entry.get(lang) or entry[DEFAULT_LANGUAGE]


@cache
def fields(text: str) -> tuple[str, ...]:
    """Names of the fields of a template, in order of first use."""
    return tuple(dict.fromkeys(m.group("name") for m in _FIELD.finditer(text)))


def reason_fields(code: str) -> tuple[str, ...]:
    """Fields of reason ``code`` (the same in every language)."""
    return fields(template(f"reason.{code}"))


def format_count(value: int, lang: str = DEFAULT_LANGUAGE) -> str:
    """A count with the language's thousands separator: ``19,680`` / ``19.680``."""
    return _scalar_text(int(value), ",.0f", lang)


def format_date(value: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """A date (``2026-01-31``, a ``Timestamp``) as the language writes it; empty for none."""
    if value is None or value == "" or pd.isna(value):
        return ""
    return pd.Timestamp(value).strftime(template("format.date_text", lang))


def language_of(country: str, languages: Mapping[str, str]) -> str:
    """The language of a country's files: ``publish.languages``, else English."""
    return languages.get(str(country), DEFAULT_LANGUAGE)


# -- rendering ----------------------------------------------------------------------------------
def _localise_number(text: np.ndarray, lang: str) -> np.ndarray:
    if lang != "de":
        return text
    swap = str.maketrans({",": ".", ".": ","})
    return np.array([t.translate(swap) for t in text], dtype=object)


def _values(column: pd.Series, spec: str | None, lang: str) -> np.ndarray:
    """A column as display text: empty for missing values; numbers formatted (``spec``, else
    integers plainly), strings as they are."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.to_numpy(dtype=float)
        present = np.isfinite(numbers)
        codes, uniques = pd.factorize(numbers)
        if spec:
            shown = [format(v, spec) for v in uniques]
        else:
            shown = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniques]
        text = _localise_number(np.asarray(shown, dtype=object), lang)[codes] if len(uniques) else np.full(len(numbers), "", dtype=object)  # each distinct number once
        return np.where(present, text, "").astype(object)
    return _texts(column)


def _texts(column: pd.Series) -> np.ndarray:
    """Each value as ``str`` (missing: ``""``), made once per distinct value: ``astype(str)`` on
    the whole object column made a fixed-width unicode copy (4 bytes x the longest text per row)."""
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    return np.asarray([str(v) for v in uniques] + [""], dtype=object)[codes]


def _fill(form: str, text: np.ndarray) -> np.ndarray | str:
    """``form`` with every ``#`` replaced by the row's ``text``."""
    if "#" not in form:
        return form
    parts = form.split("#")
    out = np.full(len(text), parts[0], dtype=object)
    for part in parts[1:]:
        out = out + text + part
    return out


def render(key: str, params: pd.DataFrame, lang: str = DEFAULT_LANGUAGE) -> np.ndarray:
    """Message ``key`` rendered for every row of ``params`` (one column per field; a missing
    column is an empty field). Returns an object array of strings."""
    text = template(key, lang)
    n = len(params)
    out = np.full(n, "", dtype=object)
    pos = 0
    for m in _FIELD.finditer(text):
        out = out + text[pos : m.start()]
        name, spec, op, arg = m.group("name", "spec", "op", "arg")
        column = params[name] if name in params else pd.Series([""] * n, index=params.index, dtype=object)
        value = _values(column, spec, lang)
        if op == "|":
            one, _, other = arg.partition("|")
            number = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            out = out + np.where(number == 1, _fill(one, value), _fill(other, value))
        elif op == "?":
            then, _, otherwise = arg.partition("|")
            out = out + np.where(value == "", _fill(otherwise, value), _fill(then, value))
        else:
            out = out + value
        pos = m.end()
    return (out + text[pos:]).astype(object)


def _scalar_text(value: object, spec: str | None, lang: str) -> str:
    """One value as ``_values`` shows it."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NaT:
        return ""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        text = format(number, spec) if spec else (str(int(number)) if number.is_integer() else repr(number))
        return str(_localise_number(np.array([text], dtype=object), lang)[0])
    return str(value)


def _is_one(value: object) -> bool:
    try:
        return float(value) == 1  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def message(key: str, lang: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """One message rendered with scalar ``params`` (what ``render`` gives for a one-row frame,
    without building one: headers and the Read me ask for thousands)."""

    def field(m: re.Match[str]) -> str:
        name, spec, op, arg = m.group("name", "spec", "op", "arg")
        raw = params.get(name)
        value = _scalar_text(raw, spec, lang)
        if op == "|":
            one, _, other = arg.partition("|")
            return (one if _is_one(raw) else other).replace("#", value)
        if op == "?":
            then, _, otherwise = arg.partition("|")
            return (then if value else otherwise).replace("#", value)
        return value

    return _FIELD.sub(field, template(key, lang))


def render_reasons(codes: np.ndarray | pd.Series, params: pd.DataFrame, lang: str = DEFAULT_LANGUAGE) -> np.ndarray:
    """The reason of every row: its ``reason.<code>`` message filled from its row of ``params``."""
    codes = np.asarray(codes, dtype=object)
    out = np.full(len(codes), "", dtype=object)
    for code in pd.unique(codes):
        rows = np.flatnonzero(codes == code)
        out[rows] = render(f"reason.{code}", params.iloc[rows], lang)
    return out


# -- reasons as table columns ------------------------------------------------------------------
def _json_values(column: pd.Series) -> pa.Array:
    """JSON text of each value: numbers (integers plainly, NaN as null) or strings; each distinct
    value's text made once and taken per row in Arrow (no Python string per row)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.to_numpy(dtype=float)
        codes, uniques = pd.factorize(numbers)
        shown = [str(int(v)) if float(v).is_integer() else repr(round(float(v), 6)) for v in uniques]
        return pa.array([*shown, "null"], type=pa.string()).take(np.where(np.isfinite(numbers), codes, len(shown)))
    codes, uniques = pd.factorize(_texts(column))
    return pa.array([json.dumps(v, ensure_ascii=False) for v in uniques], type=pa.string()).take(codes)


def reason_params_json(codes: np.ndarray | pd.Series, params: pd.DataFrame) -> np.ndarray:
    """``reason_params`` of every row: a JSON object of the fields its code uses, keys sorted."""
    codes = np.asarray(codes, dtype=object)
    out = np.full(len(codes), "{}", dtype=object)
    for code in pd.unique(codes):
        rows = np.flatnonzero(codes == code)
        parts: list[pa.Array | str] = ["{"]
        for i, name in enumerate(sorted(reason_fields(code))):
            column = params[name].iloc[rows] if name in params else pd.Series([""] * len(rows), dtype=object)
            parts += [("," if i else "") + json.dumps(name) + ":", _json_values(column)]
        if len(parts) > 1:  # joined in Arrow, the texts become Python strings once
            out[rows] = pc.binary_join_element_wise(*parts, "}", "").to_numpy(zero_copy_only=False)
    return out


def reason_columns(codes: np.ndarray | pd.Series, params: pd.DataFrame) -> dict[str, np.ndarray]:
    """``reason`` (English), ``reason_code`` and ``reason_params`` for rows with these codes and fields,
    each distinct (code, fields) row rendered once (a table's rows repeat a few thousand reasons)."""
    columns, inverse = distinct_reason_columns(codes, params)
    return {c: v[inverse] for c, v in columns.items()}


def distinct_reason_columns(codes: np.ndarray | pd.Series, params: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``reason_columns`` of each distinct (code, fields) row of ``codes`` and ``params``, in order of
    first appearance, and each row's position among them. The first row of a distinct one stands
    for it: each value is shown as the first of its equals in the rows (``pd.factorize``'s
    equality), as rendering every row shows it. Where nearly every row is distinct (a link table's
    evidence), every row is rendered as it is (no copy of the fields, no take)."""
    params = params.reset_index(drop=True)
    codes = np.asarray(codes, dtype=object)
    inverse = _distinct_rows([codes, *(params[c] for c in params.columns)], most=int(0.9 * len(codes)))
    if inverse is None:
        columns = {"reason": render_reasons(codes, params, DEFAULT_LANGUAGE), REASON_CODE: codes, REASON_PARAMS: reason_params_json(codes, params)}
        return columns, np.arange(len(codes))
    first = _first_rows(inverse)
    once, once_params = codes[first], params.iloc[first].reset_index(drop=True)
    columns = {"reason": render_reasons(once, once_params, DEFAULT_LANGUAGE), REASON_CODE: once, REASON_PARAMS: reason_params_json(once, once_params)}
    return columns, inverse


def _distinct_rows(columns: list[np.ndarray | pd.Series], most: int) -> np.ndarray | None:
    """Per row, a code of its distinct combination of ``columns`` (values equal as ``pd.factorize``
    finds them, missing values equal to each other), codes numbered in order of first appearance;
    None as soon as there are more than ``most`` combinations (more columns only add to them)."""
    n = len(columns[0])
    inverse = np.zeros(n, dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)
        inverse, combinations = pd.factorize(inverse * (len(uniques) + 1) + (codes + 1))  # a code per combination so far: stays below n * (n + 1)
        if len(combinations) > most:
            return None
    return np.asarray(inverse, dtype=np.int64)


def _first_rows(inverse: np.ndarray) -> np.ndarray:
    """The first row of each code of ``inverse`` (codes numbered in order of first appearance, as
    ``pd.factorize`` numbers them)."""
    return np.flatnonzero(np.diff(np.maximum.accumulate(inverse), prepend=-1) > 0)


def parse_reason_params(texts: np.ndarray | pd.Series) -> pd.DataFrame:
    """``reason_params`` JSON objects as one frame (a column per field, missing where a row lacks it)."""
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    records = pd.DataFrame.from_records([json.loads(t) if isinstance(t, str) and t else {} for t in uniques], index=range(len(uniques)))
    return records.iloc[codes].reset_index(drop=True) if len(uniques) else pd.DataFrame(index=range(len(codes)))


def localised_reasons(frame: pd.DataFrame, lang: str) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The ``reason`` of every row of a table in ``lang``: rendered from ``reason_code`` and
    ``reason_params`` (each distinct reason once), the ``reason`` column itself for English or
    where the table has no codes. Text (``str``: Arrow-backed, missing values NaN) unless the
    ``reason`` column is of another kind or empty (then Python objects, as it holds them)."""
    if lang == DEFAULT_LANGUAGE or REASON_CODE not in frame or REASON_PARAMS not in frame or frame.empty:
        reason = frame["reason"]
        return reason.array if reason.dtype == _TEXT and len(reason) else reason.to_numpy(dtype=object)  # Arrow text stays Arrow
    code = frame[REASON_CODE].fillna(TEXT_REASON).astype(str)
    inverse, uniques = pd.factorize(code + "\x00" + frame[REASON_PARAMS].fillna("{}").astype(str))  # hashed, in Arrow for Arrow text
    first = _first_rows(inverse)
    code_first = code.iloc[first].to_numpy(dtype=object)
    params = parse_reason_params(frame[REASON_PARAMS].iloc[first].to_numpy(dtype=object))
    unknown = ~np.isin(code_first, [k.removeprefix("reason.") for k in MESSAGES if k.startswith("reason.")])
    rendered = render_reasons(np.where(unknown, TEXT_REASON, code_first), params.assign(text=frame["reason"].iloc[first].to_numpy(dtype=object)), lang)
    return pd.array(rendered, dtype=_TEXT).take(inverse)  # each distinct reason converted to Arrow text once
