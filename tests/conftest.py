"""Shared fixtures.

``demo_small_run``: the whole pipeline once per test session on the ``small`` demo data
(seed 42): demo-data -> ingest -> train -> evaluate (MLflow off) -> recommend, driven through
the step functions with ``configs/demo.yaml`` pointed at a temporary folder. About 30 s on
2 cores, so tests that need real generated tables share this one run.

``demo_published``: that run's tables published once (workbooks, site) for the sales ops tests.

``spark``: the one SparkSession of the suite (``local[2]``) for the Spark backend's tests.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
DEMO_SCALE = "small"
DEMO_SEED = 42


@dataclass(frozen=True)
class DemoRun:
    """Everything one pipeline run on the demo data produced."""

    root: Path
    """Temporary folder holding ``demo-data/``, ``work/``, ``models/`` and ``outputs/``."""
    data: Path
    """The generated ERP export (``order_lines/``, ``products.csv``, ``customers.csv``, ``planted.json``)."""
    planted: dict[str, Any]
    """``planted.json``: the truth the generator planted."""
    cfg: Any
    """The ``Config`` every step ran with (``configs/demo.yaml`` + overrides)."""
    train: Any
    """``TrainResult`` of ``run_train``."""
    evaluation: Any
    """``EvaluationResult`` of ``run_evaluate`` (MLflow disabled)."""
    recommend: Any
    """``RecommendResult`` of ``run_recommend`` on the train run."""
    tables: dict[str, pd.DataFrame]
    """The three written tables, read back from Parquet."""
    tables_meta: dict[str, Any]
    """``tables.json``."""

    def config(self, **overrides: Any) -> Any:
        """The run's config with nested ``overrides`` merged in (e.g. ``workdir=...``)."""
        from xsell.config import config_from_dict, deep_merge, read_yaml

        return config_from_dict(deep_merge(deep_merge(read_yaml(DEMO_CONFIG), _base_overrides(self.root)), overrides), base_dir=DEMO_CONFIG.parent)


def _base_overrides(root: Path) -> dict[str, Any]:
    data = root / "demo-data"
    return {
        "workdir": str(root / "work"),
        "data": {
            "order_lines": str(data / "order_lines" / "*"),
            "products": str(data / "products.csv"),
            "customers": str(data / "customers.csv"),
        },
        "models": {"dir": str(root / "models")},
        # the default search space, three configurations per model: real tuning, a shorter suite
        "evaluation": {"sweep": {"n_trials": 3}},
        "mlflow": {"enabled": False},
        "publish": {"outputs": str(root / "outputs")},
    }


@pytest.fixture(scope="session")
def demo_small_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One end-to-end run on ``small`` demo data, seed 42 (see module docstring)."""
    from xsell.config import config_from_dict, deep_merge, read_yaml
    from xsell.demo.generate import write_demo_data
    from xsell.io.layout import Workdir
    from xsell.steps.evaluate import run_evaluate
    from xsell.steps.ingest import run_ingest
    from xsell.steps.recommend import run_recommend
    from xsell.steps.train import run_train

    root = tmp_path_factory.mktemp("demo_small_run")
    write_demo_data(root / "demo-data", scale=DEMO_SCALE, seed=DEMO_SEED)
    cfg = config_from_dict(deep_merge(read_yaml(DEMO_CONFIG), _base_overrides(root)), base_dir=DEMO_CONFIG.parent)
    run_ingest(cfg)
    train = run_train(cfg)
    with contextlib.redirect_stdout(io.StringIO()):  # the evaluation prints its metrics table
        evaluation = run_evaluate(cfg)
    # evaluate first: the buying centers are ranked by the evaluation's champion (of the train run)
    recommend = run_recommend(cfg, models_dir=train.run_dir)
    wd = Workdir(cfg.workdir)
    tables = {name: pd.read_parquet(path) for name, path in recommend.paths.items()}
    return DemoRun(
        root=root,
        data=root / "demo-data",
        planted=json.loads((root / "demo-data" / "planted.json").read_text(encoding="utf-8")),
        cfg=cfg,
        train=train,
        evaluation=evaluation,
        recommend=recommend,
        tables=tables,
        tables_meta=json.loads((wd.tables / "tables.json").read_text()),
    )


EVIL_NAME = "<script>window.xsellXss = 1</script> Zange & Co"
"""A product name the published pages and workbooks must show as text."""


@dataclass(frozen=True)
class PublishedDemo:
    """``demo_small_run``'s tables published once (``run_publish``) into a folder of its own."""

    run_dir: Path
    cfg: Any
    workdir: Path
    tables: dict[str, pd.DataFrame]
    """The published tables (the product ``evil_product`` renamed to ``EVIL_NAME``)."""
    evil_product: str


