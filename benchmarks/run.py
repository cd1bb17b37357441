"""Stage benchmarks on the demo data: seconds and peak memory per stage, against the targets.

    python benchmarks/run.py --scale medium --mlxtend          # all stages + mlxtend side by side
    python benchmarks/run.py --scale large --skip-bpr --stages ingest,matrices_rules,als,train
    make bench SCALE=medium

The demo data of a scale is generated once into ``<data-dir>/demo-data/`` (default data dir
``.bench/<scale>/``) and reused. Every stage runs in a fresh process, so its peak RSS is its own
(imports included); seconds are those of the stage's work (the ``seconds`` column), process
start-up and loading of its inputs are in ``wall``. Stages use the real step functions with
``configs/demo.yaml`` pointed at the bench data and ``<data-dir>/work/``:

    demo-data       ``write_demo_data`` (cached: shown from the run that generated it)
    ingest          ``run_ingest``
    matrices_rules  ``build_interactions`` + ``AssociationRules.fit`` (the models' configuration)
    als / item_knn / bpr   fit on the buyer x item matrix of ``models.level``
    train           the whole ``xsell train`` step (``run_train``; without bpr under --skip-bpr)
    recommend       ``run_recommend`` on the newest training run
    publish         ``run_publish`` (default formats)
    mlxtend         (--mlxtend) fpgrowth(max_len=2) + association_rules on the same baskets,
                    capped at --mlxtend-timeout seconds: the rules speed-up is a ratio of one run

The load average is printed per stage (the machine may be shared). Results also go to
``<data-dir>/results.json`` (merged per stage with earlier runs). ``<data-dir>/work/`` is
removed at the end unless ``--keep``; a stage whose inputs are missing pulls in the stage that
makes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, IsolatedRun, bench_config, emit, load_average, measure, run_isolated, run_mlxtend

SCALES = ("tiny", "small", "medium", "large")
GIB = 1024.0


@dataclass(frozen=True)
class Target:
    """A target from the issues: seconds and/or peak MiB must stay below these."""

    seconds: float | None = None
    peak_mib: float | None = None

    def __str__(self) -> str:
        parts = ([f"<{self.seconds:.0f} s"] if self.seconds else []) + ([f"<{self.peak_mib / GIB:.0f} GiB"] if self.peak_mib else [])
        return " ".join(parts)

    def check(self, seconds: float | None, peak_mib: float | None) -> bool:
        if self.seconds is not None and (seconds is None or seconds >= self.seconds):
            return False
        return self.peak_mib is None or (peak_mib is not None and peak_mib < self.peak_mib)


TARGETS: dict[tuple[str, str], Target] = {
    ("ingest", "medium"): Target(seconds=60, peak_mib=2 * GIB),
    ("ingest", "large"): Target(peak_mib=16 * GIB),
    ("matrices_rules", "medium"): Target(seconds=30),
    ("als", "medium"): Target(seconds=60),
    ("train", "large"): Target(peak_mib=16 * GIB),
}
"""(stage, scale) -> target, as the issues state them (2 cores)."""


# -- the bench folder ------------------------------------------------------------------------
@dataclass(frozen=True)
class Bench:
    """One scale's bench folder and the options every stage sees."""

    scale: str
    root: Path
    skip_bpr: bool = False

    @property
    def data(self) -> Path:
        return self.root / "demo-data"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def matrices(self) -> Path:
        """Where ``matrices_rules`` leaves the matrices for the model-fit stages."""
        return self.work / "bench-matrices"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def config(self):
        extra = []
        if self.skip_bpr:
            from xsell.models.config import ModelsConfig

            enabled = [m for m in ModelsConfig().enabled if m != "bpr"]
            extra.append(f"models.enabled=[{', '.join(enabled)}]")
        return bench_config(self.data, self.work, extra=extra)


