"""Faults an unattended run meets (issue 11, items 12, 19, 20, 21; issue 12, item 4): a full
disk, corrupt state files, a kill in the middle of the ingest's write phase, MLflow runs left
RUNNING, output folders that are files or read-only. Every fault is real: a small tmpfs
(where this machine lets us mount one, else a file size limit set with ``setrlimit``), a
SIGKILL to a real process, a read-only mount."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fault_helpers import kill_at_test_pause
from xsell.faults import pause_env

pytestmark = pytest.mark.slow  # each test runs xsell in subprocesses and injects a fault

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
HEADER = "order_id,order_date,buying_center_id,variant_id,quantity,unit_price\n"


def _setup(tmp_path: Path, rows: int = 6, mlflow: bool = False) -> Path:
    """Order lines, a config and an ingest-only pipeline file in ``tmp_path``; returns the config."""
    (tmp_path / "lines.csv").write_text(HEADER + "".join(f"{i},2024-01-{i % 28 + 1:02d},B{i % 3},V{i % 4},1,2.5\n" for i in range(rows)))
    (tmp_path / "ingest-only.yaml").write_text(yaml.safe_dump({"name": "ingest-only", "stages": ["ingest"]}))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"workdir": "work", "data": {"order_lines": "lines.csv"}, "publish": {"outputs": "out"}, "mlflow": {"enabled": mlflow}}))
    return config


def _xsell(tmp_path: Path, *args: str, limit_bytes: int | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:  # a file size limit: writes past it fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "xsell.cli", *args], cwd=tmp_path, env={**ENV, **(env or {})}, capture_output=True, text=True,
        timeout=300, preexec_fn=limit if limit_bytes is not None else None,
    )  # fmt: skip


def _run_ingest(tmp_path: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return _xsell(tmp_path, "run", str(tmp_path / "ingest-only.yaml"), "--config", str(tmp_path / "config.yaml"), *extra, **kw)


@contextlib.contextmanager
def _tmpfs(folder: Path, options: str) -> Iterator[bool]:
    """Mount a tmpfs at ``folder`` (True), or do nothing where mounting is not allowed (False)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as fh:
        while True:
            fh.write(b"\0" * 4096)
    return filler


# -- item 12: a full disk, then corrupt state files ---------------------------------------------------
def test_a_full_disk_names_the_path_and_leaves_no_truncated_state(tmp_path):
    _setup(tmp_path)
    cache = tmp_path / "work" / "cache"
    with _tmpfs(cache, "size=64k") as mounted:
        if mounted:
            filler = _fill(cache)
            run = _run_ingest(tmp_path)
            expect = "No space left on device"
        else:  # no mount here: a file size limit fails the first state file written the same way
            run = _run_ingest(tmp_path, limit_bytes=200)
            expect = "File too large"
        last = run.stderr.strip().splitlines()[-1]
        assert run.returncode == 1, run.stderr
        assert last.startswith("xsell: error: cannot write ") and expect in last
        failed = Path(last.removeprefix("xsell: error: cannot write ").split(": ")[0])
        assert failed.is_relative_to(tmp_path / "work") and not failed.exists()  # named, and nothing half-written
        if mounted:
            assert failed == cache / "file_hashes.json" and not list(cache.glob(".*.tmp-*"))
        if mounted:
            filler.unlink()  # space freed: the next run works
        again = _run_ingest(tmp_path)
        assert again.returncode == 0, again.stderr
        assert json.loads((cache / "file_hashes.json").read_text())


def test_corrupt_cache_and_memo_files_are_discarded_with_a_warning(tmp_path):
    """What a full disk used to leave: a 0-byte memo and a truncated stage cache record. Every
    run, --force included, failed with JSONDecodeError until someone deleted them."""
    _setup(tmp_path)
    assert _run_ingest(tmp_path).returncode == 0
    cache = tmp_path / "work" / "cache"
    (cache / "file_hashes.json").write_bytes(b"")
    (cache / "ingest.json").write_text('{"key": "ab')
    run = _run_ingest(tmp_path)
    assert run.returncode == 0, run.stderr
    assert "file-hash memo" in run.stderr and "ingest cache record" in run.stderr and "discarding it" in run.stderr
    assert json.loads((cache / "ingest.json").read_text())["key"]  # rewritten whole
    (cache / "file_hashes.json").write_bytes(b"")
    forced = _run_ingest(tmp_path, "--force")
    assert forced.returncode == 0 and "file-hash memo" in forced.stderr, forced.stderr
    assert json.loads((cache / "file_hashes.json").read_text())


