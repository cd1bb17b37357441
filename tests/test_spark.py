"""The Spark backend (issue 17) against the local one, on generated exports and the bad-input
fixtures: the same ingest summary, canonical tables, quarantine and excluded rows; the same
interaction matrices; the same association rules (exact counts, metrics to 1e-9); Spark's ALS
within 10% of implicit's cross-sell NDCG@10 on the demo data. Every test shares the session
fixture ``spark`` (``local[2]``) and skips with the reason when pyspark or Java is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from ingest_helpers import make_config

from xsell.config import config_from_dict, deep_merge, read_yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bad_input"
TABLES = ("canonical/order_lines.parquet", "canonical/products.parquet", "canonical/customers.parquet",
          "quarantine/quarantine.parquet", "quarantine/excluded.parquet")  # fmt: skip


# -- helpers -------------------------------------------------------------------------------------------
def _with_backend(cfg, backend: str, workdir: Path):
    raw = deep_merge(cfg.model_dump(mode="json"), {"workdir": str(workdir), "engine": {"backend": backend}})
    return config_from_dict(raw, base_dir=workdir.parent)


def _ingest_both(cfg, root: Path) -> tuple[Path, Path, dict, dict]:
    """Run the ingest with both backends into ``root/local`` and ``root/spark``."""
    from xsell.errors import InputDataError
    from xsell.steps.ingest import run_ingest

    out = {}
    for backend in ("local", "spark"):
        try:
            run_ingest(_with_backend(cfg, backend, root / backend))
        except InputDataError as exc:  # too many quarantined: outputs are written first, and both must say so
            out[f"{backend}_error"] = str(exc)
        out[backend] = json.loads((root / backend / "ingest_summary.json").read_text(encoding="utf-8"))
    assert out.get("local_error") == out.get("spark_error")
    return root / "local", root / "spark", out["local"], out["spark"]


def _frame_equal(local: pd.DataFrame, spark: pd.DataFrame, what: str) -> None:
    """Same columns, dtypes and rows (floats to 1e-9 relative; rows in file / row order)."""
    assert list(spark.columns) == list(local.columns), what
    assert {c: str(t) for c, t in spark.dtypes.items()} == {c: str(t) for c, t in local.dtypes.items()}, what
    key = [c for c in ("source_file", "source_row") if c in local.columns] or [local.columns[0]]
    local = local.sort_values(key, kind="stable").reset_index(drop=True)
    spark = spark.sort_values(key, kind="stable").reset_index(drop=True)
    assert len(spark) == len(local), what
    for c in local.columns:
        if pd.api.types.is_float_dtype(local[c]):
            np.testing.assert_allclose(spark[c].to_numpy(), local[c].to_numpy(), rtol=1e-9, atol=0, err_msg=f"{what}.{c}")
        else:
            pd.testing.assert_series_equal(spark[c], local[c], check_names=False, obj=f"{what}.{c}")


def _assert_same_ingest(cfg, root: Path) -> dict:
    local, spark, s_local, s_spark = _ingest_both(cfg, root)
    assert s_spark == s_local
    for table in TABLES:
        _frame_equal(pd.read_parquet(local / table), pd.read_parquet(spark / table), table)
    q_local = pd.read_csv(local / "quarantine/quarantine.csv", dtype=str, keep_default_na=False)
    q_spark = pd.read_csv(spark / "quarantine/quarantine.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(q_spark, q_local)
    return s_local


# -- generated data ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    """The ``tiny`` demo export (cp1252, ``;``, decimal comma, dd.mm.yyyy, masters, dirty rows)
    and its demo config."""
    from xsell.demo.generate import write_demo_data

    root = tmp_path_factory.mktemp("spark_tiny")
    write_demo_data(root / "demo-data", scale="tiny", seed=11)
    data = root / "demo-data"
    raw = deep_merge(read_yaml(REPO / "configs" / "demo.yaml"), {
        "workdir": str(root / "work"), "models": {"dir": str(root / "models")}, "mlflow": {"enabled": False},
        "data": {"order_lines": str(data / "order_lines" / "*"), "products": str(data / "products.csv"), "customers": str(data / "customers.csv")},
    })  # fmt: skip
    return root, config_from_dict(raw, base_dir=REPO / "configs")


def test_import_xsell_does_not_import_pyspark():
    code = "import sys, xsell.cli, xsell.config, xsell.steps.ingest, xsell.steps.train; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_engine_defaults_and_the_spark_keys_validate(tmp_path):
    cfg = make_config(tmp_path, {"order_lines": "x.csv"})
    assert cfg.engine.backend == "local" and cfg.engine.spark.master == "local[*]"
    assert cfg.engine.spark.checkpoint_dir is None and cfg.engine.spark.max_basket_size == 1000
    raw = {"workdir": "w", "data": {"order_lines": "x.csv"}, "engine": {"backend": "spark", "spark": {
        "master": None, "conf": {"spark.executor.memory": "8g"}, "checkpoint_dir": "ckpt"}}}  # fmt: skip
    cfg = config_from_dict(raw, base_dir=tmp_path)
    assert cfg.engine.spark.master is None and cfg.engine.spark.checkpoint_dir == str(tmp_path / "ckpt")
    cfg = config_from_dict(deep_merge(raw, {"engine": {"spark": {"checkpoint_dir": "hdfs://nn/xsell/ckpt"}}}), base_dir=tmp_path)
    assert cfg.engine.spark.checkpoint_dir == "hdfs://nn/xsell/ckpt"
    from xsell.errors import ConfigError

    with pytest.raises(ConfigError, match="engine.backend"):
        config_from_dict(deep_merge(raw, {"engine": {"backend": "dask"}}), base_dir=tmp_path)


def test_spark_ingest_equals_local_on_the_demo_export(spark, tiny_demo, tmp_path):
    root, cfg = tiny_demo
    summary = _assert_same_ingest(cfg, tmp_path)
    # the export exercises every rule the equality covers
    assert summary["rows_read"] == summary["rows_accepted"] + summary["rows_quarantined"] + summary["rows_excluded"]
    assert summary["rows_quarantined"] > 0 and summary["excluded_by_rule"]["duplicate line"] > 0
    assert summary["excluded_by_rule"]["non-product variant"] > 0 and summary["return_lines"] > 0
    assert (tmp_path / "spark" / "canonical" / "order_lines.parquet").is_dir()  # a Parquet dataset


def test_spark_ingest_equals_local_without_masters_on_parquet(spark, tiny_demo, tmp_path):
    """Typed Parquet (float ids, dates, NaN quantities), no masters: inferred products (median
    price, assortment, names) and customers, the variant regex, flags as numbers."""
    root, cfg = tiny_demo
    from xsell.io.readers import expand_files, read_export

    parts = []
    for i, path in enumerate(expand_files(cfg.data.order_lines)):
        frame = read_export(path, cfg.data.csv).frame
        typed = pd.DataFrame({
            "order_id": frame["VBELN"], "order_date": pd.to_datetime(frame["AUDAT"], format="%d.%m.%Y", errors="coerce"),
            "buying_center_id": (frame["KUNNR"] + "/" + frame["KUNWE"]).where(frame["KUNNR"] != "", ""),
            "country": frame["LAND1"], "variant_id": frame["MATNR"],
            "quantity": pd.to_numeric(frame["KWMENG"].str.replace(".", "").str.replace(",", "."), errors="coerce"),
            "net_value": pd.to_numeric(frame["NETWR"].str.replace(".", "").str.replace(",", "."), errors="coerce"),
            "customer": pd.to_numeric(frame["KUNNR"].str[1:], errors="coerce").astype("float64"),
            "is_custom": (frame["SONDERANF"] == "X").astype("int64"), "description": frame["MAKTX"],
        })  # fmt: skip
        path = tmp_path / f"part-{i}.parquet"
        typed.to_parquet(path, index=False)
        parts.append(path)
    raw = {"workdir": str(tmp_path / "w"), "data": {
        "order_lines": str(tmp_path / "part-*.parquet"), "columns": {"customer_id": "customer"},
        "variant_to_product": r"^(M\d{4})", "family_rule": r"^(M\d{2})"},
        "ingest": {"return_order_prefixes": ["R"], "exclude_variant_patterns": ["FRACHT", "PORTO", "GEBUEHR-.*"], "max_rejected_share": 0.5}}  # fmt: skip
    summary = _assert_same_ingest(config_from_dict(raw, base_dir=tmp_path), tmp_path / "out")
    assert summary["products_inferred"] and summary["customers_inferred"] and summary["product_id_source"]["regex"] > 0


@pytest.mark.parametrize(
    ("fixture", "csv", "data"),
    [
        ("utf8_with_one_cp1252_byte.csv", {}, {}),
        ("cp1252.csv", {}, {}),
        ("wrong_field_counts.csv", {}, {}),
        ("flags.csv", {}, {}),
        ("dates_out_of_range_and_timezones.csv", {}, {}),
        ("infinite_numbers.csv", {}, {}),
        ("berlin_timestamps.parquet", {}, {}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_spark_ingest_equals_local_on_bad_input(spark, tmp_path, fixture, csv, data):
    shutil.copy(FIXTURES / fixture, tmp_path / fixture)
    cfg = make_config(tmp_path, {"order_lines": fixture, "csv": csv, **data}, {"max_rejected_share": 0.9})
    _assert_same_ingest(cfg, tmp_path / "out")


def test_spark_ingest_equals_local_with_an_sap_product_master(spark, tmp_path):
    shutil.copy(FIXTURES / "sap_product_master.csv", tmp_path / "products.csv")
    (tmp_path / "lines.csv").write_text(
        "order_id,order_date,buying_center_id,variant_id,quantity,unit_price\n"
        + "".join(f"{i},0{i}.01.2024,B{i},V{i},1,\"2,5\"\n" for i in range(1, 8)),
        encoding="utf-8",
    )
    cfg = make_config(tmp_path, {
        "order_lines": "lines.csv", "products": "products.csv", "csv": {"decimal": ",", "date_format": "%d.%m.%Y"},
        "product_columns": {"variant_id": "MATNR", "product_id": "BASISMAT", "status": "STATUS",
                            "discontinued_on": "AUSLAUF", "list_price": "LISTPREIS", "is_custom": "SONDERANF"},
    }, {"max_rejected_share": 0.9})  # fmt: skip
    summary = _assert_same_ingest(cfg, tmp_path / "out")
    assert summary["quarantined_by_reason"]["unknown variant"] == 5


def test_spark_refuses_dialects_it_does_not_read_naming_the_key(spark, tmp_path, capsys):
    from ingest_helpers import run_cli, write_config

    shutil.copy(FIXTURES / "dayfirst_with_iso.csv", tmp_path / "lines.csv")
    config = write_config(tmp_path, {"order_lines": "lines.csv", "csv": {"dayfirst": True}})
    assert run_cli("ingest", "--config", str(config), "--set", "engine.backend=spark") == 2
    assert "data.csv.date_format" in capsys.readouterr().err
    config = write_config(tmp_path, {"order_lines": "lines.csv", "csv": {"date_format": "%d %b %Y"}})
    assert run_cli("ingest", "--config", str(config), "--set", "engine.backend=spark") == 2
    assert "%b" in capsys.readouterr().err
