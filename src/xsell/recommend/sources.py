"""Which fitted models the tables read: the model that ranks the buying centers, and each link
source's item-to-item frame at product level (pure: fitted models in, frames out)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from xsell.errors import ConfigError
from xsell.models.base import Ranking, Recommender
from xsell.models.config import BASELINES, MODEL_NAMES, PERSONAL_PREFERENCE
from xsell.recommend.blend import to_product_level
from xsell.recommend.config import CHAMPION_SOURCE, RecommendConfig
from xsell.recommend.context import RecommendContext

log = logging.getLogger(__name__)


def choose_personal_model(wanted: str | None, available: list[str], champion: str | None) -> str:
    """The model that ranks the buying centers: ``wanted`` (``recommend.personal_model``), else the
    only model, else the evaluation's ``champion`` when available, else the first of
    ``PERSONAL_PREFERENCE``, else a popularity baseline."""
    if wanted is not None:
        if wanted not in available:
            raise ConfigError(f"personal model {wanted!r} is not among the trained models {sorted(available)}", key="recommend.personal_model")
        return wanted
    if len(available) == 1:
        return available[0]
    for name in (champion, *PERSONAL_PREFERENCE, *BASELINES):
        if name is not None and name in available:
            return name
    return sorted(available)[0]


def variant_products(ctx: RecommendContext) -> pd.Series:
    return ctx.variant_index["product_id"]


def personal_ranking(ranking: Ranking, variant_product: pd.Series) -> pd.DataFrame:
    """The personal model's ranking at product level: ``to_product_level(ranking.to_frame(
    "buying_center_id", "item_id"), variant_product, cols=("item_id",))`` (the same rows, order and
    scores), computed on int codes. ``buying_center_id`` and ``item_id`` are categoricals (codes
    into the queries and the product ids, in order of first appearance): at 200k buying centers
    x 100 candidates the string frame was ~1 GB and grouping it on two string columns took seconds."""
    n = ranking.ids.shape[1]
    item, item_ids = pd.factorize(ranking.ids.ravel())  # padding (None) gets -1
    ids = pd.Index(np.asarray(item_ids, dtype=object).astype(str), dtype=object)
    mapped = variant_product.reindex(ids)
    product, product_ids = pd.factorize(np.where(mapped.notna(), mapped.to_numpy(dtype=object), ids.to_numpy()))
    kept = np.flatnonzero(item >= 0)
    query = kept // max(n, 1)
    key = query.astype(np.int64) * max(len(product_ids), 1) + product[item[kept]]
    group, pairs = pd.factorize(key)  # first appearance: the order of groupby(sort=False)
    score = pd.Series(ranking.scores.ravel()[kept]).groupby(group).max().to_numpy()
    queries = pd.Index(np.asarray(ranking.queries, dtype=object).astype(str), dtype="str")
    return pd.DataFrame(
        {
            "buying_center_id": pd.Categorical.from_codes(pairs // max(len(product_ids), 1), categories=queries),
            "item_id": pd.Categorical.from_codes(pairs % max(len(product_ids), 1), categories=pd.Index(np.asarray(product_ids, dtype=object), dtype="str")),
            "score": score,
        }
    )


def similarity_frames(
    models: dict[str, Recommender], names: set[str], personal: str, ctx: RecommendContext, cfg: RecommendConfig, *, level: str = "product"
) -> dict[str, pd.DataFrame]:
    """``item_id, rec_item_id, score`` at product level for each blend source of ``names``:
    model names, and ``champion`` = the ``personal`` model; when that is a popularity baseline (no
    item-to-item signal), the learned model the score step added for the links, if any."""
    depth = cfg.candidates_per_source
    wanted = {n: n for n in names & set(MODEL_NAMES)}
    if CHAMPION_SOURCE in names:
        linker = personal if personal not in BASELINES else next(
            (m for m in sorted(models) if m not in BASELINES and m not in ("rules", personal)), None
        )
        if linker is None:
            log.info("recommend: the champion is %s (no item-to-item signal): the link tables go on without it", personal)
        else:
            wanted[CHAMPION_SOURCE] = linker
    missing = sorted(n for n in wanted.values() if n not in models)
    if missing:
        log.warning("recommend: configured blend source(s) %s not among the loaded models %s; blending without them", missing, sorted(models))
    out = {}
    for source, name in sorted(wanted.items()):
        if name not in models:
            continue
        model = models[name]
        if name == "rules":
            sim = model.similarity_table(n=depth)
        else:
            items = ctx.variants["variant_id"] if level == "variant" else pd.Series(ctx.products.index)
            sim = model.similar_items(list(items.astype(str)), n=depth).to_frame("item_id", "rec_item_id")
        out[source] = to_product_level(sim[["item_id", "rec_item_id", "score"]], variant_products(ctx))
    return out
