"""Step ``recommend``: trained models + canonical tables -> the three suggestion tables.

Reads ``<workdir>/canonical/*.parquet``, the curated links and block list files, loads the models
of one scoring / training run, computes item similarities and the champion's ranking, calls the
pure builders of ``xsell.recommend`` (``cross_sell``, ``up_sell``, ``suggestions``) and writes
``<workdir>/tables/{cross_sell,up_sell,buying_center_suggestions}.parquet`` plus ``tables.json``.
``today`` is ``recommend.today`` or the last order date + 1 day (see ``RecommendConfig.today``).
The champion ranks ``candidates_per_source`` products per buying center; products it already owns
are never suggested.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell.config import Config
from xsell.errors import ConfigError, InputDataError
from xsell.frames import dictionary_encoded, release_freed_memory
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical, read_champion
from xsell.io.writers import atomic_write, write_parquet_parts
from xsell.models.base import Recommender
from xsell.models.registry import load_model
from xsell.parallel import available_cores
from xsell.progress import stage
from xsell.recommend.common import Table
from xsell.recommend.context import RecommendContext, build_context, resolve_today
from xsell.recommend.cross_sell import build_cross_sell
from xsell.recommend.curated import CuratedLinks, parse_block_list, parse_curated_links
from xsell.recommend.review import build_links_review
from xsell.recommend.sources import choose_personal_model, personal_ranking, similarity_frames, variant_products
from xsell.recommend.suggestions import LINK_COLUMNS, build_buying_center_suggestions, buyer_directory, buying_center_blocks
from xsell.recommend.up_sell import build_up_sell
from xsell.recommend.variants import VariantResolver
from xsell.schema import MODEL_LINE_COLUMNS, TABLES
from xsell.steps import handoff

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RecommendResult:
    """What ``run_recommend`` wrote."""

    paths: dict[str, Path]
    metadata: Path
    rows: dict[str, int]
    rules_applied: dict[str, int]
    models_dir: Path
    personal_model: str

    @property
    def counts(self) -> dict[str, int]:
        """Row counts per table (for stage log lines)."""
        return dict(self.rows)


@dataclass
class _Computed:
    ctx: RecommendContext
    tables: dict[str, Table]
    """The tables built in memory, or (when ``_compute`` writes them) each link table's columns
    the buying-center table reads."""
    models_dir: Path
    models: list[str]
    personal_model: str
    rows: dict[str, int] = field(default_factory=dict)
    rules_applied_by_table: dict[str, dict[str, int]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    """Where each table was written (when ``_compute`` writes them)."""

    @property
    def rules_applied(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for rules in self.rules_applied_by_table.values():
            for rule, n in rules.items():
                total[rule] = total.get(rule, 0) + n
        return total


# -- reading --------------------------------------------------------------------------------

def _read_csv(path: Path, what: str, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"{what} file not found", file=path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{what} file is not a readable CSV: {exc}", file=path) from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_curated_links(path: Path | None, today: pd.Timestamp) -> CuratedLinks:
    """``recommend.curated_links`` parsed as of ``today`` (empty when not configured)."""
    if path is None:
        return CuratedLinks.empty()
    return parse_curated_links(_read_csv(path, "curated links", sep=None, engine="python"), str(path), today)


def read_block_list(path: Path | None) -> frozenset[str]:
    """``recommend.block_list`` ids (empty when not configured)."""
    if path is None:
        return frozenset()
    return parse_block_list(_read_csv(path, "block list", header=None, skip_blank_lines=True), str(path))


# -- models ---------------------------------------------------------------------------------
def resolve_models_dir(cfg: Config, models_dir: Path | None) -> Path:
    """``models_dir`` if it is a training run (``train.json``) or one saved model (``model.json``);
    otherwise its newest run (default root: ``models.dir``)."""
    root = Path(models_dir) if models_dir is not None else Path(cfg.models.dir)
    if (root / "train.json").is_file() or (root / "model.json").is_file():
        return root
    runs = [p for p in root.iterdir() if (p / "train.json").is_file()] if root.is_dir() else []
    if not runs:
        raise ConfigError(f"no trained models in {root}; run `xsell train` first", key="models.dir")
    return max(runs, key=lambda p: ((p / "train.json").stat().st_mtime, p.name))


def load_models(run_dir: Path) -> dict[str, Recommender]:
    """Every model saved in ``run_dir`` (or the single model saved there), keyed by name."""
    if (run_dir / "model.json").is_file():
        model = load_model(run_dir)
        return {model.name: model}
    dirs = sorted(p for p in run_dir.iterdir() if (p / "model.json").is_file())
    if not dirs:
        raise ConfigError(f"no saved models in {run_dir}", key="models.dir")
    return {p.name: load_model(p) for p in dirs}


# -- compute and write ----------------------------------------------------------------------
def _code_ids(lines: pd.DataFrame) -> None:
    """Replace the id columns of ``lines`` still held as text by sorted categoricals
    (``dictionary_encoded``) and the order ids by int codes (numbered by first appearance), coded
    side by side on the available cores (Arrow hashes and sorts without the GIL). The frame
    changes only once the threads are done with it; the string columns are dropped on return
    (held here, they kept ~2 GB alive through the whole step at 20M lines)."""
    ids = {
        col: lines[col] for col in ("buying_center_id", "customer_id", "country", "variant_id", "product_id")
        if col in lines and not isinstance(lines[col].dtype, pd.CategoricalDtype)
    }  # fmt: skip
    as_text = "order_id" in lines and not pd.api.types.is_integer_dtype(lines["order_id"].dtype)
    with ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="recommend-codes") as pool:
        order_codes = pool.submit(pd.factorize, lines["order_id"]) if as_text else None
        coded = list(pool.map(dictionary_encoded, ids.values()))
    for col, codes in zip(ids, coded):
        lines[col] = codes
    if order_codes is not None:
        lines["order_id"] = order_codes.result()[0]
    del ids, coded, order_codes
    release_freed_memory()  # the texts' memory, for the arrays the step builds next


_HANDED_IDS = ("buying_center_id", "product_id", "variant_id", "order_id")
"""The id columns ``recommend`` takes from the lines ``score`` hands on (``xsell.steps.handoff``)."""


def _read_lines(wd: Workdir) -> tuple[pd.DataFrame, pd.Series | None]:
    """The canonical order lines (``MODEL_LINE_COLUMNS``), ids as ``_code_ids`` makes them, and
    their ``buyer_countries`` when ``score`` handed them on (else None). The id columns of the
    lines ``score`` encoded (``retrain`` and ``nightly``) are taken from its codes
    (``encode_lines`` codes them as ``dictionary_encoded`` does: sorted texts), not read and
    coded again; the other columns are read from the file."""
    handed = handoff.take([wd.order_lines, wd.customers])
    coded = handed.coded if handed is not None else None
    taken = [c for c in _HANDED_IDS if coded is not None and coded.column(c) is not None]
    lines = read_canonical(wd.order_lines, required=True, columns=[c for c in MODEL_LINE_COLUMNS if c not in taken])
    assert lines is not None  # required
    if coded is not None and taken:
        dates = lines["order_date"].to_numpy(dtype="datetime64[ns]").view("int64")
        if len(lines) != len(coded) or not np.array_equal(dates, coded.order_date.view("int64")):
            log.warning("recommend: the order lines handed on do not match %s; reading them again", wd.order_lines)
            return _read_lines(wd)  # the slot is empty now
        for col in taken:
            found = coded.column(col)
            assert found is not None  # in ``taken``: encoded
            codes, ids = found
            if col == "order_id":
                lines[col] = _first_appearance(codes)
            else:
                categorical = pd.Categorical.from_codes(codes, categories=pd.Index(ids, dtype="str"), validate=False)
                lines[col] = pd.Series(categorical, index=lines.index, name=col)
        lines = lines[[c for c in MODEL_LINE_COLUMNS if c in lines]]
        log.info("recommend: %s as score encoded them", ", ".join(taken))
    countries = handed.countries if handed is not None else None
    del handed, coded
    _code_ids(lines)
    return lines, countries


def _first_appearance(codes: np.ndarray) -> np.ndarray:
    """Int codes (-1: missing) renumbered by first appearance, -1 kept: what ``pd.factorize`` of
    the ids they code gives."""
    renumbered, _ = pd.factorize(codes)
    missing = codes < 0
    if missing.any():  # -1 was numbered as a value: missing again, the codes after it one lower
        at = renumbered[np.flatnonzero(missing)[0]]
        renumbered = np.where(missing, -1, renumbered - (renumbered > at))
    return renumbered


def _compute(
    cfg: Config, models_dir: Path | None, *, buying_centers: bool = True, personal_model: str | None = None, write: bool = False
) -> _Computed:
    """Build the tables (``buying_centers=False``: only cross_sell and up_sell). ``write``: write
    each table into ``<workdir>/tables/`` as soon as it is built (the buying-center table block by
    block) instead of holding it."""
    wd = Workdir(cfg.workdir)
    rc = cfg.recommend
    with stage("recommend: read", log) as rep:
        # the ids as int codes (sorted categoricals): every grouping and factorize of the tables
        # runs on ints. Order ids (required, 13.6M distinct at 20M lines) are only counted, never
        # shown: they become their codes (a categorical would hash its 13.6M categories again)
        lines, countries = _read_lines(wd)
        products = read_canonical(wd.products, required=False)
        customers = read_canonical(wd.customers, required=False)
        rep.counts["lines"] = len(lines)
    today = resolve_today(lines, rc)
    log.info("recommend: today = %s (%s)", today.date(), "recommend.today" if rc.today else "last order date + 1 day")
    with stage("recommend: context", log):
        ctx = build_context(
            lines, products, rc, today, curated=read_curated_links(rc.curated_links, today), block_ids=read_block_list(rc.block_list)
        )
        del products  # in ``ctx`` as needed (the master is one row per variant: 5M rows at large)
        release_freed_memory()
    run_dir = resolve_models_dir(cfg, models_dir)
    with stage("recommend: similarities", log):
        models = load_models(run_dir)
        champion = (read_champion(cfg.workdir) or {}).get("model")
        personal_name = personal_model if personal_model in models else choose_personal_model(rc.personal_model, sorted(models), champion)
        log.info("recommend: models %s from %s, buying centers ranked by %s", sorted(models), run_dir, personal_name)
        sims = similarity_frames(models, set(rc.cross_sell_weights) | set(rc.upsell_weights), personal_name, ctx, rc, level=cfg.models.level)
        names, ranker = sorted(models), models[personal_name]
        del models  # their item-to-item side is in ``sims``; only the personal model ranks (the rules' tables go)
    with stage("recommend: variants", log):
        variants = VariantResolver.build(lines, ctx)  # the three tables resolve variants from one history
    release_freed_memory()
    done = _Computed(ctx, {}, run_dir, names, personal_name)

    def finished(name: str, table: Table) -> None:
        """Keep (or with ``write``: write, keeping the columns the buying-center table reads) a table."""
        done.rows[name], done.rules_applied_by_table[name] = len(table.frame), table.rules_applied
        if not write:
            done.tables[name] = table
            return
        done.paths[name] = atomic_write(wd.table(name), partial(table.frame.to_parquet, index=False))
        done.tables[name] = Table(table.frame[[c for c in LINK_COLUMNS if c in table.frame]], table.rules_applied)

    with stage("recommend: cross_sell", log) as rep:
        finished("cross_sell", build_cross_sell({k: v for k, v in sims.items() if k in rc.cross_sell_weights}, lines, ctx, rc, variants=variants))
        rep.counts["rows"] = done.rows["cross_sell"]
    release_freed_memory()
    with stage("recommend: up_sell", log) as rep:
        finished("up_sell", build_up_sell({k: v for k, v in sims.items() if k in rc.upsell_weights}, lines, ctx, rc, variants=variants))
        rep.counts["rows"] = done.rows["up_sell"]
    del sims  # the link tables are built
    release_freed_memory()
    if buying_centers:
        with stage("recommend: buying_center_suggestions", log) as rep:
            directory = buyer_directory(lines, customers, countries)  # once: the blocks' history has it too
            buyers = directory["buying_center_id"].tolist()
            with stage("recommend: buying_center_suggestions: ranking", log):
                ranking = ranker.recommend(buyers, n=rc.candidates_per_source, exclude_owned=True)
            personal = personal_ranking(ranking, variant_products(ctx))
            del ranking  # the 200k x candidates ids are in ``personal`` now (as codes)
            args = (personal, done.tables["cross_sell"].frame, done.tables["up_sell"].frame, lines, customers, ctx, rc)
            if not write:
                finished(
                    "buying_center_suggestions",
                    build_buying_center_suggestions(*args, personal_source=personal_name, variants=variants, directory=directory),
                )
            else:  # written block by block: the 4M-row table is never held whole
                counts: dict[str, int] = {}
                path = wd.table("buying_center_suggestions")
                blocks = buying_center_blocks(*args, counts=counts, personal_source=personal_name, variants=variants, directory=directory)
                del args, lines  # the blocks read the lines before their first block and code them: the frame goes then
                done.rows["buying_center_suggestions"] = write_parquet_parts(path, blocks)
                done.rules_applied_by_table["buying_center_suggestions"], done.paths["buying_center_suggestions"] = counts, path
            rep.counts["rows"] = done.rows["buying_center_suggestions"]
    return done


def run_recommend(
    cfg: Config, *, models_dir: Path | None = None, meta: dict | None = None, personal_model: str | None = None
) -> RecommendResult:
    """Write the three tables and ``tables.json`` into ``<workdir>/tables/``.

    ``personal_model`` (a model name in ``models_dir``) ranks the buying-center suggestions;
    default: ``choose_personal_model``. Pipelines pass the registry's champion here."""
    wd = Workdir(cfg.workdir)
    wd.tables.mkdir(parents=True, exist_ok=True)
    done = _compute(cfg, models_dir, personal_model=personal_model, write=True)
    paths = {name: done.paths[name] for name in TABLES if name in done.paths}
    rows = {name: done.rows[name] for name in paths}
    record: dict[str, Any] = {
        "config_hash": cfg.hash(),
        "models_dir": str(done.models_dir),
        "models": done.models,
        "personal_model": done.personal_model,
        "today": str(done.ctx.today.date()),
        "rows": rows,
        "rules_applied": done.rules_applied,
        "rules_applied_by_table": {name: done.rules_applied_by_table[name] for name in paths},
    }
    record.update(meta or {})
    metadata = wd.tables / "tables.json"
    atomic_write(metadata, lambda p: p.write_text(json.dumps(record, indent=2, sort_keys=True, default=str)))
    log.info("recommend: wrote %s to %s", ", ".join(f"{k}={v:,}" for k, v in rows.items()), wd.tables)
    return RecommendResult(paths, metadata, rows, done.rules_applied, done.models_dir, done.personal_model)


def export_links_review(cfg: Config, out: Path) -> Path:
    """Write the learned links + current curated rows as a CSV shaped like ``curated_links.csv``."""
    from xsell.steps.monitor import read_link_uptake

    done = _compute(cfg, None, buying_centers=False)
    run_id, uptake = read_link_uptake(cfg.publish.outputs) or ("", None)
    review = build_links_review(done.tables["cross_sell"].frame, done.tables["up_sell"].frame, done.ctx, uptake, run_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda p: review.to_csv(p, index=False, encoding="utf-8"))
    log.info("links review: %d learned and %d curated link(s) written to %s", int((review["action"] == "").sum()), int((review["action"] != "").sum()), out)
    if run_id:
        log.info("links review: uptake of %d link(s) measured after published run %s", int(review["uptake_buying_centers"].notna().sum()), run_id)
    return out
