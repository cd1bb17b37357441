"""Vectorised value parsers: source values (strings from CSV, or typed from Parquet) -> canonical.

Every parser accepts a string column *or* an already typed one (Parquet) and returns NaN/NaT
where a value cannot be parsed, so the caller can mark exactly which rows failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.ingest.config import FALSE_VALUES, TRUE_VALUES

_FLOAT_ID = r"^([+-]?\d+)\.0+$"


def as_text(values: pd.Series) -> pd.Series:
    """Any column -> ``str`` dtype with surrounding blanks stripped and missing values as ``""``.

    Typed numbers keep their natural text (``3.5``, ``17850.0``); datetimes are ISO formatted.
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = values.fillna("") if values.hasnans else values
        return text.str.strip()
    if values.dtype == object:
        text = values.astype("str")
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S").astype("str")
    else:
        text = values.astype("str")
    return text.where(values.notna(), "").str.strip()


def is_blank(values: pd.Series) -> np.ndarray:
    """Mask of missing values: NaN/None in typed columns, empty or blank strings in text columns."""
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        return (as_text(values) == "").to_numpy()
    return values.isna().to_numpy()


def parse_ids(values: pd.Series, *, float_ids: bool = True) -> pd.Series:
    """Identifier column -> stripped ``str``; ``""`` where missing.

    With ``float_ids``, integral floats written by spreadsheets (``17850.0``, or a float
    Parquet column) become ``17850``. Ids with letters or other decimals are left alone.
    """
    if pd.api.types.is_float_dtype(values.dtype) and float_ids:
        integral = values.notna() & (values == np.floor(values))
        text = as_text(values)
        ints = values.where(integral, 0).astype("int64").astype("str")
        return ints.where(integral, text)
    text = as_text(values)
    if float_ids and text.str.contains(".", regex=False).any():
        text = text.str.replace(_FLOAT_ID, r"\1", regex=True)
    return text


def parse_numbers(values: pd.Series, *, decimal: str = ".", thousands: str | None = None) -> pd.Series:
    """Numeric column -> float64; NaN where empty, not a number or not finite (``inf``,
    ``Infinity``, ``1e309``: no quantity or price is infinite, and one would poison every sum).

    Strings may use a decimal comma, a thousands separator and SAP's trailing minus (``12,50-``).
    """
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        out = values.astype("float64")
    else:
        text = as_text(values)
        if thousands:
            text = text.str.replace(thousands, "", regex=False)
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
        if text.str.endswith("-").any():  # SAP's trailing minus (a regex over every value otherwise)
            text = text.str.replace(r"^(.+)-$", r"-\1", regex=True)
        out = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    return out.where(np.isfinite(out.to_numpy()))


DATE_MIN, DATE_MAX = pd.Timestamp.min, pd.Timestamp.max
"""The canonical date range (``datetime64[ns]``: 1677-09-21 .. 2262-04-11)."""
_TIME_WITH_OFFSET = r"(\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
"""A time of day followed by a UTC offset (``10:00:00Z``, ``10:00+01:00``, ``10:00:00 +0100``)."""
_ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}"


def _parse_date_text(text: pd.Series, date_format: str | None, dayfirst: bool) -> pd.Series:
    """Distinct date strings -> timestamps (any resolution); NaT where unparseable."""
    text = text.str.replace(_TIME_WITH_OFFSET, r"\1", regex=True)  # local wall-clock time: offset dropped
    text = text.where(text != "", None)
    if date_format:
        return pd.to_datetime(text, format=date_format, errors="coerce")
    iso = text.str.match(_ISO_DATE, na=False).to_numpy(dtype=bool)
    if not dayfirst or iso.all():
        return pd.to_datetime(text, format="ISO8601", errors="coerce")
    parts = [pd.to_datetime(text[~iso], dayfirst=True, errors="coerce")]  # 2024-01-04 stays 4 January
    if iso.any():
        parts.append(pd.to_datetime(text[iso], format="ISO8601", errors="coerce"))
    return pd.concat([p.astype("datetime64[us]") for p in parts]).reindex(text.index)


