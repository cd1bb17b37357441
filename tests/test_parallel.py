"""``xsell.parallel.ordered_map``: results in order, bounded in flight, errors where they occur."""

from __future__ import annotations

import threading
import time

import pytest

from xsell.parallel import ordered_map


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_ordered_map_gives_the_results_in_item_order_with_at_most_workers_running(workers):
    running, most, lock = 0, 0, threading.Lock()

    def slow(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002 * ((7 * i) % 5))  # later items often finish first
        with lock:
            running -= 1
        return i * i

    assert list(ordered_map(slow, range(30), workers=workers)) == [i * i for i in range(30)]
    assert most <= workers and (workers == 1 or most > 1)


def test_ordered_map_raises_an_error_at_its_item_and_stops_early_without_running_the_rest():
    started = []

    def fail_at_five(i: int) -> int:
        started.append(i)
        if i == 5:
            raise ValueError(f"bad item {i}")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 5"):
        for value in ordered_map(fail_at_five, range(100), workers=2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4] and max(started) <= 7  # items after the error's window never start
    taken = []
    for value in ordered_map(lambda i: i, range(100), workers=2):
        taken.append(value)
        if value == 3:
            break
    assert taken == [0, 1, 2, 3]
