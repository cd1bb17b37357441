"""The encoded lines evaluate hands to score: taken once, and only while the files are unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

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
