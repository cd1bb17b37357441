"""``xsell train`` pieces: registry, buyer -> country, ``train_models`` and the saved run."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from xsell.errors import ConfigError  # noqa: E402
from xsell.interactions.build import buyer_countries, buyer_segments  # noqa: E402
from xsell.interactions.matrix import InteractionMatrix, Interactions, TrainingData  # noqa: E402
from xsell.models.config import ModelsConfig  # noqa: E402
from xsell.models.registry import build_model, load_model, model_class  # noqa: E402
from xsell.models.training import train_models  # noqa: E402
from xsell.steps.train import run_name, write_run  # noqa: E402
from xsell.vocab import Vocabulary  # noqa: E402

NON_RULES = ["popularity", "popularity_country", "popularity_segment", "als", "bpr", "item_knn", "ease", "rp3beta"]


def small_cfg(**kwargs) -> ModelsConfig:
    return ModelsConfig(
        enabled=NON_RULES,
        als={"factors": 4, "iterations": 3},
        bpr={"factors": 4, "iterations": 10},
        item_knn={"K": 5},
        ease={"l2": 1.0},
        **kwargs,
    )


def matrix(cells: dict[tuple[str, str], float], rows: list[str], cols: list[str]) -> InteractionMatrix:
    r, c = Vocabulary(rows), Vocabulary(cols)
    m = sp.csr_matrix(
        (list(cells.values()), (r.index([k[0] for k in cells]), c.index([k[1] for k in cells]))),
        shape=(len(r), len(c)),
        dtype=np.float32,
    )
    return InteractionMatrix(m, r, c)


@pytest.fixture()
def interactions() -> Interactions:
    """Buyers x1..x4; products P, Q, R; variants P-1, P-2, Q-1, R-1 (variant v of product p)."""
    buyers = ["x1", "x2", "x3", "x4"]
    variant_cells = {("x1", "P-1"): 2, ("x1", "Q-1"): 1, ("x2", "P-2"): 1, ("x2", "R-1"): 3,
                     ("x3", "Q-1"): 1, ("x3", "R-1"): 1, ("x4", "P-1"): 1}  # fmt: skip
    product_cells: dict[tuple[str, str], float] = {}
    for (b, v), w in variant_cells.items():
        product_cells[(b, v[0])] = product_cells.get((b, v[0]), 0) + w
    baskets = {("o1", "P"): 1, ("o1", "Q"): 1, ("o2", "P"): 1, ("o2", "R"): 1, ("o3", "Q"): 1, ("o3", "R"): 1}
    return Interactions(
        buyer_variants=matrix(variant_cells, buyers, ["P-1", "P-2", "Q-1", "R-1"]),
        buyer_products=matrix(product_cells, buyers, ["P", "Q", "R"]),
        order_products=matrix(baskets, ["o1", "o2", "o3"], ["P", "Q", "R"]),
    )


def test_model_class_and_build_model_hold_their_config_section_and_seed():
    cfg = ModelsConfig(seed=3, als={"factors": 16, "alpha": 4.0}, item_knn={"similarity": "bm25", "K": 7}, ease={"l2": 30.0})
    als = build_model("als", cfg)
    assert als.name == "als" and als.config is cfg.als and als.seed == 3
    assert build_model("bpr", cfg).seed == 3
    knn = build_model("item_knn", cfg)
    assert (knn.config.similarity, knn.config.K) == ("bm25", 7)
    assert build_model("ease", cfg).config.l2 == 30.0
    assert build_model("popularity", cfg).name == "popularity"
    assert build_model("popularity_country", cfg).name == "popularity_country"
    assert build_model("popularity_segment", cfg).config.scope == "segment"
    assert model_class("popularity_country") is model_class("popularity")
    blend = build_model("blend", cfg)
    # no personal model named: the first enabled one of the preference (ease)
    assert {r: m.name for r, m in blend.components.items()} == {"personal": "ease", "anchor": "rules", "prior": "popularity_country"}
    with pytest.raises(ConfigError, match="no-such-model"):
        model_class("no-such-model")


def test_buyer_countries_master_first_then_most_frequent():
    lines = pd.DataFrame(
        {
            "buying_center_id": ["b1", "b1", "b1", "b2", "b2", "b4", "b4"],
            "country": ["DE", "FR", "DE", "FR", "AT", "IT", "IT"],
        }
    )
    customers = pd.DataFrame({"buying_center_id": ["b1", "b3", "b4"], "country": ["FR", "CH", ""], "segment": ["Food", "", "Metal"]})
    got = buyer_countries(lines, customers)
    # b1: the master says FR (its lines say DE twice); b2: tie -> AT; b3: master only; b4: empty in the master -> lines
    assert got.sort_index().to_dict() == {"b1": "FR", "b2": "AT", "b3": "CH", "b4": "IT"}
    assert buyer_countries(lines).sort_index().to_dict() == {"b1": "DE", "b2": "AT", "b4": "IT"}
    assert buyer_segments(customers).sort_index().to_dict() == {"b1": "Food", "b4": "Metal"}


@pytest.mark.parametrize("level", ["product", "variant"])
def test_train_models_fits_each_enabled_model_on_the_level(level, interactions):
    cfg = small_cfg(level=level)
    country = pd.Series({"x1": "DE", "x2": "DE", "x3": "FR", "x4": "FR"})
    timings: dict[str, float] = {}
    models = train_models(TrainingData(interactions, level, country), cfg, timings=timings)
    assert list(models) == NON_RULES and list(timings) == NON_RULES
    expected = interactions.buyer_products if level == "product" else interactions.buyer_variants
    for name, model in models.items():
        assert model.name == name and model.is_fitted
        assert model.items_ == expected.cols and model.buyers_ == expected.rows
    if level == "product":
        # by hand, distinct buyers: global P 3 (x1, x2, x4), Q 2, R 2; FR (x3, x4): P, Q, R 1 each
        assert models["popularity"].recommend(["x4"], n=2).ids.tolist() == [["Q", "R"]]
        assert models["popularity_country"].recommend(["x4"], n=2).ids.tolist() == [["Q", "R"]]
        assert models["popularity_country"].recommend(["x3"], n=1).ids.tolist() == [["P"]]
        assert models["popularity_country"].recommend(["x1"], n=1).ids.tolist() == [["R"]]


def test_write_run_saves_loadable_models_and_summary(interactions, tmp_path):
    cfg = small_cfg()
    timings: dict[str, float] = {}
    data = TrainingData(interactions, "product", pd.Series({"x1": "DE"}))
    models = train_models(data, cfg, timings=timings)
    run_dir = write_run(tmp_path / "run1", models, data, cfg, config_hash="abc", timings=timings)
    summary = json.loads((run_dir / "train.json").read_text())
    assert summary["models"] == NON_RULES and summary["config_hash"] == "abc"
    assert summary["matrices"]["buyer_items"] == {"shape": [4, 3], "nnz": 7}
    assert summary["matrices"]["order_products"] == {"shape": [3, 3], "nnz": 6}
    saved = InteractionMatrix.load(run_dir / "buyer_items.npz")
    assert (saved.matrix != interactions.buyer_products.matrix).nnz == 0
    for name, model in models.items():
        loaded = load_model(run_dir / name)
        a, b = model.recommend(["x1", "x2", "x9"], n=2), loaded.recommend(["x1", "x2", "x9"], n=2)
        assert (a.ids == b.ids).all()


def test_run_name_is_utc_timestamp_and_short_hash():
    name = run_name("0123456789abcdef", datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
    assert name == "20240506T070809Z-01234567"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", run_name("deadbeef" * 8))


@pytest.mark.slow
def test_run_train_end_to_end(tmp_path):
    """Canonical lines in a workdir -> saved models + one MLflow run with the run folder."""
    from xsell.config import config_from_dict
    from xsell.io.layout import Workdir
    from xsell.steps.train import run_train

    rng = np.random.default_rng(1)
    n = 400
    buyer = rng.integers(0, 40, n)
    product = (buyer % 2) * 6 + rng.integers(0, 6, n)
    lines = pd.DataFrame(
        {
            "order_id": [f"o{i // 2}" for i in range(n)],
            "order_line": [str(i % 2) for i in range(n)],
            "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "buying_center_id": [f"bc{b}" for b in buyer],
            "customer_id": [f"c{b}" for b in buyer],
            "country": np.where(buyer < 20, "DE", "FR"),
            "variant_id": [f"P{p}-V" for p in product],
            "product_id": [f"P{p}" for p in product],
            "quantity": 1.0,
            "unit_price": 10.0,
            "net_value": 10.0,
            "currency": "EUR",
            "is_custom": False,
            "is_return": False,
            "source_file": "x.csv",
            "source_row": np.arange(1, n + 1),
        }
    )
    cfg = config_from_dict(
        {"workdir": "work", "data": {"order_lines": "x.csv"}, "models": {"dir": "models", "enabled": NON_RULES,
         "als": {"factors": 4, "iterations": 3}, "bpr": {"factors": 4, "iterations": 5}}},
        base_dir=tmp_path,
    )  # fmt: skip
    workdir = Workdir(cfg.workdir)
    workdir.canonical.mkdir(parents=True)
    lines.to_parquet(workdir.order_lines)
    result = run_train(cfg)
    assert result.run_dir.parent == tmp_path / "models"
    assert json.loads((result.run_dir / "train.json").read_text())["models"] == NON_RULES
    for name in NON_RULES:
        assert load_model(result.run_dir / name).name == name

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id])
    assert run.data.tags["xsell.step"] == "train"
    assert run.data.params["data.order_lines.rows"] == str(n)
    assert "time.fit.als_s" in run.data.metrics
    saved = {a.path for a in client.list_artifacts(run.info.run_id, f"models/{result.run_dir.name}")}
    assert {f"models/{result.run_dir.name}/{name}" for name in NON_RULES} <= saved
