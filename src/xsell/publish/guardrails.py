"""Guardrails a run must pass before ``latest`` moves to it (pure functions, no I/O).

Checks: minimum rows per table, coverage, no self-links, no discontinued or custom-made
products recommended, churn against the previous published run.

Definitions:

- *Discontinued* and *custom-made* are the recommend step's definitions (``product_flags``): a
  variant is discontinued when its ``status`` is ``discontinued`` or its ``discontinued_on`` is on
  or before ``today`` (the tables' date from ``tables.json``); a product when none of its standard
  variants is active; custom-made when it has no standard variant. A recommended row is flagged
  when its product is, or when its ``rec_variant_id`` (``variant_id`` in the buying-center table) is.
- *Sellable* products (coverage denominator) have at least one variant that is neither
  discontinued nor custom-made.
- *Churn* of one (table, country, product) of the previous run: the share of its previous
  top-k linked products that are not in its new top-k (1.0 when it has no rows any more); the
  check compares the mean over the previous run's products with ``max_churn``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import pandas as pd

from xsell.frames import isin
from xsell.publish.config import GuardrailsConfig
from xsell.publish.tables import LINK_KEYS
from xsell.recommend.context import RecommendContext
from xsell.recommend.up_sell import NO_FAMILIES

PRODUCT_TABLES: tuple[str, ...] = ("cross_sell", "up_sell")
_RECOMMENDED = {
    "cross_sell": ("rec_product_id", "rec_variant_id"),
    "up_sell": ("rec_product_id", "rec_variant_id"),
    "buying_center_suggestions": ("product_id", "variant_id"),
}
_SELF_LINK = {
    "cross_sell": ("product_id", "rec_product_id"),
    "up_sell": ("product_id", "rec_product_id"),
    "buying_center_suggestions": ("anchor_product_id", "product_id"),
}


EMPTY_BECAUSE: dict[str, str] = {
    "cross_sell": "no product pair was bought together in rules.min_support_count baskets and no model links two "
    "products; a longer history or a lower rules.min_support_count helps",
    "up_sell": "no product of the same family in the price window recommend.upsell_min_price_ratio .. "
    "upsell_max_price_ratio has switch or model evidence; check data.family_rule / the master's families",
    "buying_center_suggestions": "no buying center kept a suggestion; tables.json rules_applied says which business "
    "rule removed them (discontinued, not_in_assortment, block_list, ...)",
}
"""What an empty table means and which keys change it (named in the failed guardrail)."""


def has_families(products: pd.DataFrame) -> bool:
    """True when at least two products share a family (up-sell compares products within one)."""
    if products is None or products.empty or "family" not in products:
        return False
    fam = products[["product_id", "family"]].drop_duplicates("product_id")
    fam = fam[fam["family"].fillna("").astype(str) != ""]
    return bool(fam["family"].duplicated().any())


@dataclass(frozen=True)
class Check:
    """Outcome of one guardrail on one table."""

    name: str
    table: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""


@dataclass
class GuardrailReport:
    """All checks of one run; ``reasons`` lists the failed ones in words."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.table}: {c.name}: {c.detail}" for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "checks": [asdict(c) for c in self.checks]}


