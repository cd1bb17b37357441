"""The message catalogue: complete in every language, one renderer for columns and scalars, and
reasons stored language-neutral (code + JSON fields) that render in each country's language."""

from __future__ import annotations

import json
import re
import typing

import numpy as np
import pandas as pd
import pytest

from xsell.messages import (
    LANGUAGES,
    MESSAGES,
    REASON_CODE,
    REASON_PARAMS,
    Language,
    fields,
    format_date,
    localised_reasons,
    message,
    parse_reason_params,
    reason_columns,
    reason_fields,
    reason_params_json,
    render,
    render_reasons,
)

REASON_CODES = sorted(k.removeprefix("reason.") for k in MESSAGES if k.startswith("reason."))
SAMPLE = {
    "anchor": ["Pumpe <A> & \"B\"", "Dübel", "Ventil"], "orders": [212, 1, 0], "buyers": [37, 1, 2], "switchers": [1, 3, 0],
    "country": ["DE", "", "AT"], "lift": [6.94, 1.25, np.nan], "ratio": [1.35, np.nan, 2.0], "family": ["F1", "F2", ""],
    "note": ["fits every pump", "", ""], "segment": ["Food", "", ""], "months": [12, 6, 1], "text": ["as written", "y", "x"],
    "lines": [99513, 1, 2], "start": ["2023-01-02", "", ""], "end": ["2025-12-31", "", ""], "model": ["blend", "", ""],
    "name": ["xsell-demo", "", ""], "version": ["3", "", ""], "metric": ["NDCG@10", "", ""], "value": [0.144, 0.0, 1.0],
    "baseline": [0.085, 0.0, 1.0], "currency": ["EUR", "", ""], "suggestions": [10, 1, 0], "centers": [2, 1, 0],
    "cross": [5, 0, 1], "up": [3, 1, 0], "split": [1048575, np.nan, 10], "sheet": ["Call list", "", ""], "rep": ["Anna", "", ""],
    "shown": [1, 2, 3], "matching": [4, 5, 6], "loaded": [1, 2, 3], "total": [4, 5, 6], "table": ["x", "", ""], "files": ["y", "", ""],
    "part": [1, 2, 3],
}  # fmt: skip
"""Field values covering every template: strings with markup, zero, one, many, missing."""


def test_every_message_exists_in_every_language_with_the_same_fields():
    assert set(typing.get_args(Language)) == set(LANGUAGES)
    for key, entry in MESSAGES.items():
        assert set(entry) == set(LANGUAGES), key
        names = {lang: set(fields(text)) for lang, text in entry.items()}
        assert all(n == names["en"] for n in names.values()), (key, names)
        assert set(names["en"]) <= set(SAMPLE), (key, set(names["en"]) - set(SAMPLE))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_one_renderer_for_columns_and_scalars(lang):
    frame = pd.DataFrame(SAMPLE)
    for key in MESSAGES:
        column = render(key, frame, lang)
        for i in range(len(frame)):
            row = {k: v[i] for k, v in SAMPLE.items()}
            assert message(key, lang, **row) == column[i], (key, i)
        assert not any("{" in text for text in column), key  # every field filled


def test_plural_conditional_and_number_formats():
    row = {"anchor": "Pumpe A", "orders": 212, "buyers": 37, "country": "DE", "lift": 6.94}
    assert message("reason.cross_sell.together", "en", **row) == (
        "bought together with Pumpe A in 212 orders; 37 DE buying centers buy both (6.9× as often as by chance)"
    )
    assert message("reason.cross_sell.together", "de", **row) == (
        "zusammen mit Pumpe A in 212 Aufträgen gekauft; 37 Einkaufsstellen in DE kaufen beides (6,9-mal so oft wie zufällig)"
    )
    one = {**row, "orders": 1, "buyers": 1, "country": ""}  # the ALL rows name no country
    assert message("reason.cross_sell.together", "en", **one).startswith("bought together with Pumpe A in 1 order; 1 buying center buys both")
    assert message("reason.cross_sell.together", "de", **one).startswith("zusammen mit Pumpe A in 1 Auftrag gekauft; 1 Einkaufsstelle kauft beides")
    assert message("reason.up_sell.curated", "en", note="", ratio=np.nan) == "recommended by product management"
    assert message("reason.up_sell.curated", "de", note="neu", ratio=1.5) == "empfohlen vom Produktmanagement: neu (1,5-facher Preis)"
    assert message("readme.data_span", "de", lines=99513, start="02.01.2023", end="31.12.2025") == "99.513 Auftragspositionen vom 02.01.2023 bis 31.12.2025"
    assert message("readme.data_span", "en", lines=99513, start="a", end="b") == "99,513 order lines from a to b"
    assert format_date("2026-01-31", "de") == "31.01.2026" and format_date("2026-01-31", "en") == "2026-01-31" and format_date(None) == ""