# -- stages (each runs in a child process) ---------------------------------------------------
def _demo_data(b: Bench) -> dict[str, Any]:
    from xsell.demo.generate import write_demo_data

    with measure() as m:
        summary = write_demo_data(b.data, scale=b.scale, seed=42)
    size = sum(p.stat().st_size for p in b.data.rglob("*") if p.is_file())
    return {**m.as_dict(), "lines": summary["lines_written"], "variants": summary["variants"], "MiB on disk": round(size / 2**20)}


def _ingest(b: Bench) -> dict[str, Any]:
    from xsell.steps.ingest import run_ingest

    cfg = b.config()
    with measure() as m:
        s = run_ingest(cfg)
    return {**m.as_dict(), "rows": s.rows_read, "accepted": s.rows_accepted, "rows/s": round(s.rows_read / m.seconds)}


def _matrices_rules(b: Bench) -> dict[str, Any]:
    import pandas as pd

    from xsell.interactions.build import build_interactions
    from xsell.interactions.matrix import TrainingData
    from xsell.io.layout import Workdir
    from xsell.models.registry import build_model

    cfg = b.config()
    with measure() as load:
        lines = pd.read_parquet(Workdir(cfg.workdir).order_lines)
    with measure() as build:
        it = build_interactions(lines, cfg.interactions)
    with measure() as mine:
        rules = build_model("rules", cfg.models, cfg.rules).fit(TrainingData(it, cfg.models.level))
    b.matrices.mkdir(parents=True, exist_ok=True)
    TrainingData(it, cfg.models.level).buyer_items.save(b.matrices / "buyer_items.npz")
    it.order_products.save(b.matrices / "order_products.npz")
    (b.matrices / "rules.json").write_text(json.dumps({"rules_seconds": mine.seconds}))
    return {
        "seconds": round(build.seconds + mine.seconds, 2), "cpu_s": round(build.cpu_seconds + mine.cpu_seconds, 1),
        "peak_mib": round(mine.peak_mib, 1),
        "read_s": round(load.seconds, 2), "build_s": round(build.seconds, 2), "rules_s": round(mine.seconds, 2),
        "lines": len(lines), "buyers x products": "x".join(map(str, it.buyer_products.shape)),
        "variant cols": it.buyer_variants.shape[1], "baskets": it.order_products.shape[0], "rules": len(rules.rules_),
    }  # fmt: skip


def _fit(name: str) -> Callable[[Bench], dict[str, Any]]:
    def fit(b: Bench) -> dict[str, Any]:
        from xsell.interactions.matrix import InteractionMatrix, TrainingData
        from xsell.models.registry import build_model

        cfg = b.config()
        buyer_items = InteractionMatrix.load(b.matrices / "buyer_items.npz")
        model = build_model(name, cfg.models, cfg.rules)
        with measure() as m:
            model.fit(TrainingData.of(buyer_items))
        params = {k: v for k, v in getattr(cfg.models, name).model_dump().items() if k in ("factors", "iterations", "K")}
        return {**m.as_dict(), "matrix": "x".join(map(str, buyer_items.shape)), "nnz": int(buyer_items.matrix.nnz), **params}

    return fit


def _train(b: Bench) -> dict[str, Any]:
    from xsell.steps.train import run_train

    cfg = b.config()
    with measure() as m:
        res = run_train(cfg)
    return {**m.as_dict(), "models": ",".join(res.models), **{f"{k}_s": round(v, 1) for k, v in res.timings.items()}}


def _recommend(b: Bench) -> dict[str, Any]:
    from xsell.steps.recommend import run_recommend

    cfg = b.config()
    with measure() as m:
        res = run_recommend(cfg)
    return {**m.as_dict(), "personal": res.personal_model, **res.rows}


def _publish(b: Bench) -> dict[str, Any]:
    from xsell.errors import GuardrailError
    from xsell.steps.publish import run_publish

    cfg = b.config()
    outcome = "accepted"
    with measure() as m:
        try:
            files = run_publish(cfg).files
        except GuardrailError as exc:  # a rejected run is written in full, so its time counts
            outcome, files = f"rejected: {exc}", None
    return {**m.as_dict(), "files": files, "run": outcome}


