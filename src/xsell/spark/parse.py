"""Spark column expressions that parse source values like ``xsell.ingest.parse`` does.

Each function mirrors the pandas parser of the same name (the equality tests run both on the
same exports). Nulls stand for pandas' NaN / NaT. Where Spark cannot do what the pandas parser
does, ``SparkDialectError`` names the config key and what to set instead (README "Running on
Spark": input dialects).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from xsell.errors import ConfigError
from xsell.ingest.parse import _FLOAT_ID, _TIME_WITH_OFFSET

_PY_WHITESPACE = r"[\s\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""The characters Python's ``str.strip()`` removes (Java's ``\\s`` is ASCII only)."""
_STRIP = rf"^{_PY_WHITESPACE}+|{_PY_WHITESPACE}+$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
"""What ``pd.to_numeric`` reads as a number (Java's parser also takes ``1.5d``, ``0x1p3``, ``Infinity``)."""
DATE_MIN_MICROS = "1677-09-21 00:12:43.145225"
"""First microsecond inside ``xsell.ingest.parse.DATE_MIN`` (pandas' nanosecond range)."""
DATE_MAX_MICROS = "2262-04-11 23:47:16.854775"
"""Last microsecond inside ``DATE_MAX``."""


class SparkDialectError(ConfigError):
    """An input dialect the Spark backend does not read (exit 2); the message names the key."""


def java_regex(pattern: str) -> str:
    """A Python ``re`` pattern for Spark (Java regex): ``\\Z`` -> ``\\z``; named groups
    ``(?P<n>...)`` are refused with the key to change (Java spells them ``(?<n>...)``)."""
    if "(?P<" in pattern or "(?P=" in pattern:
        raise SparkDialectError(f"regex {pattern!r} uses Python's named groups (?P<...>), which Spark's Java regex lacks; use plain groups")
    return pattern.replace(r"\Z", r"\z")


def is_numeric_type(dtype: T.DataType) -> bool:
    return isinstance(dtype, (T.NumericType, T.BooleanType))


def is_datetime_type(dtype: T.DataType) -> bool:
    return isinstance(dtype, (T.DateType, T.TimestampType, T.TimestampNTZType))


def nanos_to_timestamp(name: str) -> Column:
    """Column ``name``, a Parquet ``TIMESTAMP(NANOS)`` that Spark reads as nanoseconds since the
    epoch (``spark.sql.legacy.parquet.nanosAsLong``), as a timestamp floored to microseconds."""
    return F.expr(f"timestamp_micros((`{name}` - pmod(`{name}`, 1000)) div 1000)")


def strip(col: Column) -> Column:
    """Python's ``str.strip()``."""
    return F.regexp_replace(col, _STRIP, "")


def as_text(col: Column, dtype: T.DataType) -> Column:
    """``xsell.ingest.parse.as_text``: any column -> stripped text, ``""`` where missing.
    Datetimes as ``yyyy-MM-dd HH:mm:ss``; doubles as Python writes them where Java differs
    (``inf``, ``nan`` -> ``""``, ``17850.0``)."""
    if is_datetime_type(dtype):
        text = F.date_format(col.cast(T.TimestampNTZType()), "yyyy-MM-dd HH:mm:ss")
    elif isinstance(dtype, (T.DoubleType, T.FloatType)):
        text = (
            F.when(F.isnan(col), F.lit(None))
            .when(col == float("inf"), F.lit("inf"))
            .when(col == float("-inf"), F.lit("-inf"))
            .otherwise(col.cast("string"))
        )
    elif isinstance(dtype, T.BooleanType):
        text = F.when(col, F.lit("True")).when(~col, F.lit("False"))
    else:
        text = col.cast("string")
    return F.coalesce(strip(text), F.lit(""))


def is_blank(col: Column, dtype: T.DataType) -> Column:
    """``xsell.ingest.parse.is_blank``."""
    if isinstance(dtype, T.StringType):
        return as_text(col, dtype) == ""
    if isinstance(dtype, (T.DoubleType, T.FloatType)):
        return col.isNull() | F.isnan(col)
    return col.isNull()


