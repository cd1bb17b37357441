"""``xsell rules``: canonical order lines -> product-level pairwise association rules CSV."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from xsell.config import Config
from xsell.interactions.build import NEEDED_COLUMNS, build_order_products
from xsell.io.layout import Workdir
from xsell.io.readers import read_canonical
from xsell.io.writers import write_csv
from xsell.models.rules import mine_pair_rules
from xsell.progress import stage

log = logging.getLogger(__name__)


def read_order_lines(cfg: Config) -> pd.DataFrame:
    """The canonical order lines of ``cfg.workdir`` (columns the matrices need)."""
    return read_canonical(Workdir(cfg.workdir).order_lines, columns=list(NEEDED_COLUMNS))


def export_rules(cfg: Config, out: str | Path) -> Path:
    """Mine product-level pair rules and write them to ``out`` (CSV).

    Columns: ``RULE_COLUMNS`` then ``antecedent_count, consequent_count, damped_lift``; rows
    sorted by antecedent, then ``cfg.rules.metric`` descending, then consequent. Conviction of
    a rule with confidence 1 is written as ``inf`` (mlxtend's convention). The file is
    written next to ``out`` and renamed into place, so a reader never sees half a file.
    """
    out = Path(out)
    with stage("rules: read") as rep:
        lines = read_order_lines(cfg)
        rep.counts["lines"] = len(lines)
    with stage("rules: baskets") as rep:
        baskets = build_order_products(lines, cfg.interactions)
        rep.counts.update(baskets=baskets.shape[0], products=baskets.shape[1])
    with stage("rules: mine") as rep:
        rules = mine_pair_rules(baskets, cfg.rules)
        rules = rules.sort_values(
            ["antecedent", cfg.rules.metric, "consequent"], ascending=[True, False, True], kind="stable"
        ).reset_index(drop=True)
        rep.counts["rules"] = len(rules)
    with stage("rules: write") as rep:
        write_csv(rules, out)
        rep.counts["file"] = str(out)
    return out
