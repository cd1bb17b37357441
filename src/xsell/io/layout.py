"""Where every intermediate file lives inside ``workdir`` (one place, so steps agree)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xsell.errors import ConfigError

if TYPE_CHECKING:
    from xsell.config import Config


INGEST_OUTPUTS: tuple[str, ...] = ("canonical", "quarantine", "ingest_summary.json")
"""What one ingest writes; switched together (``<workdir>/<name>`` -> ``ingest/current/<name>``)."""


@dataclass(frozen=True)
class Workdir:
    """Paths under the configured ``workdir``."""

    root: Path

    @property
    def ingest(self) -> Path:
        """Folder of the ingest generations: ``<id>/`` (canonical/, quarantine/, ingest_summary.json)
        and ``current`` (a symlink to the newest complete one)."""
        return self.root / "ingest"

    @property
    def ingest_current(self) -> Path:
        return self.ingest / "current"

    @property
    def canonical(self) -> Path:
        """``canonical/``: a symlink to ``ingest/current/canonical`` once an ingest has run."""
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
        """Folder with ``quarantine.parquet`` and ``quarantine.csv`` (every rejected row + reason);
        a symlink into ``ingest/current`` like ``canonical``."""
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


def check_folders(cfg: Config) -> None:
    """The configured output folders (``workdir``, ``models.dir``, ``publish.outputs``) must be
    folders or not exist yet: a file in their place is a ``ConfigError`` (exit 2) naming the key."""
    for key, path in (("workdir", cfg.workdir), ("models.dir", cfg.models.dir), ("publish.outputs", cfg.publish.outputs)):
        if Path(path).exists() and not Path(path).is_dir():
            raise ConfigError(f"{path} is a file, not a folder", key=key)
