"""Foundation pieces: vocabulary, matrix persistence, run lock, CLI usage errors."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from xsell.cli import main
from xsell.errors import LockedError
from xsell.interactions.matrix import InteractionMatrix
from xsell.lock import RunLock
from xsell.vocab import Vocabulary


def test_vocabulary_maps_both_ways_and_is_immutable():
    v = Vocabulary(["b", "a", "c"])
    assert v.index(["c", "b"]).tolist() == [2, 0]
    assert v.id_of([1, 2]).tolist() == ["a", "c"]
    assert v.index(["zz", "a"], missing="ignore").tolist() == [-1, 1]
    with pytest.raises(KeyError, match="zz"):
        v.index(["zz"])
    with pytest.raises(ValueError):
        v.ids[0] = "x"
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])


def test_vocabulary_from_values_is_sorted_and_stringified():
    v = Vocabulary.from_values([3, 1, 3, 2])
    assert v.ids.tolist() == ["1", "2", "3"]
    assert "2" in v and 2 in v and "9" not in v


def test_vocabulary_takes_every_array_kind_the_stages_pass():
    kinds = [
        np.array(["b", "a"]),  # numpy unicode
        np.array(["b", "a"], dtype=object),
        pd.Series(["b", "a"], dtype="string"),  # pyarrow-backed in pandas 3
        pd.Index(["b", "a"]),
        ["b", "a"],
    ]
    for values in kinds:
        assert Vocabulary.from_values(values).ids.tolist() == ["a", "b"]
        assert Vocabulary(values).index(values).tolist() == [0, 1]
    mixed = np.array([10, "10", 2.5], dtype=object)  # every id is compared as its str()
    assert Vocabulary.from_values(mixed).ids.tolist() == ["10", "2.5"]
    source = np.array(["x", "y"], dtype=object)
    v = Vocabulary(source)
    source[0] = "changed"
    assert v.ids.tolist() == ["x", "y"]


def test_interaction_matrix_round_trips_without_pickle(tmp_path):
    m = sp.csr_matrix(np.array([[0, 1.5, 0], [2.0, 0, 3.0]], dtype=np.float32))
    im = InteractionMatrix(m, Vocabulary(["bc1", "bc2"]), Vocabulary(["p1", "p2", "p3"]))
    im.save(tmp_path / "m.npz")
    back = InteractionMatrix.load(tmp_path / "m.npz")
    assert back.rows == im.rows and back.cols == im.cols
    assert (back.matrix != im.matrix).nnz == 0
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:  # would raise if pickled objects
        assert set(z.files) >= {"data", "indices", "indptr", "rows", "cols"}
    with pytest.raises(ValueError, match="shape"):
        InteractionMatrix(m, Vocabulary(["bc1"]), im.cols)


def test_lock_refuses_a_second_holder_and_frees_after_kill(tmp_path, caplog):
    lock = tmp_path / "out" / ".nightly.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from xsell.lock import RunLock\n"
         f"with RunLock({str(lock)!r}, what='nightly'):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"nightly, pid {holder.pid}"):
            with RunLock(lock, what="nightly"):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    caplog.set_level(logging.INFO, logger="xsell.lock")
    with RunLock(lock, what="nightly"):
        pass
    assert f"previous holder nightly, pid {holder.pid}" in caplog.text


def test_cli_usage_and_config_errors_exit_2(tmp_path, capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  order_lines: x.csv\n  colums: {}\n")
    assert main(["ingest", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'data.colums'" in err and str(cfg) in err
    assert main(["ingest", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_every_config_key_is_documented_and_listed_by_the_cli(capsys):
    from xsell.config import reference

    rows = reference()
    keys = {k for k, _, _ in rows}
    # the contract keys named in the issues are all there
    for key in ("workdir", "data.order_lines", "data.products", "data.customers", "data.columns",
                "data.variant_to_product", "mlflow.tracking_uri", "mlflow.experiment", "publish.outputs",
                "evaluation.test_days", "evaluation.cutoff", "ingest.max_rejected_share"):
        assert key in keys
    undocumented = [k for k, _, doc in rows if not doc]
    assert undocumented == []
    assert main(["config", "reference"]) == 0
    out = capsys.readouterr().out
    assert "data.order_lines = (required)" in out and "ingest.max_rejected_share = 0.05" in out


def test_progress_logs_plain_lines_off_a_terminal_and_stage_lines_carry_counts(caplog):
    from xsell.progress import progress, stage

    caplog.set_level(logging.INFO, logger="xsell.progress")
    seen = list(progress(range(20), desc="work"))  # pytest's stderr is no TTY: plain lines
    assert seen == list(range(20))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("work:")]
    assert [line.split()[1] for line in lines] == [f"{i}/20" for i in range(2, 21, 2)]  # every 10%
    caplog.clear()
    with stage("ingest") as report:
        report.counts["rows"] = 1234
    start, end = (r.getMessage() for r in caplog.records)
    assert start == "ingest: start"
    assert end.startswith("ingest: done (rows=1,234) in ") and "peak" in end


@pytest.mark.parametrize(
    "argv",
    [["-q", "run", "nightly", "--config", "c.yaml"], ["run", "nightly", "--config", "c.yaml", "-q"],
     ["run", "-q", "nightly", "--config", "c.yaml"], ["links", "review", "--config", "c.yaml", "--out", "o.csv", "--quiet"]],
    ids=["before", "after", "between", "nested-command"],
)
def test_global_options_work_before_and_after_the_command(argv):
    """Issue 11, item 1: README's cron lines end in ``-q``; it was an unrecognized argument."""
    from xsell.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.quiet is True and args.verbose is False
    verbose = build_parser().parse_args(["config", "reference", "-v"])
    assert verbose.verbose is True and verbose.quiet is False


