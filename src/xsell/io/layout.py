"""Where every intermediate file lives inside ``workdir`` (one place, so steps agree)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workdir:
    """Paths under the configured ``workdir``."""

    root: Path

    @property
    def canonical(self) -> Path:
        return self.root / "canonical"

    @property
    def order_lines(self) -> Path:
        return self.canonical / "order_lines.parquet"

    @property
    def products(self) -> Path:
        return self.canonical / "products.parquet"

    @property
    def customers(self) -> Path:
        return self.canonical / "customers.parquet"

    @property
    def quarantine(self) -> Path:
        """Folder with ``quarantine.parquet`` and ``quarantine.csv`` (every rejected row + reason)."""
        return self.root / "quarantine"

    @property
    def ingest_summary(self) -> Path:
        return self.root / "ingest_summary.json"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def metrics(self) -> Path:
        return self.evaluation / "metrics.csv"

    @property
    def champion(self) -> Path:
        """``champion.json`` of the last evaluation: the champion, its value and the baselines'."""
        return self.evaluation / "champion.json"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def table(self, name: str) -> Path:
        return self.tables / f"{name}.parquet"

    @property
    def cache(self) -> Path:
        return self.root / "cache"