def product_flags(ctx: RecommendContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per variant and per product: boolean columns ``discontinued`` and ``custom``, by the
    recommend step's one definition (``xsell.recommend.context.build_context``): a variant is
    discontinued by its status or ``discontinued_on``; a product when it has standard variants
    and none of them is active; it is custom-made when it has no standard variant. ``ctx``:
    ``xsell.publish.shop.shop_context`` of the product master."""
    variants = ctx.variants.drop_duplicates("variant_id")
    by_variant = pd.DataFrame(
        {"discontinued": variants["discontinued"].to_numpy(dtype=bool), "custom": variants["is_custom"].to_numpy(dtype=bool)},
        index=pd.Index(variants["variant_id"].astype(object), name="variant_id"),
    )
    by_product = pd.DataFrame(
        {"discontinued": ctx.products["discontinued"].to_numpy(dtype=bool), "custom": ctx.products["custom_only"].to_numpy(dtype=bool)},
        index=pd.Index(ctx.products.index.astype(object), name="product_id"),
    ).sort_index()
    return by_variant, by_product


def _recommended_flags(frame: pd.DataFrame, table: str, variants: pd.DataFrame, by_product: pd.DataFrame) -> pd.DataFrame:
    """Flags of the recommended item of every row (variant-level where a variant is given)."""
    pcol, vcol = _RECOMMENDED[table]
    out = pd.DataFrame(index=frame.index, columns=["discontinued", "custom"], data=False)
    for flag in out.columns:  # flagged: the id is one of those with the flag set (Arrow's is_in; a map took seconds)
        out[flag] = isin(frame[pcol], by_product.index[by_product[flag].to_numpy(dtype=bool)]) | isin(frame[vcol], variants.index[variants[flag].to_numpy(dtype=bool)])
    return out


def churn(previous: pd.DataFrame, current: pd.DataFrame, table: str, top_k: int) -> tuple[float, int]:
    """Mean share of each previous product's top-k links gone from its new top-k, and how many products."""
    owner, item = LINK_KEYS[table]
    prev = previous.loc[previous["rank"] <= top_k, [*owner, item]].drop_duplicates()
    if prev.empty:
        return 0.0, 0
    cur = current.loc[current["rank"] <= top_k, [*owner, item]].drop_duplicates().assign(kept=True)
    merged = prev.merge(cur, on=[*owner, item], how="left")
    merged["gone"] = merged["kept"].isna()
    per_owner = merged.groupby(owner, sort=False)["gone"].mean()
    return float(per_owner.mean()), int(len(per_owner))


def check_guardrails(
    tables: dict[str, pd.DataFrame],
    products: pd.DataFrame,
    customers: pd.DataFrame | None,
    previous: dict[str, pd.DataFrame] | None,
    cfg: GuardrailsConfig,
    today: dt.date,
    context: RecommendContext | None = None,
) -> GuardrailReport:
    """Run every guardrail on ``tables`` (see module docstring); ``previous`` None skips churn.
    ``context``: ``shop_context(products, today)`` when the caller has it (built here otherwise)."""
    from xsell.publish.shop import shop_context

    report = GuardrailReport()
    variants, by_product = product_flags(context if context is not None else shop_context(products, today))
    sellable = by_product.index[~(by_product["discontinued"] | by_product["custom"])]
    families = has_families(products)
    for table, frame in tables.items():
        if table == "up_sell" and not families and frame.empty:
            report.checks.append(Check("min_rows", table, True, 0, None, f"skipped: {NO_FAMILIES}"))
        elif table in cfg.min_rows:
            need = cfg.min_rows[table]
            why = f" ({EMPTY_BECAUSE[table]})" if frame.empty and table in EMPTY_BECAUSE else ""
            report.checks.append(Check("min_rows", table, len(frame) >= need, len(frame), need, f"{len(frame):,} rows, need {need:,}{why}"))
        if table in cfg.min_coverage and not (table == "up_sell" and not families):
            report.checks.append(_coverage(table, frame, sellable, customers, cfg.min_coverage[table]))
        left, right = _SELF_LINK[table]
        self_links = frame[left].notna() & (frame[left].astype(object) == frame[right].astype(object))
        n_self = int(self_links.sum())
        example = f" e.g. {frame.loc[self_links, right].iloc[0]}" if n_self else ""
        report.checks.append(Check("no_self_links", table, n_self == 0, n_self, 0, f"{n_self} self-link row(s){example}"))
        flags = _recommended_flags(frame, table, variants, by_product)
        for flag, label in (("discontinued", "no_discontinued"), ("custom", "no_custom_made")):
            bad = flags[flag].to_numpy(dtype=bool)
            n_bad = int(bad.sum())
            example = f" e.g. {frame.loc[bad, _RECOMMENDED[table][0]].iloc[0]}" if n_bad else ""
            report.checks.append(Check(label, table, n_bad == 0, n_bad, 0, f"{n_bad} row(s) recommend {flag} products{example}"))
    for table in PRODUCT_TABLES:
        if previous is None or table not in previous or table not in tables:
            why = "no previous run" if previous is None else "the previous run has no such table"
            report.checks.append(Check("churn", table, True, None, cfg.max_churn, f"skipped: {why}"))
            continue
        value, n = churn(previous[table], tables[table], table, cfg.churn_top_k)
        report.checks.append(
            Check("churn", table, value <= cfg.max_churn, value, cfg.max_churn,
                  f"{value:.1%} of previous top-{cfg.churn_top_k} links changed over {n:,} products, limit {cfg.max_churn:.1%}")
        )
    return report


def _coverage(table: str, frame: pd.DataFrame, sellable: pd.Index, customers: pd.DataFrame | None, need: float) -> Check:
    if table == "buying_center_suggestions":
        if customers is None or customers.empty:
            return Check("coverage", table, True, None, need, "skipped: no customer master")
        universe = pd.Index(customers["buying_center_id"].astype(object).unique())
        have = frame["buying_center_id"].astype(object).unique()
        what = "buying centers"
    else:
        universe, have, what = sellable, frame["product_id"].astype(object).unique(), "sellable products"
    if len(universe) == 0:
        return Check("coverage", table, True, None, need, f"skipped: no {what}")
    share = float(universe.isin(have).mean())
    return Check("coverage", table, share >= need, share, need, f"{share:.1%} of {len(universe):,} {what} have rows, need {need:.1%}")
