"""Uptake of one published run: which suggested products buying centers bought afterwards.

Pure functions of frames: the run's tables, the canonical order lines (history and later lines
alike), the customer master and the product facts of ``RecommendContext``. Definitions (the
contract of ``uptake.csv``, one row per ``run_id, table, country, kind, source, rank_bucket,
metric, value``):

- **Window.** The run's data end E is the last order date of the history it was computed from;
  the window is the days E+1 .. E+``window_days``. It is observed up to the newest order date
  (``days_observed``); a partial window is measured and measured again as data comes in.
- **Bought** means a purchase line (``purchases``: not a return, quantity > 0) in the window.
- ``buying_center_suggestions``: a suggested (buying center, product) pair is ``bought`` when
  the buying center has a purchase line of that product (any variant) in the window;
  ``revenue`` is the net value of those lines, ``days_to_first_purchase`` the first such day
  minus E (1 = the day after the data end; median, and ``days_to_first_purchase_mean``).
- **Popularity counterfactual** (``source = popularity_counterfactual``, ``kind = cross_sell``):
  each buying center of the suggestions gets as many products as it was suggested: the most
  popular products of its country (distinct buying centers of the country owning them at E, the
  ``popularity_country`` baseline; ties by product id; then the rest in overall order) that it
  did not own at E and that pass the business rules of the tables (discontinued, assortment,
  custom-made, excluded families, block list, an orderable variant in the country). It is
  measured exactly like the suggestions, so the lift of xsell over popularity is a number.
- ``cross_sell`` / ``up_sell``: every buying center that bought product X in the window (first
  on day d) is shown X's links of its country where the table has them for X, else X's ``ALL``
  rows (the rule of the suggestions' anchors). A (buying center, link X -> Y) pair is
  ``suggested`` unless the buying center owned Y at E, and ``bought`` when it bought Y on day d
  or later within the window; ``revenue``: its Y lines from day d; days: first such day - d
  (0 = the same day). A purchase of Y counts for every link to Y the buying center was shown.
- ``country`` is the buying center's country (``buyer_countries``; the suggestions' own
  column); ``rank_bucket`` the row's rank: ``1-3``, ``4-10``, ``11+``. ``country``, ``kind``,
  ``source`` and ``rank_bucket`` take ``ALL`` for totals (buying centers without a country are
  in the totals only). ``source = ALL`` totals what was published, never the counterfactual;
  where a table holds curated pins, ``source = learned`` totals every other source, so pinned
  and learned links compare at the same rank bucket. ``uptake = bought / suggested``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell.interactions.build import buyer_countries, owned_pairs, purchases
from xsell.models.popularity import first_unowned, rank_order
from xsell.recommend.business_rules import business_rules_keep
from xsell.recommend.codes import Coded, encode, sorted_ids
from xsell.recommend.common import CURATED
from xsell.recommend.config import RecommendConfig
from xsell.recommend.context import RecommendContext
from xsell.recommend.variants import resolve_variant_codes
from xsell.schema import ALL_COUNTRIES

UPTAKE_COLUMNS: tuple[str, ...] = ("run_id", "table", "country", "kind", "source", "rank_bucket", "metric", "value")
"""Columns of ``uptake.csv`` (contract)."""
SUGGESTIONS = "buying_center_suggestions"
LINK_TABLES: tuple[str, ...] = ("cross_sell", "up_sell")
TABLE_ORDER: tuple[str, ...] = (SUGGESTIONS, *LINK_TABLES)
ALL = ALL_COUNTRIES
"""The total of a dimension (the same word as the tables' all-countries rows)."""
COUNTERFACTUAL = "popularity_counterfactual"
LEARNED = "learned"
RANK_BUCKETS: tuple[str, ...] = ("1-3", "4-10", "11+")
METRICS: tuple[str, ...] = (
    "suggested", "bought", "uptake", "revenue", "days_to_first_purchase", "days_to_first_purchase_mean",
)  # fmt: skip
DAYS_OBSERVED = "days_observed"
"""Metric of each table's total row: days of the window with order data."""
DIMS: tuple[str, ...] = ("country", "kind", "source", "rank_bucket")
LINK_UPTAKE_COLUMNS: tuple[str, ...] = ("kind", "product_id", "rec_product_id", "suggested", "bought", "uptake", "revenue")
"""Per-link uptake over all countries (``link_uptake.csv``, read by ``xsell links review``)."""
_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Days ``data_end`` + 1 .. ``data_end`` + ``days``, observed up to ``observed_until``."""

    data_end: pd.Timestamp
    days: int
    observed_until: pd.Timestamp

    @property
    def end(self) -> pd.Timestamp:
        return self.data_end + pd.Timedelta(days=self.days)

    @property
    def days_observed(self) -> int:
        return int((self.observed_until - self.data_end).days)

    @property
    def complete(self) -> bool:
        return self.observed_until >= self.end


def measurement_window(data_end: Any, newest: Any, days: int) -> Window | None:
    """The window of a run with data end ``data_end`` when the newest order is dated ``newest``;
    None when nothing is dated after the data end yet."""
    end = pd.Timestamp(data_end).normalize()
    if newest is None or pd.isna(newest) or pd.Timestamp(newest).normalize() <= end:
        return None
    return Window(end, int(days), min(pd.Timestamp(newest).normalize(), end + pd.Timedelta(days=int(days))))


def rank_bucket(rank: pd.Series | np.ndarray) -> np.ndarray:
    """``1-3``, ``4-10`` or ``11+`` per rank."""
    r = np.asarray(rank, dtype=np.int64)
    return np.select([r <= 3, r <= 10], list(RANK_BUCKETS[:2]), RANK_BUCKETS[2]).astype(object)


def history_of(lines: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Lines dated on or before the data end: what the run knew."""
    return lines.loc[(lines["order_date"] < window.data_end + _DAY).to_numpy()]


def window_purchases(lines: pd.DataFrame, window: Window) -> pd.DataFrame:
    """``buying_center_id, product_id, order_date, net_value`` of the purchase lines in the
    observed window (dates as calendar days)."""
    bought = purchases(lines, ["buying_center_id", "product_id", "order_date", "net_value"])
    day = bought["order_date"].dt.normalize()
    inside = ((day > window.data_end) & (day <= window.observed_until)).to_numpy()
    out = bought.loc[inside].assign(order_date=day[inside])
    out = out.astype({"buying_center_id": str, "product_id": str, "net_value": float})
    return out.reset_index(drop=True)


# -- outcomes: one row per suggested pair, with bought / revenue / days ------------------------
def suggestion_outcomes(rows: pd.DataFrame, bought: pd.DataFrame, window: Window) -> pd.DataFrame:
    """``country, kind, source, rank, buying_center_id, product_id, bought, revenue, days`` per
    row of ``rows`` (suggestion-shaped: the published table or the counterfactual)."""
    cols = ["country", "kind", "source", "rank", "buying_center_id", "product_id"]
    out = rows[cols].astype({c: str for c in cols if c != "rank"}).reset_index(drop=True)
    first = bought.groupby(["buying_center_id", "product_id"], sort=False).agg(first=("order_date", "min"), revenue=("net_value", "sum"))
    out = out.merge(first.reset_index(), on=["buying_center_id", "product_id"], how="left")
    out["bought"] = out["first"].notna()
    out["revenue"] = out["revenue"].fillna(0.0)
    out["days"] = (out["first"] - window.data_end).dt.days.astype(float)
    return out.drop(columns="first")


def link_outcomes(
    links: pd.DataFrame, kind: str, bought: pd.DataFrame, owned_at_end: pd.DataFrame, country_of: pd.Series
) -> pd.DataFrame:
    """``country, kind, source, rank, buying_center_id, product_id, rec_product_id, bought,
    revenue, days`` per (buying center, link) pair shown in the window (see the module docstring)."""
    first = bought.groupby(["buying_center_id", "product_id"], sort=False)["order_date"].min().rename("d").reset_index()
    first["country"] = country_of.reindex(first["buying_center_id"].to_numpy()).fillna(ALL).replace("", ALL).to_numpy()
    table = links[["country", "product_id", "rank", "rec_product_id", "source"]].astype({"country": str, "product_id": str, "rec_product_id": str, "source": str})
    local = table.loc[table["country"] != ALL, ["country", "product_id"]].drop_duplicates()
    has_local = pd.MultiIndex.from_frame(first[["country", "product_id"]]).isin(pd.MultiIndex.from_frame(local))
    first["link_country"] = np.where(has_local, first["country"].to_numpy(), ALL)
    pairs = first.merge(table.rename(columns={"country": "link_country"}), on=["link_country", "product_id"])
    held = pd.MultiIndex.from_arrays([pairs["buying_center_id"], pairs["rec_product_id"]]).isin(
        pd.MultiIndex.from_frame(owned_at_end[["buying_center_id", "product_id"]])
    )
    pairs = pairs.loc[~held].reset_index(drop=True)
    later = bought.rename(columns={"product_id": "rec_product_id", "order_date": "y"})
    hits = pairs[["buying_center_id", "rec_product_id", "d"]].reset_index().merge(later, on=["buying_center_id", "rec_product_id"])
    hits = hits[hits["y"] >= hits["d"]].groupby("index").agg(y=("y", "min"), revenue=("net_value", "sum"))
    pairs["bought"] = pairs.index.isin(hits.index)
    pairs["revenue"] = hits["revenue"].reindex(pairs.index).fillna(0.0).to_numpy()
    pairs["days"] = (hits["y"].reindex(pairs.index) - pairs["d"]).dt.days.astype(float).to_numpy()
    cols = ["country", "kind", "source", "rank", "buying_center_id", "product_id", "rec_product_id", "bought", "revenue", "days"]
    return pairs.assign(kind=kind)[cols]


# -- the popularity counterfactual -----------------------------------------------------------
def offerable(
    countries: np.ndarray, products: np.ndarray, history: pd.DataFrame, ctx: RecommendContext, cfg: RecommendConfig
) -> np.ndarray:
    """(countries x products) bool: the product passes the tables' business rules in the country,
    with the variant the country orders most (``resolve_variant_codes``, as for a buying center
    that never bought it)."""
    n_c, n_p = len(countries), len(products)
    country = Coded(np.repeat(np.arange(n_c), n_p), np.asarray(countries, dtype=object))
    product = Coded(np.tile(np.arange(n_p), n_c), np.asarray(products, dtype=object))
    variant = resolve_variant_codes(history, ctx, country, product)
    keep = business_rules_keep(ctx, cfg, country, product, variant, table=COUNTERFACTUAL, counts={})
    return keep.reshape(n_c, n_p)


def popularity_counterfactual(
    suggestions: pd.DataFrame, history: pd.DataFrame, customers: pd.DataFrame | None, ctx: RecommendContext, cfg: RecommendConfig
) -> pd.DataFrame:
    """Suggestion-shaped rows (``country, buying_center_id, rank, kind, product_id, source``):
    for each buying center of ``suggestions``, as many products as it was suggested, the
    popularity order of its country (see the module docstring)."""
    per_bc = suggestions.astype({"buying_center_id": str, "country": str}).groupby("buying_center_id", sort=True)
    targets = per_bc.agg(country=("country", "first"), n=("rank", "size")).reset_index()
    owned = owned_pairs(history)
    products = sorted_ids(owned["product_id"])
    if targets.empty or len(products) == 0:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ("country", "buying_center_id", "kind", "product_id", "source")}).assign(rank=pd.Series(dtype="int64"))
    owner_country = buyer_countries(history, customers).reindex(owned["buying_center_id"].to_numpy()).fillna("").to_numpy()
    p = encode(owned["product_id"], products)
    countries = sorted_ids(targets["country"])
    global_counts = np.bincount(p, minlength=len(products))
    ok = offerable(countries, products, history, ctx, cfg)
    id_rank = np.arange(len(products))
    b = encode(targets["buying_center_id"], targets["buying_center_id"].to_numpy(dtype=object))
    row_of_owner = encode(owned["buying_center_id"], targets["buying_center_id"].to_numpy(dtype=object))
    mine = row_of_owner >= 0
    owned_matrix = sp.csr_matrix((np.ones(int(mine.sum())), (row_of_owner[mine], p[mine])), shape=(len(targets), len(products)))
    parts = []
    for j, country in enumerate(countries):
        local = np.bincount(p[owner_country == country], minlength=len(products)) if country != ALL else global_counts
        local = np.where(ok[j], local, 0)
        order = rank_order(local, id_rank)
        rest = rank_order(np.where(ok[j] & (local == 0), global_counts, 0), id_rank)
        order = np.concatenate([order, rest])
        rows = np.flatnonzero(targets["country"].to_numpy() == country)
        n = targets["n"].to_numpy()[rows]
        slots = first_unowned(order, owned_matrix[b[rows]], int(n.max()))
        r, k = np.nonzero((slots >= 0) & (np.arange(slots.shape[1]) < n[:, None]))
        parts.append(
            pd.DataFrame(
                {
                    "country": country,
                    "buying_center_id": targets["buying_center_id"].to_numpy(dtype=object)[rows[r]],
                    "rank": k + 1,
                    "product_id": products[order[slots[r, k]]],
                }
            )
        )
    out = pd.concat(parts, ignore_index=True).assign(kind="cross_sell", source=COUNTERFACTUAL)
    return out.sort_values(["buying_center_id", "rank"], kind="stable").reset_index(drop=True)


