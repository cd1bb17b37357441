"""The recommend step's file handling: config, curated links / block list files, model selection."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from xsell.config import config_from_dict
from xsell.errors import ConfigError, InputDataError
from xsell.io.layout import Workdir
from xsell.io.readers import read_champion
from xsell.recommend.sources import choose_personal_model
from xsell.steps.recommend import read_block_list, read_curated_links, resolve_models_dir

TODAY = pd.Timestamp("2024-07-01")


def make_cfg(tmp_path: Path, **recommend):
    return config_from_dict({"workdir": "work", "data": {"order_lines": "x.csv"}, "recommend": recommend}, base_dir=tmp_path)


@pytest.mark.parametrize(("key", "value"), [("upsell_min_price_ratio", 1.0), ("upsell_max_price_ratio", 1.05)])
def test_price_window_must_go_up(tmp_path, key, value):
    with pytest.raises(ConfigError, match="upsell_m"):
        make_cfg(tmp_path, **{key: value})


def test_curated_and_block_list_paths_resolve_against_the_config_folder(tmp_path):
    cfg = make_cfg(tmp_path, curated_links="pm/curated_links.csv", block_list="pm/block.csv")
    assert cfg.recommend.curated_links == tmp_path.resolve() / "pm" / "curated_links.csv"
    assert cfg.recommend.block_list == tmp_path.resolve() / "pm" / "block.csv"


def test_curated_links_file_semicolons_and_errors_name_the_file(tmp_path):
    path = tmp_path / "curated_links.csv"
    path.write_text("product_id;rec_product_id;kind;action;note;valid_until\nA;B;cross_sell;pin;a, b;\nA;C;up_sell;;;\n", encoding="utf-8")
    links = read_curated_links(path, TODAY)
    assert links.pins[["product_id", "rec_product_id", "note"]].values.tolist() == [["A", "B", "a, b"]]
    path.write_text("product_id,rec_product_id,kind,action\nA,B,cross_sell,pin\nA,C,upsell,block\n", encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_curated_links(path, TODAY)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == (str(path), 2, "kind", "upsell")
    with pytest.raises(InputDataError, match="not found"):
        read_curated_links(tmp_path / "missing.csv", TODAY)
    assert read_curated_links(None, TODAY).pins.empty


def test_block_list_file(tmp_path):
    path = tmp_path / "block.csv"
    path.write_text("A\n\nB-7\n", encoding="utf-8")
    assert read_block_list(path) == {"A", "B-7"}
    path.write_text("product_id,reason\nC,recall\n", encoding="utf-8")
    assert read_block_list(path) == {"C"}
    assert read_block_list(None) == frozenset()


def test_models_dir_is_a_run_a_model_or_the_newest_run(tmp_path):
    cfg = config_from_dict({"data": {"order_lines": "x.csv"}, "models": {"dir": "models"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="xsell train"):
        resolve_models_dir(cfg, None)
    root = tmp_path / "models"
    for i, run in enumerate(["20240101T000000Z", "20240301T000000Z", "20240201T000000Z"]):
        (root / run).mkdir(parents=True)
        (root / run / "train.json").write_text("{}")
        os.utime(root / run / "train.json", (1_700_000_000 + i, 1_700_000_000 + i))
    assert resolve_models_dir(cfg, None).name == "20240201T000000Z"  # written last
    assert resolve_models_dir(cfg, root / "20240101T000000Z").name == "20240101T000000Z"
    (tmp_path / "champion").mkdir()
    (tmp_path / "champion" / "model.json").write_text("{}")
    assert resolve_models_dir(cfg, tmp_path / "champion") == tmp_path / "champion"


def test_personal_model_from_config_champion_or_preference(tmp_path):
    available = ["als", "bpr", "ease", "popularity"]
    assert choose_personal_model(None, available, None) == "ease"  # the preference
    assert choose_personal_model(None, available, "bpr") == "bpr"  # the evaluation's champion
    assert choose_personal_model(None, available, "rp3beta") == "ease"  # champion not among them
    assert choose_personal_model(None, ["popularity", "popularity_country"], None) == "popularity"
    assert choose_personal_model("popularity", available, "bpr") == "popularity"  # recommend.personal_model wins
    with pytest.raises(ConfigError, match="svd"):
        choose_personal_model("svd", available, None)
    # the champion comes from the evaluation's champion.json
    cfg = config_from_dict({"workdir": "work", "data": {"order_lines": "x.csv"}}, base_dir=tmp_path)
    assert read_champion(cfg.workdir) is None
    Workdir(cfg.workdir).champion.parent.mkdir(parents=True)
    Workdir(cfg.workdir).champion.write_text('{"model": "bpr", "value": 0.25}')
    assert read_champion(cfg.workdir)["model"] == "bpr"
    Workdir(cfg.workdir).champion.write_text("{not json")
    assert read_champion(cfg.workdir) is None
