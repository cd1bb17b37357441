"""Basket evidence of the tables checked against the arules reference rules on the Groceries data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shared_data import shared_data_dir
from xsell.recommend.evidence import pair_evidence

pytestmark = pytest.mark.realdata


def shared_data() -> Path | None:
    return shared_data_dir("groceries/groceries.csv")


def test_pair_evidence_matches_arules_on_groceries():
    root = shared_data()
    if root is None:
        pytest.skip("shared/data/groceries not available")
    baskets = (root / "groceries" / "groceries.csv").read_text(encoding="utf-8").splitlines()
    lines = pd.DataFrame(
        [(f"T{i}", item) for i, basket in enumerate(baskets) for item in basket.split(",")], columns=["order_id", "product_id"]
    )
    lines = lines.assign(
        buying_center_id=lines["order_id"], country="ALL", quantity=1.0, is_return=False, order_date=pd.Timestamp("2024-01-01")
    )
    ref = pd.read_csv(root / "groceries" / "arules_rules_supp0.006_conf0.25_minlen2.csv")
    ref = ref[~ref["lhs"].str.contains(",")].copy()  # one item each side: pairwise rules
    ref["product_id"] = ref["lhs"].str.strip("{}")
    ref["rec_product_id"] = ref["rhs"].str.strip("{}")
    assert len(ref) == 150
    ev = pair_evidence(lines, ref[["product_id", "rec_product_id"]].assign(country="ALL"))
    assert ev["orders_together"].tolist() == ref["count"].tolist()
    assert ev["buyers_both"].tolist() == ref["count"].tolist()  # one buyer per transaction
    assert ev["support"].to_numpy() == pytest.approx(ref["support"].to_numpy(), rel=1e-12)
    assert ev["confidence"].to_numpy() == pytest.approx(ref["confidence"].to_numpy(), rel=1e-12)
    assert ev["lift"].to_numpy() == pytest.approx(ref["lift"].to_numpy(), rel=1e-12)
