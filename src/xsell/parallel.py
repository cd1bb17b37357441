"""Parallel helpers: how many cores this process may use (the one definition the thread pools
size themselves by) and an in-order map over a few threads."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, name: str = "xsell") -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, results in the order of ``items``: at most
    ``workers`` calls run or wait to be taken at a time, so memory holds a few results, not all.
    For work that runs mostly without the GIL (numpy, Arrow, zlib, file I/O). An error is raised
    when its result is taken; leaving the loop early cancels the calls not started and waits for
    the running ones."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    waiting: deque[Future[R]] = deque()
    try:
        for item in items:
            if len(waiting) >= workers:
                yield waiting.popleft().result()
            waiting.append(pool.submit(fn, item))
        while waiting:
            yield waiting.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
