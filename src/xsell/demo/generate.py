"""Write the synthetic ERP export (``xsell demo-data``): order lines, masters, planted truth.

Generation is pure (``xsell.demo.catalog``, ``xsell.demo.orders``); this module only writes.
Order lines are streamed chunk by chunk (CSV per year for tiny/small, Parquet parts for
medium/large), so memory stays bounded by one chunk of buying centers.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from xsell.demo.catalog import (
    COUNTRIES,
    KINDS,
    SEGMENTS,
    SPECIAL_NAMES,
    TIERS,
    BuyingCenters,
    Catalog,
    business_days,
    generate_buying_centers,
    generate_catalog,
)
from xsell.demo.orders import DIRTY_KINDS, NON_PRODUCT_CODES, ORDER_COLUMNS, generate_order_chunks
from xsell.demo.scales import DemoScale, get_scale
from xsell.progress import progress, stage

log = logging.getLogger(__name__)

CSV_SEP = ";"
CSV_ENCODING = "cp1252"
DATE_FORMAT = "%d.%m.%Y"
BAD_DATES: tuple[str, ...] = ("31.02.2024", "00.00.0000", "2024-13-45", "unbekannt")
"""Unparseable AUDAT values written (in turn) for rows whose date is NaT."""
BAD_QUANTITIES: tuple[str, ...] = ("n/a", "1O", "#WERT!", "zwei")
"""Non-numeric KWMENG values written (in turn) for rows whose quantity is NaN."""
ORDER_SCHEMA = pa.schema(
    [
        (c, pa.date32() if c == "AUDAT" else pa.float64() if c in ("KWMENG", "NETPR", "NETWR") else pa.string())
        for c in ORDER_COLUMNS
    ]
)
_DECIMALS = {"KWMENG": 3, "NETPR": 2, "NETWR": 2, "LISTPREIS": 2}


def _sap_text(frame: pd.DataFrame) -> pd.DataFrame:
    """All columns as SAP-export text: dates dd.mm.yyyy, decimal comma, NaT/NaN as empty."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[col] = values.dt.strftime(DATE_FORMAT).fillna("")
        elif pd.api.types.is_float_dtype(values):
            text = np.char.replace(np.char.mod(f"%.{_DECIMALS[col]}f", values.to_numpy()), ".", ",")
            out[col] = np.where(values.isna(), "", text)
        else:
            out[col] = values
    return pd.DataFrame(out)


def write_sap_csv(frame: pd.DataFrame, path: Path, *, append: bool = False) -> None:
    """Append or write ``frame`` in the SAP dialect: ``;``, decimal comma, cp1252, CRLF."""
    _sap_text(frame).to_csv(
        path, sep=CSV_SEP, index=False, encoding=CSV_ENCODING, lineterminator="\r\n",
        mode="a" if append else "w", header=not append,
    )


def _with_dirty_text(lines: pd.DataFrame) -> pd.DataFrame:
    """Order lines as text, with the unparseable dates and non-numeric quantities spelled out."""
    text = _sap_text(lines)
    for col, tokens in (("AUDAT", BAD_DATES), ("KWMENG", BAD_QUANTITIES)):
        bad = lines[col].isna().to_numpy()
        text.loc[bad, col] = np.array(tokens)[np.arange(bad.sum()) % len(tokens)]
    return text


