"""benchmarks/histories.py: the benchmark histories are deterministic and xsell ingests each one
through its generated config alone, accounting for every row.

Tiny scale (seconds each). Row counts are recomputed from the written files, the planted
upgrades are checked against xsell's canonical lines; nothing is taken from the generator's own
counts.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from xsell.cli import main
from xsell.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _load_histories():
    spec = importlib.util.spec_from_file_location("histories", REPO / "benchmarks" / "histories.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


histories = _load_histories()


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def data_rows(path: Path) -> int:
    """Data rows of one export file, counted from the file itself (no field holds a newline)."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.count(b"\n") - 1


@pytest.mark.parametrize("kind", histories.KINDS)
def test_same_seed_gives_the_same_bytes(tmp_path: Path, kind: str) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        histories.generate(kind, tmp_path / name, seed=seed, scale="tiny")
    first = digests(tmp_path / "a")
    assert {"config.yaml", "planted.json"} <= set(first)
    assert first == digests(tmp_path / "b")
    other = digests(tmp_path / "c")
    changed = [f for f in first if f not in ("config.yaml",) and other.get(f) != first[f]]
    assert changed, "another seed must give other data"


@pytest.fixture(scope="module", params=histories.KINDS)
def ingested(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param)
    histories.generate(request.param, out, seed=11, scale="tiny")
    assert main(["-q", "ingest", "--config", str(out / "config.yaml")]) == 0
    return request.param, out


def test_config_validates_with_everything_under_the_folder(ingested: tuple[str, Path]) -> None:
    kind, out = ingested
    assert main(["-q", "config", "show", "--config", str(out / "config.yaml")]) == 0
    cfg = load_config(out / "config.yaml")
    assert cfg.mlflow.experiment == cfg.mlflow.registered_model == kind
    for path in (cfg.workdir, cfg.models.dir, cfg.publish.outputs):
        assert Path(path).resolve().is_relative_to(out.resolve())


def test_ingest_accounts_for_every_row(ingested: tuple[str, Path]) -> None:
    kind, out = ingested
    cfg = load_config(out / "config.yaml")
    summary = json.loads((Path(cfg.workdir) / "ingest_summary.json").read_text(encoding="utf-8"))
    files = [Path(f) for f in sorted(glob.glob(str(cfg.data.order_lines)))]
    assert files
    assert summary["rows_read"] == sum(data_rows(f) for f in files)
    assert summary["rows_read"] == summary["rows_accepted"] + summary["rows_quarantined"] + summary["rows_excluded"]
    # every history carries non-product lines (excluded) and lines without a buying center (quarantined)
    assert summary["rows_excluded"] > 0 and summary["rows_quarantined"] > 0
    assert summary["rows_accepted"] > 0.8 * summary["rows_read"]
    lines = pd.read_parquet(Path(cfg.workdir) / "canonical" / "order_lines.parquet")
    assert lines["is_return"].any()
    assert lines["order_date"].nunique() > 60


def test_planted_upgrades_are_acted_out_in_the_b2b_lines(tmp_path: Path) -> None:
    histories.generate("b2b", tmp_path, seed=5, scale="tiny")
    assert main(["-q", "ingest", "--config", str(tmp_path / "config.yaml")]) == 0
    planted = json.loads((tmp_path / "planted.json").read_text(encoding="utf-8"))
    assert planted["upgrades"] and planted["complements"]
    lines = pd.read_parquet(tmp_path / "work" / "canonical" / "order_lines.parquet")
    bought = lines[~lines["is_return"] & (lines["quantity"] > 0)]
    first = bought.groupby(["buying_center_id", "product_id"])["order_date"].min().rename("first_x")
    last = bought.groupby(["buying_center_id", "product_id"])["order_date"].max().rename("last_y")
    pairs = pd.DataFrame(planted["upgrades"], columns=["x", "y"])
    seq = (
        pairs.merge(first.reset_index().rename(columns={"product_id": "x"}), on="x")
        .merge(last.reset_index().rename(columns={"product_id": "y"}), on=["y", "buying_center_id"])
    )
    switchers = seq[seq["first_x"] < seq["last_y"]].groupby(["x", "y"])["buying_center_id"].nunique()
    acted = switchers.reindex(pd.MultiIndex.from_frame(pairs)).fillna(0)
    assert (acted >= 2).mean() >= 0.9, acted.describe()
    # an upgrade stays in its family and costs more (xsell's up-sell window is 1.1x - 2.5x)
    products = pd.read_parquet(tmp_path / "work" / "canonical" / "products.parquet").drop_duplicates("product_id").set_index("product_id")
    assert (products.loc[pairs["x"], "family"].to_numpy() == products.loc[pairs["y"], "family"].to_numpy()).all()
    ratio = products.loc[pairs["y"], "list_price"].to_numpy() / products.loc[pairs["x"], "list_price"].to_numpy()
    assert ((ratio > 1.1) & (ratio < 2.5)).all()
