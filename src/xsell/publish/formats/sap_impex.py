"""SAP Commerce (Hybris) ImpEx of ``ProductReference`` items (a machine format: values exact).

``shop/sap_commerce_product_references.impex``, UTF-8 without BOM::

    $catalogVersion=catalogVersion(catalog(id[default='<catalog_id>']),version[default='<version>'])[unique=true,default='<catalog_id>:<version>']
    INSERT_UPDATE ProductReference;source(code,$catalogVersion)[unique=true];target(code,$catalogVersion)[unique=true];referenceType(code);active[default=true];preselected[default=false]
    ;<product code>;<linked code>;CROSSELLING;true;false
    REMOVE ProductReference;source(code,$catalogVersion)[unique=true];target(code,$catalogVersion)[unique=true];referenceType(code)[unique=true]
    ;<product code>;<code no longer linked>;CROSSELLING

One value line per link, per product in rank order (cross-sell, then up-sell); reference types
from ``publish.sap_commerce.reference_types`` (``CROSSELLING``, sic, and ``UPSELLING``). A pair
is one ``ProductReference`` (source and target are the unique key): a pair in both tables is
written once, as cross-sell. The ``REMOVE`` block lists the pairs of the previous published run's
file that this run no longer links, with their previous type as part of the key, so references
made by hand with other types stay. Values holding ``;`` or ``"`` are quoted (``""`` inside);
codes holding ``:`` (ImpEx's key separator), ``$`` (macros) or line breaks are rejected.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from xsell.publish.config import LinkTable
from xsell.publish.shop import reject_characters
from xsell.publish.writers import Written, write_text

log = logging.getLogger(__name__)

PATH = "shop/sap_commerce_product_references.impex"
KEY_COLUMNS: tuple[str, ...] = ("source(code,$catalogVersion)[unique=true]", "target(code,$catalogVersion)[unique=true]")
INSERT_HEADER: tuple[str, ...] = ("INSERT_UPDATE ProductReference", *KEY_COLUMNS, "referenceType(code)", "active[default=true]", "preselected[default=false]")
REMOVE_HEADER: tuple[str, ...] = ("REMOVE ProductReference", *KEY_COLUMNS, "referenceType(code)[unique=true]")
REFERENCE_COLUMNS: tuple[str, ...] = ("source", "target", "reference_type")


def macro(catalog_id: str, version: str) -> str:
    """The ``$catalogVersion`` macro line."""
    return (f"$catalogVersion=catalogVersion(catalog(id[default='{catalog_id}']),version[default='{version}'])"
            f"[unique=true,default='{catalog_id}:{version}']")


def references(links: pd.DataFrame, types: dict[LinkTable, str]) -> pd.DataFrame:
    """One row per (source, target) pair (``REFERENCE_COLUMNS``), per source in rank order,
    cross-sell before up-sell. Codes that ImpEx cannot carry raise ``InputDataError``."""
    reject_characters(pd.concat([links["sku"], links["rec_sku"]]).astype(str), r"[:$\r\n]",
                      reason="SAP Commerce ImpEx cannot carry a product code with ':', '$' or a line break", column="sku")
    order = links.assign(t=links["table"].map({"cross_sell": 0, "up_sell": 1}))
    order = order.sort_values(["sku", "t", "rank"], kind="mergesort")
    refs = pd.DataFrame({"source": order["sku"].astype(str), "target": order["rec_sku"].astype(str), "reference_type": order["table"].map(types)})
    dup = refs.duplicated(["source", "target"])
    if dup.any():
        log.info("publish: sap_impex: %d pair(s) are both cross-sell and up-sell; written once, as cross-sell", int(dup.sum()))
    return refs[~dup].reset_index(drop=True)


def removed(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Pairs of ``previous`` (its ``INSERT_UPDATE`` rows) that ``current`` no longer has, with the
    previous type."""
    now = pd.MultiIndex.from_frame(current[["source", "target"]])
    gone = ~pd.MultiIndex.from_frame(previous[["source", "target"]]).isin(now)
    return previous.loc[gone, list(REFERENCE_COLUMNS)].sort_values(["source", "target"], kind="mergesort").reset_index(drop=True)


def _lines(rows: list[list[str]]) -> str:
    """ImpEx value lines: ``;``-separated, values with ``;`` or ``"`` quoted (``""`` inside)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", quotechar='"', doublequote=True, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue()


def text(current: pd.DataFrame, gone: pd.DataFrame, *, catalog_id: str, version: str) -> str:
    """The whole ImpEx file for the ``references`` ``current`` and the ``removed`` pairs ``gone``."""
    out = [
        "# xsell: product references (cross-sell / up-sell); import with the ImpEx engine (hAC > Console > ImpEx import)\n",
        macro(catalog_id, version) + "\n",
        "\n",
        ";".join(INSERT_HEADER) + "\n",
    ]
    out.append(_lines([["", s, t, r, "true", "false"] for s, t, r in _rows(current)]))
    out += ["\n", "# links dropped since the previous published run\n", ";".join(REMOVE_HEADER) + "\n"]
    out.append(_lines([["", s, t, r] for s, t, r in _rows(gone)]))
    return "".join(out)


def _rows(frame: pd.DataFrame) -> Iterable[tuple[str, str, str]]:
    """The ``REFERENCE_COLUMNS`` of each row (columns taken as lists: iterating Arrow-backed
    columns value by value is slow)."""
    return zip(*(frame[c].tolist() for c in REFERENCE_COLUMNS))


def parse(content: str) -> dict[str, pd.DataFrame]:
    """Blocks of an ImpEx file by header mode (``INSERT_UPDATE``, ``REMOVE``, ...): per block the
    value lines as ``REFERENCE_COLUMNS`` (first three value columns). Comments, macro lines and
    blank lines are skipped; values are unquoted as ImpEx does."""
    blocks: dict[str, list[list[str]]] = {}
    mode = None
    for line in content.splitlines():
        if not line.strip() or line.startswith(("#", "$")):
            continue
        if not line.startswith(";"):
            mode = line.split(" ", 1)[0]
            blocks.setdefault(mode, [])
            continue
        if mode is None:
            raise ValueError(f"value line before any header: {line!r}")
        cells = next(csv.reader([line], delimiter=";", quotechar='"', doublequote=True))
        blocks[mode].append(cells[1:4])
    return {m: pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS)) for m, rows in blocks.items()}


def count_value_lines(path: Path) -> int:
    """Value lines of an ImpEx file (codes never hold line breaks, so a value line is a line)."""
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.startswith(";"))


def write(current: pd.DataFrame, gone: pd.DataFrame, path: Path, *, catalog_id: str, version: str) -> Written:
    """Write the ImpEx file; rows = value lines, details = references and removals."""
    return write_text(
        text(current, gone, catalog_id=catalog_id, version=version), path,
        rows=len(current) + len(gone), columns=list(INSERT_HEADER[1:]),
        details={"references": len(current), "removed": len(gone)},
    )
