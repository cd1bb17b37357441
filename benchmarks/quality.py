"""Quality of what xsell publishes, on held-out time, against popularity and plain implicit.

For each data set: the ERP export is cut at a cutoff date (every order line dated on or after it
is removed from the files), the real ``xsell run retrain`` runs on the cut export in a fresh process
with the default config (its own validation and test windows lie inside the cut history), and the
published ``buying_center_suggestions`` (``<outputs>/latest``) are scored on what each buying center
bought in the ``--test-days`` after the cutoff that it had never bought before (cross-sell target,
the evaluation's definition). Beside them, on the same buying centers and targets:

- the popularity baselines (global, per country, per customer segment; xsell's definitions),
- plain ``implicit`` models on the binary buyer x product matrix of the cut history, library
  defaults (BM25 and cosine item-KNN, ALS with 64 factors), called directly,

and, where the data plants them (``planted.json``), the share of planted complements found in the
published ``cross_sell`` top 10 (``ALL`` rows) and of planted upgrades in the ``up_sell`` top 10.

    python benchmarks/quality.py                              # online_retail (if present) and demo
    python benchmarks/quality.py --datasets demo --test-days 60
    python benchmarks/quality.py --datasets b2b,grocery_short  # histories of benchmarks/histories.py
    python benchmarks/quality.py --report                      # print the last results again

Results: ``<data-dir>/results.json`` (default ``.bench/quality``), one entry per data set.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common import ROOT, emit, load_average, run_isolated  # noqa: I001  (benchmarks/ is on sys.path)

SHARED = ROOT.parent / "shared" / "data"
K = 10


@dataclass(frozen=True)
class Dataset:
    """Where a data set comes from and where it is cut."""

    name: str
    config: Path | None
    """The xsell config of the full export (``None``: generated into the bench folder)."""
    cutoff: str | None
    """First held-out day; ``None``: the last order day + 1 - test days."""
    generate: str | None = None
    """``demo`` (``xsell demo-data --scale small``) or a ``benchmarks/histories.py`` kind."""
    test_days: int = 90
    """Held-out days after the cutoff (``--test-days`` overrides)."""


DATASETS: dict[str, Dataset] = {
    "online_retail": Dataset("online_retail", ROOT / "configs" / "online_retail.yaml", "2011-09-01"),
    "demo": Dataset("demo", None, None, generate="demo"),
    "b2b": Dataset("b2b", None, None, generate="b2b"),
    "grocery_short": Dataset("grocery_short", None, None, generate="grocery_short", test_days=30),  # 4 months: the month after
    "grocery_year": Dataset("grocery_year", None, None, generate="grocery_year"),
}


# -- preparing the export ---------------------------------------------------------------------
def source_config(ds: Dataset, folder: Path) -> Path:
    """The config of the full export (generated data is written once into ``folder/source``)."""
    if ds.config is not None:
        return ds.config
    source = folder / "source"
    if ds.generate == "demo":
        config = source / "config.yaml"
        if not config.is_file():
            from xsell.demo.generate import write_demo_data

            write_demo_data(source / "demo-data", scale="small", seed=42)
            _write_demo_config(source)
        return config
    config = source / "config.yaml"
    if not config.is_file():
        import histories  # benchmarks/histories.py

        histories.generate(ds.generate, source, seed=7)
    return config


def _write_demo_config(source: Path) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data = source / "demo-data"
    raw["data"].update(order_lines=str(data / "order_lines" / "*"), products=str(data / "products.csv"), customers=str(data / "customers.csv"))
    raw.pop("evaluation", None)  # the defaults: what the benchmark measures
    (source / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _date_column(cfg: Any) -> str:
    return cfg.data.columns.get("order_date", "order_date")


def cut_export(config: Path, cutoff: pd.Timestamp, out: Path) -> Path:
    """A copy of the export without the order lines dated on or after ``cutoff`` and a config
    pointing at it (outputs under ``out``). Rows whose date does not parse stay (the ingest
    quarantines them as before). CSV is rewritten in its own separator and encoding (UTF-8 for
    ``auto``), values unchanged as text, so the config's ``data.csv`` still applies."""
    import yaml

    from xsell.config import load_config
    from xsell.ingest.parse import parse_dates
    from xsell.io.readers import expand_files, is_parquet, read_export, sniff_separator

    cfg = load_config(config)
    col = _date_column(cfg)
    folder = out / "export"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    kept = dropped = 0
    for path in expand_files(cfg.data.order_lines):
        frame = read_export(path, cfg.data.csv).frame
        dates, _ = parse_dates(frame[col], date_format=cfg.data.csv.date_format, dayfirst=cfg.data.csv.dayfirst)
        keep = ~(dates >= cutoff).to_numpy()
        kept, dropped = kept + int(keep.sum()), dropped + int((~keep).sum())
        part = frame[keep]
        if part.empty:  # a file wholly after the cutoff (monthly exports): left out
            continue
        if is_parquet(path):
            part.to_parquet(folder / path.name, index=False)
        else:
            opts = cfg.data.csv
            sep = opts.sep or sniff_separator(_first_line(path))
            encoding = "utf-8" if opts.encoding == "auto" else opts.encoding
            part.to_csv(folder / (path.name.removesuffix(".gz")), index=False, sep=sep, encoding=encoding)
    raw = cfg.model_dump(mode="json")
    raw["data"]["order_lines"] = str(folder / "*")
    raw["workdir"] = str(out / "work")
    raw["models"]["dir"] = str(out / "models")
    raw["publish"]["outputs"] = str(out / "outputs")
    raw["mlflow"]["tracking_uri"] = None
    raw["evaluation"]["cutoff"] = None  # the pipeline plans its own windows inside the cut history
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"  cut at {cutoff.date()}: {kept:,} order lines kept, {dropped:,} removed", flush=True)
    return path