def parse_dates(values: pd.Series, *, date_format: str | None = None, dayfirst: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Date column -> (naive ``datetime64[ns]``, out-of-range sign per row).

    ``date_format`` (strftime) wins; else ISO 8601 (``2024-03-01``, ``2024-03-01 08:26:00``); with
    ``dayfirst`` the values that are not ISO are read day first (``01/02/2024`` = 1 February).
    Dates are local calendar dates: a UTC offset or time zone is dropped, never converted
    (``2024-03-01T23:30:00-05:00`` is 1 March; a Berlin-aware Parquet timestamp keeps its Berlin
    date). The result is NaT where empty, unparseable or outside ``DATE_MIN`` .. ``DATE_MAX``;
    the sign array is -1 for parsed dates before that range (``0001-01-01``), +1 after it
    (SAP's "no end date" ``31.12.9999``), else 0.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values
    else:
        codes, uniques = pd.factorize(as_text(values))
        parsed = _parse_date_text(pd.Series(uniques, dtype="str"), date_format, dayfirst)
        out = pd.Series(parsed.to_numpy()[codes] if len(codes) else parsed.iloc[:0].to_numpy(), index=values.index)
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    sign = np.zeros(len(out), dtype="int8")
    sign[(out < DATE_MIN).to_numpy(dtype=bool)] = -1
    sign[(out > DATE_MAX).to_numpy(dtype=bool)] = 1
    return out.where(sign == 0).astype("datetime64[ns]"), sign


def parse_flags(
    values: pd.Series, *, true_values: Iterable[str] = TRUE_VALUES, false_values: Iterable[str] = FALSE_VALUES
) -> tuple[pd.Series, np.ndarray]:
    """Flag column -> (bool, mask of unrecognised values). Text is compared case-insensitively
    with ``true_values`` / ``false_values`` (``data.csv.*``); an empty value is False. Typed
    booleans are taken as they are, typed numbers must be 0 or 1."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype("bool"), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return (values.fillna(0) != 0).astype("bool"), (values.notna() & ~values.isin([0, 1])).to_numpy(dtype=bool)
    text = as_text(values).str.lower()
    true = text.isin({v.lower() for v in true_values}).to_numpy(dtype=bool)
    false = (text.isin({v.lower() for v in false_values}) | (text == "")).to_numpy(dtype=bool)
    return pd.Series(true, index=values.index, dtype="bool"), ~(true | false)


def parse_country_lists(values: pd.Series) -> pd.Series:
    """Assortment lists separated by ``;`` ``,`` or ``|`` -> sorted, de-duplicated, ``;``-joined."""
    text = as_text(values)
    codes, uniques = pd.factorize(text)
    canonical = [";".join(sorted({p.strip() for p in u.replace(",", ";").replace("|", ";").split(";")} - {""})) for u in uniques]
    return pd.Series(np.asarray(canonical, dtype=object)[codes] if len(codes) else [], index=values.index, dtype="str")


def lookup_positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position of each value in ``keys`` (first occurrence), ``-1`` where absent. Hash join in Arrow."""
    needles, haystack = _arrow_text(values), _arrow_text(keys)
    if len(haystack) <= len(needles):
        return pc.index_in(needles, value_set=haystack).fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    # many keys, few values: hash the values instead and look each key up among them (building
    # a hash table costs more than probing it), then keep each value's first key
    distinct = pc.dictionary_encode(needles, null_encoding="encode")
    where = pc.index_in(haystack, value_set=distinct.dictionary).to_numpy(zero_copy_only=False)
    key_rows = np.flatnonzero(~np.isnan(where)) if where.dtype.kind == "f" else np.arange(len(where))
    out = np.full(len(distinct.dictionary), -1, dtype="int64")
    out[where[key_rows].astype("int64")[::-1]] = key_rows[::-1]  # the first key wins (written last)
    return out[distinct.indices.to_numpy(zero_copy_only=False)]


class Coded:
    """A column dictionary-encoded: its distinct values and, per row, the position of its value.

    The value parsers of this module are elementwise, so they run on the distinct values only
    (``map``) and their results are gathered per row by the codes (``rows``, ``series``, ``arrow``): no
    parsing, and no Python object, per row. ``uniques`` has a RangeIndex; a missing value is one
    of them (NaN / None), so every code is valid.
    """

    __slots__ = ("codes", "uniques")

    def __init__(self, codes: np.ndarray, uniques: pd.Series) -> None:
        self.codes = codes
        self.uniques = uniques.reset_index(drop=True)

    @classmethod
    def encode(cls, values: pd.Series) -> Coded:
        """Dictionary-encode a column (Arrow's hash table for Arrow-backed text, else pandas')."""
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            array = pa.array(values.array)
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            encoded = pc.dictionary_encode(array, null_encoding="encode")
            uniques = pd.Series(pd.array(encoded.dictionary, dtype=values.dtype))
            return cls(encoded.indices.to_numpy(zero_copy_only=False), uniques)
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        return cls(codes, pd.Series(uniques))

    def __len__(self) -> int:
        return len(self.codes)

    def map(self, parse: Callable[[pd.Series], pd.Series]) -> Coded:
        """``parse`` (elementwise, Series -> Series of the same length) applied to the distinct values."""
        return Coded(self.codes, parse(self.uniques))

    def rows(self, per_value: np.ndarray | pd.Series, where: np.ndarray | None = None) -> np.ndarray:
        """A per-value array gathered per row (the rows of mask ``where`` only, when given)."""
        values = per_value.to_numpy() if isinstance(per_value, pd.Series) else per_value
        return values[self.codes if where is None else self.codes[where]]

    def series(self, where: np.ndarray | None = None) -> pd.Series:
        """The values per row (of mask ``where``), as a Series of the values' dtype (fresh RangeIndex)."""
        codes = self.codes if where is None else self.codes[where]
        if _is_text(self.uniques):
            return pd.Series(pd.array(_arrow_text(self.uniques).take(pa.array(codes)), dtype="str"))
        return self.uniques.take(codes).reset_index(drop=True)

    def present(self) -> pa.Array:
        """The distinct values that occur (as Arrow ``large_string``; values that parse alike merged)."""
        used = np.flatnonzero(np.bincount(self.codes, minlength=len(self.uniques)))
        return pc.unique(_arrow_text(self.uniques).take(pa.array(used)))

    def arrow(self, where: np.ndarray | None = None) -> pa.Array:
        """The text values per row (of mask ``where``) as an Arrow ``large_string`` array."""
        return _arrow_text(self.uniques).take(pa.array(self.codes if where is None else self.codes[where]))


def _is_text(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.StringDtype) or values.dtype == object


def _arrow_text(values: pd.Series | np.ndarray | list[str]) -> pa.Array:
    """Text values as an Arrow ``large_string`` array (missing -> null); an Arrow-backed Series without copying."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = pa.array(values.array)
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        return array.cast(pa.large_string())
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)


def pair_codes(first: np.ndarray, second: np.ndarray, n_second: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dictionary-encode pairs of codes: per row the pair's position, and per distinct pair its
    ``first`` and ``second`` code."""
    width = max(n_second, 1)
    keys = first.astype("int64") * width + second.astype("int64")
    space = (int(first.max()) + 1) * width if len(first) else 0
    if space <= 4 * len(keys) + 1024:  # a small key space: numbered by a presence table (no hashing)
        present = np.zeros(space, dtype=bool)
        present[keys] = True
        uniques = np.flatnonzero(present)
        number = np.cumsum(present) - 1
        codes = number[keys]
    else:
        codes, uniques = pd.factorize(keys)
    return codes, uniques // width, uniques % width


def text_from_codes(uniques: pd.Series | np.ndarray | list[str], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``uniques[codes]`` as a ``str`` Series, gathered in Arrow (no per-row Python objects)."""
    labels = _arrow_text(uniques)
    return pd.Series(pd.array(labels.take(pa.array(np.asarray(codes, dtype="int64"))), dtype="str"), index=index)


_HASH_WIDTH = 256
"""Longest text (bytes) ``_text_hashes`` hashes from Arrow's buffers; longer ones: pandas' hash."""
_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


def _text_hashes(values: pa.Array) -> np.ndarray:
    """uint64 hash of each text value, computed from the Arrow buffers (its bytes read 8 at a
    time, folded, then mixed as in MurmurHash3's finaliser): no Python object per value. A text
    longer than ``_HASH_WIDTH`` bytes is hashed by pandas instead, a missing value to a constant:
    the hash of a value never depends on the others. Only ever compared with hashes of the
    same function (``KeyIndex``, ``value_hashes``)."""
    values = values.cast(pa.large_string())
    n = len(values)
    if not n:
        return np.empty(0, dtype="uint64")
    offsets = np.frombuffer(values.buffers()[1], dtype="int64")[values.offset : values.offset + n + 1]
    lengths = np.diff(offsets)
    long = np.flatnonzero(lengths > _HASH_WIDTH)
    data = values.buffers()[2]
    first, end = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(end - first + 8, dtype="uint8")  # 8 bytes readable from every position
    if data is not None and end > first:
        padded[: end - first] = np.frombuffer(data, dtype="uint8")[first:end]
    words = np.ndarray(shape=(end - first + 1,), dtype="uint64", buffer=padded, strides=(1,))  # the 8 bytes from each position
    starts = offsets[:-1] - first
    h = lengths.astype("uint64") * _M1
    for start in range(0, min(int(lengths.max()), _HASH_WIDTH), 8):
        left = lengths - start
        word = words[starts + np.minimum(start, lengths)]
        keep = np.where(left >= 8, ~np.uint64(0), (np.uint64(1) << (np.clip(left, 0, 7).astype("uint64") * np.uint64(8))) - np.uint64(1))
        mixed = (h ^ (word & keep)) * _M2
        h = np.where(left > 0, mixed ^ (mixed >> np.uint64(29)), h)
    h ^= h >> np.uint64(33)
    h *= _M2
    h ^= h >> np.uint64(33)
    h *= _M3
    h ^= h >> np.uint64(33)
    if len(long):
        h[long] = pd.util.hash_array(values.take(pa.array(long)).to_numpy(zero_copy_only=False), categorize=False)
    if values.null_count:
        h[values.is_null().to_numpy(zero_copy_only=False)] = _M3  # missing: not the hash of any text, of "" neither
    return h


def value_hashes(values: pd.Series) -> np.ndarray:
    """uint64 hash of each value of a column: Arrow-backed text from its buffers
    (``_text_hashes``), anything else by pandas' value hash."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return _text_hashes(_arrow_text(values))
    return pd.util.hash_array(values.to_numpy(), categorize=False)


class KeyIndex:
    """Text keys indexed by their 64-bit hashes, sorted: built (or grown, ``add``) once and
    probed per batch, so a lookup hashes the values only, never all keys again (a ``pc.index_in``
    builds a hash table of its value set on every call, which made the ingest slow down as its
    distinct ids accumulated). Exact: every hash match is confirmed by comparing the texts; a
    collision, or a missing value, falls back to Arrow's hash join (``pc.index_in``)."""

    def __init__(self, keys: pa.Array | pa.ChunkedArray | pd.Series | None = None) -> None:
        self._chunks: list[pa.Array] = []
        self._starts = np.zeros(1, dtype="int64")
        """Position of each chunk's first key (and one past the last key)."""
        self._hashes = np.empty(0, dtype="uint64")
        self._rows = np.empty(0, dtype="int64")
        self._nulls = False
        if keys is not None:
            keys = _as_arrow(keys).cast(pa.large_string())
            self._insert(keys, _text_hashes(keys))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def keys(self) -> pa.ChunkedArray:
        """The keys in the order they were added (large_string)."""
        return pa.chunked_array(self._chunks, type=pa.large_string())

    def _insert(self, keys: pa.Array, hashes: np.ndarray) -> None:
        if not len(keys):
            return
        self._nulls |= keys.null_count > 0
        order = np.argsort(hashes, kind="stable")  # equal hashes: the earlier key first
        rows = np.arange(len(self), len(self) + len(keys), dtype="int64")[order]
        hashes = hashes[order]
        at = np.searchsorted(self._hashes, hashes, side="right")  # after the earlier keys' equal hashes
        self._hashes, self._rows = np.insert(self._hashes, at, hashes), np.insert(self._rows, at, rows)
        self._chunks.append(keys)
        self._starts = np.append(self._starts, len(self) + len(keys))

    def positions(self, values: pa.Array | pd.Series) -> np.ndarray:
        """Position of each value among the keys (first occurrence, as added), ``-1`` where absent
        (``lookup_positions``)."""
        values = _as_arrow(values).cast(pa.large_string())
        return self._find(values, _text_hashes(values) if len(values) and len(self) else np.empty(0, dtype="uint64"))

    def _find(self, values: pa.Array, hashes: np.ndarray) -> np.ndarray:
        if not len(self) or not len(values):
            return np.full(len(values), -1, dtype="int64")
        if self._nulls or values.null_count:
            return _index_in(values, self.keys())
        order = np.argsort(hashes)  # probed in ascending order: the binary searches stay in cache
        at = np.minimum(np.searchsorted(self._hashes, hashes[order]), len(self._hashes) - 1)
        found = self._hashes[at] == hashes[order]
        out = np.full(len(values), -1, dtype="int64")
        out[order[found]] = self._rows[at[found]]
        if not self._same_text(out, values):  # a hash collision: the exact join
            return _index_in(values, self.keys())
        return out

    def _same_text(self, rows: np.ndarray, values: pa.Array) -> bool:
        """Whether every value with a row (``rows >= 0``) equals the key there, compared chunk by
        chunk (a take from the chunked keys would first concatenate them all)."""
        hit = np.flatnonzero(rows >= 0)
        chunk = np.searchsorted(self._starts, rows[hit], side="right") - 1
        for c in np.unique(chunk):
            mine = hit[chunk == c]
            keys = self._chunks[c].take(pa.array(rows[mine] - self._starts[c]))
            if not pc.all(pc.equal(keys, values.take(pa.array(mine)))).as_py():
                return False
        return True

    def add(self, values: pa.Array | pa.ChunkedArray | pd.Series) -> None:
        """Add the distinct ``values`` that are not keys yet (a set of distinct values, grown batch by batch)."""
        values = pc.unique(_as_arrow(values)).cast(pa.large_string())
        hashes = _text_hashes(values)
        new = self._find(values, hashes) < 0
        self._insert(values.filter(pa.array(new)), hashes[new])


def _as_arrow(values: pa.Array | pa.ChunkedArray | pd.Series) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values if isinstance(values, pa.Array) else _arrow_text(values)


def _index_in(values: pa.Array, keys: pa.ChunkedArray) -> np.ndarray:
    return pc.index_in(values, value_set=keys.combine_chunks()).fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
