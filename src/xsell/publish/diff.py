"""What changed between two published runs (pure functions, no I/O)."""

from __future__ import annotations

import pandas as pd

from xsell.publish.tables import LINK_KEYS

DIFF_COLUMNS: tuple[str, ...] = ("table", "country", "key", "item", "change", "rank_a", "rank_b")
CHANGES: tuple[str, ...] = ("added", "dropped", "moved")


def diff_runs(tables_a: dict[str, pd.DataFrame], tables_b: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Links that differ from run A (old) to run B (new), one row per link.

    A link is (table, country, key, item): key is the product (``cross_sell``, ``up_sell``) or
    the buying center (``buying_center_suggestions``), item the linked product. ``change`` is
    ``added`` (only in B), ``dropped`` (only in A) or ``moved`` (in both, other rank). Tables
    present in only one run count wholly as added or dropped. Columns: ``DIFF_COLUMNS``.
    """
    parts = []
    for table in sorted(set(tables_a) | set(tables_b)):
        owner, item = LINK_KEYS[table]
        sides = []
        for tables in (tables_a, tables_b):
            frame = tables.get(table)
            cols = ["country", owner[-1], item, "rank"]
            frame = pd.DataFrame(columns=cols) if frame is None else frame[cols]
            frame = frame.astype({"country": object, owner[-1]: object, item: object, "rank": "Int64"})
            frame = frame.sort_values("rank", kind="mergesort").drop_duplicates(["country", owner[-1], item])
            sides.append(frame.rename(columns={owner[-1]: "key", item: "item"}))
        merged = sides[0].merge(sides[1], on=["country", "key", "item"], how="outer", suffixes=("_a", "_b"))
        change = pd.Series(pd.NA, index=merged.index, dtype=object)
        change[merged["rank_a"].isna()] = "added"
        change[merged["rank_b"].isna()] = "dropped"
        change[merged["rank_a"].notna() & merged["rank_b"].notna() & (merged["rank_a"] != merged["rank_b"])] = "moved"
        merged = merged.assign(table=table, change=change).dropna(subset=["change"])
        parts.append(merged)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(DIFF_COLUMNS))
    out = out[list(DIFF_COLUMNS)].astype({"rank_a": "Int64", "rank_b": "Int64"})
    return out.sort_values(["table", "country", "key", "change", "item"], kind="mergesort").reset_index(drop=True)


def summarise_diff(changes: pd.DataFrame) -> pd.DataFrame:
    """Counts of added / dropped / moved links per table and country (one row each)."""
    counts = changes.groupby(["table", "country", "change"]).size().unstack("change", fill_value=0)
    counts = counts.reindex(columns=list(CHANGES), fill_value=0).astype("int64")
    counts.columns.name = None
    return counts.reset_index()
