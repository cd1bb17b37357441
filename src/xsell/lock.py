"""An exclusive lock file so unattended runs never overlap (``fcntl.flock``).

The kernel drops a ``flock`` when its process dies, so a lock left by a killed run is stale
by construction: the next run takes it and logs that the previous holder is gone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from xsell.errors import LockedError

log = logging.getLogger(__name__)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (ours included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(path, what="nightly"):`` — raises ``LockedError`` if another process holds it.

    ``what`` names the holder (the pipeline) in the lock file and in the refusal message."""

    def __init__(self, path: str | Path, *, what: str):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise LockedError(
                f"another xsell run is in progress ({holder}); lock file {self.path}. "
                "It is released automatically when that process ends."
            ) from None
        previous = self._read_holder(fd)
        if previous != "unknown holder":
            log.info("taking lock %s (previous holder %s is gone)", self.path, previous)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "pipeline": self.what, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    @staticmethod
    def _read_holder(fd: int) -> str:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            info = json.loads(os.read(fd, 4096).decode() or "{}")
        except (OSError, ValueError):
            return "unknown holder"
        if not info:
            return "unknown holder"
        return f"{info.get('pipeline')}, pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
