"""Pipelines end to end through the real CLI (subprocesses), on generated data, with a
temporary SQLite MLflow store: retrain -> nightly, published files, registry aliases,
idempotence, caching, locking and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xsell.lock import RunLock

pytestmark = pytest.mark.slow  # every test runs whole pipelines as subprocesses

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "configs" / "demo.yaml"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def xsell(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed CLI exactly as cron would: a new process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "xsell.cli", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )


def overrides(base: Path, workdir: str = "work", outputs: str = "outputs") -> list[str]:
    data = base / "data"
    pairs = {
        "workdir": base / workdir,
        "data.order_lines": f"{data}/order_lines/*",
        "data.products": data / "products.csv",
        "data.customers": data / "customers.csv",
        "models.dir": base / "models",
        "publish.outputs": base / outputs,
    }
    out: list[str] = []
    for key, value in pairs.items():
        out += ["--set", f"{key}={value}"]
    return out


@pytest.fixture(scope="module")
def retrained(tmp_path_factory) -> Path:
    """Tiny demo data, then `xsell run retrain` once for the whole module."""
    base = tmp_path_factory.mktemp("pipe")
    gen = xsell("demo-data", "--out", str(base / "data"), "--scale", "tiny", "--seed", "7", cwd=base)
    assert gen.returncode == 0, gen.stderr
    run = xsell("run", "retrain", "--config", str(DEMO_CONFIG), *overrides(base), cwd=base)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "xsell retrain: done" in run.stdout
    # score takes the lines evaluate encoded (the nightly test below checks it publishes what a fresh encoding gives)
    assert "score: the order lines as evaluate encoded them" in run.stderr
    assert "recommend: buying_center_id, product_id, variant_id, order_id as score encoded them" in run.stderr
    # the summary says where sales ops and the shop find their files, and what to do next
    published = base / "outputs" / "runs"
    assert f"sales:           {published}" in run.stdout and f"shop:            {published}" in run.stdout
    assert f"next:            schedule `xsell run nightly --config {DEMO_CONFIG}`" in run.stdout
    return base


def manifest_of_latest(base: Path, outputs: str = "outputs") -> dict:
    latest = (base / outputs / "latest").resolve()
    return json.loads((latest / "manifest.json").read_text())


def file_digests(manifest: dict) -> dict[str, str]:
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def test_retrain_publishes_every_contract_file_and_registers_a_champion(retrained):
    latest = (retrained / "outputs" / "latest").resolve()
    assert latest.parent.name == "runs" and latest.is_dir()
    for name in ("cross_sell", "up_sell", "buying_center_suggestions"):
        assert (latest / f"{name}.csv").is_file() and (latest / f"{name}.parquet").is_file()
    assert (latest / "shop" / "product_links.jsonl").is_file()
    assert (latest / "shop" / "magento_product_links.csv").is_file()
    assert list((latest / "sales").glob("*.xlsx"))
    manifest = manifest_of_latest(retrained)
    assert manifest["model_name"] == "xsell-demo" and manifest["model_version"] is not None
    for entry in manifest["files"]:  # the manifest describes what is on disk
        assert (latest / entry["path"]).is_file()
    verify = xsell("publish", "verify", "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
    assert verify.returncode == 0, verify.stderr

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{retrained / 'work' / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("xsell-demo", "champion")
    assert str(champion.version) == str(manifest["model_version"])
    # the tables come from the champion (it ranks the buying centers) and the association rules
    # of the current history; the champion is always there after a retrain, popularity or not
    tables = json.loads((retrained / "work" / "tables" / "tables.json").read_text())
    champion_model = champion.tags["xsell.model"]
    assert set(tables["models"]) == {"rules", champion_model} and tables["personal_model"] == champion_model
    assert tables["model_version"] == manifest["model_version"]
    assert (retrained / "work" / "evaluation" / "champion.json").is_file()
    # input fingerprints: every order-line file with its own rows and date range (one file per year)
    yearly = [f for f in manifest["input_fingerprints"] if Path(f["path"]).name.startswith("orders_")]
    assert len(yearly) == 3
    for f in yearly:
        year = Path(f["path"]).stem.split("_")[1]
        assert f["date_min"].startswith(year) and f["date_max"].startswith(year) and f["rows"] > 0
        assert len(f["sha256"]) == 64


def test_nightly_scores_with_the_champion_skips_unchanged_work_and_is_idempotent(retrained):
    before = manifest_of_latest(retrained)
    first = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
    assert first.returncode == 0, first.stderr[-3000:]
    # monitor looks at the published run: nothing was ordered after its data end, which is no error
    data_end = before["data_end"]
    assert f"monitor: run {before['run_id']}: no order lines after its data end {data_end} yet" in first.stderr
    # same data, same champion: every stage is a cache hit, nothing is published again
    second = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
    assert second.returncode == 0, second.stderr[-3000:]
    for stage in ("ingest", "monitor", "score", "recommend", "publish"):
        assert f"{stage}: skipped" in second.stderr
    # --force recomputes everything: a new run with byte-identical files (manifest aside)
    forced = xsell("run", "nightly", "--force", "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "skipped" not in forced.stderr
    assert "as evaluate encoded them" not in forced.stderr  # no evaluate ran: score read and encoded the lines
    assert "as score encoded them" in forced.stderr  # and handed them on to recommend
    after = manifest_of_latest(retrained)
    assert after["model_version"] == before["model_version"]
    assert file_digests(after) == file_digests(before)
    tables = pd.read_parquet((retrained / "outputs" / "latest").resolve() / "cross_sell.parquet")
    assert len(tables) > 0


def test_a_second_run_on_the_same_outputs_is_refused_while_the_first_holds_the_lock(retrained):
    # the lock is per outputs folder: a retrain may not start while a nightly runs, either
    with RunLock(retrained / "outputs" / ".xsell-run.lock", what="nightly"):
        for pipeline in ("nightly", "retrain"):
            blocked = xsell("run", pipeline, "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
            assert blocked.returncode == 1
            assert "another xsell run is in progress (nightly, pid" in blocked.stderr
            assert len(blocked.stderr.strip().splitlines()) == 1  # one line, fit for an alert


def test_two_runs_on_one_workdir_with_different_outputs_are_refused(retrained):
    """Issue 11, item 21: the lock was per outputs folder only, so a second pipeline on the same
    workdir with other outputs ran at the same time and both wrote the workdir's files."""
    with RunLock(retrained / "work" / ".xsell-run.lock", what="retrain"):
        other = overrides(retrained, outputs="outputs-other")
        blocked = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *other, cwd=retrained)
        assert blocked.returncode == 1
        assert "another xsell run is in progress (retrain, pid" in blocked.stderr and "work/.xsell-run.lock" in blocked.stderr
    assert not (retrained / "outputs-other" / "latest").exists()


