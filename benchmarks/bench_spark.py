"""Benchmark: ingest + association rules + ALS with ``engine.backend: local`` and ``spark``, side
by side on the same demo data, each backend in a fresh process.

Usage (from the repo root; needs the spark extra and Java, see README "Running on Spark")::

    python benchmarks/bench_spark.py --scale medium                  # 2M lines: both backends
    python benchmarks/bench_spark.py --scale large --driver-memory 16g  # 20M lines (not run on the shared 2-core box)
    python benchmarks/bench_spark.py --scale medium --backends spark --master 'local[2]'

Prints per backend: seconds of each stage (``ingest``: ``run_ingest`` -> canonical tables;
``rules``: the buyer x product matrices + association rules as ``xsell train`` fits them;
``als``: ALS, 64 factors, 15 iterations), the process's wall time (start-up, imports, Spark's
session included) and the peak resident memory of the process tree (for Spark: Python + the
driver JVM, which in ``local[*]`` also runs the executors). Results merge into
``<data-dir>/spark_results.json``. The demo data of a scale is generated once (shared with
``benchmarks/run.py``: ``.bench/<scale>/demo-data``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import ROOT, bench_config, emit, load_average, measure, run_isolated  # noqa: I001  (benchmarks/ is on sys.path)

STAGES = ("ingest", "rules", "als")


def child(backend: str, data_dir: Path, workdir: Path, master: str, driver_memory: str) -> None:
    """One backend's ingest, rules and ALS in this process; prints the JSON result."""
    cfg = bench_config(data_dir, workdir, extra=[
        f"engine.backend={backend}", f"engine.spark.master={master}", f"engine.spark.conf={{spark.driver.memory: {driver_memory}}}",  # conf keys hold dots: a YAML mapping
        "mlflow.enabled=false",
    ])  # fmt: skip
    from xsell.models.config import ALSConfig
    from xsell.steps.ingest import run_ingest

    out: dict[str, object] = {"backend": backend}
    with measure() as m:
        summary = run_ingest(cfg)
    out["ingest"] = m.as_dict() | {"lines": summary.rows_accepted}
    als_cfg = ALSConfig(factors=64, iterations=15)
    if backend == "spark":
        from xsell.io.layout import Workdir
        from xsell.io.readers import read_canonical
        from xsell.spark.als import fit_als
        from xsell.spark.interactions import spark_training_data
        from xsell.spark.rules import fit_rules
        from xsell.spark.session import spark_session
        from xsell.spark.train import read_lines

        spark = spark_session(cfg.engine.spark, cfg.workdir)
        with measure() as m:
            data, baskets = spark_training_data(read_lines(spark, cfg), read_canonical(Workdir(cfg.workdir).customers), cfg.interactions)
            rules = fit_rules(baskets, data, cfg.rules, cfg.engine.spark.max_basket_size)
        out["rules"] = m.as_dict() | {"rules": len(rules.rules_)}
        with measure() as m:
            fit_als(data, als_cfg, cfg.models.seed, spark)
        out["als"] = m.as_dict()
        spark.stop()
    else:
        from xsell.interactions.build import build_training_data
        from xsell.io.layout import Workdir
        from xsell.io.readers import read_canonical
        from xsell.models.implicit_models import ALSRecommender
        from xsell.models.rules import AssociationRules

        wd = Workdir(cfg.workdir)
        with measure() as m:
            data = build_training_data(read_canonical(wd.order_lines), read_canonical(wd.customers), cfg.interactions)
            rules = AssociationRules(cfg.rules).fit(data)
        out["rules"] = m.as_dict() | {"rules": len(rules.rules_)}
        with measure() as m:
            ALSRecommender(als_cfg, seed=cfg.models.seed).fit(data)
        out["als"] = m.as_dict()
    emit(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "large"])
    ap.add_argument("--backends", default="local,spark", help="comma-separated: local, spark")
    ap.add_argument("--data-dir", type=Path, default=None, help="default .bench/<scale>/")
    ap.add_argument("--master", default="local[*]", help="engine.spark.master (default local[*])")
    ap.add_argument("--driver-memory", default="6g", help="spark.driver.memory of the Spark run (default 6g)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per backend before it is killed")
    args = ap.parse_args(argv)
    data_root = (args.data_dir or ROOT / ".bench" / args.scale).resolve()
    demo = data_root / "demo-data"
    if not (demo / "order_lines").is_dir():
        from xsell.demo.generate import write_demo_data

        print(f"generating {args.scale} demo data into {demo} ...", flush=True)
        write_demo_data(demo, scale=args.scale, seed=42)
    results_file = data_root / "spark_results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    rows = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        load = load_average()
        run = run_isolated(
            [__file__, "child", backend, str(demo), str(data_root / f"work-{backend}"), args.master, args.driver_memory],
            log_file=data_root / "logs" / f"spark-bench-{backend}.log", timeout=args.timeout, tree=True,
        )  # fmt: skip
        entry = {"status": run.status, "wall_s": round(run.wall_seconds, 1), "peak_tree_mib": round(run.peak_mib), "load1": load[0], **run.result}
        results[f"{args.scale}/{backend}"] = entry | {"when": time.strftime("%Y-%m-%d %H:%M")}
        rows.append((backend, entry))
    results_file.write_text(json.dumps(results, indent=2))
    print(f"\n{args.scale}: ingest + rules + ALS (64 factors, 15 iterations), master {args.master}")
    print(f"{'backend':8} {'ingest s':>9} {'rules s':>8} {'als s':>7} {'wall s':>7} {'peak MiB':>9} {'load1':>6}  status")
    for backend, e in rows:
        sec = [f"{e[s]['seconds']:.1f}" if isinstance(e.get(s), dict) else "-" for s in STAGES]
        print(f"{backend:8} {sec[0]:>9} {sec[1]:>8} {sec[2]:>7} {e['wall_s']:>7} {e['peak_tree_mib']:>9} {e['load1']:>6}  {e['status']}")
    return 0 if all(e["status"] == "ok" for _, e in rows) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        sys.exit(main())