def test_reason_columns_round_trip_and_render_in_german():
    params = pd.DataFrame(SAMPLE)
    codes = np.array(["cross_sell.together", "curated", "suggestion.popular"], dtype=object)
    cols = reason_columns(codes, params)
    assert list(cols["reason"]) == list(render_reasons(codes, params, "en"))
    parsed = parse_reason_params(cols[REASON_PARAMS])
    assert json.loads(cols[REASON_PARAMS][0]) == {"anchor": 'Pumpe <A> & "B"', "buyers": 37, "country": "DE", "lift": 6.94, "orders": 212}
    assert json.loads(cols[REASON_PARAMS][1]) == {"note": ""}  # only the fields of its code
    table = pd.DataFrame({"reason": cols["reason"], REASON_CODE: cols[REASON_CODE], REASON_PARAMS: cols[REASON_PARAMS]})
    german = localised_reasons(table, "de")
    assert list(german) == list(render_reasons(codes, parsed, "de"))
    assert german[0].startswith('zusammen mit Pumpe <A> & "B" in 212 Aufträgen') and german[1] == "empfohlen vom Produktmanagement"
    assert list(localised_reasons(table, "en")) == list(cols["reason"])


def test_reason_columns_render_each_distinct_row_once_as_every_row_would():
    """Rows repeating a (code, fields) combination share one rendering; the result equals rendering
    every row by itself: plurals, missing numbers and texts, NaN / None, equal values shown
    differently (-0.0 / 0.0, 1 / 1.0 / True in an object column: as the first of its equals), fields
    the code does not use."""
    rng = np.random.default_rng(3)
    n_proto, n = 40, 4000
    codes = np.array(["suggestion.popular", "suggestion.similar_buyers", "cross_sell.together", "up_sell.switched"], dtype=object)
    proto = pd.DataFrame(
        {
            "buyers": rng.integers(0, 4, n_proto), "country": rng.choice(np.array(["DE", "", "AT", None], dtype=object), n_proto),
            "segment": pd.Series(rng.choice(["Food", "", "Bau"], n_proto), dtype="str"), "months": rng.choice([1, 12], n_proto),
            "orders": rng.choice([0, 1, 5], n_proto), "switchers": rng.choice([1.0, 3.0, np.nan], n_proto),
            "ratio": rng.choice([1.35, np.nan], n_proto), "unused": rng.integers(0, 2, n_proto),
        }
    )  # fmt: skip
    at = rng.integers(0, n_proto, n)
    params = proto.iloc[at].reset_index(drop=True).assign(
        anchor=np.array([1, 1.0, True, "Ä & <b>", None, np.nan], dtype=object)[rng.integers(0, 6, n)],
        lift=rng.choice([-0.0, 0.0, 1.25, np.nan], n),
    )
    row_codes = codes[rng.integers(0, len(codes), n)]
    for rows in (slice(None), slice(None, None, -1), slice(7, 9), slice(0, 0)):
        c, p = row_codes[rows], params.iloc[rows].reset_index(drop=True)
        got = reason_columns(c, p.set_index(p.index + 5))
        assert list(got["reason"]) == list(render_reasons(c, p))
        assert list(got[REASON_PARAMS]) == list(reason_params_json(c, p))
        assert list(got[REASON_CODE]) == list(c)
    assert len(params.astype(str).drop_duplicates()) < n / 4  # the rows repeat (the check has teeth)


def test_reason_params_are_the_json_objects_of_the_fields_each_code_uses():
    """Each row's ``reason_params`` is ``json.dumps`` of the fields its code uses (keys sorted, no
    spaces, text as it is): whole numbers plainly, others rounded to 6 decimals, NaN and infinite
    numbers null, missing texts empty."""
    rng = np.random.default_rng(11)
    n = 5000
    codes = np.array(["cross_sell.together", "cross_sell.similar", "curated", "up_sell.switched"], dtype=object)[rng.integers(0, 4, n)]
    params = pd.DataFrame(
        {
            "anchor": np.array(['Pumpe "X"', "Ventil ä", "", None, "a\\b", "x\ny"], dtype=object)[rng.integers(0, 6, n)],
            "orders": rng.integers(0, 50, n), "buyers": rng.integers(0, 9, n),
            "country": pd.Series(rng.choice(["DE", "ALL", ""], n), dtype="str"),
            "lift": np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 10.0 ** rng.integers(-8, 18, n)),
            "note": np.array(["", "pin", None], dtype=object)[rng.integers(0, 3, n)], "switchers": rng.choice([1.0, 2.5, -0.0], n),
        }
    )  # fmt: skip
    params.loc[:3, "lift"] = [np.inf, -np.inf, 2.0000004, 1e16]

    def shown(name: str, v: object) -> object:
        if name not in params:
            return ""
        if pd.api.types.is_numeric_dtype(params[name]):
            v = float(v)  # type: ignore[arg-type]
            return None if not np.isfinite(v) else int(v) if v.is_integer() else round(v, 6)
        return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)

    def expected(code: str, i: int) -> str:
        fields = {name: shown(name, params[name].iloc[i] if name in params else None) for name in reason_fields(code)}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    got = reason_params_json(codes, params)
    assert list(got) == [expected(c, i) for i, c in enumerate(codes)]
    assert len(set(got)) > n / 4  # the rows differ (the check has teeth)


