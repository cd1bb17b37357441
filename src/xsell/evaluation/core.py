"""Pure evaluation core: rankings (``Ranking`` or long frames) + targets -> long metrics frame.

Testable without models: anything that produces top-n ids per buyer (or per item) can be
evaluated. The long frame has exactly ``schema.METRIC_COLUMNS``; k-independent counts
(``n_buyers``, ``n_new_buyers``, ``n_pairs``) use ``k = 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd

from xsell.evaluation.config import EvaluationConfig
from xsell.evaluation.metrics import hit_matrix, n_relevant, ndcg_at_k, ranking_metrics
from xsell.evaluation.split import Split, Targets
from xsell.interactions.build import CodedLines, is_purchase
from xsell.models.base import Ranking, Recommender
from xsell.schema import ALL_COUNTRIES, METRIC_COLUMNS
from xsell.vocab import Vocabulary

RankingLike: TypeAlias = Ranking | pd.DataFrame
"""A ``Ranking``, or a long frame with ``query`` (or ``buying_center_id``), ``rank`` (1-based)
and ``item_id`` (or ``product_id``) columns."""

ITEM_PAIRS_TARGET = "item_pairs"
"""``target`` value of the item-to-item check rows."""


def ranking_frame(ranking: RankingLike, *, item_map: pd.Series | None = None) -> pd.DataFrame:
    """Normalise to columns ``query, rank, item_id`` (str ids, 1-based dense ranks, padding dropped).

    ``item_map`` (e.g. variant_id -> product_id) rewrites item ids; ids it lacks are kept.
    Items that map to the same id keep their best rank and the ranks are re-numbered.
    """
    if isinstance(ranking, Ranking):
        frame = ranking.to_frame("query", "item_id")
    else:
        frame = ranking.rename(columns={"buying_center_id": "query", "product_id": "item_id"})
        missing = {"query", "rank", "item_id"} - set(frame.columns)
        if missing:
            raise ValueError(f"ranking frame lacks columns {sorted(missing)}; has {list(ranking.columns)}")
        frame = frame[frame["item_id"].notna()]
    frame = pd.DataFrame(
        {
            "query": frame["query"].astype(str).to_numpy(),
            "rank": frame["rank"].to_numpy(dtype=np.int64),
            "item_id": frame["item_id"].astype(str).to_numpy(),
        }
    )
    if item_map is not None:
        mapped = frame["item_id"].map(item_map)
        frame["item_id"] = mapped.where(mapped.notna(), frame["item_id"]).astype(str)
    frame = frame.sort_values(["query", "rank"], kind="stable").drop_duplicates(["query", "item_id"])
    frame["rank"] = frame.groupby("query", sort=False).cumcount() + 1
    return frame.reset_index(drop=True)


def ranking_matrix(ranking: RankingLike, buyers: np.ndarray, items: Vocabulary, n: int, *, item_map: pd.Series | None = None) -> np.ndarray:
    """(len(buyers), n) item indices into ``items``, best first; -1 for padding and unknown items.

    Buyers missing from ``ranking`` get an all -1 row (they count as evaluated with no hits).
    """
    if isinstance(ranking, Ranking) and item_map is None:
        direct = _direct_matrix(ranking, buyers, items, n)
        if direct is not None:
            return direct
    frame = ranking_frame(ranking, item_map=item_map)
    frame = frame[frame["rank"] <= n]
    rows = pd.Index(np.asarray(buyers, dtype=object)).get_indexer(frame["query"])
    keep = rows >= 0
    out = np.full((len(buyers), n), -1, dtype=np.int64)
    out[rows[keep], frame["rank"].to_numpy()[keep] - 1] = items.index(frame["item_id"][keep], missing="ignore")
    return out


def _direct_matrix(ranking: Ranking, buyers: np.ndarray, items: Vocabulary, n: int) -> np.ndarray | None:
    """``ranking_matrix`` of a ``Ranking`` whose queries are ``buyers`` in order, without going
    through a long frame of strings: ``None`` where that shortcut would differ (other queries,
    padding before a result, an item twice in a row)."""
    queries = np.asarray(buyers, dtype=object)
    if ranking.queries.shape != queries.shape or not np.array_equal(ranking.queries.astype(str), queries.astype(str)):
        return None
    ids = ranking.ids
    present = pd.notna(ids)
    if ids.shape[1] > 1 and (present[:, 1:] & ~present[:, :-1]).any():
        return None
    codes, uniques = pd.factorize(ids.ravel())  # None -> -1
    codes = codes.reshape(ids.shape)
    ordered = np.sort(codes, axis=1)
    if ids.shape[1] > 1 and ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any():
        return None
    known = items.index(np.asarray(uniques, dtype=object), missing="ignore") if len(uniques) else np.zeros(0, dtype=np.int64)
    out = np.full((len(queries), n), -1, dtype=np.int64)
    width = min(n, ids.shape[1])
    head = codes[:, :width]
    out[:, :width] = np.where(head >= 0, known[np.maximum(head, 0)] if len(known) else -1, -1)
    return out


def _long(frame: pd.DataFrame, model: str, target: str) -> pd.DataFrame:
    out = frame.rename(columns={"group": "country"})
    out.insert(0, "target", target)
    out.insert(0, "model", model)
    return out[list(METRIC_COLUMNS)]


def evaluate_rankings(
    rankings: Mapping[str, RankingLike],
    targets: Targets,
    ks: Iterable[int],
    *,
    item_map: pd.Series | None = None,
) -> pd.DataFrame:
    """Metrics of every model's ranking for one target, overall (country ``ALL``) and per country.

    ``rankings`` maps model name -> its ranking of ``targets.buyers``. Returns ``METRIC_COLUMNS``.
    For ``cross_sell`` a ``n_new_buyers`` row (k = 0, country ALL) reports the buyers left out.
    """
    ks = sorted(set(int(k) for k in ks))
    frames = []
    for model, ranking in rankings.items():
        rec = ranking_matrix(ranking, targets.buyers, targets.items, max(ks), item_map=item_map)
        metrics = ranking_metrics(
            rec,
            targets.relevant,
            ks,
            values=targets.values,
            groups=targets.countries,
            n_catalog=targets.n_catalog,
            all_label=ALL_COUNTRIES,
        )
        if targets.name == "cross_sell":
            extra = pd.DataFrame([{"group": ALL_COUNTRIES, "k": 0, "metric": "n_new_buyers", "value": float(targets.n_new_buyers)}])
            metrics = pd.concat([metrics, extra], ignore_index=True)
        frames.append(_long(metrics, model, targets.name))
    if not frames:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def sequential_pairs(
    split: Split, *, window_days: int, item_col: str = "product_id", max_block: int = 5_000_000, coded: CodedLines | None = None
) -> pd.DataFrame:
    """Distinct ``buying_center_id, x, y``: the buying center bought y in the test window and
    x != y on an earlier day, at most ``window_days`` days before (x may be before the cutoff).

    Same-day purchases (one basket) are not pairs. The per-buyer self-join runs in blocks of
    about ``max_block`` candidate pairs. ``coded``: ``encode_lines`` of ``split.lines`` (the ids
    are then read from its codes: the same pairs, and ``split.lines`` needs no id columns).
    """
    since = split.cutoff - pd.Timedelta(days=window_days)
    dates = split.lines["order_date"]
    train, test = split.train_rows, split.test_rows  # the recent lines only: not a copy of the whole history first
    recent = np.r_[train[(dates.take(train) >= since).to_numpy()], test[(dates.take(test) >= since).to_numpy()]]
    frame = split.lines[[c for c in ("order_date", "quantity", "is_return") if c in split.lines]].take(recent)
    bought = is_purchase(frame)
    recent, day = recent[bought], frame["order_date"].dt.normalize()[bought]
    at = coded.rows(split.lines) if coded is not None else None
    coded_rows = at[recent] if at is not None else None
    buyer_code, buyer_ids = _ids_of(split.lines, recent, "buying_center_id", coded, coded_rows)
    item_code, item_ids = _ids_of(split.lines, recent, item_col, coded, coded_rows)  # joins on int codes, ids at the end
    base = pd.DataFrame({"b": buyer_code, "item": item_code, "day": day.to_numpy()})
    xs = base.drop_duplicates()
    ys = base[(base["day"] >= split.cutoff).to_numpy()].groupby(["b", "item"], sort=False, as_index=False)["day"].min()
    sizes = xs.groupby("b").size().mul(ys.groupby("b").size(), fill_value=0)
    sizes = sizes[sizes > 0]
    block = (sizes.cumsum() // max_block).rename("block")
    xs = xs.merge(block, left_on="b", right_index=True)
    ys = ys.merge(block, left_on="b", right_index=True)
    parts = []
    for blk, x_part in xs.groupby("block", sort=True):
        joined = x_part.merge(ys[ys["block"] == blk], on="b", suffixes=("_x", "_y"))
        gap = (joined["day_y"] - joined["day_x"]).dt.days
        keep = (gap >= 1) & (gap <= window_days) & (joined["item_x"] != joined["item_y"])
        parts.append(joined.loc[keep, ["b", "item_x", "item_y"]].drop_duplicates())
    if not parts:
        return pd.DataFrame({"buying_center_id": pd.Series(dtype=str), "x": pd.Series(dtype=str), "y": pd.Series(dtype=str)})
    pairs = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(
        {"buying_center_id": buyer_ids[pairs["b"].to_numpy()], "x": item_ids[pairs["item_x"].to_numpy()], "y": item_ids[pairs["item_y"].to_numpy()]}
    )


def _ids_of(
    lines: pd.DataFrame, rows: np.ndarray, column: str, coded: CodedLines | None, coded_rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of ``column`` at positions ``rows`` of ``lines`` (codes in order of first
    appearance, object array of ids); from ``coded``'s codes at ``coded_rows`` (the same lines)
    where it encoded the column."""
    encoded = coded.column(column) if coded is not None else None
    if encoded is not None and coded_rows is not None:  # codes are a bijection with the ids: same order of appearance
        code, uniques = pd.factorize(encoded[0][coded_rows])
        return code, encoded[1][uniques]
    code, uniques = pd.factorize(lines[column].take(rows).astype(str))
    return code, np.asarray(uniques, dtype=object)


