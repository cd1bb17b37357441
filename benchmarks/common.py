"""What every benchmark script shares: one way to time and measure peak memory, running a
measurement in a fresh process, the bench config, and the mlxtend reference run.

Peak memory is the process's peak resident set (``ru_maxrss``), so a figure is per stage
only when the stage runs in a process of its own: ``run_isolated`` starts one, watches its
resident memory (and kills it above a cap, so a runaway stage cannot take the machine down)
and collects the JSON the child prints last.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit wants one BLAS thread

from xsell.progress import peak_rss_mib  # noqa: E402

DEMO_CONFIG = ROOT / "configs" / "demo.yaml"


@dataclass
class Measurement:
    """Wall seconds of the measured block, CPU seconds (user + system, all threads) and the
    process's peak RSS (MiB) at its end."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mib: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 2), "cpu_s": round(self.cpu_seconds, 1), "peak_mib": round(self.peak_mib, 1)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def measure() -> Iterator[Measurement]:
    """Time the ``with`` block; ``peak_mib`` is this process's peak so far (per stage only in a
    fresh process, see ``run_isolated``). On a shared machine ``cpu_seconds`` moves less
    than wall seconds."""
    m = Measurement()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    yield m
    m.seconds = time.perf_counter() - t0
    m.cpu_seconds = _cpu_seconds() - c0
    m.peak_mib = peak_rss_mib()


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return [round(x, 2) for x in os.getloadavg()]


