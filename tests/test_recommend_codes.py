"""Int codes of string ids (``xsell.recommend.codes``) against plain pandas on the strings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsell.recommend.codes import Coded, encode, member, pair_map, sorted_ids

IDS = pd.Series(["P10", "P2", "Ä1", "p1", "P2", None, "P10", "Z", "P1"], dtype="str")


def test_sorting_codes_sorts_the_ids_like_pandas():
    coded = Coded.of(IDS)
    present = IDS.dropna()
    by_codes = present.iloc[np.argsort(coded.codes[present.index], kind="stable")].tolist()
    assert by_codes == present.sort_values(kind="stable").tolist()
    assert coded.codes[IDS.isna().to_numpy()].tolist() == [-1]
    assert coded.strings("-").tolist() == IDS.fillna("-").tolist()


def test_encode_and_member_match_index_lookups():
    ids = sorted_ids(IDS, np.array(["Q"], dtype=object))
    assert ids.tolist() == sorted({"P10", "P2", "Ä1", "p1", "Z", "P1", "Q"})
    values = pd.Series(["Q", "P2", "nope", None, "Ä1"], dtype="str")
    expected = pd.Index(ids).get_indexer(values.fillna("<missing>"))
    assert encode(values, ids).tolist() == expected.tolist()
    assert member(values, IDS).tolist() == values.isin(IDS.dropna()).tolist()


def test_pair_map_equals_row_wise_evaluation():
    a = Coded.of(pd.Series(["DE", "FR", "DE", None, "FR", "DE"], dtype="str"))
    b = Coded.of(pd.Series(["P1", "P1", "P1", "P2", "P3", "P3"], dtype="str"))
    calls = []

    def fn(left: pd.Series, right: pd.Series) -> np.ndarray:
        calls.append(len(left))
        return (left + "/" + right).to_numpy()

    out = pair_map(a, b, fn)
    assert out.tolist() == ["DE/P1", "FR/P1", "DE/P1", "/P2", "FR/P3", "DE/P3"]
    assert calls == [5]  # once per distinct pair, not per row
