"""Id mapping files of the shop formats: our product number / id -> the shop's own id.

``publish.shopware.product_ids`` (``product_number,id``: Shopware product UUIDs) and
``publish.shopify.handles`` (``product_id,handle``: Shopify product handles). Either is a UTF-8
CSV (BOM allowed) separated by ``,`` or ``;`` (sniffed from the header), with quotes as usual;
other columns are ignored, so a shop's own product export can be used as it is. Bad rows stop the
publish naming file, row (data row, 1-based) and column; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from xsell.errors import InputDataError
from xsell.io.readers import sniff_separator

log = logging.getLogger(__name__)

SHOPWARE_UUID = re.compile(r"^[0-9a-f]{32}$")
"""A Shopware id: 32 lower-case hex digits (``Uuid::VALID_PATTERN``)."""
SHOPIFY_HANDLE = re.compile(r"^[^\s,]+$")
"""A Shopify handle: no whitespace, no ``,`` (handles are URL slugs; the list cells use ``,``)."""
EXAMPLES = 20
"""Unmapped ids named in a manifest entry."""


def read_mapping(path: Path, key: str, value: str, *, pattern: re.Pattern[str], lower: bool = False, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Columns ``key``, ``value`` (and the ``extra`` columns the file has) of a mapping file, one
    row per key; ``value`` must match ``pattern`` (after ``.lower()`` with ``lower``).

    Raises ``InputDataError`` for a missing file or column, an empty key or value, a value not
    matching ``pattern``, and a key mapped to two different values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError("mapping file not found", file=path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        sep = sniff_separator(fh.readline())
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputDataError(f"mapping file cannot be read: {exc}", file=path) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in (key, value):
        if col not in frame.columns:
            raise InputDataError(f"mapping file lacks the column {col!r} (has: {', '.join(frame.columns)})", file=path, column=col)
    out = frame[[key, value, *[c for c in extra if c in frame.columns]]].copy()
    out[key] = out[key].str.strip()
    out[value] = out[value].str.strip()
    if lower:
        out[value] = out[value].str.lower()
    for col in (key, value):
        empty = (out[col] == "").to_numpy().nonzero()[0]
        if len(empty):
            raise InputDataError("mapping file has an empty value", file=path, row=int(empty[0]) + 1, column=col)
    bad = (~out[value].str.match(pattern)).to_numpy().nonzero()[0]
    if len(bad):
        raise InputDataError(f"not a valid {value} (expected {pattern.pattern})", file=path, row=int(bad[0]) + 1, column=value, value=out[value].iloc[bad[0]])
    pairs = out.drop_duplicates([key, value])
    clash = pairs[key].duplicated().to_numpy().nonzero()[0]
    if len(clash):
        first = pairs.iloc[clash[0]]
        row = int(((out[key] == first[key]) & (out[value] == first[value])).to_numpy().nonzero()[0][0]) + 1
        raise InputDataError(f"{key} is mapped to two different {value}s", file=path, row=row, column=key, value=first[key])
    return pairs.reset_index(drop=True)


def map_links(links: pd.DataFrame, ids: pd.Series, *, owner: str, target: str, setting: str) -> tuple[pd.DataFrame, dict]:
    """``links`` whose ``owner`` and ``target`` ids are both in ``ids`` (our id -> shop id), with
    the shop ids in the columns ``owner_ref`` and ``target_ref``, sorted by (owner_ref, table,
    rank) without repeated targets or links of a shop product to itself; and the report ``{"unmapped_products", "unmapped_examples",
    "links_skipped"}``, also logged as a warning naming ``setting`` when anything is unmapped."""
    owner_ref = links[owner].astype(str).map(ids)
    target_ref = links[target].astype(str).map(ids)
    mapped = (owner_ref.notna() & target_ref.notna()).to_numpy()
    missing = sorted(set(links.loc[owner_ref.isna(), owner].astype(str)) | set(links.loc[target_ref.isna(), target].astype(str)))
    report = {"unmapped_products": len(missing), "unmapped_examples": missing[:EXAMPLES], "links_skipped": int((~mapped).sum())}
    if missing:
        log.warning("publish: %d product(s) are not in %s, %d link(s) skipped (e.g. %s)", len(missing), setting, report["links_skipped"], ", ".join(missing[:5]))
    kept = links.assign(owner_ref=owner_ref, target_ref=target_ref)[mapped]
    kept = kept[kept["owner_ref"] != kept["target_ref"]]  # two of our ids for one shop product
    kept = kept.sort_values(["owner_ref", "table", "rank"], kind="mergesort").drop_duplicates(["owner_ref", "table", "target_ref"])
    return kept, report
