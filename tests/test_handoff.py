"""The encoded lines evaluate hands to score: taken once, and only while the files are unchanged."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xsell.interactions.build import buyer_countries, encode_lines
from xsell.steps import handoff


def _files(tmp_path: Path, lines: pd.DataFrame) -> list[Path]:
    path = tmp_path / "order_lines.parquet"
    lines.to_parquet(path)
    return [path, tmp_path / "customers.parquet"]  # no customer master: absent both times


def test_the_offer_is_taken_once_for_the_same_files(tmp_path: Path, retail_lines: pd.DataFrame) -> None:
    files = _files(tmp_path, retail_lines)
    coded, countries = encode_lines(retail_lines), buyer_countries(retail_lines)
    handoff.offer(files, coded, countries)
    handed = handoff.take(files)
    assert handed is not None and handed.coded is coded and handed.countries is countries
    assert handoff.take(files) is None  # taken: no longer held


def test_changed_files_or_a_drop_are_never_handed(tmp_path: Path, retail_lines: pd.DataFrame) -> None:
    files = _files(tmp_path, retail_lines)
    coded, countries = encode_lines(retail_lines), buyer_countries(retail_lines)
    handoff.offer(files, coded, countries)
    retail_lines.iloc[:-1].to_parquet(files[0])  # ingest wrote new lines since
    assert handoff.take(files) is None
    handoff.offer(files, coded, countries)
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same size, rewritten later
    assert handoff.take(files) is None
    handoff.offer(files, coded, countries)
    (tmp_path / "customers.parquet").write_bytes(b"")  # a customer master appeared
    assert handoff.take(files) is None
    handoff.offer(files, coded, countries)
    handoff.drop()
    assert handoff.take(files) is None


def test_recommend_takes_the_ids_score_hands_on_and_gets_what_it_reads_itself(
    tmp_path: Path, tiny_demo_lines: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """The lines ``recommend`` builds from the handed-on codes equal, column for column (dtypes
    and categories included), those it reads and codes itself; handed-on codes of other lines
    than the file's are not used."""
    from xsell.io.layout import Workdir
    from xsell.io.readers import read_canonical
    from xsell.schema import LEARNING_LINE_COLUMNS
    from xsell.steps.recommend import _read_lines

    wd = Workdir(tmp_path / "work")
    wd.canonical.mkdir(parents=True)
    tiny_demo_lines.to_parquet(wd.order_lines)
    files = [wd.order_lines, wd.customers]
    fresh, no_countries = _read_lines(wd)  # nothing offered: read and coded here
    assert no_countries is None
    learning = read_canonical(wd.order_lines, columns=list(LEARNING_LINE_COLUMNS))
    assert learning is not None
    handoff.offer(files, encode_lines(learning), buyer_countries(learning))
    with caplog.at_level(logging.INFO, logger="xsell.steps.recommend"):
        taken, countries = _read_lines(wd)
    assert countries is not None and countries.equals(buyer_countries(learning))  # handed on with them
    assert "buying_center_id, product_id, variant_id, order_id as score encoded them" in caplog.text
    assert handoff.take(files) is None  # taken
    pd.testing.assert_frame_equal(taken, fresh)
    assert isinstance(taken["variant_id"].dtype, pd.CategoricalDtype) and taken["order_id"].dtype == fresh["order_id"].dtype
    # codes of the lines in another order (a file changed in place within the same second, say): read again
    shuffled = learning.iloc[::-1].reset_index(drop=True)
    handoff.offer(files, encode_lines(shuffled), buyer_countries(shuffled))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="xsell.steps.recommend"):
        reread, countries = _read_lines(wd)
    pd.testing.assert_frame_equal(reread, fresh)
    assert countries is None
    assert "do not match" in caplog.text and "as score encoded them" not in caplog.text


def test_order_codes_renumbered_by_first_appearance_as_factorizing_the_ids_numbers_them() -> None:
    from xsell.steps.recommend import _first_appearance

    rng = np.random.default_rng(3)
    ids = np.array(["O7", "O1", "O3", "O9", "O2"], dtype=object)
    for _ in range(20):
        codes = rng.integers(-1, len(ids), 30)
        texts = pd.Series(np.where(codes >= 0, ids[np.maximum(codes, 0)], None), dtype="str")
        assert _first_appearance(codes).tolist() == pd.factorize(texts)[0].tolist()