@pytest.fixture(scope="session")
def demo_published(demo_small_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> PublishedDemo:
    """The demo run's workdir (canonical tables, suggestion tables, champion record) copied and
    published with ``configs/demo.yaml`` (DE, AT, CH in German). The product DE buying centers
    are offered most (of those AT ones are offered too) is renamed to ``EVIL_NAME`` in every name
    and reason, as if the product master said so."""
    import shutil

    from xsell.io.layout import Workdir
    from xsell.steps.publish import run_publish

    root = tmp_path_factory.mktemp("demo_published")
    source, work = Workdir(demo_small_run.cfg.workdir), Workdir(root / "work")
    shutil.copytree(source.canonical.resolve(), work.canonical)
    shutil.copytree(source.tables, work.tables)
    work.evaluation.mkdir(parents=True)
    shutil.copyfile(source.champion, work.champion)
    bcs = demo_small_run.tables["buying_center_suggestions"]
    counts = bcs.loc[bcs["country"] == "DE", "product_id"].value_counts()
    evil = counts[counts.index.isin(bcs.loc[bcs["country"] == "AT", "product_id"])].index[0]
    name = bcs.loc[bcs["product_id"] == evil, "product_name"].iloc[0]
    tables = {}
    for table, frame in demo_small_run.tables.items():
        frame = frame.copy()
        for col in ("product_name", "rec_product_name", "anchor_product_name", "reason", "reason_params"):
            if col in frame:
                frame[col] = frame[col].str.replace(name, EVIL_NAME, regex=False)
        frame.to_parquet(work.table(table))
        tables[table] = frame
    cfg = demo_small_run.config(workdir=str(work.root), publish={"outputs": str(root / "outputs")})
    result = run_publish(cfg)
    return PublishedDemo(result.run_dir, cfg, work.root, tables, evil)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one SparkSession of the suite (``local[2]``, few shuffle partitions), started once;
    the Spark tests skip with the reason when pyspark or Java is missing (``make test``
    installs both where it can: see the Makefile)."""
    from xsell.spark.config import SparkConfig
    from xsell.spark.session import spark_missing, spark_session

    missing = spark_missing()
    if missing:
        pytest.skip(f"Spark backend not tested: {missing}")
    conf = {"spark.sql.shuffle.partitions": 4, "spark.default.parallelism": 2, "spark.driver.memory": "2g", "spark.ui.enabled": False}
    session = spark_session(SparkConfig(master="local[2]", conf=conf), tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def retail_lines(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The Online Retail sample (tests/fixtures/online_retail) ingested with
    configs/online_retail.yaml: real canonical order lines (3,598 rows)."""
    from xsell.config import load_config
    from xsell.io.layout import Workdir
    from xsell.steps.ingest import run_ingest

    root = tmp_path_factory.mktemp("retail")
    source = Path(__file__).parent / "fixtures" / "online_retail" / "online_retail_sample.csv.gz"
    overrides = [f"data.order_lines={source}", f"workdir={root}", "ingest.max_rejected_share=0.5"]
    run_ingest(load_config(REPO / "configs" / "online_retail.yaml", overrides))
    return pd.read_parquet(Workdir(root).order_lines)


@pytest.fixture(scope="session")
def tiny_demo_lines(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Canonical order lines of the ``tiny`` demo export (seed 5), ingested with configs/demo.yaml."""
    from xsell.config import config_from_dict, deep_merge, read_yaml
    from xsell.demo.generate import write_demo_data
    from xsell.io.layout import Workdir
    from xsell.steps.ingest import run_ingest

    root = tmp_path_factory.mktemp("tiny_demo_lines")
    data = root / "demo-data"
    write_demo_data(data, scale="tiny", seed=5)
    raw = deep_merge(read_yaml(DEMO_CONFIG), {
        "workdir": str(root / "work"), "mlflow": {"enabled": False},
        "data": {"order_lines": str(data / "order_lines" / "*"), "products": str(data / "products.csv"), "customers": str(data / "customers.csv")},
    })  # fmt: skip
    run_ingest(config_from_dict(raw, base_dir=DEMO_CONFIG.parent))
    return pd.read_parquet(Workdir(root / "work").order_lines)
