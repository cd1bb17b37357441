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


# -- issue 11: hostile configs and defaults --------------------------------------------------------
BAD = ROOT / "tests" / "fixtures" / "bad_input"


def _cli_err(capsys, *args: str) -> tuple[int, str]:
    from xsell.cli import main

    code = main(["-q", *args])
    return code, capsys.readouterr().err.strip()


def test_default_paths_resolve_against_the_config_folder_not_the_current_one(tmp_path, monkeypatch, capsys):
    """Item 4: sections left out of the file (``models``, ``publish``) resolve like written ones."""
    import json

    path = _write(tmp_path, {"data": {"order_lines": "x.csv"}})
    monkeypatch.chdir(tmp_path)  # anywhere but the config's folder
    cfg = load_config(path)
    assert cfg.models.dir == path.parent / "models" and cfg.publish.outputs == path.parent / "outputs"
    assert cfg.workdir == path.parent / "work"
    from xsell.cli import main

    assert main(["config", "show", "--config", "cfg/c.yaml"]) == 0  # a relative --config too
    shown = json.loads(capsys.readouterr().out)
    assert shown["models"]["dir"] == str(path.parent / "models") and shown["publish"]["outputs"] == str(path.parent / "outputs")
    assert Path(shown["workdir"]).is_absolute() and Path(shown["data"]["order_lines"]).is_absolute()


def test_unknown_keys_suggest_the_known_one(tmp_path, capsys):
    """Item 8: a misspelt key names the key it probably meant."""
    code, err = _cli_err(capsys, "config", "show", "--config", str(_write(tmp_path, {"data": {"order_line": "x.csv"}})))
    assert code == 2 and "unknown key 'data.order_line'; did you mean 'order_lines'?" in err
    code, err = _cli_err(capsys, "config", "show", "--config", str(_write(tmp_path, {"data": {"order_lines": "x", "columns": {"ordre_id": "A"}}})))
    assert code == 2 and "did you mean 'order_id'?" in err


def test_duplicate_keys_are_rejected_naming_key_and_lines(capsys):
    """Item 21: PyYAML keeps the last of two equal keys silently; xsell refuses the file."""
    code, err = _cli_err(capsys, "config", "show", "--config", str(BAD / "duplicate_keys.yaml"))
    assert code == 2
    assert "duplicate key 'max_rejected_share' (first on line 4)" in err and "line 6" in err and "duplicate_keys.yaml" in err


def test_a_config_not_in_utf8_exits_2_naming_file_and_line(capsys):
    """Item 20: a Latin-1 config was an unexpected UnicodeDecodeError (exit 1)."""
    code, err = _cli_err(capsys, "config", "show", "--config", str(BAD / "config_latin1.yaml"))
    assert code == 2 and "not UTF-8: byte 0xe4 on line 1" in err and "config_latin1.yaml" in err


def test_a_yaml_alias_bomb_is_refused_at_once_without_echoing_it():
    """Item 18: nine levels of aliases expand to 387 million values; loading, validating or
    hashing them hung the process. A subprocess with a timeout, so the old behaviour fails
    instead of hanging the suite."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "xsell.cli", "-q", "run", "retrain", "--config", str(BAD / "alias_bomb.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "expands to more than 100,000 values" in run.stderr and len(run.stderr) < 1000


def test_error_messages_echo_at_most_a_few_hundred_characters(tmp_path, capsys):
    code, err = _cli_err(capsys, "config", "show", "--config", str(_write(tmp_path, {"data": {"order_lines": "x"}, "ingest": {"max_rejected_share": "9" * 100_000}})))
    assert code == 2 and "max_rejected_share" in err and len(err) < 1000
    code, err = _cli_err(capsys, "config", "show", "--config", str(_write(tmp_path, {"data": {"order_lines": "x"}})), "--set", "ingest.drop_duplicates=" + "x" * 100_000)
    assert code == 2 and len(err) < 1000


def test_config_reference_lists_the_allowed_values_of_every_closed_choice(capsys):
    """Item 9: every Literal-typed key shows its choices."""
    from xsell.cli import main
    from xsell.config import ALLOWED, reference

    assert main(["config", "reference"]) == 0
    out = capsys.readouterr().out
    assert "interactions.weighting = \"binary\"" in out and "allowed: binary, order_count, log_quantity, net_value" in out
    assert "allowed: csv, parquet, xlsx\n" in out  # list[Literal[...]]
    assert "allowed: magento, jsonl, shopware6, sap_impex, bmecat, shopify" in out
    rows = {k: doc for k, _, doc in reference()}
    assert rows["publish.shop_sku"].endswith(f"{ALLOWED} product_id, variant_id")
    assert ALLOWED not in rows["publish.keep_runs"]


def test_online_retail_config_names_where_its_file_comes_from(tmp_path, capsys):
    """Item 6: on a fresh clone the shared data is absent; the error was exit 3 without a hint."""
    code, err = _cli_err(capsys, "ingest", "--config", str(ROOT / "configs" / "online_retail.yaml"),
                         "--set", f"data.order_lines={tmp_path}/online_retail_I.csv.gz", "--set", f"workdir={tmp_path}/w")
    assert code == 2
    assert "https://doi.org/10.24432/C5BW33" in err and "archive.ics.uci.edu" in err and "--set data.order_lines=PATH" in err
