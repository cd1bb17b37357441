"""Helpers shared by the ingest tests (no tests here): config from a dict, CSV writing, CLI runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from xsell.cli import main
from xsell.config import Config, config_from_dict


def make_config(tmp_path: Path, data: dict[str, Any], ingest: dict[str, Any] | None = None) -> Config:
    """A validated Config rooted at ``tmp_path`` (workdir ``tmp_path/work``)."""
    raw = {"workdir": str(tmp_path / "work"), "data": data, "ingest": ingest or {}}
    return config_from_dict(raw, base_dir=tmp_path)


def write_config(tmp_path: Path, data: dict[str, Any], ingest: dict[str, Any] | None = None) -> Path:
    """Write a YAML config into ``tmp_path`` and return its path."""
    path = tmp_path / "config.yaml"
    raw = {"workdir": "work", "data": data, "ingest": ingest or {}}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write CSV text exactly as given (LF line ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def sap_master_export(tmp_path: Path) -> dict[str, Any]:
    """The bad-input fixture ``sap_product_master.csv`` (SAP columns, bad rows) as
    ``tmp_path/products.csv`` beside seven order lines of its variants ``V1``..``V7``
    (``lines.csv``: dd.mm.yyyy, decimal comma); returns the ``data`` section reading both."""
    shutil.copy(Path(__file__).resolve().parent / "fixtures" / "bad_input" / "sap_product_master.csv", tmp_path / "products.csv")
    (tmp_path / "lines.csv").write_text(
        "order_id,order_date,buying_center_id,variant_id,quantity,unit_price\n"
        + "".join(f"{i},0{i}.01.2024,B{i},V{i},1,\"2,5\"\n" for i in range(1, 8)),
        encoding="utf-8",
    )
    return {
        "order_lines": "lines.csv", "products": "products.csv",
        "csv": {"decimal": ",", "date_format": "%d.%m.%Y"},
        "product_columns": {"variant_id": "MATNR", "product_id": "BASISMAT", "status": "STATUS",
                            "discontinued_on": "AUSLAUF", "list_price": "LISTPREIS", "is_custom": "SONDERANF"},
    }  # fmt: skip


def run_cli(*args: str) -> int:
    """Run ``xsell`` in-process and return its exit code."""
    return main(["-q", *args])


def read_summary(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / "ingest_summary.json").read_text(encoding="utf-8"))


def read_outputs(workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(order_lines, quarantine, excluded) as written by ``xsell ingest``."""
    return (
        pd.read_parquet(workdir / "canonical" / "order_lines.parquet"),
        pd.read_parquet(workdir / "quarantine" / "quarantine.parquet"),
        pd.read_parquet(workdir / "quarantine" / "excluded.parquet"),
    )




def sections(cfg):
    """The config sections the order-line ingest takes: ``data`` and ``ingest``."""
    return cfg.data, cfg.ingest