def parse_ids(col: Column, dtype: T.DataType, *, float_ids: bool = True) -> Column:
    """``xsell.ingest.parse.parse_ids``: stripped text; integral floats without ``.0``."""
    if isinstance(dtype, (T.DoubleType, T.FloatType)) and float_ids:
        integral = col.isNotNull() & ~F.isnan(col) & (col == F.floor(col)) & (F.abs(col) < 9.2e18)
        return F.when(integral, col.cast("long").cast("string")).otherwise(as_text(col, dtype))
    text = as_text(col, dtype)
    if float_ids:
        text = F.regexp_replace(text, _FLOAT_ID, "$1")
    return text


def parse_numbers(col: Column, dtype: T.DataType, *, decimal: str = ".", thousands: str | None = None) -> Column:
    """``xsell.ingest.parse.parse_numbers``: double, null where empty, not a number or not finite."""
    if is_numeric_type(dtype):
        out = col.cast("double")
    else:
        text = as_text(col, dtype)
        if thousands:
            text = F.replace(text, F.lit(thousands), F.lit(""))
        if decimal != ".":
            text = F.replace(text, F.lit(decimal), F.lit("."))
        text = F.regexp_replace(text, r"^(.+)-$", "-$1")
        out = F.when(text.rlike(_NUMBER), text.try_cast("double"))
    return F.when(out.isNotNull() & ~F.isnan(out) & (F.abs(out) != float("inf")), out)


# -- dates -------------------------------------------------------------------------------------
_DIRECTIVES: dict[str, tuple[str, str | None]] = {
    "Y": (r"(\d{4})", "year"),
    "y": (r"(\d{2})", "year2"),
    "m": (r"(1[0-2]|0[1-9]|[1-9])", "month"),
    "d": (r"(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])", "day"),
    "H": (r"(2[0-3]|[0-1]\d|\d)", "hour"),
    "M": (r"([0-5]\d|\d)", "minute"),
    "S": (r"(6[0-1]|[0-5]\d|\d)", "second"),
    "f": (r"(\d{1,9})", "fraction"),
    "%": ("%", None),
}
"""strftime directives the Spark backend reads, as Python's ``strptime`` matches them."""
_ISO_PARTS = (
    r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?|(\d{2})(\d{2}))?$"
)
"""ISO 8601 as the Spark backend reads it: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYYMMDD``,
each date with an optional `` HH[:MM[:SS[.f]]]`` or ``THH...`` time."""


def strftime_regex(date_format: str) -> tuple[str, list[str]]:
    """A ``date_format`` as a full-match regex and the part each group holds; an unsupported
    directive is a ``SparkDialectError`` naming it."""
    out, parts, i = ["^"], [], 0
    while i < len(date_format):
        ch = date_format[i]
        if ch == "%" and i + 1 < len(date_format):
            directive = date_format[i + 1]
            if directive not in _DIRECTIVES:
                raise SparkDialectError(
                    f"data.csv.date_format {date_format!r}: directive %{directive} is not read by engine.backend "
                    f"spark (supported: {' '.join('%' + d for d in _DIRECTIVES)})",
                    key="data.csv.date_format",
                )
            regex, part = _DIRECTIVES[directive]
            out.append(regex)
            if part:
                parts.append(part)
            i += 2
        elif ch.isspace():
            out.append(r"\s+")
            i += 1
        else:
            out.append(re.escape(ch))
            i += 1
    out.append("$")
    return "".join(out), parts


def _timestamp(year: Column, month: Column, day: Column, hour: Column, minute: Column, second: Column, fraction: Column) -> Column:
    """A timestamp (no time zone) from text parts; null where the date does not exist."""
    frac = F.coalesce(F.rpad(F.substring(fraction, 1, 6), 6, "0"), F.lit("000000"))
    seconds = F.concat_ws(".", F.coalesce(second, F.lit("0")), frac).cast("decimal(16,6)")
    ok = (year.cast("int") >= 1) & (F.coalesce(second.cast("int"), F.lit(0)) < 60)
    ts = F.try_make_timestamp_ntz(
        year.cast("int"), F.coalesce(month.cast("int"), F.lit(1)), F.coalesce(day.cast("int"), F.lit(1)),
        F.coalesce(hour.cast("int"), F.lit(0)), F.coalesce(minute.cast("int"), F.lit(0)), seconds,
    )  # fmt: skip
    return F.when(ok, ts)