def evaluate_similar_items(
    similar: Mapping[str, RankingLike],
    pairs: pd.DataFrame,
    k: int,
    *,
    countries: pd.Series | None = None,
) -> pd.DataFrame:
    """Share of ``pairs`` (x, y) whose y is in x's top-k similar items, per model.

    ``similar`` maps model name -> ``similar_items`` ranking (queries = x ids). Rows: target
    ``item_pairs``, metric ``pair_hit_rate`` at k overall and per country (via ``countries``,
    buying_center_id -> country), plus ``n_pairs`` (k = 0). Each (buyer, x, y) counts once.
    """
    if countries is not None:
        country = countries.reindex(pairs["buying_center_id"].astype(str).to_numpy()).fillna(ALL_COUNTRIES).astype(str).to_numpy()
    else:
        country = np.full(len(pairs), ALL_COUNTRIES, dtype=object)
    # identical (x, y, country) rows only differ by buyer: score each once, weighted by its count
    grouped = (
        pd.DataFrame({"x": pairs["x"].astype(str).to_numpy(), "y": pairs["y"].astype(str).to_numpy(), "c": country})
        .groupby(["x", "y", "c"], sort=False, observed=True).size().reset_index(name="w")
    )
    labels = [ALL_COUNTRIES] + sorted(set(grouped["c"]) - {ALL_COUNTRIES})
    c_code = pd.Index(labels).get_indexer(grouped["c"])
    weight = grouped["w"].to_numpy(dtype=np.float64)
    n_per_country = np.bincount(c_code, weights=weight, minlength=len(labels))
    n_per_country[0] = weight.sum()
    pair_keys = pd.MultiIndex.from_arrays([grouped["x"].to_numpy(), grouped["y"].to_numpy()])
    rows = []
    for model, ranking in similar.items():
        frame = ranking_frame(ranking)
        frame = frame[frame["rank"] <= k]
        hit = pair_keys.isin(pd.MultiIndex.from_arrays([frame["query"].to_numpy(), frame["item_id"].to_numpy()]))
        hits = np.bincount(c_code, weights=weight * hit, minlength=len(labels))
        hits[0] = (weight * hit).sum()
        for i, label in enumerate(labels):
            n = n_per_country[i]
            rows.append((model, ITEM_PAIRS_TARGET, label, 0, "n_pairs", float(n)))
            rows.append((model, ITEM_PAIRS_TARGET, label, k, "pair_hit_rate", float(hits[i] / n) if n else 0.0))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def rank_value(ranking: RankingLike, targets: Targets, k: int, *, item_map: pd.Series | None = None) -> float:
    """NDCG@k of one ranking of ``targets.buyers`` (country ALL): the tuning objective, without
    the other metrics and groups of ``evaluate_rankings``."""
    rec = ranking_matrix(ranking, targets.buyers, targets.items, k, item_map=item_map)
    if rec.shape[0] == 0:
        return 0.0
    return float(ndcg_at_k(hit_matrix(rec, targets.relevant), n_relevant(targets.relevant), k).mean())


