"""Exception types. Each carries the exit code the CLI maps it to; only ``cli.py`` exits.

Exit codes (contract): 0 success, 2 usage or config error, 3 input data rejected,
4 quality gate refused to publish, 1 anything unexpected.
"""

from __future__ import annotations

from pathlib import Path


class XsellError(Exception):
    """Base class of all errors xsell raises on purpose."""

    exit_code: int = 1


class ConfigError(XsellError):
    """A config file, key or value is invalid (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | Path | None = None, key: str | None = None):
        self.file = str(file) if file is not None else None
        self.key = key
        where = ", ".join(p for p in (f"file {self.file}" if self.file else "", f"key {key}" if key else "") if p)
        super().__init__(f"{message} ({where})" if where else message)


class UsageError(XsellError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class NoChampionError(ConfigError):
    """The model registry has no model with the ``champion`` alias yet (exit 2)."""


class InputDataError(XsellError):
    """Input data was rejected (exit 3). Names file, row, column and value where they apply."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ):
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.value = value
        parts = []
        if self.file:
            parts.append(f"file {self.file}")
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        if value is not None:
            parts.append(f"value {value!r}")
        super().__init__(f"{message} ({', '.join(parts)})" if parts else message)


class GuardrailError(XsellError):
    """A publish guardrail failed; ``latest`` was not moved (exit 4)."""

    exit_code = 4

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)


class LockedError(XsellError):
    """Another run holds the lock on the same workdir or outputs (exit 1)."""

    exit_code = 1


class OutputWriteError(XsellError):
    """Writing an output failed: a full disk, an exhausted quota, a read-only folder (exit 1).
    The message names the path and the operating system's reason."""

    exit_code = 1

    def __init__(self, path: str | Path, exc: OSError):
        self.path = str(path)
        self.errno = exc.errno
        super().__init__(f"cannot write {self.path}: {exc.strerror or exc}")


class ModelNotFittedError(XsellError):
    """A model method that needs learned attributes was called before ``fit``."""

    exit_code = 1
