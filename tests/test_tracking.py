"""Tracking facade against a real temporary MLflow SQLite store (no mocks).

One store per module (creating the SQLite schema takes seconds); each test uses its own
experiment or registered-model name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xsell.config import config_from_dict
from xsell.errors import NoChampionError
from xsell.evaluation.selection import CHALLENGER, CHAMPION
from xsell.tracking import Tracker, flatten, load_champion, metric_key

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

BASELINES = {"popularity": 0.10, "popularity_country": 0.12}
METRIC = "cross_sell.ndcg.at10"


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_dir(root: Path, name: str, factors: np.ndarray) -> Path:
    """A hand-written Recommender-like directory: arrays.npz + model.json."""
    d = root / name
    d.mkdir(parents=True)
    np.savez(d / "arrays.npz", item_factors=factors, items=np.array(["P1", "P2", "P3"]))
    (d / "model.json").write_text(json.dumps({"name": "als", "class": "ALSRecommender", "params": {"factors": 2}, "meta": {}}))
    return d


@pytest.mark.slow
def test_importing_xsell_does_not_import_mlflow() -> None:
    code = (
        "import sys, xsell, xsell.tracking, xsell.evaluation.core, xsell.steps.evaluate, xsell.config;"
        "sys.exit(1 if 'mlflow' in sys.modules else 0)"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(src)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_metric_key_and_flatten() -> None:
    assert metric_key("cross_sell", "ndcg", 10) == "cross_sell.ndcg.at10"
    assert metric_key("cross_sell", "ndcg", 10, "DE") == "cross_sell.ndcg.at10.DE"
    assert metric_key("cross_sell", "n_buyers", 0, model="als") == "als.cross_sell.n_buyers"
    assert metric_key("reorder", "recall", 5, "Channel Islands (UK)") == "reorder.recall.at5.Channel Islands _UK_"
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": "x"}) == {"a.b": "1", "a.c": "[1, 2]", "d": "null", "e": "x"}


def test_run_logs_params_metrics_artifacts_and_nesting(uri: str, client: MlflowClient, tmp_path: Path) -> None:
    cfg = config_from_dict({"data": {"order_lines": "lines.csv"}, "evaluation": {"test_days": 60}}, base_dir=tmp_path)
    metrics = pd.DataFrame(
        [
            ("als", "cross_sell", "ALL", 10, "ndcg", 0.25),
            ("als", "cross_sell", "DE", 10, "ndcg", 0.5),
            ("als", "cross_sell", "ALL", 0, "n_buyers", 12.0),
        ],
        columns=["model", "target", "country", "k", "metric", "value"],
    )
    csv = tmp_path / "metrics.csv"
    metrics.to_csv(csv, index=False)
    tracker = Tracker(uri, "test-run")
    with tracker.run("evaluate", tags={"kind": "test"}) as parent:
        tracker.log_config(cfg)
        tracker.log_fingerprint({"order_lines": {"sha256": "ab" * 32, "rows": 1234}, "first_date": "2024-01-01"})
        tracker.log_code_version()
        tracker.log_timings({"train": 1.5})
        tracker.log_artifact(csv, "evaluation")
        with tracker.run("als", nested=True) as child:
            tracker.log_metrics(metrics)
        assert tracker.run_id == parent

    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.params["evaluation.test_days"] == "60"
    assert run.data.params["evaluation.k"] == "[5, 10, 20]"
    assert run.data.params["data.order_lines.rows"] == "1234"
    assert run.data.tags["data.first_date"] == "2024-01-01"
    assert run.data.tags["xsell.version"]
    assert run.data.tags["xsell.config_hash"] == cfg.hash()
    assert run.data.metrics["time.train_s"] == 1.5
    paths = {a.path for a in client.list_artifacts(parent, "config")} | {a.path for a in client.list_artifacts(parent, "evaluation")}
    assert {"config/config.yaml", "config/config.json", "evaluation/metrics.csv"} <= paths

    child_run = client.get_run(child)
    assert child_run.data.tags["mlflow.parentRunId"] == parent
    assert child_run.data.metrics == {"cross_sell.ndcg.at10": 0.25, "cross_sell.ndcg.at10.DE": 0.5, "cross_sell.n_buyers": 12.0}


def test_failed_body_marks_run_failed(uri: str, client: MlflowClient) -> None:
    tracker = Tracker(uri, "test-failed")
    with pytest.raises(ZeroDivisionError):
        with tracker.run("boom") as run_id:
            1 / 0  # noqa: B018
    assert client.get_run(run_id).info.status == "FAILED"


def register(
    tracker: Tracker, name: str, d: Path, value: float, margin: float = 0.0, comparable: str = "data-1", config: str = "c1", model: str = "als"
):
    with tracker.run(f"candidate-{value}"):
        return tracker.register_best(
            registered_model=name, model=model, model_dir=d, value=value, metric=METRIC,
            baseline_values=BASELINES, margin=margin, comparable=comparable, tags={"xsell.config_hash": config},
        )


def test_registry_champion_challenger_sequence(uri: str, client: MlflowClient, tmp_path: Path) -> None:
    name = "xsell-test-seq"
    tracker = Tracker(uri, "test-registry")
    first_factors = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    d1 = model_dir(tmp_path, "m1", first_factors)

    # the first registration is champion (the evaluation already put it against popularity)
    r1 = register(tracker, name, d1, 0.30)
    assert r1.decision.alias == CHAMPION and r1.previous_champion is None
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == r1.version.version
    assert r1.version.tags["xsell.rank_metric_value"] == repr(0.30)
    assert r1.version.tags["xsell.measured_on"] == "data-1"

    # measured on the same data and worse than the champion -> challenger, champion unchanged
    r2 = register(tracker, name, model_dir(tmp_path, "m2", first_factors * 0), 0.25, config="c2")
    assert r2.decision.alias == CHALLENGER
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == r1.version.version
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == r2.version.version

    # better, but not by the margin: 0.33 <= 0.30 + 0.05 -> challenger
    r3 = register(tracker, name, model_dir(tmp_path, "m3", first_factors), 0.33, margin=0.05, config="c3")
    assert r3.decision.alias == CHALLENGER

    # better by the margin: 0.40 > 0.30 + 0.05 -> new champion
    better = first_factors + 10
    r4 = register(tracker, name, model_dir(tmp_path, "m4", better), 0.40, margin=0.05, config="c4")
    assert r4.decision.alias == CHAMPION
    assert r4.previous_champion is not None and r4.previous_champion.version == r1.version.version
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == r4.version.version

    # the same data, config and model again: nothing new is registered
    again = register(tracker, name, model_dir(tmp_path, "m4b", better), 0.40, margin=0.05, config="c4")
    assert again.version.version == r4.version.version and "unchanged" in again.decision.reason

    # models:/<name>@champion resolves to the directory of version 4, byte for byte
    local, info = load_champion(uri, name, tmp_path / "dl")
    assert info.version == r4.version.version and info.metric_value == 0.40
    assert sorted(p.name for p in local.iterdir()) == ["arrays.npz", "model.json"]
    with np.load(local / "arrays.npz") as z:
        np.testing.assert_array_equal(z["item_factors"], better)
    assert (local / "model.json").read_bytes() == (tmp_path / "m4" / "model.json").read_bytes()

    # measured on newer data: not comparable, the newest best becomes champion even if its value is lower
    r5 = register(tracker, name, model_dir(tmp_path, "m5", first_factors), 0.20, comparable="data-2")
    assert r5.decision.alias == CHAMPION and "no champion measured on the same data" in r5.decision.reason


def test_no_champion_before_the_first_retrain(uri: str, tmp_path: Path) -> None:
    with pytest.raises(NoChampionError, match="run `xsell run retrain"):
        load_champion(uri, "never-registered", tmp_path / "dl2")
    assert NoChampionError.exit_code == 2
