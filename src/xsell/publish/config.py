"""Config section ``publish``: where and how published runs are written, and the guardrails."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from xsell.configbase import ConfigPath, StrictModel


class PublishConfig(StrictModel):
    """Versioned, atomic output folders for sales ops and the shop."""

    outputs: ConfigPath = Path("outputs")
    """Root of the published runs: ``<outputs>/runs/<run_id>/`` and ``<outputs>/latest``."""
    formats: list[Literal["csv", "parquet", "xlsx", "jsonl", "magento"]] = Field(
        default_factory=lambda: ["csv", "parquet", "xlsx", "jsonl", "magento"]
    )
    """Which files to write."""
    keep_runs: int = Field(10, ge=1)
    """Retention: keep the newest N runs (never the one ``latest`` points to)."""