@dataclass(frozen=True)
class StageSpec:
    """A benchmarked stage: its worker (``None``: run by the parent), the stage making its
    inputs, and the files it leaves."""

    run: Callable[[Bench], dict[str, Any]] | None
    needs: str | None
    outputs: Callable[[Bench], list[Path]]


def _canonical(b: Bench) -> list[Path]:
    return [b.work / "canonical" / "order_lines.parquet"]


def _matrix_files(b: Bench) -> list[Path]:
    return [b.matrices / "buyer_items.npz", b.matrices / "order_products.npz", b.matrices / "rules.json"]


def _newest_models(b: Bench) -> list[Path]:
    runs = sorted((b.work / "models").glob("*/train.json"))
    return runs[-1:] or [b.work / "models" / "none"]


STAGES: dict[str, StageSpec] = {
    "ingest": StageSpec(_ingest, None, _canonical),
    "matrices_rules": StageSpec(_matrices_rules, "ingest", _matrix_files),
    "als": StageSpec(_fit("als"), "matrices_rules", lambda b: []),
    "item_knn": StageSpec(_fit("item_knn"), "matrices_rules", lambda b: []),
    "bpr": StageSpec(_fit("bpr"), "matrices_rules", lambda b: []),
    "mlxtend": StageSpec(None, "matrices_rules", lambda b: []),
    "train": StageSpec(_train, "ingest", _newest_models),
    "recommend": StageSpec(_recommend, "train", lambda b: [b.work / "tables" / "tables.json"]),
    "publish": StageSpec(_publish, "recommend", lambda b: []),
}
WORKERS: dict[str, Callable[[Bench], dict[str, Any]]] = {"demo-data": _demo_data} | {k: s.run for k, s in STAGES.items() if s.run}


def plan(selected: list[str], b: Bench) -> list[str]:
    """``selected`` in run order, plus the stages making missing inputs."""
    wanted = set(selected)
    for name in selected:
        need = STAGES[name].needs
        while need is not None and need not in wanted and not all(p.exists() for p in STAGES[need].outputs(b)):
            wanted.add(need)
            need = STAGES[need].needs
    return [s for s in STAGES if s in wanted]


# -- the parent: run, judge, print -----------------------------------------------------------
def _record(stage: str, **fields: Any) -> dict[str, Any]:
    """One result row (``results.json`` and the table); fields not given are empty."""
    empty = dict.fromkeys(("seconds", "cpu_s", "wall_s", "peak_mib", "load_at_start")) | {"target": "", "verdict": "", "status": "", "note": ""}
    return {"stage": stage, **empty, "details": {}, **fields, "at": dt.datetime.now().isoformat(timespec="seconds")}


def _row(stage: str, scale: str, run: IsolatedRun, load: list[float], note: str = "") -> dict[str, Any]:
    res = dict(run.result)
    seconds, cpu, peak = res.pop("seconds", None), res.pop("cpu_s", None), res.pop("peak_mib", None)
    peak = peak if peak is not None else (round(run.peak_mib, 1) if run.peak_mib else None)  # killed: the polled peak
    target = TARGETS.get((stage, scale))
    verdict = "" if target is None else ("PASS" if run.status == "ok" and target.check(seconds, peak) else "FAIL")
    return _record(
        stage, seconds=seconds, cpu_s=cpu, wall_s=round(run.wall_seconds, 1), peak_mib=peak, target=str(target or ""),
        verdict=verdict, load_at_start=load, status=run.status, note=note, details=res,
    )  # fmt: skip


def _worker_argv(stage: str, args: argparse.Namespace) -> list[str]:
    argv = [__file__, "--worker", stage, "--scale", args.scale, "--data-dir", str(args.data_dir)]
    return argv + (["--skip-bpr"] if args.skip_bpr else [])


