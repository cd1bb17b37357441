"""Benchmark ``xsell ingest``: wall seconds and peak RSS on a data folder.

Usage (from the repo root)::

    PYTHONPATH=src python benchmarks/bench_ingest.py DATA_DIR WORKDIR [--config configs/demo.yaml]

``DATA_DIR`` is a demo-data folder (``order_lines/``, ``products.csv``, ``customers.csv``;
e.g. ``xsell demo-data --scale medium --out /tmp/demo_medium``) or, with
``--config configs/online_retail.yaml``, a folder or file holding the Online Retail CSV.
Targets: demo ``medium`` (~2M lines) under 60 s and 2 GiB peak on 2 cores; ``large`` (~20M)
within 16 GiB. Run each measurement in a fresh process: peak RSS is per process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xsell.cli import setup_logging
from xsell.config import load_config
from xsell.progress import peak_rss_mib
from xsell.steps.ingest import run_ingest

ROOT = Path(__file__).resolve().parents[1]


def _overrides(data_dir: Path, workdir: Path, config: Path) -> list[str]:
    sets = [f"workdir={workdir}"]
    if data_dir.is_file():
        return [*sets, f"data.order_lines={data_dir}"]
    if (data_dir / "order_lines").is_dir():
        sets.append(f"data.order_lines={data_dir / 'order_lines' / '*'}")
        for key, name in (("products", "products.csv"), ("customers", "customers.csv")):
            if (data_dir / name).is_file():
                sets.append(f"data.{key}={data_dir / name}")
        return sets
    cfg = load_config(config)
    return [*sets, f"data.order_lines={data_dir / Path(cfg.data.order_lines).name}"]


def main(data_dir: Path, workdir: Path, config: Path = ROOT / "configs" / "demo.yaml") -> dict:
    """Ingest ``data_dir`` into ``workdir`` with ``config``; return and print seconds, rows, peak MiB."""
    cfg = load_config(config, _overrides(Path(data_dir), Path(workdir), Path(config)))
    t0 = time.perf_counter()
    summary = run_ingest(cfg)
    result = {
        "config": str(config),
        "data": str(data_dir),
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rows_read": summary.rows_read,
        "rows_accepted": summary.rows_accepted,
        "rows_per_second": round(summary.rows_read / max(time.perf_counter() - t0, 1e-9)),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--verbose", action="store_true", help="log the ingest stage lines")
    args = parser.parse_args()
    if args.verbose:
        setup_logging()
    main(args.data_dir, args.workdir, args.config)