def _rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident MiB of ``pid`` from /proc (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    values = {k: v for k, _, v in (line.partition(":") for line in status.splitlines())}
    kib = [float(values.get(key, "0 kB").split()[0]) for key in ("VmRSS", "VmHWM")]
    return kib[0] / 1024.0, kib[1] / 1024.0


def _tree_rss_mib(pid: int) -> float:
    """Resident MiB of ``pid`` and all its descendants (a Spark driver's JVM is a child of the
    Python process)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_mib(p)[0]
        for task in Path(f"/proc/{p}/task").glob("*/children") if Path(f"/proc/{p}/task").is_dir() else []:
            try:
                todo += [int(c) for c in task.read_text().split()]
            except (OSError, ValueError):
                continue
    return total


@dataclass
class IsolatedRun:
    """Outcome of one child process."""

    returncode: int | None
    """Exit status; ``None`` when killed for time or memory."""
    wall_seconds: float
    """Seconds from start to exit, process start-up and imports included."""
    peak_mib: float
    """Largest resident MiB seen by polling /proc (the child's own ``ru_maxrss`` is exact)."""
    status: str = "ok"
    """``ok``, ``failed (rc N): <last log line>``, ``killed: over T s`` or ``killed: over M MiB``."""
    timed_out: bool = False
    """Killed for running past the timeout."""
    result: dict[str, Any] = field(default_factory=dict)
    """The JSON object the child printed on its last stdout line."""


def run_isolated(
    argv: Sequence[str], *, log_file: Path, timeout: float | None = None, memory_cap_mib: float | None = None,
    poll_seconds: float = 0.2, tree: bool = False,
) -> IsolatedRun:
    """Run ``python argv...`` in a fresh process; stderr goes to ``log_file``, the child's last
    stdout line must be a JSON object. Killed after ``timeout`` seconds or above
    ``memory_cap_mib`` resident. ``tree``: memory is the polled sum over the child and its
    descendants (Spark's JVM), peak = the largest sum seen."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out_file = log_file.with_suffix(".out")
    with open(log_file, "w") as err, open(out_file, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], stdout=out, stderr=err, cwd=ROOT, start_new_session=True)
        peak, status, timed_out = 0.0, "ok", False
        while proc.poll() is None:
            current, hwm = _rss_mib(proc.pid)
            if tree:
                current = hwm = _tree_rss_mib(proc.pid)
            peak = max(peak, hwm, current)
            if timeout is not None and time.perf_counter() - t0 > timeout:
                status, timed_out = f"killed: over {timeout:.0f} s", True
            elif memory_cap_mib is not None and current > memory_cap_mib:
                status = f"killed: over {memory_cap_mib:.0f} MiB"
            if status != "ok":
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(poll_seconds)
        wall = time.perf_counter() - t0
    if status != "ok":
        return IsolatedRun(None, wall, peak, status, timed_out=timed_out)
    lines = out_file.read_text().strip().splitlines()
    if proc.returncode < 0:  # SIGKILL from outside: the kernel's OOM killer on a full machine
        return IsolatedRun(proc.returncode, wall, peak, f"killed by signal {-proc.returncode} (see {log_file.name})")
    if proc.returncode != 0 or not lines:
        tail = (log_file.read_text().strip().splitlines() or ["?"])[-1]
        return IsolatedRun(proc.returncode, wall, peak, f"failed (rc {proc.returncode}): {tail[:160]}")
    return IsolatedRun(0, wall, peak, "ok", result=json.loads(lines[-1]))


def emit(result: dict[str, Any]) -> None:
    """Print ``result`` as the last stdout line (what ``run_isolated`` reads)."""
    print(json.dumps(result, default=str), flush=True)


# -- the bench config -----------------------------------------------------------------------
def data_overrides(data_dir: Path, config: Path = DEMO_CONFIG) -> list[str]:
    """``--set`` values pointing ``config`` at ``data_dir``: a demo-data folder (``order_lines/``,
    ``products.csv``, ``customers.csv``), a folder holding the config's order-lines file, or a file."""
    data_dir = Path(data_dir).resolve()
    if data_dir.is_file():
        return [f"data.order_lines={data_dir}"]
    if (data_dir / "order_lines").is_dir():
        sets = [f"data.order_lines={data_dir / 'order_lines' / '*'}"]
        for key, name in (("products", "products.csv"), ("customers", "customers.csv")):
            if (data_dir / name).is_file():
                sets.append(f"data.{key}={data_dir / name}")
        return sets
    from xsell.config import load_config

    return [f"data.order_lines={data_dir / Path(load_config(config).data.order_lines).name}"]


def bench_config(data_dir: Path, workdir: Path, config: Path = DEMO_CONFIG, extra: Sequence[str] = ()):
    """``config`` with its data at ``data_dir`` and every output (canonical tables, models,
    published runs, the default MLflow store) under ``workdir``."""
    from xsell.config import load_config

    workdir = Path(workdir).resolve()
    sets = [
        f"workdir={workdir}", f"models.dir={workdir / 'models'}", f"publish.outputs={workdir / 'outputs'}",
        *data_overrides(data_dir, config), *extra,
    ]  # fmt: skip
    return load_config(config, sets)


# -- mlxtend reference --------------------------------------------------------------------
def mlxtend_pair_rules(baskets_npz: Path, min_support_count: int) -> dict[str, Any]:
    """mlxtend ``fpgrowth(max_len=2)`` + ``association_rules`` on the saved (n_baskets,
    n_products) basket matrix: the same pair rules as ``mine_pair_rules``. Returns seconds
    (one-hot frame + mining), itemsets and rules."""
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    from xsell.interactions.matrix import InteractionMatrix

    baskets = InteractionMatrix.load(baskets_npz)
    n = baskets.shape[0]
    with measure() as m:
        onehot = pd.DataFrame.sparse.from_spmatrix(baskets.matrix.astype(bool), columns=list(baskets.cols.ids))
        min_support = (min_support_count - 0.5) / n  # same pairs as count >= min_support_count
        itemsets = fpgrowth(onehot, min_support=min_support, max_len=2)
        rules = association_rules(itemsets, num_itemsets=n, metric="support", min_threshold=min_support)
    return {**m.as_dict(), "itemsets": len(itemsets), "rules": len(rules)}


def run_mlxtend(
    baskets_npz: Path, min_support_count: int, *, log_file: Path, timeout: float = 600.0, memory_cap_mib: float = 12 * 1024
) -> IsolatedRun:
    """``mlxtend_pair_rules`` in a fresh process, killed after ``timeout`` seconds of mining
    (plus a minute for start-up and loading) or above ``memory_cap_mib``."""
    argv = [__file__, "mlxtend", str(baskets_npz), str(min_support_count)]
    return run_isolated(argv, log_file=log_file, timeout=timeout + 60, memory_cap_mib=memory_cap_mib)


if __name__ == "__main__" and sys.argv[1:2] == ["mlxtend"]:
    emit(mlxtend_pair_rules(Path(sys.argv[2]), int(sys.argv[3])))
