"""The whole ``xsell run retrain`` (and a ``nightly`` on one more day of data), as a user runs it,
against the floors of the same machine in the same run.

    python benchmarks/retrain.py --scale medium
    python benchmarks/retrain.py --scale large --memory-cap-gib 20
    python benchmarks/retrain.py --scale large --report        # print the last results again

1. The demo data of the scale is generated once into ``<data-dir>/demo-data/`` (default
   ``.bench/<scale>``). Its last day is held back as the "new day" of the nightly.
2. ``xsell run retrain`` with the default config (``configs/demo.yaml`` pointed at the data) runs
   in a fresh process: wall time and peak RSS in total (polled from /proc) and per stage (from the
   stage end lines, ``peak`` is the process's high-water mark at that stage's end).
3. ``xsell run nightly`` in a fresh process after the held-back day is added (models unchanged).
4. Floors, each in a fresh process: pyarrow's multi-threaded CSV / Parquet read of the order-line
   files (the parse floor of the ingest), a scipy COO -> CSR build of the buyer x product matrix
   from the canonical lines, and implicit's ALS (64 factors, 15 iterations) on that matrix; beside
   them xsell's own ``build_interactions`` and ALS fit on the same data, as ratios; the build also
   split into ``encode_lines`` (once per evaluation) and a build from the codes (once per window
   and configuration), and the product-level build from the codes (``variants=False``: what the
   pipeline builds at ``models.level: product``).

Targets (issue 13, 2 cores, CPU only): large retrain < 600 s and < 8 GiB; nightly < 180 s; ingest
< 2x the parse floor; a model fit < 1.25x the raw implicit call; interactions < 2x the CSR build.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, emit, load_average, measure, run_isolated

GIB = 1024.0
STAGE_LINE = re.compile(r"xsell\.pipeline: (\w+): (?:done \((?P<counts>.*)\) in (?P<s>[\d.]+) s, peak (?P<mib>[\d.]+) MiB|(?P<skipped>skipped))")
TARGETS = {"retrain_s": 600.0, "retrain_gib": 8.0, "nightly_s": 180.0, "ingest_ratio": 2.0, "fit_ratio": 1.25, "build_ratio": 2.0}


def _config_sets(data: Path, work: Path) -> list[str]:
    return [
        f"workdir={work / 'work'}", f"models.dir={work / 'models'}", f"publish.outputs={work / 'outputs'}",
        f"data.order_lines={work / 'lines' / '*'}", f"data.products={data / 'products.csv'}", f"data.customers={data / 'customers.csv'}",
    ]  # fmt: skip


def _split_last_day(data: Path, work: Path) -> tuple[Path, str]:
    """Link every order-line file into ``work/lines`` and move the last day's lines of the newest
    file into ``work/held/``: the retrain sees the history without its last day."""
    import pandas as pd

    from xsell.config import load_config
    from xsell.io.readers import expand_files, is_parquet, read_export

    cfg = load_config(ROOT / "configs" / "demo.yaml", _config_sets(data, work))
    lines_dir, held = work / "lines", work / "held"
    shutil.rmtree(lines_dir, ignore_errors=True)
    shutil.rmtree(held, ignore_errors=True)
    lines_dir.mkdir(parents=True)
    held.mkdir()
    files = expand_files(str(data / "order_lines" / "*"))
    for f in files[:-1]:
        (lines_dir / f.name).symlink_to(f)
    newest = files[-1]
    frame = read_export(newest, cfg.data.csv).frame
    col = cfg.data.columns["order_date"]
    dates = pd.to_datetime(frame[col], format=cfg.data.csv.date_format, errors="coerce") if not is_parquet(newest) else pd.to_datetime(frame[col])
    last = dates.max()
    keep = (dates < last).to_numpy()
    for target, part in ((lines_dir / newest.name, frame[keep]), (held / newest.name, frame[~keep])):
        if is_parquet(newest):
            part.to_parquet(target, index=False)
        else:
            part.to_csv(target, sep=cfg.data.csv.sep or ";", index=False, encoding="cp1252", decimal=",")
    return held / newest.name, str(last.date())


def stage_table(log: Path) -> list[dict[str, Any]]:
    """Per pipeline stage: seconds and the peak MiB at its end, from the stage end lines."""
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        m = STAGE_LINE.search(line)
        if m:
            rows.append({"stage": m.group(1), "seconds": float(m.group("s") or 0.0), "peak_mib": float(m.group("mib") or 0.0), "skipped": bool(m.group("skipped"))})
    return rows


# -- children (each in a fresh process) -----------------------------------------------------
def child_pipeline(pipeline: str, data: str, work: str) -> None:
    import contextlib
    import io

    from xsell.cli import setup_logging
    from xsell.pipeline import run_pipeline
    from xsell.stages import STAGES

    setup_logging()
    with contextlib.redirect_stdout(io.StringIO()):
        ctx = run_pipeline(pipeline, ROOT / "configs" / "demo.yaml", _config_sets(Path(data), Path(work)), stages=STAGES)
    emit({"champion": ctx.values.get("champion_model"), "published": ctx.values.get("published_run")})


def child_parse_floor(work: str) -> None:
    """pyarrow's multi-threaded read of every order-line file (CSV as strings, as the ingest reads)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    files = sorted((Path(work) / "lines").iterdir())
    rows = 0
    with measure() as m:
        for f in files:
            if f.suffix == ".parquet":
                rows += pq.read_table(f).num_rows
            else:
                table = pacsv.read_csv(
                    f, read_options=pacsv.ReadOptions(encoding="cp1252", block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(delimiter=";"),
                    convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
                )  # fmt: skip
                rows += table.num_rows
    emit({**m.as_dict(), "rows": rows})


def child_floors(work: str) -> None:
    """scipy CSR build vs build_interactions; raw implicit ALS vs xsell's ALS fit, same matrix."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from xsell.interactions.build import build_interactions, encode_lines
    from xsell.interactions.config import InteractionsConfig
    from xsell.interactions.matrix import TrainingData
    from xsell.models.implicit_models import ALSRecommender

    lines = pd.read_parquet(Path(work) / "work" / "canonical" / "order_lines.parquet")
    with measure() as floor:
        b, _ = pd.factorize(lines["buying_center_id"])
        p, _ = pd.factorize(lines["product_id"])
        csr = sp.coo_matrix((np.ones(len(lines), dtype=np.float32), (b, p))).tocsr()
    with measure() as ours:
        it = build_interactions(lines, InteractionsConfig())
    with measure() as encode:  # what the evaluation does once, then builds every window from the codes
        coded = encode_lines(lines)
    with measure() as from_codes:
        build_interactions(coded, InteractionsConfig())
    with measure() as product_level:  # what the pipeline builds at models.level product: no variant matrix
        build_interactions(coded, InteractionsConfig(), variants=False)
    del coded
    matrix = sp.csr_matrix(it.buyer_products.matrix, dtype=np.float32)
    with threadpool_limits(1, "blas"), measure() as raw:
        AlternatingLeastSquares(factors=64, iterations=15, random_state=42).fit(matrix, show_progress=False)
    with measure() as fit:
        ALSRecommender(factors=64, iterations=15).fit(TrainingData(it))
    emit(
        {
            "csr_build_s": round(floor.seconds, 2), "interactions_s": round(ours.seconds, 2),
            "build_ratio": round(ours.seconds / max(floor.seconds, 1e-9), 2), "csr_nnz": int(csr.nnz),
            "encode_s": round(encode.seconds, 2), "from_codes_s": round(from_codes.seconds, 2),
            "from_codes_ratio": round(from_codes.seconds / max(floor.seconds, 1e-9), 2),
            "product_level_s": round(product_level.seconds, 2), "product_level_ratio": round(product_level.seconds / max(floor.seconds, 1e-9), 2),
            "implicit_als_s": round(raw.seconds, 2), "xsell_als_s": round(fit.seconds, 2),
            "fit_ratio": round(fit.seconds / max(raw.seconds, 1e-9), 2), "matrix": "x".join(map(str, matrix.shape)),
        }
    )  # fmt: skip


# -- the driver ------------------------------------------------------------------------------
def _run(args: list[str], log: Path, cap: float | None, timeout: float) -> Any:
    return run_isolated([str(Path(__file__).resolve()), *args], log_file=log, timeout=timeout, memory_cap_mib=cap)


def measure_scale(scale: str, root: Path, cap_gib: float, timeout: float) -> dict[str, Any]:
    data, work = root / "demo-data", root / "run"
    if not (data / "planted.json").is_file():
        from xsell.demo.generate import write_demo_data

        print(f"{scale}: generating demo data into {data}", flush=True)
        write_demo_data(data, scale=scale, seed=42)
    shutil.rmtree(work, ignore_errors=True)
    held, last_day = _split_last_day(data, work)
    cap = cap_gib * GIB
    out: dict[str, Any] = {"scale": scale, "load1": load_average()[0], "held_back_day": last_day}
    print(f"{scale}: xsell run retrain (fresh process)", flush=True)
    retrain = _run(["--child", "pipeline", "retrain", str(data), str(work)], work / "retrain.log", cap, timeout)
    out.update(retrain_status=retrain.status, retrain_s=round(retrain.wall_seconds, 1), retrain_peak_mib=round(retrain.peak_mib))
    out["retrain_stages"] = stage_table(work / "retrain.log")
    if retrain.status == "ok":
        shutil.move(str(held), str(work / "lines" / f"day-{held.name}"))
        print(f"{scale}: xsell run nightly with one more day (fresh process)", flush=True)
        nightly = _run(["--child", "pipeline", "nightly", str(data), str(work)], work / "nightly.log", cap, timeout)
        out.update(nightly_status=nightly.status, nightly_s=round(nightly.wall_seconds, 1), nightly_peak_mib=round(nightly.peak_mib))
        out["nightly_stages"] = stage_table(work / "nightly.log")
        print(f"{scale}: floors", flush=True)
        parse = _run(["--child", "parse", str(work)], work / "parse.log", cap, timeout)
        out["parse_floor_s"] = parse.result.get("seconds")
        floors = _run(["--child", "floors", str(work)], work / "floors.log", cap, timeout)
        out.update(floors.result)
        ingest = next((r["seconds"] for r in out["retrain_stages"] if r["stage"] == "ingest" and not r["skipped"]), None)
        if ingest and out.get("parse_floor_s"):
            out["ingest_ratio"] = round(ingest / out["parse_floor_s"], 2)
    return out


def report(r: dict[str, Any]) -> str:
    t = TARGETS
    lines = [f"{r['scale']}: retrain {r.get('retrain_status')} in {r.get('retrain_s')} s (target {t['retrain_s']:.0f}), "
             f"peak {r.get('retrain_peak_mib', 0) / GIB:.1f} GiB (target {t['retrain_gib']:.0f}); load1 {r.get('load1')}"]  # fmt: skip
    for key in ("retrain_stages", "nightly_stages"):
        for s in r.get(key, []):
            lines.append(f"  {key.split('_')[0]:8s} {s['stage']:10s} " + ("skipped" if s["skipped"] else f"{s['seconds']:8.1f} s  peak {s['peak_mib'] / GIB:5.1f} GiB"))
    if "nightly_s" in r:
        lines.append(f"  nightly {r.get('nightly_status')} in {r['nightly_s']} s (target {t['nightly_s']:.0f}), peak {r['nightly_peak_mib'] / GIB:.1f} GiB")
    for name, key, target in (("ingest / parse floor", "ingest_ratio", "ingest_ratio"), ("ALS fit / raw implicit", "fit_ratio", "fit_ratio"),
                              ("interactions / CSR build", "build_ratio", "build_ratio"),
                              ("  from encoded lines", "from_codes_ratio", "build_ratio"),
                              ("  product level, from codes", "product_level_ratio", "build_ratio")):  # fmt: skip
        if key in r:
            lines.append(f"  {name:26s} {r[key]:5.2f}x (target < {t[target]}x)")
    for key in ("parse_floor_s", "csr_build_s", "interactions_s", "encode_s", "from_codes_s", "product_level_s", "implicit_als_s", "xsell_als_s", "matrix"):
        if key in r:
            lines.append(f"    {key}: {r[key]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--data-dir", type=Path, help="bench folder (default .bench/<scale>)")
    parser.add_argument("--memory-cap-gib", type=float, default=20.0, help="kill a run above this resident size (default 20)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds one pipeline run may take (default 7200)")
    parser.add_argument("--report", action="store_true", help="print the last results without running")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        children = {"pipeline": lambda: child_pipeline(*rest), "parse": lambda: child_parse_floor(*rest), "floors": lambda: child_floors(*rest)}
        children[kind]()
        return 0
    root = args.data_dir or ROOT / ".bench" / args.scale
    results = root / "retrain.json"
    if not args.report:
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        record = measure_scale(args.scale, root, args.memory_cap_gib, args.timeout)
        record["bench_s"] = round(time.time() - t0)
        results.write_text(json.dumps(record, indent=2))
    if not results.is_file():
        print(f"no results in {results}")
        return 1
    print(report(json.loads(results.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
