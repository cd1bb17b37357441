"""Test-only pause points, so a test can kill a real process at an exact point of a step.

With ``XSELL_<STEP>_TEST_PAUSE_AFTER=<point>`` set, ``pause_point(step, point)`` logs a
warning ("test pause") and sleeps ``XSELL_<STEP>_TEST_PAUSE_SECONDS`` (default 60) there.
Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


def pause_env(step: str) -> tuple[str, str]:
    """The (point, seconds) environment variable names of ``step`` (e.g. ``publish``)."""
    prefix = f"XSELL_{step.upper()}_TEST_PAUSE"
    return f"{prefix}_AFTER", f"{prefix}_SECONDS"


def pause_point(step: str, point: str) -> None:
    """Sleep at ``point`` of ``step`` when the test environment variable asks for it."""
    env, seconds_env = pause_env(step)
    if os.environ.get(env) == point:
        seconds = float(os.environ.get(seconds_env, "60"))
        log.warning("%s: test pause of %.0f s after %s (%s is set)", step, seconds, point, env)
        time.sleep(seconds)