def _from_text(text: Column, date_format: str | None) -> Column:
    text = F.regexp_replace(text, _TIME_WITH_OFFSET.replace(r"\d", "[0-9]"), "$1")
    if date_format:
        regex, parts = strftime_regex(date_format)
        group = {p: F.regexp_extract(text, regex, i + 1) for i, p in enumerate(parts)}
        year = group.get("year")
        if year is None and "year2" in group:
            y2 = group["year2"].cast("int")
            year = F.when(y2 < 69, y2 + 2000).otherwise(y2 + 1900).cast("string")
        none = F.lit(None).cast("string")
        ts = _timestamp(
            year if year is not None else F.lit("1900"), F.ltrim(group.get("month", none)), F.ltrim(group.get("day", none)),
            group.get("hour", none), group.get("minute", none), group.get("second", none), group.get("fraction", none),
        )  # fmt: skip
        return F.when(text.rlike(regex), ts)
    g = [F.nullif(F.regexp_extract(text, _ISO_PARTS, i), F.lit("")) for i in range(1, 10)]
    compact = g[7].isNotNull()
    ts = _timestamp(
        g[0], F.when(compact, g[7]).otherwise(g[1]), F.when(compact, g[8]).otherwise(g[2]), g[3], g[4], g[5], g[6]
    )
    return F.when(text.rlike(_ISO_PARTS), ts)


def parse_dates(col: Column, dtype: T.DataType, *, date_format: str | None = None, dayfirst: bool = False, zone: str | None = None) -> tuple[Column, Column]:
    """``xsell.ingest.parse.parse_dates``: (timestamp without zone, null where empty /
    unparseable / out of range; range sign -1 / 0 / +1). ``zone``: the time zone of a
    zone-aware Parquet timestamp column, whose local wall-clock time is kept."""
    if is_datetime_type(dtype):
        out = col.cast(T.TimestampNTZType())  # session time zone UTC: an instant's UTC wall time
        if zone:
            out = F.convert_timezone(F.lit("UTC"), F.lit(zone), out)
    elif isinstance(dtype, T.StringType):
        if dayfirst and not date_format:
            raise SparkDialectError(
                "data.csv.dayfirst without data.csv.date_format is not read by engine.backend spark (pandas guesses "
                "the format per value); set data.csv.date_format, e.g. '%d/%m/%Y'",
                key="data.csv.date_format",
            )
        out = _from_text(as_text(col, dtype), date_format)
    else:
        raise SparkDialectError(f"a date column of type {dtype.simpleString()} is not read by engine.backend spark", key="data.columns.order_date")
    low, high = F.lit(DATE_MIN_MICROS).cast(T.TimestampNTZType()), F.lit(DATE_MAX_MICROS).cast(T.TimestampNTZType())
    sign = F.when(out < low, F.lit(-1)).when(out > high, F.lit(1)).otherwise(F.lit(0))
    return F.when(sign == 0, out), sign


def parse_flags(col: Column, dtype: T.DataType, *, true_values: Iterable[str], false_values: Iterable[str]) -> tuple[Column, Column]:
    """``xsell.ingest.parse.parse_flags``: (bool, unrecognised)."""
    if isinstance(dtype, T.BooleanType):
        return F.coalesce(col, F.lit(False)), F.lit(False)
    if is_numeric_type(dtype):
        return F.coalesce(col != 0, F.lit(False)), col.isNotNull() & ~col.isin(0, 1)
    text = F.lower(as_text(col, dtype))
    true = text.isin(sorted({v.lower() for v in true_values}))
    false = text.isin(sorted({v.lower() for v in false_values})) | (text == "")
    return true, ~(true | false)

