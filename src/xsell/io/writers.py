"""The one writer of every file xsell writes: write to a temp entry beside the target, then rename.

A reader never sees a half-written file, and a killed or failed write leaves the previous
version in place. ``atomic_write`` also writes whole folders (``write`` creates a folder at the
temp path) and symlinks (``os.symlink(target, tmp)``), so a set of outputs switches with one
rename. Temp entries are named ``.<name>.tmp-<pid>``; one left by a killed process is removed
by ``remove_leftovers`` on the next run. A failing write (full disk, read-only folder) raises
``OutputWriteError`` naming the path. State files (caches, memos) are read with ``read_state``:
a corrupt one is discarded with a warning, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from xsell.errors import ConfigError, OutputWriteError
from xsell.lock import process_alive

log = logging.getLogger(__name__)

_TMP = re.compile(r"^\..+\.tmp-(\d+)$")


def fsync_path(path: Path) -> None:
    """Flush a file or folder to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.is_symlink() or path.exists():
        path.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], object], *, durable: bool = False) -> Path:
    """Call ``write(tmp)`` on a temp path beside ``path`` (folder created), then rename it into
    place; the temp entry never survives a failure. ``write`` may create a file, a folder (then
    ``path`` must not exist yet, or be a symlink) or a symlink; what it returns is ignored.
    ``durable``: fsync the file and its folder, so the rename survives a power cut. ``OSError``
    becomes ``OutputWriteError``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)
        write(tmp)
        if durable and not tmp.is_symlink():
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    finally:
        _remove(tmp)
    return path


def write_parquet_parts(path: Path, frames: Iterable[pd.DataFrame]) -> int:
    """Write ``frames`` (one table's parts: the same columns and dtypes, at least one) atomically
    as one Parquet file, each part as it comes (one row group per part), so the whole table is
    never held: read back, it is ``pd.concat(frames, ignore_index=True)``. Returns the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        writer: pq.ParquetWriter | None = None
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"no parts to write to {path}")

    atomic_write(path, write)
    return rows


def remove_leftovers(folder: Path) -> list[str]:
    """Remove the temp entries (``.<name>.tmp-<pid>``) in ``folder`` whose process is gone."""
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = _TMP.match(entry.name)
        if m and not process_alive(int(m.group(1))):
            _remove(entry)
            removed.append(entry.name)
    if removed:
        log.info("removed %d leftover temp entr%s of killed runs in %s: %s", len(removed), "y" if len(removed) == 1 else "ies", folder, ", ".join(removed))
    return removed


def read_state(path: Path, what: str) -> Any:
    """A JSON state file (cache record, memo) or ``None``: a missing one silently, an unreadable
    or corrupt one (truncated by a full disk, say) with a warning; it is rebuilt by the caller."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s %s is unreadable (%s); discarding it", what, path, exc)
        return None


def ensure_dir(path: Path, key: str, *, writable: bool = True) -> Path:
    """Create folder ``path`` (config key ``key``) if needed; a file in its place, a folder that
    cannot be created or (``writable``) one that cannot be written is a ``ConfigError`` (exit 2)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is a file, not a folder", key=key)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if writable:
            probe = path / f".write-probe.tmp-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write into {path}: {exc.strerror or exc}", key=key) from None
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` (without its index) as Parquet, atomically."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` (without its index) as UTF-8 CSV, atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_json(data: Any, path: Path, *, durable: bool = False, **dump: Any) -> Path:
    """Write ``data`` as indented JSON (``dump``: more ``json.dumps`` options), atomically."""
    text = json.dumps(data, **{"indent": 2, "default": str, **dump}) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)


def write_symlink(path: Path, target: str | Path) -> Path:
    """Point symlink ``path`` at ``target`` (relative to its folder), replacing it atomically."""
    return atomic_write(path, lambda tmp: os.symlink(target, tmp))