# -- item 19: a kill during the ingest's write phase ------------------------------------------------------
def _ingest_process(tmp_path: Path, pause_after: str) -> subprocess.Popen:
    point, seconds = pause_env("ingest")
    return subprocess.Popen(
        [sys.executable, "-m", "xsell.cli", "ingest", "--config", str(tmp_path / "config.yaml")],
        cwd=tmp_path, env={**ENV, point: pause_after, seconds: "60"}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _consistent(work: Path) -> int:
    """The canonical lines, quarantine and summary belong to one ingest; returns its row count."""
    summary = json.loads((work / "ingest_summary.json").read_text())
    lines = pd.read_parquet(work / "canonical" / "order_lines.parquet")
    quarantine = pd.read_parquet(work / "quarantine" / "quarantine.parquet")
    assert summary["rows_accepted"] == len(lines) and summary["rows_quarantined"] == len(quarantine)
    return summary["rows_read"]


@pytest.mark.parametrize("pause_after", ["canonical/order_lines.parquet", "quarantine/quarantine.csv", "@renamed"])
def test_a_kill_in_the_ingest_write_phase_keeps_the_old_outputs_whole(tmp_path, pause_after):
    config = _setup(tmp_path, rows=6)
    from xsell.cli import main

    assert main(["-q", "ingest", "--config", str(config)]) == 0
    work = tmp_path / "work"
    assert _consistent(work) == 6
    (tmp_path / "lines.csv").write_text(HEADER + "".join(f"{i},2024-02-01,,V1,1,2.5\n" for i in range(9)))  # all quarantined
    kill_at_test_pause(_ingest_process(tmp_path, pause_after))
    assert _consistent(work) == 6  # the old generation, whole
    leftovers = [p.name for p in (work / "ingest").iterdir() if p.name != "current" and not p.is_symlink()]
    assert len(leftovers) == 2  # the current generation and what the killed run left
    assert main(["-q", "ingest", "--config", str(config), "--set", "ingest.max_rejected_share=1"]) == 0
    assert _consistent(work) == 9
    assert [p.name for p in (work / "ingest").iterdir() if p.name != "current"] == [os.readlink(work / "ingest" / "current")]


def test_a_workdir_of_the_old_layout_switches_to_generations(tmp_path):
    config = _setup(tmp_path)
    work = tmp_path / "work"
    (work / "canonical").mkdir(parents=True)
    (work / "canonical" / ".order_lines.parquet.tmp-999999").write_bytes(b"PAR1")  # a killed old-style write
    (work / "quarantine").mkdir()
    (work / "ingest_summary.json").write_text("{}")
    from xsell.cli import main

    assert main(["-q", "ingest", "--config", str(config)]) == 0
    for name in ("canonical", "quarantine", "ingest_summary.json"):
        assert (work / name).is_symlink()
    assert sorted(p.name for p in (work / "canonical").iterdir()) == ["customers.parquet", "order_lines.parquet", "products.parquet"]
    assert _consistent(work) == 6


# -- item 21: MLflow runs left RUNNING by a kill -----------------------------------------------------------
def test_mlflow_runs_left_running_by_a_killed_process_end_as_killed_on_the_next_run(tmp_path):
    _setup(tmp_path, mlflow=True)
    uri = f"sqlite:///{tmp_path / 'work' / 'mlflow.db'}"
    code = (
        "import time\nfrom xsell.tracking import Tracker\n"
        f"with Tracker({uri!r}, 'xsell').run('evaluate') as run_id:\n    print(run_id, flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        run_id = holder.stdout.readline().strip()
        assert len(run_id) == 32
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "RUNNING"
    run = _run_ingest(tmp_path)
    assert run.returncode == 0, run.stderr
    assert client.get_run(run_id).info.status == "KILLED" and "ended 1 MLflow run(s)" in run.stderr


# -- item 20: output folders that are files or cannot be written ------------------------------------------
def test_a_workdir_or_outputs_that_is_a_file_exits_2(tmp_path):
    _setup(tmp_path)
    (tmp_path / "out").write_text("not a folder")
    run = _run_ingest(tmp_path)
    assert run.returncode == 2 and "out is a file, not a folder (key publish.outputs)" in run.stderr
    (tmp_path / "out").unlink()
    (tmp_path / "work").write_text("not a folder")
    for args in (("ingest",), ("train",), ("config", "show")):
        run = _xsell(tmp_path, *args, "--config", str(tmp_path / "config.yaml"))
        assert run.returncode == 2 and "work is a file, not a folder (key workdir)" in run.stderr


def test_a_read_only_outputs_folder_exits_2(tmp_path):
    _setup(tmp_path)
    with _tmpfs(tmp_path / "out", "ro,size=64k") as mounted:
        if not mounted:
            if os.geteuid() == 0:
                pytest.skip("cannot mount a read-only tmpfs here, and root writes into any folder")
            (tmp_path / "out").chmod(0o555)
        run = _run_ingest(tmp_path)
        assert run.returncode == 2, run.stderr
        assert f"cannot write into {tmp_path / 'out'}" in run.stderr and "key publish.outputs" in run.stderr