def test_tables_without_codes_or_with_unknown_codes_keep_their_text():
    plain = pd.DataFrame({"reason": ["written before codes existed"]})
    assert list(localised_reasons(plain, "de")) == ["written before codes existed"]
    odd = pd.DataFrame({"reason": ["from a newer xsell", "x"], REASON_CODE: ["no.such.code", "curated"], REASON_PARAMS: ["{}", '{"note":"n"}']})
    assert list(localised_reasons(odd, "de")) == ["from a newer xsell", "empfohlen vom Produktmanagement: n"]


@pytest.mark.parametrize("dtype", ["str", object])
def test_localised_reasons_render_each_distinct_reason_once_as_every_row_would(dtype):
    """Rows repeating a reason (the same code and params) share one rendering; the result equals
    rendering every row by itself: Arrow text and objects, missing codes and params, unknown codes."""
    together = "cross_sell.together"
    codes = [together, "curated", None, together, "no.such.code", "curated", "curated", together]
    params = [
        '{"anchor":"A","buyers":2,"country":"DE","lift":1.5,"orders":3}', '{"note":"n"}', None,
        '{"anchor":"B","buyers":1,"country":"AT","lift":2.25,"orders":1}', "{}", '{"note":"n"}', None,
        '{"anchor":"A","buyers":2,"country":"DE","lift":1.5,"orders":3}',
    ]  # fmt: skip
    english = [f"english {c} {p}" for c, p in zip(codes, params)]  # equal where the code and params are
    table = pd.DataFrame({"reason": english, REASON_CODE: codes, REASON_PARAMS: params}).astype(dtype)
    for rows in (table, table.iloc[3:], table.iloc[::-1], table.iloc[[0, 0, 0]]):
        known = rows[REASON_CODE].isin([k.removeprefix("reason.") for k in MESSAGES])
        each = render_reasons(
            np.where(known, rows[REASON_CODE].fillna("text").to_numpy(dtype=object), "text").astype(object),
            parse_reason_params(rows[REASON_PARAMS].to_numpy(dtype=object)).assign(text=rows["reason"].to_numpy(dtype=object)),
            "de",
        )
        assert list(localised_reasons(rows, "de")) == list(each)


@pytest.mark.parametrize("code", REASON_CODES)
def test_every_reason_code_renders_without_model_names(code):
    for lang in LANGUAGES:
        text = render_reasons(np.array([code] * 3, dtype=object), pd.DataFrame(SAMPLE), lang)
        assert all(t.strip() for t in text)
        assert not any(re.search(r"\b(item_knn|als|bpr|ease|rp3beta|rules|blend|popularity_\w+)\b", t) for t in text)


def test_localised_reasons_of_arrow_text_stay_arrow_text_in_every_language():
    """Reasons of Arrow-backed text come back as ``str`` (no Python objects per row, which the
    sales sheets would convert back); an object column (or an empty one) as objects; the values
    equal in every case."""
    params = pd.DataFrame(SAMPLE)
    codes = np.array(["cross_sell.together", "curated", "suggestion.popular"], dtype=object)
    cols = reason_columns(codes, params)
    table = pd.DataFrame({"reason": cols["reason"], REASON_CODE: cols[REASON_CODE], REASON_PARAMS: cols[REASON_PARAMS]})
    for lang in ("en", "de"):
        text = localised_reasons(table.astype("str"), lang)
        objects = localised_reasons(table.astype(object), lang)
        assert list(text) == list(objects)
        assert pd.Series(text).dtype == "str"
        assert isinstance(text, pd.api.extensions.ExtensionArray)
        assert isinstance(objects, np.ndarray) == (lang == "en")  # rendered German reasons are Arrow text either way
    assert isinstance(localised_reasons(table.astype("str").iloc[0:0], "en"), np.ndarray)
