"""Publish test data shared by the publish, shop format, site and sales workbook tests (no tests
here): small but realistic suggestion tables (three countries plus ALL, buying centers, umlauts,
``;`` and quotes, a formula-injection product name, negative scores), the product and customer
masters, a workdir as ingest and recommend leave it, and a config file around it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from xsell.config import deep_merge, load_config, parse_override
from xsell.schema import BUYING_CENTER_COLUMNS, CROSS_SELL_COLUMNS, UP_SELL_COLUMNS

COUNTRIES = ("AT", "DE", "FR")
EVIL = '=HYPERLINK("http://evil","x")'
NAMES = {
    "P01": "Sechskantschraube M8; verzinkt",
    "P02": 'Mutter "DIN 934" M8',
    "P03": EVIL,
    "P04": "Dübel Größe XL",
    "P05": "-Rabattset Ösen",
    "P06": "Unterlegscheibe, Edelstahl",
    "P07": "@Kabelbinder 200mm",
    "P08": "Gewindestange M10 <verzinkt> & geölt",
    "P09": "Winkel 90°",
    "P10": "Flachstahl 40x5",
    "P11": "Altes Modell (ausgelaufen)",
    "P12": "Sonderanfertigung Kunde X",
}
ACTIVE = [f"P{i:02d}" for i in range(1, 11)]
"""Sellable products; P11 is discontinued, P12 custom-made."""
BUYING_CENTERS = {"C1/001": ("C1", "DE"), "C1/002": ("C1", "DE"), "C2/001": ("C2", "AT"), "C3/001": ("C3", "FR"), "C4/007": ("C4", "DE")}
CUSTOMER_NAMES = {"C1": "Müller & Söhne <GmbH>", "C2": "Gruber AG", "C3": "", "C4": '=Schmidt "Präzision" KG'}
"""Customer master names; C3 has none (its number stands in), C4's would be a formula."""
SALES_REPS = {"C1/001": "Anna Becker", "C1/002": "Jonas Weber", "C2/001": "Eva Gruber", "C3/001": "", "C4/007": "Anna Becker"}
"""Sales rep per buying center; C3/001 has none."""
ORDER_DATES = {"C1/001": "2026-10-02", "C1/002": "2026-09-15", "C2/001": "2026-08-01", "C3/001": "2026-11-20", "C4/007": "2026-07-07"}
"""Each buying center's last order (a later return of C1/001 does not count)."""


def build_products() -> pd.DataFrame:
    """Product master: two variants per product; P11 discontinued, P12 custom-made,
    P10-B discontinued by date only, P09-B discontinued next year (still active now)."""
    rows = []
    for i, (pid, name) in enumerate(NAMES.items()):
        for v in ("A", "B"):
            off = pd.NaT
            if (pid, v) == ("P10", "B"):
                off = pd.Timestamp("2020-01-31")
            if (pid, v) == ("P09", "B"):
                off = pd.Timestamp("2099-01-01")
            rows.append(
                {
                    "variant_id": f"{pid}-{v}",
                    "product_id": pid,
                    "family": f"F{i % 3}",
                    "list_price": 10.0 * (i + 1) + (v == "B"),
                    "status": "discontinued" if pid == "P11" else "active",
                    "discontinued_on": off,
                    "countries": "" if i % 2 else "DE;AT",
                    "name": f"{name} {v}",
                    "is_custom": pid == "P12",
                }
            )
    return pd.DataFrame(rows)


