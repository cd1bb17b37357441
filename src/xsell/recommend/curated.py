"""Curated links from product management and the block list: validation of already-read files.

The review loop (``xsell links review``):

1. ``xsell links review --config FILE --out links_review.csv`` writes every learned cross-/up-sell
   link with its evidence (columns ``CURATED_COLUMNS`` plus names, score, source, reason), and the
   current curated pins/blocks with their ``action`` filled in.
2. Product managers fill ``action`` with ``pin`` (always show, first) or ``block`` (never show) and
   optionally ``note`` and ``valid_until`` (``YYYY-MM-DD``); rows left empty are ignored.
3. The file is saved as ``curated_links.csv`` and named in ``recommend.curated_links``; the next
   ``xsell recommend`` applies it. Rows whose ``valid_until`` is before ``today`` are ignored with a
   warning naming them.

Row numbers in errors and warnings are data rows, 1-based, header not counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from xsell.errors import InputDataError

log = logging.getLogger(__name__)

CURATED_COLUMNS: tuple[str, ...] = ("product_id", "rec_product_id", "kind", "action", "note", "valid_until")
"""Columns of ``curated_links.csv`` (``note`` and ``valid_until`` optional; extra columns ignored)."""
REQUIRED_CURATED_COLUMNS: tuple[str, ...] = ("product_id", "rec_product_id", "kind", "action")
LINK_KINDS: tuple[str, ...] = ("cross_sell", "up_sell")
ACTIONS: tuple[str, ...] = ("pin", "block")


@dataclass(frozen=True)
class CuratedLinks:
    """Valid curated rows as of ``today``.

    ``pins``: ``product_id, rec_product_id, kind, note, valid_until, order`` (``order`` = file row;
    pins keep the file order). ``blocks``: ``product_id, rec_product_id, kind, note, valid_until``.
    """

    pins: pd.DataFrame
    blocks: pd.DataFrame

    @classmethod
    def empty(cls) -> CuratedLinks:
        cols = {c: pd.Series(dtype="str") for c in ("product_id", "rec_product_id", "kind", "note", "valid_until")}
        return cls(pd.DataFrame(cols).assign(order=pd.Series(dtype="int64")), pd.DataFrame(cols))

    def of_kind(self, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(pins, blocks) of one kind."""
        return self.pins[self.pins["kind"] == kind], self.blocks[self.blocks["kind"] == kind]


def parse_curated_links(raw: pd.DataFrame, source: str, today: pd.Timestamp) -> CuratedLinks:
    """Validate a curated-links table read as strings; raise ``InputDataError`` on the first bad cell.

    Empty ``action`` rows are skipped (a review export nobody marked yet); expired rows
    (``valid_until < today``) are skipped with one warning that names them.
    """
    missing = [c for c in REQUIRED_CURATED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputDataError(f"curated links lack required column(s) {missing}", file=source, column=missing[0])
    frame = pd.DataFrame({c: (raw[c] if c in raw else pd.Series("", index=raw.index)) for c in CURATED_COLUMNS})
    frame = frame.fillna("").astype(str).apply(lambda s: s.str.strip())
    frame["row"] = range(1, len(frame) + 1)
    frame["action"] = frame["action"].str.lower()
    frame = frame[frame["action"] != ""]

    def bad(mask: pd.Series, column: str, message: str) -> None:
        if mask.any():
            first = frame[mask].iloc[0]
            raise InputDataError(message, file=source, row=int(first["row"]), column=column, value=first[column])

    bad(~frame["action"].isin(ACTIONS), "action", "curated link action must be pin or block")
    bad(~frame["kind"].isin(LINK_KINDS), "kind", "curated link kind must be cross_sell or up_sell")
    bad(frame["product_id"] == "", "product_id", "curated link needs a product_id")
    bad(frame["rec_product_id"] == "", "rec_product_id", "curated link needs a rec_product_id")
    bad(frame["rec_product_id"] == frame["product_id"], "rec_product_id", "curated link points a product to itself")
    valid_until = pd.to_datetime(frame["valid_until"].replace("", None), format="%Y-%m-%d", errors="coerce")
    bad((frame["valid_until"] != "") & valid_until.isna(), "valid_until", "valid_until must be a date YYYY-MM-DD")

    key = ["product_id", "rec_product_id", "kind"]
    expired = valid_until.notna() & (valid_until < today)
    if expired.any():
        gone = frame[expired]
        names = ", ".join(
            f"row {r} {p}->{q} ({k}, valid_until {v})"
            for r, p, q, k, v in gone[["row", *key, "valid_until"]].itertuples(index=False)
        )
        log.warning("%s: ignoring %d expired curated link(s) (valid_until before %s): %s", source, len(gone), today.date(), names)
    frame = frame[~expired]

    conflict = frame.duplicated(key, keep=False) & (frame.groupby(key)["action"].transform("nunique") > 1)
    bad(conflict, "action", "the same link is both pinned and blocked")
    frame = frame.drop_duplicates([*key, "action"])
    pins = frame[frame["action"] == "pin"].assign(order=lambda f: f["row"].astype("int64"))
    blocks = frame[frame["action"] == "block"]
    return CuratedLinks(
        pins=pins[[*key, "note", "valid_until", "order"]].reset_index(drop=True),
        blocks=blocks[[*key, "note", "valid_until"]].reset_index(drop=True),
    )


def parse_block_list(raw: pd.DataFrame, source: str) -> frozenset[str]:
    """Ids from a block list read without a header (``header=None``, strings).

    Either one id per line (first column; ``#`` comments and blank lines skipped), or a table whose
    header row has a ``product_id`` column.
    """
    if raw.empty:
        return frozenset()
    cells = raw.fillna("").astype(str).apply(lambda s: s.str.strip())
    header = cells.iloc[0].str.lower()
    if (header == "product_id").any():
        values = cells.iloc[1:, int((header == "product_id").to_numpy().argmax())]
    elif raw.shape[1] > 1 and (cells.iloc[:, 1:] != "").any().any():
        raise InputDataError("block list needs one id per line or a product_id column", file=source, row=1, column="product_id")
    else:
        values = cells.iloc[:, 0]
    values = values[(values != "") & ~values.str.startswith("#")]
    return frozenset(values.tolist())
