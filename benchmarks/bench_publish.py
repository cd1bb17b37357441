"""Benchmark of ``xsell publish`` on generated suggestion tables of a realistic size.

    python benchmarks/bench_publish.py --products 20000 --countries 5 --buying-centers 20000

Prints rows per table, seconds and peak memory of one publish, per-format write seconds, and
the seconds of ``verify``. Nothing is asserted: targets are read off the printed numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from common import measure
from xsell.config import config_from_dict
from xsell.schema import BUYING_CENTER_COLUMNS, CROSS_SELL_COLUMNS, UP_SELL_COLUMNS
from xsell.steps.publish import run_publish, verify


def _ids(prefix: str, idx: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(idx.astype(str), 6))


def generate(workdir: Path, n_products: int, n_countries: int, n_bc: int, seed: int = 0) -> dict[str, int]:
    """Write products, customers and the three tables (top 10 / top 5 / top 20) into ``workdir``."""
    rng = np.random.default_rng(seed)
    pids = _ids("P", np.arange(n_products))
    products = pd.DataFrame(
        {
            "variant_id": np.char.add(pids, "-A"), "product_id": pids, "family": "F1",
            "list_price": rng.uniform(1, 500, n_products), "status": "active", "discontinued_on": pd.NaT,
            "countries": "", "name": np.char.add("Artikel Größe ", pids), "is_custom": False,
        }
    )
    countries = np.array([f"C{i}" for i in range(n_countries)] + ["ALL"])

    def product_table(top: int, columns: tuple[str, ...]) -> pd.DataFrame:
        n = len(countries) * n_products * top
        src = np.tile(np.repeat(np.arange(n_products), top), len(countries))
        rec = (src + 1 + np.tile(np.arange(top), len(countries) * n_products)) % n_products
        frame = pd.DataFrame(
            {
                "country": np.repeat(countries, n_products * top), "product_id": pids[src],
                "rank": np.tile(np.arange(1, top + 1), len(countries) * n_products), "rec_product_id": pids[rec],
                "rec_variant_id": np.char.add(pids[rec], "-A"), "score": rng.normal(size=n), "support": rng.uniform(size=n),
                "confidence": rng.uniform(size=n), "lift": rng.uniform(1, 5, n), "price_ratio": rng.uniform(1.1, 2.5, n),
                "source": "als", "reason": "bought together; \"often\"",
            }
        )
        return frame[list(columns)].assign(rec_product_name=np.char.add("=Artikel ", pids[rec]))

    bc_idx = np.repeat(np.arange(n_bc), 20)
    bc = pd.DataFrame(
        {
            "country": countries[bc_idx % n_countries], "customer_id": _ids("K", bc_idx // 3), "buying_center_id": _ids("B", bc_idx),
            "rank": np.tile(np.arange(1, 21), n_bc), "kind": "cross_sell", "product_id": pids[(bc_idx * 7 + np.tile(np.arange(20), n_bc)) % n_products],
            "variant_id": None, "anchor_product_id": None, "score": rng.normal(size=len(bc_idx)),
            "expected_value": rng.gamma(2.0, 100.0, len(bc_idx)), "reason": "peers buy this",
        }
    )[list(BUYING_CENTER_COLUMNS)]
    tables = {"cross_sell": product_table(10, CROSS_SELL_COLUMNS), "up_sell": product_table(5, UP_SELL_COLUMNS), "buying_center_suggestions": bc}
    (workdir / "canonical").mkdir(parents=True)
    (workdir / "tables").mkdir(parents=True)
    products.to_parquet(workdir / "canonical" / "products.parquet")
    for name, frame in tables.items():
        frame.to_parquet(workdir / "tables" / f"{name}.parquet")
    (workdir / "tables" / "tables.json").write_text(json.dumps({"model_name": "bench"}))
    return {name: len(frame) for name, frame in tables.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--countries", type=int, default=5)
    parser.add_argument("--buying-centers", type=int, default=20000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = generate(root / "work", args.products, args.countries, args.buying_centers)
        print("rows:", rows)
        guard = {"min_coverage": {}, "max_churn": 1.0}
        pids = pd.read_parquet(root / "work" / "canonical" / "products.parquet")["product_id"].unique()
        pd.DataFrame({"product_number": pids, "id": [uuid.uuid5(uuid.NAMESPACE_URL, p).hex for p in pids]}).to_csv(root / "ids.csv", sep=";", index=False)
        pd.DataFrame({"product_id": pids, "handle": [p.lower() for p in pids]}).to_csv(root / "handles.csv", index=False)
        shop_settings = {
            "shopware": {"product_ids": "ids.csv"}, "shopify": {"handles": "handles.csv"},
            "sap_commerce": {"catalog_id": "benchCatalog"}, "bmecat": {"catalog_id": "BENCH", "supplier_name": "Bench"},
        }
        all_shop = ["jsonl", "magento", "shopware6", "sap_impex", "bmecat", "shopify"]
        for formats, shop in (
            (["parquet"], []), (["csv"], []), (["xlsx"], []), ([], ["jsonl", "magento"]), ([], ["shopware6", "shopify"]),
            ([], ["sap_impex", "bmecat"]), (["csv", "parquet", "xlsx"], all_shop),
        ):
            name = "-".join(formats + shop)
            publish = {"outputs": f"out-{name}", "formats": formats, "shop_formats": shop, "guardrails": guard, **shop_settings}
            cfg = config_from_dict({"workdir": "work", "data": {"order_lines": "x.csv"}, "publish": publish}, base_dir=root)
            with measure() as pub:
                result = run_publish(cfg, now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
            size = sum(p.stat().st_size for p in result.run_dir.rglob("*") if p.is_file()) / 2**20
            with measure() as ver:
                verify(cfg, None)
            print(f"formats={','.join(formats + shop):58s} publish {pub.seconds:6.1f} s  verify {ver.seconds:6.1f} s  {size:7.1f} MiB  peak {ver.peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
