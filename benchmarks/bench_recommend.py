"""Benchmark: ``xsell recommend`` (the three suggestion tables) on an ingested workdir + trained models.

Usage (from the repo root, after ``xsell demo-data``, ``xsell ingest`` and ``xsell train``)::

    PYTHONPATH=src python benchmarks/bench_recommend.py --workdir /tmp/rp/work-medium \\
        --models-dir /tmp/rp/models-medium --save /tmp/rp/ref-medium
    PYTHONPATH=src python benchmarks/bench_recommend.py --workdir /tmp/rp/work-medium \\
        --models-dir /tmp/rp/models-medium --compare /tmp/rp/ref-medium
    ... --profile /tmp/rp/recommend.prof      # cProfile of the run (read with pstats)

It runs ``run_recommend`` once in this process and prints one JSON line: seconds per table stage
and in total, peak RSS (MiB) and rows per table. ``--save DIR`` copies the tables to ``DIR``;
``--compare DIR`` asserts that the new tables equal those in ``DIR`` (same columns, dtypes and
values, exact; rows compared in the written order and, should that differ, after sorting; and the
row and rule counts of ``tables.json``), so a
speed-up can be checked to change no result: save with the old code, compare with the new one
(run the baseline with ``PYTHONPATH`` pointing at the old source tree).

Targets (2 cores; demo ``medium``: 20k buying centers, 10k products / 590k variants, 2M lines):
the whole recommend step < 90 s and < 4.5 GiB peak RSS (the code before the int-code rewrite ran
out of memory there: > 18 GiB after 10 min); ``small`` < 6 s and < 600 MiB.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from xsell.config import load_config
from xsell.io.layout import Workdir
from xsell.progress import peak_rss_mib
from xsell.schema import TABLES
from xsell.steps.recommend import run_recommend


class _StageTimes(logging.Handler):
    """Collects ``recommend: <table>: done ... in S s`` seconds from the stage end lines."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("recommend: ") and ": done" in msg and " in " in msg:
            name = msg.split(":")[1].strip()
            self.seconds[name] = float(msg.rsplit(" in ", 1)[1].split(" s")[0])


def compare_tables(new_dir: Path, ref_dir: Path) -> dict[str, str]:
    """Assert each table in ``ref_dir`` equals the one in ``new_dir``; return how it matched."""
    how = {}
    for name in TABLES:
        ref = pd.read_parquet(ref_dir / f"{name}.parquet")
        new = pd.read_parquet(new_dir / f"{name}.parquet")
        assert list(new.columns) == list(ref.columns), f"{name}: columns {list(new.columns)} != {list(ref.columns)}"
        try:
            pd.testing.assert_frame_equal(new, ref, check_exact=True)
            how[name] = "identical"
        except AssertionError:
            keys = list(ref.columns)
            pd.testing.assert_frame_equal(
                new.sort_values(keys).reset_index(drop=True), ref.sort_values(keys).reset_index(drop=True), check_exact=True
            )
            how[name] = "equal after sorting"
    ref_meta = json.loads((ref_dir / "tables.json").read_text())
    new_meta = json.loads((new_dir / "tables.json").read_text())
    for key in ("rows", "rules_applied_by_table"):
        assert new_meta[key] == ref_meta[key], f"tables.json {key}: {new_meta[key]} != {ref_meta[key]}"
    how["tables.json"] = "same rows and rules_applied_by_table"
    return how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--workdir", required=True, help="ingested workdir (canonical/*.parquet)")
    parser.add_argument("--models-dir", required=True, help="training run folder or models root")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="extra dotted.key=value overrides")
    parser.add_argument("--save", type=Path, help="copy the tables written to this folder (reference)")
    parser.add_argument("--compare", type=Path, help="assert the tables equal the reference in this folder")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    parser.add_argument("--verbose", action="store_true", help="show the log lines")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    times = _StageTimes()
    logging.getLogger("xsell.steps.recommend").addHandler(times)
    logging.getLogger("xsell.steps.recommend").setLevel(logging.INFO)
    logging.getLogger("xsell.steps.recommend").propagate = args.verbose

    cfg = load_config(args.config, [f"workdir={args.workdir}", f"models.dir={args.models_dir}", *args.overrides])
    base_mib = peak_rss_mib()
    t0 = time.perf_counter()
    if args.profile:
        prof = cProfile.Profile()
        result = prof.runcall(run_recommend, cfg)
        prof.dump_stats(args.profile)
    else:
        result = run_recommend(cfg)
    seconds = time.perf_counter() - t0
    report = {
        "workdir": args.workdir,
        "seconds": round(seconds, 2),
        "stage_seconds": times.seconds,
        "peak_rss_mib": round(peak_rss_mib()),
        "rss_before_mib": round(base_mib),
        "rows": result.rows,
    }
    tables = Workdir(cfg.workdir).tables
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for file in [*(f"{name}.parquet" for name in TABLES), "tables.json"]:
            shutil.copy2(tables / file, args.save / file)
        report["saved"] = str(args.save)
    if args.compare:
        report["compare"] = compare_tables(tables, args.compare)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