def evaluate_models(
    models: Mapping[str, Recommender],
    targets: Mapping[str, Targets],
    cfg: EvaluationConfig,
    *,
    pairs: pd.DataFrame | None = None,
    anchors: Sequence[str] = (),
    countries: pd.Series | None = None,
    item_map: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank every target's buyers with every model and score the rankings.

    ``cross_sell`` rankings exclude owned items (bought before the cutoff, as the model saw them
    in training); ``reorder`` rankings are the model's plain ranking without that exclusion.
    ``pairs`` (from ``sequential_pairs``) are scored on ``similar_items`` of ``anchors``.
    Returns (metrics, item_pairs) frames with ``METRIC_COLUMNS``.
    """
    n = max(cfg.k)
    frames = []
    for target in targets.values():
        buyers = list(target.buyers)
        rankings = {name: model.recommend(buyers, n=n, exclude_owned=target.name == "cross_sell") for name, model in models.items()}
        frames.append(evaluate_rankings(rankings, target, cfg.k, item_map=item_map))
    metrics = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(METRIC_COLUMNS))
    if pairs is None or pairs.empty or not len(anchors):
        return metrics, pd.DataFrame(columns=list(METRIC_COLUMNS))
    similar = {name: model.similar_items(list(anchors), n=cfg.item_pairs.k) for name, model in models.items()}
    return metrics, evaluate_similar_items(similar, pairs, cfg.item_pairs.k, countries=countries)