def test_nightly_without_a_champion_exits_2_and_does_not_train(retrained):
    fresh = overrides(retrained, workdir="work-fresh", outputs="outputs-fresh")
    run = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *fresh, cwd=retrained)
    assert run.returncode == 2
    assert "champion" in run.stderr.strip().splitlines()[-1]
    assert not (retrained / "outputs-fresh" / "latest").exists()


def test_pipeline_failures_map_to_exit_codes(retrained, tmp_path):
    unknown = xsell("run", "weekly", "--config", str(DEMO_CONFIG), cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown pipeline 'weekly'" in unknown.stderr
    no_data = xsell(
        "run", "nightly", "--config", str(DEMO_CONFIG), *overrides(retrained, workdir="w3", outputs="o3"),
        "--set", f"data.order_lines={tmp_path}/nothing-*.csv", cwd=tmp_path,
    )
    assert no_data.returncode == 2  # a wrong input path is a config error (issue 11, item 8)
    assert "nothing-*.csv" in no_data.stderr.strip().splitlines()[-1]


def test_a_mapping_only_config_publishes_without_up_sell(tmp_path):
    """Issue 11, item 2: paths and a column mapping are enough. Without a product master or
    data.family_rule no two products share a family: up-sell is empty, the run still publishes,
    and the guardrail says why and which key fixes it."""
    gen = xsell("demo-data", "--out", str(tmp_path / "data"), "--scale", "tiny", "--seed", "11", cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    no_masters = [*overrides(tmp_path), "--set", "data.products=null", "--set", "data.customers=null",
                  "--set", "evaluation.sweep.n_trials=1"]  # fmt: skip
    run = xsell("run", "retrain", "--config", str(DEMO_CONFIG), *no_masters, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "up-sell has no candidates; map data.product_columns.family or set data.family_rule" in run.stderr
    manifest = manifest_of_latest(tmp_path)
    checks = {(c["name"], c["table"]): c for c in manifest["guardrails"]["checks"]}
    assert checks[("min_rows", "up_sell")]["passed"] and "data.family_rule" in checks[("min_rows", "up_sell")]["detail"]
    assert pd.read_parquet((tmp_path / "outputs" / "latest" / "up_sell.parquet").resolve()).empty
    assert not pd.read_parquet((tmp_path / "outputs" / "latest" / "buying_center_suggestions.parquet").resolve()).empty


def test_when_popularity_wins_it_is_champion_and_the_run_publishes(retrained):
    """Issue 10: a champion always exists. With no learned model enabled the best popularity
    baseline is champion: retrain publishes, says so, and nightly scores with it."""
    only = [*overrides(retrained, workdir="work-pop", outputs="outputs-pop"), "--set", "models.enabled=[popularity]",
            "--set", "mlflow.registered_model=xsell-pop"]  # fmt: skip
    run = xsell("run", "retrain", "--config", str(DEMO_CONFIG), *only, cwd=retrained)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "popularity is champion on this data" in run.stdout
    assert "learned models did not beat popularity on this data" in run.stdout
    champion = json.loads((retrained / "work-pop" / "evaluation" / "champion.json").read_text())
    assert champion["popularity_won"] and champion["model"].startswith("popularity")
    assert manifest_of_latest(retrained, "outputs-pop")["status"] == "accepted"
    nightly = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *only, cwd=retrained)
    assert nightly.returncode == 0, nightly.stderr[-3000:]
    bcs = pd.read_parquet((retrained / "outputs-pop" / "latest" / "buying_center_suggestions.parquet").resolve())
    assert set(bcs["source"]) <= {champion["model"], "popularity", "curated"} and len(bcs) > 0

def test_nightly_measures_the_published_run_when_later_orders_arrive(retrained):
    """A new export file with orders after the data end: nightly's monitor stage measures the
    run published before (uptake.csv, an MLflow run linked to the champion's version) and the run
    it publishes carries that uptake in its manifest. Last in this module: it adds data."""
    import mlflow

    before = manifest_of_latest(retrained)
    exports = retrained / "data" / "order_lines"
    newest = sorted(exports.glob("orders_*.csv"))[-1]
    lines = pd.read_csv(newest, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    day = pd.to_datetime(lines["AUDAT"], format="%d.%m.%Y", errors="coerce")
    later = lines[day >= day.max() - pd.Timedelta(days=59)].copy()
    later["AUDAT"] = (day[later.index] + pd.Timedelta(days=60)).dt.strftime("%d.%m.%Y")
    later["VBELN"] = "9" + later["VBELN"].str[1:]
    # other buying centers order them: some of what was suggested to them
    shuffled = later[["KUNNR", "KUNWE", "LAND1"]].sample(frac=1.0, random_state=3).to_numpy()
    later[["KUNNR", "KUNWE", "LAND1"]] = shuffled
    later.to_csv(exports / "orders_next.csv", sep=";", encoding="cp1252", index=False)

    run = xsell("run", "nightly", "--config", str(DEMO_CONFIG), *overrides(retrained), cwd=retrained)
    assert run.returncode == 0, run.stderr[-3000:]
    folder = retrained / "outputs" / "monitoring" / before["run_id"]
    uptake = pd.read_csv(folder / "uptake.csv", keep_default_na=False)
    assert list(uptake.columns) == ["run_id", "table", "country", "kind", "source", "rank_bucket", "metric", "value"]
    suggestions = pd.read_parquet(retrained / "outputs" / "runs" / before["run_id"] / "buying_center_suggestions.parquet")
    total = uptake[(uptake["table"] == "buying_center_suggestions") & (uptake[["country", "kind", "source", "rank_bucket"]] == "ALL").all(axis=1)]
    assert total.set_index("metric")["value"]["suggested"] == len(suggestions)
    assert {"buying_center_suggestions", "cross_sell", "up_sell"} <= set(uptake["table"])
    assert "popularity_counterfactual" in set(uptake["source"])
    after = manifest_of_latest(retrained)
    assert after["run_id"] != before["run_id"] and after["monitoring"]["latest"]["run_id"] == before["run_id"]
    assert after["data_end"] > before["data_end"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{retrained / 'work' / 'mlflow.db'}")
    version = client.get_model_version("xsell-demo", str(before["model_version"]))
    monitor_run = client.get_run(version.tags["xsell.monitor.mlflow_run"])
    assert monitor_run.data.tags["xsell.published_run"] == before["run_id"]
    assert monitor_run.data.tags["xsell.model_version"] == str(before["model_version"])
    assert monitor_run.info.experiment_id == client.get_experiment_by_name("xsell-demo").experiment_id
    assert monitor_run.data.metrics["buying_center_suggestions.suggested"] == len(suggestions)