def _demo_data_row(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    record = b.root / "demo-data.json"
    if (b.data / "planted.json").is_file() and record.is_file():
        row = json.loads(record.read_text())
        return {**row, "note": f"cached, generated {row['at']}"}
    load = load_average()
    run = run_isolated(_worker_argv("demo-data", args), log_file=b.logs / "demo-data.log", memory_cap_mib=args.memory_cap_gib * GIB)
    row = _row("demo-data", b.scale, run, load)
    if run.status != "ok":
        raise SystemExit(f"demo-data generation {run.status}; see {b.logs / 'demo-data.log'}")
    record.write_text(json.dumps(row, indent=2))
    return row


def _mlxtend_row(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    from xsell.interactions.matrix import InteractionMatrix

    load = load_average()
    min_support = b.config().rules.min_support_count
    run = run_mlxtend(
        b.matrices / "order_products.npz", min_support, log_file=b.logs / "mlxtend.log", timeout=args.mlxtend_timeout,
        memory_cap_mib=args.mlxtend_memory_gib * GIB,
    )  # fmt: skip
    rules_s = max(json.loads((b.matrices / "rules.json").read_text())["rules_seconds"], 1e-3)
    row = _row("mlxtend", b.scale, run, load)
    mined = row["seconds"]
    if mined is not None and mined > args.mlxtend_timeout:  # finished, but past the cap
        row["status"] = f"over the {args.mlxtend_timeout:.0f} s cap"
    if mined is not None:
        row["note"] = f"rules fit {rules_s:.1f} s: xsell {mined / rules_s:.1f}x faster"
    elif run.timed_out:
        row["note"] = f"rules fit {rules_s:.1f} s: xsell > {args.mlxtend_timeout / rules_s:.1f}x faster (mlxtend capped)"
    else:
        row["note"] = f"rules fit {rules_s:.1f} s"
    row["details"]["xsell_rules_s"] = round(rules_s, 2)
    # mlxtend's setup_fptree sums ``df.values``: the sparse one-hot frame becomes a dense
    # (n_baskets, n_products) bool array, so this is a floor of its peak memory
    n_baskets, n_products = InteractionMatrix.load(b.matrices / "order_products.npz").shape
    row["details"]["dense_onehot_gib"] = round(n_baskets * n_products / 2**30, 1)
    return row


def _fmt(v: Any, spec: str) -> str:
    return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0] or 0))


def print_table(scale: str, rows: list[dict[str, Any]]) -> None:
    """The result table: one line per stage, details below."""
    head = f"{'stage':15s} {'seconds':>8s} {'cpu s':>7s} {'wall':>7s} {'peak MiB':>9s}  {'target':14s} {'result':6s} {'load1':>5s}  status"
    print(f"\nxsell benchmarks, scale {scale} ({sys.platform}, cores {os.cpu_count()}, load now {load_average()})")
    print(head)
    print("-" * len(head))
    for r in rows:
        load1 = r["load_at_start"][0] if r.get("load_at_start") else None
        status = r["status"] + (f"; {r['note']}" if r.get("note") else "")
        print(
            f"{r['stage']:15s} {_fmt(r['seconds'], '8.1f')} {_fmt(r['cpu_s'], '7.1f')} {_fmt(r['wall_s'], '7.1f')} {_fmt(r['peak_mib'], '9.0f')}  "
            f"{r['target']:14s} {r['verdict']:6s} {_fmt(load1, '5.2f')}  {status}"
        )
    print()
    for r in rows:
        if r.get("details"):
            print(f"  {r['stage']:15s} " + ", ".join(f"{k}={v}" for k, v in r["details"].items()))


def write_results(b: Bench, rows: list[dict[str, Any]]) -> Path:
    """Merge this run's rows into ``<root>/results.json`` (per stage, newest wins)."""
    path = b.root / "results.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    stages = old.get("stages", {}) | {r["stage"]: r for r in rows}
    path.write_text(json.dumps({"scale": b.scale, "targets": {f"{k[0]}@{k[1]}": str(v) for k, v in TARGETS.items()}, "stages": stages}, indent=2))
    return path