def test_usage_errors_are_one_line_without_a_doubled_prefix(capsys):
    assert main(["run", "nightly", "--config", "c.yaml", "--bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "xsell: error: unrecognized arguments: --bogus (see `xsell --help`)"
    assert main(["run", "nightly"]) == 2
    assert capsys.readouterr().err.strip() == "xsell: error: the following arguments are required: --config/-c (see `xsell run --help`)"


def test_isin_matches_pandas_on_text_ids():
    from xsell.frames import isin

    values = pd.Series(["a", None, "b", "c", "a"], dtype="str")
    for candidates in (pd.Series(["a", None]), pd.Index(["c"]), np.array(["b", "a"], dtype=object), [], ["zz"]):
        expected = values.astype(object).isin(list(candidates)).to_numpy()
        assert isin(values, candidates).tolist() == expected.tolist()
    assert isin(pd.Index(["x", "y"]), ["y"]).tolist() == [False, True]


def test_rows_at_is_iloc_and_a_view_for_one_run(tiny_demo_lines):
    """``rows_at`` gives ``iloc``'s rows (index labels included) for any ascending positions; one run of
    rows comes as a slice sharing the frame's data, other positions as a copy."""
    from xsell.frames import rows_at

    frame = tiny_demo_lines.sort_values("order_date", kind="mergesort").reset_index(drop=True).set_index(np.arange(len(tiny_demo_lines)) * 3)
    n = len(frame)
    for positions in (np.arange(2, n - 1), np.array([0, 2, 3]), np.array([n - 1]), np.arange(0), np.arange(n), np.array([1, 2, n - 1])):
        pd.testing.assert_frame_equal(rows_at(frame, positions), frame.iloc[positions])
    numbers = frame.select_dtypes("number").columns[0]
    assert np.shares_memory(rows_at(frame, np.arange(2, n - 1))[numbers].to_numpy(), frame[numbers].to_numpy())
    assert not np.shares_memory(rows_at(frame, np.array([0, 2, 3]))[numbers].to_numpy(), frame[numbers].to_numpy())


def _most_frequent_by_groupby(frame: pd.DataFrame, key: str, col: str) -> pd.Series:
    """``most_frequent`` spelled out with pandas: count (key, text) pairs, most first, then text."""
    texts = frame[col].astype(object).fillna("").astype(str)
    keys = frame[key].astype(object)
    counts = pd.DataFrame({"k": keys, "v": texts})[(texts != "").to_numpy() & keys.notna().to_numpy()].value_counts().rename("n").reset_index()
    counts["k"] = counts["k"].astype(str)
    best = counts.sort_values(["k", "n", "v"], ascending=[True, False, True]).drop_duplicates("k")
    return pd.Series(best["v"].to_numpy(dtype=object), index=pd.Index(best["k"].to_numpy(dtype=object), name=key), name=col, dtype=object)


def test_dictionary_encoded_keeps_values_and_sorts_like_the_strings(tiny_demo_lines):
    """The demo's ids as categoricals: the same values row for row, the codes in text order
    (sorting and ``factorize(sort=True)`` agree with the strings), missing stays missing.
    ``most_frequent`` gives the same on both columns and equals a plain pandas count (ties:
    alphabetically first)."""
    from xsell.frames import dictionary_encoded, most_frequent

    lines = tiny_demo_lines.reset_index(drop=True)
    ids = lines["product_id"].astype(object).where(np.arange(len(lines)) % 7 != 3, None)  # some missing
    for column in (ids.astype("str"), ids):
        coded = dictionary_encoded(column)
        assert coded.dtype == "category" and coded.index.equals(ids.index)
        assert coded.astype(object).where(coded.notna(), None).tolist() == ids.tolist()
        assert list(coded.cat.categories) == sorted(ids.dropna().unique())
        codes, uniques = pd.factorize(coded, sort=True)
        assert codes.tolist() == pd.factorize(ids, sort=True)[0].tolist() and list(uniques) == sorted(ids.dropna().unique())
        assert coded.sort_values(kind="stable").index.tolist() == ids.astype(str).where(ids.notna(), "~").sort_values(kind="stable").index.tolist()

    encoded = lines.assign(buying_center_id=dictionary_encoded(lines["buying_center_id"]), country=dictionary_encoded(lines["country"]))
    for key, col in (("buying_center_id", "country"), ("buying_center_id", "product_id"), ("country", "variant_id")):
        expected = _most_frequent_by_groupby(lines, key, col)
        pd.testing.assert_series_equal(most_frequent(lines, key, col), expected)
        pd.testing.assert_series_equal(most_frequent(encoded, key, col), expected)


def test_parquet_parts_read_back_as_their_concatenation_and_a_failed_write_keeps_the_old_file(tmp_path, tiny_demo_lines):
    from xsell.io.writers import write_parquet_parts

    lines = tiny_demo_lines.reset_index(drop=True)
    parts = [lines.iloc[i : i + 97] for i in range(0, len(lines), 97)]
    path = tmp_path / "lines.parquet"
    assert write_parquet_parts(path, iter(parts)) == len(lines)
    pd.testing.assert_frame_equal(pd.read_parquet(path), lines)
    assert pd.read_parquet(path).equals(pd.read_parquet(_written(tmp_path / "whole.parquet", lines)))

    def failing():
        yield parts[0]
        raise RuntimeError("block 2 failed")

    with pytest.raises(RuntimeError, match="block 2"):
        write_parquet_parts(path, failing())
    pd.testing.assert_frame_equal(pd.read_parquet(path), lines)  # the previous file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines.parquet", "whole.parquet"]  # no temp file left
    with pytest.raises(ValueError, match="no parts"):
        write_parquet_parts(tmp_path / "none.parquet", iter([]))


def _written(path, frame):
    frame.to_parquet(path, index=False)
    return path