# -- long-form summaries ---------------------------------------------------------------------
def _aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, sort=False) if keys else frame.assign(_all=0).groupby("_all")
    out = grouped.agg(
        suggested=("bought", "size"),
        bought=("bought", "sum"),
        revenue=("revenue", "sum"),
        days_to_first_purchase=("days", "median"),
        days_to_first_purchase_mean=("days", "mean"),
    ).reset_index()
    return out.drop(columns="_all", errors="ignore")


def summarise(outcomes: pd.DataFrame, *, table: str, run_id: str, source_totals: bool = True, learned: bool = False) -> pd.DataFrame:
    """``UPTAKE_COLUMNS`` rows of one table's outcomes: every combination of ``DIMS`` as given or
    ``ALL`` (``source_totals=False``: ``source`` is always given, as for the counterfactual),
    plus (``learned``: the table holds curated rows) ``source = learned`` rows of every source
    but ``curated``."""
    frame = outcomes.assign(rank_bucket=rank_bucket(outcomes["rank"]))
    parts = []
    for kept in itertools.product((True, False), repeat=len(DIMS)):
        if not source_totals and not kept[DIMS.index("source")]:
            continue
        keys = [d for d, k in zip(DIMS, kept) if k]
        part = _aggregate(frame, keys).assign(**{d: ALL for d, k in zip(DIMS, kept) if not k})
        if "country" in keys:
            part = part[part["country"] != ALL]  # buying centers without a country: in the totals only
        parts.append(part)
    rest = frame[frame["source"] != CURATED].assign(source=LEARNED)
    if learned and len(rest):
        others = tuple(d for d in DIMS if d != "source")
        for kept in itertools.product((True, False), repeat=len(others)):
            keys = ["source", *(d for d, k in zip(others, kept) if k)]
            part = _aggregate(rest, keys).assign(**{d: ALL for d, k in zip(others, kept) if not k})
            parts.append(part[part["country"] != ALL] if "country" in keys else part)
    wide = pd.concat(parts, ignore_index=True)
    wide["uptake"] = wide["bought"] / wide["suggested"]
    long = wide.melt(id_vars=list(DIMS), value_vars=list(METRICS), var_name="metric", value_name="value").dropna(subset=["value"])
    return long.assign(run_id=run_id, table=table)[list(UPTAKE_COLUMNS)]