def report(b: Bench) -> int:
    """Print the merged table of ``<root>/results.json`` (stages measured by earlier runs)."""
    path = b.root / "results.json"
    if not path.is_file():
        raise SystemExit(f"no results yet: {path}")
    stages = json.loads(path.read_text())["stages"]
    print_table(b.scale, [stages[s] for s in ["demo-data", *STAGES] if s in stages])
    return 0


def main(args: argparse.Namespace) -> int:
    b = Bench(args.scale, args.data_dir, args.skip_bpr)
    if args.report:
        return report(b)
    b.root.mkdir(parents=True, exist_ok=True)
    selected = args.stages or [s for s in STAGES if s != "mlxtend"]
    selected = [s for s in selected if not (s == "bpr" and args.skip_bpr)] + (["mlxtend"] if args.mlxtend else [])
    rows = [_demo_data_row(b, args)]
    print(f"demo-data: {rows[0]['status']} {rows[0].get('note', '')}", flush=True)
    failed: set[str] = set()
    try:
        for stage in plan(selected, b):
            if STAGES[stage].needs in failed:
                failed.add(stage)
                rows.append(_record(stage, status=f"skipped: {STAGES[stage].needs} did not finish"))
                continue
            if stage == "mlxtend":
                row = _mlxtend_row(b, args)
            else:
                load = load_average()
                run = run_isolated(_worker_argv(stage, args), log_file=b.logs / f"{stage}.log", memory_cap_mib=args.memory_cap_gib * GIB)
                row = _row(stage, b.scale, run, load, "bpr not in models.enabled (--skip-bpr)" if stage == "train" and args.skip_bpr else "")
            rows.append(row)
            print(f"{stage}: {row['status']} {_fmt(row['seconds'], '.1f')} s, peak {_fmt(row['peak_mib'], '.0f')} MiB", flush=True)
            if row["status"].startswith(("killed", "failed")):
                failed.add(stage)
    finally:
        print_table(b.scale, rows)
        print(f"\nresults: {write_results(b, rows)}; logs: {b.logs}")
        if not args.keep:
            shutil.rmtree(b.work, ignore_errors=True)
    return 0 if all(r["verdict"] != "FAIL" for r in rows) and not failed else 1


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="small", choices=SCALES)
    p.add_argument("--stages", type=lambda s: s.split(","), help=f"comma-separated subset of {','.join(STAGES)} (default: all)")
    p.add_argument("--data-dir", type=Path, help="bench folder (default .bench/<scale>)")
    p.add_argument("--keep", action="store_true", help="keep <data-dir>/work (canonical tables, models, outputs)")
    p.add_argument("--skip-bpr", action="store_true", help="no bpr stage, and train without bpr (slow at large)")
    p.add_argument("--mlxtend", action="store_true", help="also run mlxtend on the same baskets")
    p.add_argument("--mlxtend-timeout", type=float, default=600.0, help="seconds mlxtend may mine (default 600)")
    p.add_argument("--mlxtend-memory-gib", type=float, default=16.0, help="kill mlxtend above this resident memory (it needs > n_baskets x n_products bytes)")
    p.add_argument("--memory-cap-gib", type=float, default=20.0, help="kill a stage above this resident memory")
    p.add_argument("--report", action="store_true", help="print the table of <data-dir>/results.json; run nothing")
    p.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = set(args.stages or []) - set(STAGES)
    if unknown:
        p.error(f"unknown stage(s) {sorted(unknown)}; known: {', '.join(STAGES)}")
    args.data_dir = (args.data_dir or ROOT / ".bench" / args.scale).resolve()
    return args


if __name__ == "__main__":
    ARGS = _parse()
    if ARGS.worker:
        from xsell.cli import setup_logging

        setup_logging()
        logging.getLogger(__name__).info("bench worker %s, scale %s", ARGS.worker, ARGS.scale)
        emit(WORKERS[ARGS.worker](Bench(ARGS.scale, ARGS.data_dir, ARGS.skip_bpr)))
    else:
        sys.exit(main(ARGS))