class _CsvYearWriter:
    """Appends order lines to ``orders_<YYYY>.csv`` by order year (unparseable dates stay with
    their neighbours' year)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: set[int] = set()

    def write(self, lines: pd.DataFrame) -> None:
        year = lines["AUDAT"].dt.year.ffill().bfill().astype(int).to_numpy()
        text = _with_dirty_text(lines)
        for y in np.unique(year):
            path = self.folder / f"orders_{y}.csv"
            text[year == y].to_csv(
                path, sep=CSV_SEP, index=False, encoding=CSV_ENCODING, lineterminator="\r\n",
                mode="a" if y in self.started else "w", header=y not in self.started,
            )
            self.started.add(int(y))


class _ParquetPartWriter:
    """Writes each chunk as ``part-<NNNNN>.parquet`` (AUDAT date32, numbers float64, strings)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts = 0

    def write(self, lines: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(lines, preserve_index=False).cast(ORDER_SCHEMA)
        pq.write_table(table, self.folder / f"part-{self.parts:05d}.parquet")
        self.parts += 1


def _planted(catalog: Catalog, days: np.ndarray) -> dict:
    """The relationships planted in the catalog, keyed by external ids."""
    pid, fid = catalog.product_ids, catalog.family_ids
    owner = np.repeat(np.arange(catalog.n_products), np.diff(catalog.partner_ptr))
    up = np.flatnonzero(catalog.upgrade_to >= 0)
    disc = np.flatnonzero(catalog.discontinued_day < catalog.n_days)
    restricted = np.flatnonzero(~catalog.allowed.all(axis=1))
    return {
        "complement_pairs": [
            [pid[a], pid[b], KINDS[catalog.product_kind[b]]] for a, b in zip(owner, catalog.partner_idx)
        ],
        "upgrade_pairs": [[pid[a], pid[catalog.upgrade_to[a]]] for a in up],
        "segment_families": {s: list(fid[catalog.segment_families[i]]) for i, s in enumerate(SEGMENTS)},
        "families": {
            f: {"kind": KINDS[k], "name": n} for f, k, n in zip(fid, catalog.family_kind, catalog.family_names)
        },
        "product_tiers": {p: TIERS[t] for p, t in zip(pid, catalog.product_tier)},
        "discontinued": {
            pid[p]: {"date": str(days[catalog.discontinued_day[p]]), "successor": pid[catalog.successor[p]]}
            for p in disc
        },
        "country_restricted": {
            pid[p]: [c for c, ok in zip(COUNTRIES, catalog.allowed[p]) if ok] for p in restricted
        },
        "special_names": list(SPECIAL_NAMES),
    }


_README = """# Synthetic demo ERP export (xsell demo-data)

All data in this folder is **synthetic**: generated by `xsell demo-data --scale {scale} --seed {seed}`
(same seed and scale give byte-identical files). It imitates an SAP SD order export of a machine
manufacturer; no real customer, product or price is contained.

## Files
- `order_lines/`: {lines_desc}
  Columns `VBELN;POSNR;AUDAT;KUNNR;KUNWE;LAND1;MATNR;KWMENG;NETPR;NETWR;WAERK;SONDERANF;MAKTX` =
  order id, item, order date, customer account, ship-to, country, material (variant), quantity,
  unit price, line value, currency (informational; all values are in one price scale),
  custom-made flag (`X`), material text. A buying center is `KUNNR` + `KUNWE`.
  Returns are separate documents `R<original order id>` with negative quantity; a return item
  keeps the item number (`POSNR`) of the returned order line.
  `FRACHT`, `PORTO` and `GEBUEHR-*` lines are freight, postage and fees, not products.
- `products.csv`: product master, one row per variant (custom-made variants included, `SONDERANF=X`):
  `MATNR;BASISMAT;PRODH;LISTPREIS;STATUS;AUSLAUF;SORTIMENT;MAKTX;SONDERANF` = variant, base product,
  family, list price, `active`/`discontinued`, discontinuation date (no sales on or after it; the
  successor product is in planted.json), country assortment, text, custom flag.
  `SORTIMENT` lists the countries a product is sold in joined with `,` (e.g. `DE,AT`); empty = all.
- `customers.csv`: one row per buying center: `KUNNR;KUNWE;LAND1;BRANCHE;NAME1;VERTRETER` (BRANCHE =
  industry segment, NAME1 = account name, VERTRETER = the account's sales representative).
- `planted.json`: the planted truth (complement and upgrade pairs, segment families, discontinued
  and country-restricted products, injected dirty rows by kind, totals).

## Dialect
CSV files: separator `;`, decimal comma, encoding cp1252, CRLF line ends, dates `dd.mm.yyyy`,
fields with `;` or `"` quoted with `"`. Parquet parts: AUDAT date32, KWMENG/NETPR/NETWR float64,
the other columns strings (empty string = empty field).

## Deliberately dirty rows (counts in planted.json `dirty_rows`)
empty `KUNNR`; unparseable `AUDAT` (CSV: e.g. `31.02.2024`; Parquet: null); non-numeric `KWMENG`
(CSV: e.g. `n/a`; Parquet: NaN); negative `NETPR` on a sales order; a `MATNR` missing from the
product master; exact duplicate lines. Non-product lines are counted in `non_product_lines`.
`totals.custom_share` = custom-made sales lines / sales lines (returns, non-product lines and
duplicate copies not counted).
"""


def _clear(folder: Path) -> None:
    """Remove order-line files of an earlier run so scales never mix."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("orders_*.csv"), *folder.glob("part-*.parquet")]:
        old.unlink()


def write_demo_data(out: Path | str, *, scale: str | DemoScale = "small", seed: int = 42) -> dict:
    """Generate the demo export of ``scale`` (a name in ``SCALES`` or a ``DemoScale``) with
    ``seed`` into ``out``; returns the totals also recorded in ``planted.json``."""
    spec = scale if isinstance(scale, DemoScale) else get_scale(scale)
    scale = spec.name
    out = Path(out)
    lines_dir = out / "order_lines"
    _clear(lines_dir)
    days = business_days()
    with stage(f"demo-data {scale}", log) as report:
        catalog = generate_catalog(spec, np.random.default_rng([seed, 0]), len(days))
        centers: BuyingCenters = generate_buying_centers(spec, np.random.default_rng([seed, 1]), len(days))
        products_csv = out / "products.csv"
        write_sap_csv(catalog.variants_frame(days), products_csv)
        write_sap_csv(centers.frame(), out / "customers.csv")
        writer = _CsvYearWriter(lines_dir) if spec.file_format == "csv" else _ParquetPartWriter(lines_dir)
        totals: Counter[str] = Counter()
        n_chunks = -(-len(centers) // spec.chunk_buying_centers)
        chunks = generate_order_chunks(catalog, centers, spec, seed, days)
        for chunk in progress(chunks, total=n_chunks, desc="demo-data chunks", logger=log):
            writer.write(chunk.lines)
            write_sap_csv(chunk.custom_variants, products_csv, append=True)
            totals.update(chunk.counts)
        catalog_variants = int(catalog.variant_ptr[-1])
        summary = {
            "lines_written": totals["rows"],
            "sales_lines": totals["sales_lines"],
            "return_lines": totals["return_lines"],
            "return_documents": totals["return_documents"],
            "non_product_lines": totals["non_product"],
            "orders": totals["orders"],
            "custom_lines": totals["custom_lines"],
            "custom_share": round(totals["custom_lines"] / max(1, totals["sales_lines"]), 4),
            "buying_centers": len(centers),
            "customers": int(centers.account.max()) + 1,
            "families": len(catalog.family_ids),
            "products": catalog.n_products,
            "catalog_variants": catalog_variants,
            "custom_variants": totals["custom_lines"],
            "variants": catalog_variants + totals["custom_lines"],
        }
        planted = {
            "synthetic": True,
            "scale": scale,
            "seed": seed,
            "period": {"start": str(days[0]), "end": str(days[-1]), "business_days": len(days)},
            "assortment_separator": ",",
            **_planted(catalog, days),
            "dirty_rows": {k: totals[k] for k in DIRTY_KINDS},
            "non_product_lines": {c: totals[f"non_product:{c}"] for c in NON_PRODUCT_CODES},
            "totals": summary,
        }
        (out / "planted.json").write_text(json.dumps(planted, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        lines_desc = (
            "one CSV per order year, `orders_<YYYY>.csv`."
            if spec.file_format == "csv"
            else "Parquet parts `part-00000.parquet`, ... (one per chunk of buying centers)."
        )
        (out / "README.md").write_text(_README.format(scale=scale, seed=seed, lines_desc=lines_desc), encoding="utf-8")
        report.counts.update(lines=summary["lines_written"], buying_centers=len(centers), variants=summary["variants"])
    return {"out": str(out), "scale": scale, "seed": seed, **summary}