def _sorted(uptake: pd.DataFrame) -> pd.DataFrame:
    """Tables in contract order; within a column ``ALL`` first, then by name (the
    counterfactual after the published sources); metrics in ``METRICS`` order."""

    def key(col: pd.Series) -> pd.Series:
        if col.name == "table":
            return col.map({t: i for i, t in enumerate(TABLE_ORDER)})
        if col.name == "rank_bucket":
            return col.map({b: i for i, b in enumerate((ALL, *RANK_BUCKETS))})
        if col.name == "metric":
            return col.map({m: i for i, m in enumerate((*METRICS, DAYS_OBSERVED))})
        first = {ALL: "0", LEARNED: "2", COUNTERFACTUAL: "3"}
        return col.map(lambda v: first.get(v, "1") + str(v))

    out = uptake.sort_values(["table", "country", "kind", "source", "rank_bucket", "metric"], key=key, kind="stable")
    return out.reset_index(drop=True)


def by_rank(outcomes: pd.DataFrame, source: str) -> pd.DataFrame:
    """``source, rank, suggested, bought, uptake`` per exact rank (the plot's data)."""
    out = outcomes.groupby("rank", sort=True).agg(suggested=("bought", "size"), bought=("bought", "sum")).reset_index()
    return out.assign(source=source, uptake=out["bought"] / out["suggested"])[["source", "rank", "suggested", "bought", "uptake"]]


