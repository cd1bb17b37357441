"""The run manifest (``manifest.json``): what a published run contains and where it came from."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from xsell import __version__
from xsell.errors import InputDataError
from xsell.publish.writers import Written

MANIFEST_NAME = "manifest.json"
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{7}$")
"""``<UTC yyyymmddThhmmssZ>-<7 hex>``: sorts in time order."""
TABLE_META_KEYS: tuple[str, ...] = (
    "mlflow_run_id", "tracking_uri", "model_name", "model_version", "config_hash", "input_fingerprints",
)
"""Keys of ``<workdir>/tables/tables.json`` copied to the manifest top level (missing -> null)."""


class ManifestMismatchError(InputDataError):
    """A published run does not match its manifest (exit 3); ``file`` names the culprit."""


def make_run_id(now: dt.datetime, digest: str) -> str:
    """Run id from a UTC time and a content digest (first 7 hex digits)."""
    return f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{digest[:7]}"


def file_entry(written: Written, root: Path, sha256: str, size: int) -> dict[str, Any]:
    """Manifest entry of one output file: relative path, rows, columns (or sheets), bytes, sha256,
    and the writer's ``details`` where it has any."""
    entry: dict[str, Any] = {
        "path": written.path.relative_to(root).as_posix(),
        "rows": written.rows,
        "columns": written.columns,
        "bytes": size,
        "sha256": sha256,
        "neutralised_cells": written.neutralised_cells,
    }
    if written.sheets is not None:
        entry["sheets"] = written.sheets
    if written.details is not None:
        entry["details"] = written.details
    return entry


def build_manifest(
    *,
    run_id: str,
    created_at: dt.datetime,
    status: str,
    config_hash: str,
    tables_meta: dict[str, Any],
    settings: dict[str, Any],
    previous_run: str | None,
    guardrails: dict[str, Any],
    files: list[dict[str, Any]],
) -> dict[str, Any]:
    """The manifest dict. ``status`` is ``accepted`` (guardrails passed) or ``rejected``."""
    return {
        "run_id": run_id,
        "status": status,
        "created_at": created_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "xsell_version": __version__,
        "config_hash": config_hash,
        "tables_config_hash": tables_meta.get("config_hash"),
        **{k: tables_meta.get(k) for k in TABLE_META_KEYS if k != "config_hash"},
        "tables_meta": tables_meta,
        "settings": settings,
        "previous_run": previous_run,
        "guardrails": guardrails,
        "files": files,
    }


def mismatch(entry: dict[str, Any], *, sha256: str | None, rows: int | dict[str, int] | None) -> str | None:
    """Why a file on disk (``sha256`` None: missing) differs from its manifest entry, or None."""
    if sha256 is None:
        return "is missing"
    if sha256 != entry["sha256"]:
        return f"sha256 {sha256[:12]}... differs from the manifest's {entry['sha256'][:12]}..."
    expected = {k: v["rows"] for k, v in entry["sheets"].items()} if "sheets" in entry else entry["rows"]
    if rows != expected:
        return f"has {rows} rows, the manifest says {expected}"
    return None
