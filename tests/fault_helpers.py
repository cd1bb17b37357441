"""Helpers for the tests that kill a real process at a test pause point (no tests here)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest


def kill_at_test_pause(proc: subprocess.Popen) -> None:
    """Wait until ``proc`` (stderr piped, text) logs its test pause (``xsell.faults``), then
    SIGKILL it; fails the test when it ends without pausing."""
    try:
        for line in proc.stderr:
            if "test pause" in line:
                break
        else:
            pytest.fail(f"the process ended without pausing (rc {proc.wait()})")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