def per_link(outcomes: pd.DataFrame) -> pd.DataFrame:
    """``LINK_UPTAKE_COLUMNS``: each link's pairs over all countries."""
    if outcomes.empty:
        return pd.DataFrame({c: pd.Series(dtype="str" if c in ("kind", "product_id", "rec_product_id") else "float64") for c in LINK_UPTAKE_COLUMNS})
    out = outcomes.groupby(["kind", "product_id", "rec_product_id"], sort=True).agg(
        suggested=("bought", "size"), bought=("bought", "sum"), revenue=("revenue", "sum")
    ).reset_index()
    out["uptake"] = out["bought"] / out["suggested"]
    return out[list(LINK_UPTAKE_COLUMNS)]


# -- one run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """What ``measure`` found for one published run."""

    run_id: str
    window: Window
    uptake: pd.DataFrame
    """``UPTAKE_COLUMNS`` (the contents of ``uptake.csv``)."""
    by_rank: pd.DataFrame
    """Uptake per exact rank of the suggestions (``source`` ALL) and of the counterfactual."""
    links: pd.DataFrame
    """``LINK_UPTAKE_COLUMNS``."""

    def value(self, table: str, metric: str, *, source: str = ALL, country: str = ALL, kind: str = ALL, bucket: str = ALL) -> float | None:
        """One number of ``uptake`` (None when the group is empty)."""
        u = self.uptake
        hit = u[(u["table"] == table) & (u["metric"] == metric) & (u["source"] == source) & (u["country"] == country) & (u["kind"] == kind) & (u["rank_bucket"] == bucket)]
        return float(hit["value"].iloc[0]) if len(hit) else None

    def summary(self) -> dict[str, Any]:
        """The totals (for ``summary.json``, MLflow and the next run's manifest)."""
        w = self.window

        def totals(table: str, source: str = ALL) -> dict[str, float | None]:
            return {m: self.value(table, m, source=source) for m in ("suggested", "bought", "uptake", "revenue", "days_to_first_purchase")}

        published, counterfactual = totals(SUGGESTIONS), totals(SUGGESTIONS, COUNTERFACTUAL)
        lift = None
        if published["uptake"] is not None and counterfactual["uptake"]:
            lift = published["uptake"] / counterfactual["uptake"]
        return {
            "run_id": self.run_id,
            "data_end": str(w.data_end.date()),
            "window_days": w.days,
            "observed_until": str(w.observed_until.date()),
            "days_observed": w.days_observed,
            "complete": w.complete,
            SUGGESTIONS: published,
            COUNTERFACTUAL: counterfactual,
            "lift_over_popularity": lift,
            **{t: totals(t) for t in LINK_TABLES},
        }