def build_tables(shift: int = 0) -> dict[str, pd.DataFrame]:
    """Suggestion tables in the contract column order (+ name columns at the end).

    Per country (AT, DE, FR, ALL) and active product i: cross-sell to the next three active
    products (offset by ``shift``), up-sell to the next two products after those.
    """
    cross, up = [], []
    for country in (*COUNTRIES, "ALL"):
        for i, pid in enumerate(ACTIVE):
            for rank in (1, 2, 3):
                rec = ACTIVE[(i + rank + shift) % len(ACTIVE)]
                cross.append(
                    [country, pid, rank, rec, f"{rec}-A", [0.9, 0.5, -0.25][rank - 1], 0.01 * rank, 0.3 / rank,
                     1.5 + rank, "als", f'bought together in {10 - rank} orders; "often"', NAMES[pid], NAMES[rec]]
                )
            for rank in (1, 2):
                rec = ACTIVE[(i + 3 + rank + shift) % len(ACTIVE)]
                up.append([country, pid, rank, rec, f"{rec}-{'A' if rec == 'P10' else 'B'}", 1.0 / rank, 1.2 * rank, "price_band", "größere Ausführung", NAMES[pid], NAMES[rec]])
    bc = []
    for j, (bcid, (cust, country)) in enumerate(BUYING_CENTERS.items()):
        for rank in (1, 2, 3):
            pid = ACTIVE[(2 * j + rank + shift) % len(ACTIVE)]
            anchor = ACTIVE[(2 * j) % len(ACTIVE)]
            bc.append([country, cust, bcid, rank, "cross_sell", pid, f"{pid}-A", anchor, 1.0 / rank,
                       float((j * 7 + rank * 13) % 50 - 10), f"buyers of {NAMES[anchor]} also buy", NAMES[pid]])
    return {
        "cross_sell": pd.DataFrame(cross, columns=[*CROSS_SELL_COLUMNS, "product_name", "rec_product_name"]),
        "up_sell": pd.DataFrame(up, columns=[*UP_SELL_COLUMNS, "product_name", "rec_product_name"]),
        "buying_center_suggestions": pd.DataFrame(bc, columns=[*BUYING_CENTER_COLUMNS, "product_name"]),
    }


TABLES_META = {
    "mlflow_run_id": "abc123def456",
    "tracking_uri": "sqlite:///work/mlflow.db",
    "model_name": "xsell-demo",
    "model_version": "3",
    "config_hash": "f" * 64,
    "input_fingerprints": [{"path": "orders.csv", "sha256": "0" * 64, "rows": 1234, "date_min": "2024-01-01", "date_max": "2024-12-31"}],
}


def write_workdir(workdir: Path, tables: dict[str, pd.DataFrame] | None = None, meta: dict | None = None) -> None:
    """Write what ingest and recommend leave in a workdir: product and customer masters, the
    order lines' columns publish reads, the three tables and tables.json."""
    (workdir / "canonical").mkdir(parents=True, exist_ok=True)
    (workdir / "tables").mkdir(parents=True, exist_ok=True)
    build_products().to_parquet(workdir / "canonical" / "products.parquet")
    customers = pd.DataFrame(
        [(bc, cust, country, "industry", CUSTOMER_NAMES[cust], SALES_REPS[bc]) for bc, (cust, country) in BUYING_CENTERS.items()],
        columns=["buying_center_id", "customer_id", "country", "segment", "customer_name", "sales_rep"],
    )
    customers.to_parquet(workdir / "canonical" / "customers.parquet")
    lines = [(bc, pd.Timestamp("2026-01-05"), country, "EUR", False) for bc, (_, country) in BUYING_CENTERS.items()]
    lines += [(bc, pd.Timestamp(day), BUYING_CENTERS[bc][1], "EUR", False) for bc, day in ORDER_DATES.items()]
    lines += [("C1/001", pd.Timestamp("2026-11-01"), "DE", "EUR", True), ("C3/001", pd.Timestamp("2026-02-01"), "FR", "", False)]
    pd.DataFrame(lines, columns=["buying_center_id", "order_date", "country", "currency", "is_return"]).to_parquet(workdir / "canonical" / "order_lines.parquet")
    for name, frame in (tables if tables is not None else build_tables()).items():
        frame.to_parquet(workdir / "tables" / f"{name}.parquet")
    (workdir / "tables" / "tables.json").write_text(json.dumps(meta if meta is not None else TABLES_META))


def make_config(root: Path, *overrides: str):
    """Config file ``root/xsell.yaml`` (``workdir: work``, ``publish.outputs: out``) with the
    ``--set``-style ``overrides`` written into it, so the CLI sees them too; returns (cfg, path)."""
    raw = {"workdir": "work", "data": {"order_lines": "exports/*.csv"}, "publish": {"outputs": "out"}}
    for text in overrides:
        raw = deep_merge(raw, parse_override(text))
    path = root / "xsell.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_config(path), path
