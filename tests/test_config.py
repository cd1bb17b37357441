"""The foundation's config loader, as the ingest relies on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xsell.config import deep_merge, load_config, parse_override
from xsell.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "cfg" / "c.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    cfg = load_config(_write(tmp_path, {"workdir": "w", "data": {"order_lines": "in/*.csv", "products": "p.csv"}}))
    assert Path(cfg.workdir) == tmp_path / "cfg" / "w"
    assert cfg.data.order_lines == str(tmp_path / "cfg" / "in" / "*.csv")
    assert cfg.data.products == tmp_path / "cfg" / "p.csv"


def test_set_overrides_are_typed_and_nested(tmp_path):
    path = _write(tmp_path, {"data": {"order_lines": "x.csv", "columns": {"order_id": "A"}}})
    cfg = load_config(path, ["ingest.max_rejected_share=0.3", "data.columns.quantity=Menge", "data.csv.sep=;"])
    assert cfg.ingest.max_rejected_share == 0.3
    assert cfg.data.columns == {"order_id": "A", "quantity": "Menge"}
    assert cfg.data.csv.sep == ";"
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


@pytest.mark.parametrize(
    ("raw", "overrides", "expect"),
    [
        ({"data": {"order_lines": "x", "sep": ";"}}, [], "unknown key 'data.sep'"),
        ({"data": {"order_lines": "x"}}, ["ingest.max_rejected_share=2"], "max_rejected_share"),
        ({}, [], "missing required key 'data'"),
        ({"data": {"order_lines": "x", "product_columns": {"price": "P"}}}, [], "price"),
        ({"data": {"order_lines": "x"}}, ["novalue"], "dotted.key=value"),
    ],
)
def test_config_errors(tmp_path, raw, overrides, expect):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, raw), overrides)
    assert expect in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["demo.yaml", "online_retail.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "configs" / name)
    assert "order_id" in cfg.data.columns
    assert cfg.hash() == load_config(ROOT / "configs" / name).hash()