def measure(
    run_id: str,
    tables: dict[str, pd.DataFrame],
    lines: pd.DataFrame,
    customers: pd.DataFrame | None,
    ctx: RecommendContext,
    cfg: RecommendConfig,
    window: Window,
) -> Measurement:
    """Measure a published run (``tables``: any of its three tables) on the canonical ``lines``
    over ``window`` (see the module docstring). ``ctx`` holds the product facts as of the run's
    date (``build_context`` on the history), ``cfg`` the business rules the counterfactual passes."""
    history = history_of(lines, window)
    bought = window_purchases(lines, window)
    parts: list[pd.DataFrame] = []
    ranks: list[pd.DataFrame] = []
    suggestions = tables.get(SUGGESTIONS)
    if suggestions is not None and len(suggestions):
        published = suggestion_outcomes(suggestions, bought, window)
        counterfactual = suggestion_outcomes(popularity_counterfactual(suggestions, history, customers, ctx, cfg), bought, window)
        pinned = bool((suggestions["source"] == CURATED).any())
        parts += [
            summarise(published, table=SUGGESTIONS, run_id=run_id, learned=pinned),
            summarise(counterfactual, table=SUGGESTIONS, run_id=run_id, source_totals=False),
        ]
        ranks += [by_rank(published, ALL), by_rank(counterfactual, COUNTERFACTUAL)]
    owned_at_end = owned_pairs(history)
    known = lines.loc[(lines["order_date"] < window.observed_until + _DAY).to_numpy()]
    country_of = buyer_countries(known, customers)
    link_parts = []
    for kind in LINK_TABLES:
        links = tables.get(kind)
        if links is None or links.empty:
            continue
        outcomes = link_outcomes(links, kind, bought, owned_at_end, country_of)
        link_parts.append(outcomes)
        if len(outcomes):
            parts.append(summarise(outcomes, table=kind, run_id=run_id, learned=bool((links["source"] == CURATED).any())))
    measured = {str(t) for p in parts for t in p["table"].unique()}
    parts.append(
        pd.DataFrame({"run_id": run_id, "table": sorted(measured), "country": ALL, "kind": ALL, "source": ALL, "rank_bucket": ALL, "metric": DAYS_OBSERVED, "value": float(window.days_observed)})
    )
    uptake = _sorted(pd.concat(parts, ignore_index=True)).astype({"value": float})
    by_rank_frame = pd.concat(ranks, ignore_index=True) if ranks else pd.DataFrame(columns=["source", "rank", "suggested", "bought", "uptake"])
    links_frame = per_link(pd.concat(link_parts, ignore_index=True) if link_parts else pd.DataFrame(columns=["kind", "product_id", "rec_product_id", "bought", "revenue"]))
    return Measurement(run_id, window, uptake, by_rank_frame, links_frame)
