"""``run_evaluate`` end to end on planted data: split -> interactions -> models -> metrics ->
MLflow -> registry -> ``load_champion``. Needs the interactions and models stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("xsell.interactions.build")
pytest.importorskip("xsell.steps.train")
pytest.importorskip("mlflow")

from xsell.config import config_from_dict  # noqa: E402
from xsell.models.registry import load_model  # noqa: E402
from xsell.schema import METRIC_COLUMNS  # noqa: E402
from xsell.steps.evaluate import run_evaluate  # noqa: E402
from xsell.tracking import load_champion  # noqa: E402

N_PAIRS, N_BUYERS = 20, 200


def planted_lines(seed: int = 3) -> tuple[pd.DataFrame, dict[str, str]]:
    """Products come in pairs (A_i, B_i), all about equally popular. Before 2024-10 every buyer
    buys two whole pairs and the A of a third; in the test window it buys that third B (the
    planted cross-sell) and re-buys its first A (a reorder)."""
    rng = np.random.default_rng(seed)
    rows, planted = [], {}
    for b in range(N_BUYERS):
        p1, p2, p3 = rng.choice(N_PAIRS, size=3, replace=False)
        buyer, country = f"BC{b:03d}", ("DE", "FR")[b % 2]
        train_days = rng.choice(np.arange(0, 270), size=5, replace=False)
        for item, day in zip([f"A{p1}", f"B{p1}", f"A{p2}", f"B{p2}", f"A{p3}"], train_days):
            rows.append((buyer, country, item, pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(day))))
        rows.append((buyer, country, f"B{p3}", pd.Timestamp("2024-10-01") + pd.Timedelta(days=int(rng.integers(0, 80)))))
        rows.append((buyer, country, f"A{p1}", pd.Timestamp("2024-10-01") + pd.Timedelta(days=int(rng.integers(0, 80)))))
        planted[buyer] = f"B{p3}"
    frame = pd.DataFrame(rows, columns=["buying_center_id", "country", "product_id", "order_date"])
    frame["order_id"] = [f"O{i:05d}" for i in range(len(frame))]
    frame["order_line"] = "10"
    frame["customer_id"] = frame["buying_center_id"]
    frame["variant_id"] = frame["product_id"]
    frame["quantity"] = 1.0
    frame["unit_price"] = 100.0
    frame["net_value"] = 100.0
    frame["currency"] = "EUR"
    frame["is_custom"] = False
    frame["is_return"] = False
    frame["source_file"] = "planted"
    frame["source_row"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame, planted


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evalstep")
    (root / "canonical").mkdir()
    planted_lines()[0].to_parquet(root / "canonical" / "order_lines.parquet")
    return root


def make_cfg(workdir: Path) -> object:
    raw = {
        "workdir": str(workdir),
        "data": {"order_lines": "unused.csv"},
        "interactions": {"recency_half_life_days": None, "min_variant_support": 1},
        "models": {"enabled": ["item_knn"], "item_knn": {"K": 10}},
        "evaluation": {"test_days": 91, "cutoff": "2024-10-01", "k": [1, 10], "rank_k": 10},
        "mlflow": {"experiment": "planted", "registered_model": "planted-recommender"},
    }
    return config_from_dict(raw, base_dir=workdir)


@pytest.mark.slow
def test_run_evaluate_tracks_and_registers_the_planted_winner(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_cfg(workdir)
    # (champion vs challenger decisions are covered in test_tracking.py; this is the wiring)
    result = run_evaluate(cfg)

    metrics = pd.read_csv(workdir / "evaluation" / "metrics.csv")
    assert tuple(metrics.columns) == METRIC_COLUMNS
    assert set(metrics["target"]) == {"cross_sell", "reorder"}
    assert set(metrics["model"]) == {"popularity", "popularity_country", "popularity_segment", "item_knn"}
    get = metrics.set_index(["model", "target", "country", "k", "metric"])["value"]
    # every buyer has history and exactly one planted cross-sell product
    assert get[("item_knn", "cross_sell", "ALL", 0, "n_buyers")] == N_BUYERS
    assert get[("item_knn", "cross_sell", "DE", 0, "n_buyers")] == N_BUYERS / 2
    # planted truth: B_i follows A_i, while every product is about equally popular
    knn = get[("item_knn", "cross_sell", "ALL", 10, "ndcg")]
    assert knn > 0.5 > get[("popularity", "cross_sell", "ALL", 10, "ndcg")]
    assert knn > get[("popularity_country", "cross_sell", "ALL", 10, "ndcg")]
    out = capsys.readouterr().out
    assert "item_knn" in out and "champion: item_knn" in out
    assert (workdir / "evaluation" / "metrics_vs_k.png").stat().st_size > 0
    champion = json.loads((workdir / "evaluation" / "champion.json").read_text())
    assert champion["model"] == "item_knn" and champion["popularity_won"] is False
    assert champion["windows"] == {"validation_start": "2024-07-02", "cutoff": "2024-10-01", "end": "2024-12-31"}
    sweep = pd.read_csv(workdir / "evaluation" / "sweep.csv")
    # the configured item_knn first, then the default search space's other configurations
    assert sweep[sweep["model"] == "item_knn"]["trial"].iloc[0] == "item_knn t00 as configured"
    assert (sweep["model"] == "item_knn").sum() > 1 and set(sweep["model"]) >= {"popularity", "item_knn"}

    assert result.registration is not None and result.registration.decision.alias == "champion"
    local, info = load_champion(cfg.tracking_uri, "planted-recommender", workdir / "champion")
    assert info.metric_value == pytest.approx(knn)
    model = load_model(local)
    _, planted = planted_lines()
    buyers = sorted(planted)[:20]
    # refit on the whole history: the planted test-window purchases are owned now
    owned_excluded = model.recommend(buyers, n=10, exclude_owned=True).ids
    assert not any(planted[b] in row for b, row in zip(buyers, owned_excluded))
    b_items = sorted(set(planted.values()))
    a_items = ["A" + b[1:] for b in b_items]
    assert model.similar_items(a_items, n=1).ids[:, 0].tolist() == b_items



def popular_lines(seed: int = 5) -> pd.DataFrame:
    """No structure but popularity: 40 products with Zipf-like weights, every buyer draws its
    purchases from them, before and after the cutoff alike."""
    rng = np.random.default_rng(seed)
    frame, _ = planted_lines(seed)
    weights = 1.0 / np.arange(1, 41) ** 1.2
    frame["product_id"] = [f"P{i:02d}" for i in rng.choice(40, size=len(frame), p=weights / weights.sum())]
    frame["variant_id"] = frame["product_id"]
    return frame


@pytest.mark.slow
def test_popularity_becomes_champion_when_nothing_learned_beats_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "canonical").mkdir()
    popular_lines().to_parquet(tmp_path / "canonical" / "order_lines.parquet")
    cfg = config_from_dict(
        {**{k: v for k, v in make_cfg(tmp_path).model_dump(mode="json").items() if k in ("workdir", "data", "interactions", "evaluation")},
         "models": {"enabled": ["als", "item_knn"]}, "mlflow": {"experiment": "pop", "registered_model": "pop-recommender"}},
        base_dir=tmp_path,
    )  # fmt: skip
    result = run_evaluate(cfg)
    assert result.champion.is_baseline, result.champion
    assert "popularity is champion on this data" in capsys.readouterr().out
    assert json.loads((tmp_path / "evaluation" / "champion.json").read_text())["popularity_won"] is True
    # the run still leaves a champion to score with: the popularity baseline itself
    assert result.registration is not None and result.registration.decision.alias == "champion"
    local, info = load_champion(cfg.tracking_uri, "pop-recommender", tmp_path / "champion")
    model = load_model(local)
    assert model.name == result.champion.model and info.tags["xsell.popularity_won"] == "True"
    assert model.recommend(["BC000"], n=3).ids[0][0] is not None


def test_blend_search_by_coordinates_scores_fewer_weightings_and_never_beats_the_grid() -> None:
    """Above ``evaluation.blend_search.max_grid_scorings`` the blend weights are searched one
    coordinate at a time: fewer weightings scored, each scored one as the whole grid scores it."""
    from xsell.evaluation.backtest import tune
    from xsell.evaluation.split import plan_windows
    from xsell.interactions.build import buyer_countries

    lines = planted_lines()[0]
    cfg = make_cfg(Path("."))
    learning = cfg.learning()
    learning = learning.model_copy(update={"models": learning.models.model_copy(update={"enabled": ["item_knn", "rules", "blend"]})})
    ecfg = cfg.evaluation.model_copy(update={"sweep": None})
    windows = plan_windows(lines, ecfg)
    countries = buyer_countries(lines, None)
    results = {}
    for limit in (None, 1):
        search = ecfg.blend_search.model_copy(update={"max_grid_scorings": limit})
        results[limit] = tune(lines, None, learning, ecfg.model_copy(update={"blend_search": search}), windows, countries)
    grid, coord = results[None].blend_trials, results[1].blend_trials
    assert 0 < len(coord) < len(grid) / 2
    key = ["personal", "anchor", "w_anchor", "w_prior", "prior_shrinkage"]
    merged = coord.merge(grid, on=key, how="left", suffixes=("", "_grid"))
    assert merged["value_grid"].notna().all() and np.allclose(merged["value"], merged["value_grid"])
    assert results[1].blend_value <= results[None].blend_value == grid["value"].max()