def _first_line(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.readline()


# -- scoring ----------------------------------------------------------------------------------
def _targets(lines: pd.DataFrame, customers: pd.DataFrame | None, cutoff: pd.Timestamp, test_days: int):
    from xsell.evaluation.split import build_targets, split_at
    from xsell.interactions.build import buyer_countries

    split = split_at(lines, cutoff, cutoff + pd.Timedelta(days=test_days))
    return split, build_targets(split, countries=buyer_countries(lines, customers))["cross_sell"]


def _scores(rankings: dict[str, Any], target: Any) -> pd.DataFrame:
    from xsell.evaluation.core import evaluate_rankings

    m = evaluate_rankings(rankings, target, [K])
    m = m[(m["country"] == "ALL") & (m["k"] == K) & m["metric"].isin(["ndcg", "recall", "hit_rate", "precision"])]
    return m.pivot_table(index="model", columns="metric", values="value", sort=False)


def plain_implicit(train: pd.DataFrame, buyers: list[str]) -> dict[str, pd.DataFrame]:
    """Rankings of implicit's BM25 / cosine item-KNN and ALS (64 factors), library defaults
    otherwise, on the binary matrix of what each buying center owns at the cutoff."""
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    from threadpoolctl import threadpool_limits

    from xsell.interactions.build import owned_pairs

    owned = owned_pairs(train)
    b_codes, b_ids = pd.factorize(owned["buying_center_id"])
    p_codes, p_ids = pd.factorize(owned["product_id"])
    x = sp.csr_matrix((np.ones(len(owned), dtype=np.float32), (b_codes, p_codes)), shape=(len(b_ids), len(p_ids)))
    rows = pd.Index(b_ids).get_indexer(buyers)
    known = np.flatnonzero(rows >= 0)
    out = {}
    models = {
        "implicit_bm25_knn": BM25Recommender(),
        "implicit_cosine_knn": CosineRecommender(),
        "implicit_als_64": AlternatingLeastSquares(factors=64, random_state=42),
    }
    for name, model in models.items():
        with threadpool_limits(1, "blas"):
            model.fit(x, show_progress=False)
            ids, scores = model.recommend(rows[known].astype(np.int32), x[rows[known]], N=K, filter_already_liked_items=True)
        frame = pd.DataFrame(
            {
                "buying_center_id": np.repeat(np.asarray(buyers, dtype=object)[known], K),
                "rank": np.tile(np.arange(1, K + 1), len(known)),
                "product_id": np.where(ids.ravel() >= 0, p_ids.to_numpy(dtype=object)[np.maximum(ids.ravel(), 0)], None),
                "ok": (ids.ravel() >= 0) & (scores.ravel() > -1e30),
            }
        )
        out[name] = frame[frame["ok"] & frame["product_id"].notna()].drop(columns="ok")
    return out


def popularity_rankings(train: pd.DataFrame, customers: pd.DataFrame | None, buyers: list[str]) -> dict[str, Any]:
    """The three popularity baselines fitted on ``train`` (xsell's own definitions)."""
    from xsell.interactions.build import build_training_data, buyer_countries
    from xsell.interactions.config import InteractionsConfig
    from xsell.models.popularity import Popularity

    data = build_training_data(train, customers, InteractionsConfig(recency_half_life_days=None), countries=buyer_countries(train, customers))
    return {name: Popularity(scope=scope).fit(data).recommend(buyers, n=K) for scope, name in (
        ("global", "popularity"), ("country", "popularity_country"), ("segment", "popularity_segment"))}  # fmt: skip


def planted_recovery(source: Path, outputs: Path, train: pd.DataFrame) -> dict[str, float]:
    """Share of planted complement / upgrade pairs (whose product sold before the cutoff) that the
    published ``cross_sell`` / ``up_sell`` ``ALL`` rows hold in their top 10."""
    planted_files = list(source.rglob("planted.json"))
    if not planted_files:
        return {}
    planted = json.loads(planted_files[0].read_text())
    pairs = {
        "complements": planted.get("complement_pairs") or planted.get("complements") or [],
        "upgrades": planted.get("upgrade_pairs") or planted.get("upgrades") or [],
    }
    sold = set(train["product_id"].astype(str))
    out: dict[str, float] = {}
    for kind, table in (("complements", "cross_sell"), ("upgrades", "up_sell")):
        links = pd.read_parquet(outputs / "latest" / f"{table}.parquet")
        links = links[(links["country"] == "ALL") & (links["rank"] <= K)]
        found = set(zip(links["product_id"].astype(str), links["rec_product_id"].astype(str)))
        wanted = [(str(p[0]), str(p[1])) for p in pairs[kind] if str(p[0]) in sold]
        if wanted:
            out[f"planted_{kind}_top10"] = float(np.mean([pair in found for pair in wanted]))
            out[f"planted_{kind}_n"] = len(wanted)
    return out


def measure_dataset(ds: Dataset, root: Path, test_days: int, timeout: float) -> dict[str, Any]:
    """Prepare, cut, retrain in a fresh process, score; returns the result record."""
    from xsell.config import load_config
    from xsell.io.layout import Workdir
    from xsell.io.readers import read_canonical
    from xsell.steps.ingest import run_ingest

    folder = root / ds.name
    config = source_config(ds, folder)
    full = load_config(config, [f"workdir={folder / 'full'}"])
    print(f"{ds.name}: ingest of the full export", flush=True)
    run_ingest(full)
    wd = Workdir(full.workdir)
    lines, customers = read_canonical(wd.order_lines), read_canonical(wd.customers, required=False)
    last = pd.Timestamp(lines["order_date"].max()).normalize()
    cutoff = pd.Timestamp(ds.cutoff) if ds.cutoff else last + pd.Timedelta(days=1 - test_days)
    run_dir = folder / "cut"
    shutil.rmtree(run_dir, ignore_errors=True)
    cut_config = cut_export(config, cutoff, run_dir)
    print(f"{ds.name}: xsell run retrain on the cut export (fresh process)", flush=True)
    load = load_average()
    run = run_isolated([str(Path(__file__).resolve()), "--retrain", str(cut_config)], log_file=run_dir / "retrain.log", timeout=timeout)
    record: dict[str, Any] = {
        "dataset": ds.name, "cutoff": str(cutoff.date()), "test_days": test_days, "retrain_status": run.status,
        "retrain_wall_s": round(run.wall_seconds, 1), "retrain_peak_mib": round(run.peak_mib), "load1": load[0],
    }  # fmt: skip
    if run.status != "ok":
        print(f"{ds.name}: retrain {run.status} (log: {run_dir / 'retrain.log'})", flush=True)
        return record
    record.update(run.result)
    split, target = _targets(lines, customers, cutoff, test_days)
    buyers = list(target.buyers)
    published = pd.read_parquet(Path(load_config(cut_config).publish.outputs) / "latest" / "buying_center_suggestions.parquet")
    rankings: dict[str, Any] = {"published": published[["buying_center_id", "rank", "product_id"]]}
    rankings.update(popularity_rankings(split.train, customers, buyers))
    rankings.update(plain_implicit(split.train, buyers))
    table = _scores(rankings, target)
    pop = table.loc[["popularity", "popularity_country", "popularity_segment"], "ndcg"]
    plain = table.loc[[n for n in table.index if n.startswith("implicit_")], "ndcg"]
    record.update(
        buyers=len(buyers),
        scores={m: {k: round(float(v), 4) for k, v in row.items()} for m, row in table.iterrows()},
        vs_best_popularity=round(float(table.loc["published", "ndcg"] / pop.max()), 3) if pop.max() > 0 else None,
        vs_best_plain_implicit=round(float(table.loc["published", "ndcg"] / plain.max()), 3) if plain.max() > 0 else None,
        best_popularity=str(pop.idxmax()),
        best_plain_implicit=str(plain.idxmax()),
        **planted_recovery(folder / "source" if ds.config is None else folder, Path(load_config(cut_config).publish.outputs), split.train),
    )
    return record


# -- output -----------------------------------------------------------------------------------
def report(results: dict[str, dict[str, Any]]) -> str:
    out = []
    for name, r in results.items():
        out.append(f"\n{name}: cutoff {r.get('cutoff')}, test {r.get('test_days')} days, {r.get('buyers', '?')} buying centers; "
                   f"retrain {r.get('retrain_status')} in {r.get('retrain_wall_s')} s, peak {r.get('retrain_peak_mib')} MiB "
                   f"(load1 {r.get('load1')}); champion {r.get('champion', '?')}")  # fmt: skip
        if "scores" not in r:
            continue
        out.append(f"  {'ranking':22s} {'ndcg@10':>8s} {'recall@10':>9s} {'hit@10':>7s}")
        for model, s in sorted(r["scores"].items(), key=lambda kv: -kv[1]["ndcg"]):
            out.append(f"  {model:22s} {s['ndcg']:8.4f} {s['recall']:9.4f} {s['hit_rate']:7.4f}")
        out.append(
            f"  published / best popularity ({r['best_popularity']}): {r['vs_best_popularity']}x; "
            f"/ best plain implicit ({r['best_plain_implicit']}): {r['vs_best_plain_implicit']}x"
        )
        for kind in ("complements", "upgrades"):
            if f"planted_{kind}_top10" in r:
                out.append(f"  planted {kind} in the published top 10: {r[f'planted_{kind}_top10']:.3f} of {r[f'planted_{kind}_n']}")
    return "\n".join(out)


def _retrain_child(config: str) -> None:
    """``--retrain``: the real pipeline in this (fresh) process; prints the champion as JSON."""
    import contextlib
    import io

    from xsell.cli import setup_logging
    from xsell.pipeline import run_pipeline
    from xsell.stages import STAGES

    setup_logging()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ctx = run_pipeline("retrain", config, stages=STAGES)
    emit({"champion": ctx.values.get("champion_model"), "retrain_seconds": round(time.perf_counter() - t0, 1)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="online_retail,demo", help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--test-days", type=int, help="held-out days after the cutoff (default: the data set's, 90; 30 for grocery_short)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "quality", help="bench folder (default .bench/quality)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one retrain may take (default 3600)")
    parser.add_argument("--report", action="store_true", help="print the last results without running")
    parser.add_argument("--retrain", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.retrain:
        _retrain_child(args.retrain)
        return 0
    results_file = args.data_dir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    if not args.report:
        for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
            ds = DATASETS[name]
            if ds.config is not None and "shared" in ds.config.read_text() and not SHARED.is_dir():
                print(f"{name}: skipped ({SHARED} is absent)")
                continue
            results[name] = measure_dataset(ds, args.data_dir, args.test_days or ds.test_days, args.timeout)
            args.data_dir.mkdir(parents=True, exist_ok=True)
            results_file.write_text(json.dumps(results, indent=2))
            print(report({name: results[name]}), flush=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
