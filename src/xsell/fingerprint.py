"""Fingerprints of input files and of arbitrary JSON-able values (cache keys, manifests)."""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def _data_files(path: Path) -> list[Path]:
    """``[path]`` for a file; for a folder (a Parquet dataset the Spark backend writes) its data
    files in name order, hidden ``.`` / ``_`` files such as Spark's checksums skipped."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, streamed; of a folder, the names and bytes of its data
    files (``_data_files``)."""
    h = hashlib.sha256()
    for part in _data_files(Path(path)):
        if part != Path(path):
            h.update(part.relative_to(path).as_posix().encode() + b"\0")
        with open(part, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def sha256_json(value: Any) -> str:
    """Hex sha256 of canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def expand_inputs(pattern: str | Path | None) -> list[Path]:
    """Sorted files matching a path or glob (empty list for ``None``)."""
    if pattern is None:
        return []
    text = str(pattern)
    if any(ch in text for ch in "*?["):
        return [Path(p) for p in sorted(glob.glob(text)) if Path(p).is_file()]
    p = Path(text)
    return [p] if p.is_file() else []


def file_fingerprints(paths: list[Path], memo: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``[{path, bytes, mtime_ns, sha256}]`` of files or dataset folders (bytes and newest mtime
    of their data files); ``memo`` (path -> earlier entry) skips re-hashing those whose size and
    mtime did not change."""
    memo = memo or {}
    out = []
    for p in paths:
        stats = [f.stat() for f in _data_files(p)]
        size, mtime_ns = sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0)
        key = str(p.resolve())
        prev = memo.get(key)
        if prev and prev.get("bytes") == size and prev.get("mtime_ns") == mtime_ns:
            digest = prev["sha256"]
        else:
            digest = sha256_file(p)
        out.append({"path": key, "bytes": size, "mtime_ns": mtime_ns, "sha256": digest})
    return out


def lines_fingerprint(path: Path, lines: Any) -> dict[str, Any]:
    """What identifies a canonical order-line table: file, sha256, rows, first and last date."""
    import pandas as pd

    return {
        "order_lines": {"file": str(Path(path).resolve()), "sha256": sha256_file(path), "rows": len(lines)},
        "first_date": str(pd.Timestamp(lines["order_date"].min()).date()),
        "last_date": str(pd.Timestamp(lines["order_date"].max()).date()),
    }
