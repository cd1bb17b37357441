"""Step ``score``: assemble the models the tables are made from, in ``<workdir>/scoring/v<version>/``.

- the registry's champion (``models:/<name>@champion``): it ranks the buying centers and gives the
  link tables its item-to-item side;
- association rules fitted on the current history (fresh basket evidence every night);
- when popularity is champion (no item-to-item signal), the evaluation's best item-to-item model
  (``links_model`` of ``champion.json``), fitted on the current history with its tuned config;
- the other similarity sources ``recommend.*_weights`` name, from the newest ``xsell train`` run.

``train.json`` is written last (``recommend`` reads the folder as one training run); the folder is
built beside its final place and renamed into it, so a killed run never leaves half of it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from xsell.config import Config
from xsell.errors import ConfigError
from xsell.evaluation.sweep import apply_overrides
from xsell.frames import release_freed_memory
from xsell.interactions.build import build_training_data, buyer_countries, encode_lines
from xsell.interactions.config import InteractionsConfig
from xsell.interactions.matrix import TrainingData, needs_variants
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical, read_champion
from xsell.io.writers import atomic_write, write_json
from xsell.models.config import BASELINES
from xsell.models.registry import build_model, load_model
from xsell.recommend.config import similarity_sources
from xsell.schema import LEARNING_LINE_COLUMNS
from xsell.steps import handoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    """What ``run_score`` assembled."""

    models_dir: Path
    champion_model: str
    """Registry key of the champion (``blend``, ``ease``, ``popularity_country``, ...)."""
    model_name: str
    model_version: str
    run_id: str | None
    models: list[str]


def newest_train_run(cfg: Config, train_dir: Path | None = None) -> Path | None:
    """``train_dir`` (this pipeline's training run), else the newest run under ``models.dir``."""
    from xsell.steps.recommend import resolve_models_dir

    if train_dir is not None:
        return Path(train_dir)
    try:
        return resolve_models_dir(cfg, None)
    except ConfigError:
        return None


def run_score(cfg: Config, *, train_dir: Path | None = None) -> ScoreResult:
    """Download the champion, fit rules on the current history, copy the other sources."""
    from xsell.tracking import load_champion

    wd = Workdir(cfg.workdir)
    download = wd.root / "scoring" / "download"
    shutil.rmtree(download, ignore_errors=True)
    local, info = load_champion(cfg.tracking_uri, cfg.mlflow.registered_model, download)
    champion = load_model(local)
    train = newest_train_run(cfg, train_dir)
    models = [champion.name]

    def assemble(folder: Path) -> None:
        folder.mkdir()
        shutil.copytree(local, folder / champion.name)
        customers = read_canonical(wd.customers, required=False)
        handed = handoff.take([wd.order_lines, wd.customers])  # ``evaluate`` just encoded them (``retrain``)
        if handed is not None:
            coded, countries = handed.coded, handed.countries
            log.info("score: the order lines as evaluate encoded them (the canonical files are unchanged)")
        else:
            lines = read_canonical(wd.order_lines, columns=list(LEARNING_LINE_COLUMNS))
            assert lines is not None  # required
            countries = buyer_countries(lines, customers)
            coded = encode_lines(lines)
            del lines  # the matrices are built from the codes: the id texts are not held through the build and the fits
            release_freed_memory()

        def training_data(interactions: InteractionsConfig) -> TrainingData:
            return build_training_data(
                coded, customers, interactions, level=cfg.models.level, countries=countries, variants=needs_variants(cfg.models.level)
            )

        data = training_data(cfg.interactions)
        if champion.name != "rules":
            build_model("rules", cfg.models, cfg.rules).fit(data).save(folder / "rules")
            models.append("rules")
        link = (read_champion(cfg.workdir) or {}).get("links_model") if champion.name in BASELINES else None
        if link and link.get("model") not in models:
            tuned = apply_overrides(cfg.learning(), link.get("overrides", {}))
            fit_on = data if tuned.interactions == cfg.interactions else training_data(tuned.interactions)
            build_model(link["model"], tuned.models, tuned.rules).fit(fit_on).save(folder / link["model"])
            models.append(link["model"])
            log.info("score: popularity is champion; %s (the evaluation's best item-to-item model) links the products", link["model"])
        for name in sorted(similarity_sources(cfg.recommend) - set(models)):
            saved = train / name if train is not None else None
            if saved is not None and (saved / "model.json").is_file():
                shutil.copytree(saved, folder / name)
                models.append(name)
            else:
                log.warning("score: no trained %s model (run `xsell train`); the blend goes on without it", name)
        handoff.offer([wd.order_lines, wd.customers], coded, countries)  # ``recommend`` reads the same lines
        marker = {
            "source": "registry", "registered_model": info.name, "version": info.version, "run_id": info.run_id,
            "train_run": None if train is None else str(train), "models": models,
        }  # fmt: skip
        write_json(marker, folder / "train.json")

    scoring = wd.root / "scoring" / f"v{info.version}"
    shutil.rmtree(scoring, ignore_errors=True)
    atomic_write(scoring, assemble)
    shutil.rmtree(download, ignore_errors=True)
    log.info("score: champion %s v%s (%s), similarity from %s in %s", info.name, info.version, champion.name, models[1:], scoring)
    return ScoreResult(scoring, champion.name, info.name, info.version, info.run_id, models)
