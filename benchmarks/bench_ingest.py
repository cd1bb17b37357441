"""Benchmark ``xsell ingest`` on any data folder or file: wall seconds and peak RSS.

Usage (from the repo root)::

    python benchmarks/bench_ingest.py DATA_DIR WORKDIR [--config configs/demo.yaml]

``DATA_DIR`` is a demo-data folder (``order_lines/``, ``products.csv``, ``customers.csv``) or,
with ``--config configs/online_retail.yaml``, a folder or file holding the Online Retail CSV.
For the demo scales and their targets (``medium`` under 60 s and 2 GiB, ``large`` within
16 GiB) use ``benchmarks/run.py --scale medium --stages ingest``. Peak RSS is per process: run
one measurement per process.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import DEMO_CONFIG, bench_config, emit, measure
from xsell.cli import setup_logging
from xsell.steps.ingest import run_ingest


def main(data_dir: Path, workdir: Path, config: Path = DEMO_CONFIG) -> dict:
    """Ingest ``data_dir`` into ``workdir`` with ``config``; return and print seconds, rows, peak MiB."""
    cfg = bench_config(data_dir, workdir, config)
    with measure() as m:
        summary = run_ingest(cfg)
    result = {
        "config": str(config), "data": str(data_dir), **m.as_dict(), "rows_read": summary.rows_read,
        "rows_accepted": summary.rows_accepted, "rows_per_second": round(summary.rows_read / max(m.seconds, 1e-9)),
    }  # fmt: skip
    emit(result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG)
    parser.add_argument("--verbose", action="store_true", help="log the ingest stage lines")
    args = parser.parse_args()
    if args.verbose:
        setup_logging()
    main(args.data_dir, args.workdir, args.config)
