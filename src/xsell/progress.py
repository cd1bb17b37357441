"""Stage lines (start/end with counts, seconds, peak memory) and a light progress bar.

On a terminal the bar redraws in place; elsewhere (cron, CI) it logs a plain line every
10%. Nothing here configures logging: ``cli.py`` does that once.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class StageReport:
    """Filled in by the body of ``stage``: counts to print on the end line."""

    name: str
    counts: dict[str, int | float | str] = field(default_factory=dict)
    seconds: float = 0.0
    peak_mib: float = 0.0


@contextmanager
def stage(name: str, logger: logging.Logger | None = None) -> Iterator[StageReport]:
    """Log ``name: start`` and ``name: done ... in S s, peak M MiB``; the body adds counts."""
    logger = logger or log
    report = StageReport(name)
    logger.info("%s: start", name)
    t0 = time.perf_counter()
    try:
        yield report
    except BaseException:
        report.seconds = time.perf_counter() - t0
        logger.info("%s: failed after %.1f s", name, report.seconds)
        raise
    report.seconds = time.perf_counter() - t0
    report.peak_mib = peak_rss_mib()
    counts = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in report.counts.items())
    logger.info(
        "%s: done%s in %.1f s, peak %.0f MiB", name, f" ({counts})" if counts else "", report.seconds, report.peak_mib
    )


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", logger: logging.Logger | None = None) -> Iterator[T]:
    """Yield ``items`` while showing progress (bar on a TTY, 10% log lines otherwise)."""
    logger = logger or log
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    tty = sys.stderr.isatty()
    t0 = time.perf_counter()
    next_pct = 10
    done = 0
    for item in items:
        yield item
        done += 1
        if not total:
            continue
        pct = 100 * done // total
        if tty:
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{desc} [{bar:<25}] {done}/{total} {time.perf_counter() - t0:.0f}s")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct >= next_pct:
            logger.info("%s: %d/%d (%d%%) %.1f s", desc, done, total, pct, time.perf_counter() - t0)
            next_pct = (pct // 10 + 1) * 10
