"""``xsell ingest``: read the ERP export, run the pure ingest stages, write canonical tables.

Writes into the workdir (see ``xsell.io.layout.Workdir``): ``canonical/order_lines.parquet``,
``canonical/products.parquet``, ``canonical/customers.parquet``,
``quarantine/quarantine.parquet`` + ``quarantine.csv`` (rejected rows with reason),
``quarantine/excluded.parquet`` (duplicates and non-product lines with the rule) and
``ingest_summary.json``. Order-line files are processed one at a time to bound memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xsell.errors import InputDataError
from xsell.ingest.lines import PROVENANCE, IngestResult, ingest_order_lines, with_provenance
from xsell.ingest.masters import (
    build_customer_master,
    build_product_master,
    canonical_customer_master,
    canonical_product_master,
)
from xsell.ingest.summary import IngestSummary, merge_counts, summarize
from xsell.io.layout import Workdir
from xsell.io.readers import expand_files, read_table
from xsell.io.writers import write_csv, write_json, write_parquet
from xsell.progress import progress, stage
from xsell.schema import ORDER_LINE_COLUMNS

if TYPE_CHECKING:
    from xsell.config import Config

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.parquet"
QUARANTINE_CSV = "quarantine.csv"
EXCLUDED_FILE = "excluded.parquet"


def _stack_rejects(frames: list[pd.DataFrame], tail: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate per-file reject frames (their source columns may differ): text, provenance last."""
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*PROVENANCE, *tail])
    first = [c for c in out.columns if c not in PROVENANCE and c not in tail]
    out = out[[*first, *PROVENANCE, *tail]]
    for c in out.columns:
        out[c] = out[c].astype("int64") if c == "source_row" else out[c].fillna("").astype("str")
    return out


def _read_master(path: Path | None, cfg: Config, what: str) -> tuple[pd.DataFrame | None, dict]:
    if path is None:
        return None, {}
    with stage(f"ingest: read {what} master", log) as report:
        raw = read_table(path, cfg.data.csv)
        build = canonical_product_master if what == "product" else canonical_customer_master
        master, info = build(raw, cfg, file=str(path))
        report.counts.update(rows=len(raw), kept=len(master))
    return master, {"file": str(path), **info}


def _date_range(lines: pd.DataFrame) -> dict[str, str | None]:
    """First and last order date of one file's accepted lines (ISO dates; None when empty)."""
    if lines.empty:
        return {"date_min": None, "date_max": None}
    dates = lines["order_date"]
    return {"date_min": str(dates.min().date()), "date_max": str(dates.max().date())}


def run_ingest(cfg: Config) -> IngestSummary:
    """Ingest the configured export into the workdir; return the summary (also written as JSON).

    Raises ``InputDataError`` (exit 3) for unreadable input, and after writing quarantine and
    summary when the quarantined share exceeds ``ingest.max_rejected_share``.
    """
    wd = Workdir(Path(cfg.workdir))
    files = expand_files(cfg.data.order_lines)
    log.info("ingest: %d order-line file(s) from %s", len(files), cfg.data.order_lines)
    product_master, product_file_info = _read_master(cfg.data.products, cfg, "product")
    customer_master, customer_file_info = _read_master(cfg.data.customers, cfg, "customer")

    results: list[IngestResult] = []
    seen = np.empty(0, dtype="uint64")
    for path in progress(files, desc="ingest files", logger=log):
        with stage(f"ingest: {path.name}", log) as report:
            raw = with_provenance(read_table(path, cfg.data.csv), str(path))
            result = ingest_order_lines(raw, cfg, product_master, seen_fingerprints=seen)
            del raw
            # kept sorted for ``in_sorted``: one sorted run + the new batch, which timsort
            # (kind="stable") merges in about linear time
            seen = np.sort(np.concatenate([seen, result.fingerprints]), kind="stable")
            results.append(result)
            report.counts.update({k: result.counts[k] for k in ("rows_read", "rows_accepted", "rows_quarantined", "rows_excluded")})

    with stage("ingest: masters", log) as report:
        lines = pd.concat([r.lines for r in results], ignore_index=True)[list(ORDER_LINE_COLUMNS)]
        products, product_info = build_product_master(lines, product_master, cfg)
        customers, customer_info = build_customer_master(lines, customer_master)
        if product_info["inferred"]:
            log.info("ingest: no product master configured; family, list price and assortment inferred from order lines")
        if customer_info["inferred"]:
            log.info("ingest: no customer master configured; buying centers inferred from order lines")
        report.counts.update(products=len(products), customers=len(customers))

    counts = merge_counts(r.counts for r in results)
    summary = summarize(
        counts,
        lines,
        files=[
            {"file": str(p), **{k: r.counts[k] for k in ("rows_read", "rows_accepted", "rows_quarantined", "rows_excluded")}, **_date_range(r.lines)}
            for p, r in zip(files, results)
        ],
        products={**product_file_info, **product_info},
        customers={**customer_file_info, **customer_info},
        max_rejected_share=cfg.ingest.max_rejected_share,
    )
    with stage("ingest: write", log) as report:
        quarantine = _stack_rejects([r.quarantine for r in results], ("reason", "column", "value"))
        excluded = _stack_rejects([r.excluded for r in results], ("rule", "column", "value", "pattern"))
        write_parquet(lines, wd.order_lines)
        write_parquet(products, wd.products)
        write_parquet(customers, wd.customers)
        write_parquet(quarantine, wd.quarantine / QUARANTINE_FILE)
        write_csv(quarantine, wd.quarantine / QUARANTINE_CSV)
        write_parquet(excluded, wd.quarantine / EXCLUDED_FILE)
        write_json(summary.to_dict(), wd.ingest_summary)
        report.counts.update(lines=len(lines), quarantined=len(quarantine), excluded=len(excluded))
    log.info(
        "ingest: %s rows read, %s accepted, %s quarantined %s, %s excluded %s",
        f"{summary.rows_read:,}", f"{summary.rows_accepted:,}", f"{summary.rows_quarantined:,}",
        {k: v for k, v in summary.quarantined_by_reason.items() if v}, f"{summary.rows_excluded:,}",
        {k: v for k, v in summary.excluded_by_rule.items() if v},
    )
    if summary.quarantine_share > cfg.ingest.max_rejected_share:
        raise InputDataError(
            f"{summary.quarantine_share:.1%} of the order lines were quarantined, more than "
            f"ingest.max_rejected_share={cfg.ingest.max_rejected_share:.1%}; see {wd.quarantine / QUARANTINE_CSV} "
            f"and {wd.ingest_summary}",
            file=str(cfg.data.order_lines),
        )
    return summary
