"""Benchmark: ``build_interactions`` + ``mine_pair_rules`` vs mlxtend fpgrowth on the same baskets.

Usage (from the repo root)::

    PYTHONPATH=src python benchmarks/bench_rules.py                      # synthetic ~2M lines
    PYTHONPATH=src python benchmarks/bench_rules.py --source online-retail
    PYTHONPATH=src python benchmarks/bench_rules.py --source work/demo/canonical/order_lines.parquet

Target (demo ``medium``: ~2M lines, 200k variants, 20k buying centers): matrices + rules
< 30 s on 2 cores (``benchmarks/run.py --scale medium`` checks it on the demo data). mlxtend
(``fpgrowth(max_len=2)`` + ``association_rules``, i.e. the same pair rules) runs in a fresh
process capped at ``--mlxtend-timeout`` seconds and 12 GiB resident, so the speed-up is a ratio
measured in the same run. Peak MiB is this process's (data generation included).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import measure, run_mlxtend
from xsell.interactions.build import build_interactions
from xsell.interactions.config import InteractionsConfig
from xsell.models.config import RulesConfig
from xsell.models.rules import mine_pair_rules


def synthetic_lines(
    n_lines: int = 2_000_000, n_buyers: int = 20_000, n_products: int = 20_000, variants_per_product: int = 10,
    custom_share: float = 0.2, return_share: float = 0.03, seed: int = 0,
) -> pd.DataFrame:
    """Canonical order lines shaped like the demo ``medium`` scale.

    Orders of ~5 lines; buyers and products Zipf-popular; 70% of an order's lines come from
    the order's product family (20 products), so pairs recur; a share of lines are custom-made
    one-off variants; a share of lines are returned in separate ``R`` orders.
    """
    rng = np.random.default_rng(seed)
    n_orders = n_lines // 5
    order_of_line = np.sort(rng.integers(0, n_orders, n_lines))
    buyer_of_order = np.minimum(rng.zipf(1.3, n_orders) - 1, n_buyers - 1)
    buyer_of_order = rng.permutation(n_buyers)[buyer_of_order]
    family_of_order = rng.integers(0, n_products // 20, n_orders)
    in_family = rng.random(n_lines) < 0.7
    popular = rng.permutation(n_products)[np.minimum(rng.zipf(1.2, n_lines) - 1, n_products - 1)]
    product = np.where(in_family, family_of_order[order_of_line] * 20 + rng.integers(0, 20, n_lines), popular)
    variant_no = np.minimum(rng.zipf(1.5, n_lines) - 1, variants_per_product - 1)
    custom = rng.random(n_lines) < custom_share
    product_id = pd.Series(product).map("P{:06d}".format)
    variant_id = np.where(
        custom, "C" + pd.Series(np.arange(n_lines)).astype(str), product_id + "-" + pd.Series(variant_no).astype(str)
    )
    day = np.sort(rng.integers(0, 3 * 365, n_orders))[order_of_line]
    quantity = rng.integers(1, 20, n_lines).astype(float)
    lines = pd.DataFrame({
        "order_id": pd.Series(order_of_line).map("{:07d}".format),
        "order_date": np.datetime64("2022-01-01") + day.astype("timedelta64[D]"),
        "buying_center_id": pd.Series(buyer_of_order[order_of_line]).map("BC{:05d}".format),
        "variant_id": variant_id,
        "product_id": product_id,
        "quantity": quantity,
        "net_value": quantity * 10.0,
        "is_custom": custom,
        "is_return": False,
    })
    returned = lines[rng.random(n_lines) < return_share]
    returns = returned.assign(
        order_id="R" + returned["order_id"], order_date=returned["order_date"] + pd.Timedelta(days=14),
        quantity=-returned["quantity"], net_value=-returned["net_value"], is_return=True,
    )
    return pd.concat([lines, returns], ignore_index=True)


def online_retail_lines(path: Path) -> pd.DataFrame:
    """UCI Online Retail (I) mapped to canonical columns (rows without a customer dropped).

    StockCode is the variant; its leading digits the product; cancellations (``C`` invoices)
    are returns.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw = raw[raw["CustomerID"] != ""]
    quantity = raw["Quantity"].astype(float)
    stock = raw["StockCode"].str.strip().str.upper()
    base = stock.str.extract(r"^(\d+)", expand=False)
    return pd.DataFrame({
        "order_id": raw["InvoiceNo"],
        "order_date": pd.to_datetime(raw["InvoiceDate"]),
        "buying_center_id": raw["CustomerID"].astype(float).astype(int).astype(str),
        "variant_id": stock,
        "product_id": base.fillna(stock),
        "quantity": quantity,
        "net_value": quantity * raw["UnitPrice"].astype(float),
        "is_custom": False,
        "is_return": raw["InvoiceNo"].str.startswith("C") | (quantity < 0),
    }).reset_index(drop=True)


def main(
    lines: pd.DataFrame, interactions: InteractionsConfig | None = None, rules: RulesConfig | None = None,
    *, mlxtend_timeout: float | None = 600.0,
) -> dict:
    """Time matrices and rules on ``lines``; run mlxtend on the same baskets unless the timeout is None."""
    interactions = interactions or InteractionsConfig()
    rules = rules or RulesConfig()
    with measure() as build:
        it = build_interactions(lines, interactions)
    with measure() as mine:
        table = mine_pair_rules(it.order_products, rules)
    out = {
        "lines": len(lines),
        "buying_centers": it.buyer_products.shape[0],
        "variant_columns": it.buyer_variants.shape[1],
        "products": it.buyer_products.shape[1],
        "baskets": it.order_products.shape[0],
        "basket_nnz": int(it.order_products.matrix.nnz),
        "rules": len(table),
        "build_interactions_s": round(build.seconds, 2),
        "mine_pair_rules_s": round(mine.seconds, 2),
        "total_s": round(build.seconds + mine.seconds, 2),
        "peak_rss_mib": round(mine.peak_mib),
    }
    if mlxtend_timeout is not None:
        with tempfile.TemporaryDirectory() as tmp:
            npz = Path(tmp) / "baskets.npz"
            it.order_products.save(npz)
            ml = run_mlxtend(npz, rules.min_support_count, log_file=Path(tmp) / "mlxtend.log", timeout=mlxtend_timeout)
        out["mlxtend"] = {"status": ml.status, "wall_seconds": round(ml.wall_seconds, 1), **ml.result}
        if ml.result.get("seconds"):
            out["speedup_rules_vs_mlxtend"] = round(ml.result["seconds"] / max(mine.seconds, 1e-9), 1)
    return out


def _cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="synthetic", help="synthetic | online-retail | path to order_lines.parquet")
    p.add_argument("--lines", type=int, default=2_000_000, help="synthetic only")
    p.add_argument("--min-support-count", type=int, default=RulesConfig().min_support_count)
    p.add_argument("--mlxtend-timeout", type=float, default=600.0, help="seconds; 0 skips mlxtend")
    args = p.parse_args()
    t0 = time.perf_counter()
    if args.source == "synthetic":
        lines = synthetic_lines(args.lines)
    elif args.source == "online-retail":
        root = Path(os.environ.get("XSELL_SHARED_DATA", "/work/shared/data"))
        lines = online_retail_lines(root / "online_retail" / "online_retail_I.csv.gz")
    else:
        lines = pd.read_parquet(args.source)
    print(f"loaded {len(lines):,} lines in {time.perf_counter() - t0:.1f} s", flush=True)
    result = main(
        lines, rules=RulesConfig(min_support_count=args.min_support_count),
        mlxtend_timeout=args.mlxtend_timeout or None,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    _cli()
