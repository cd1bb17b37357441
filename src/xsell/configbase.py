"""Building blocks shared by every config section.

Sections are pydantic models with ``extra="forbid"`` (a misspelt key is an error) and a
docstring per field (``use_attribute_docstrings``), LensKit style. Paths resolve against
the folder of the config file they came from, so cron can run from anywhere.
"""

from __future__ import annotations

import difflib
import os
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, model_validator

MAX_ECHO_CHARS = 200
"""Longest echo of a config value in an error message."""


def echo(value: Any) -> str:
    """``repr(value)`` cut to ``MAX_ECHO_CHARS`` (error messages never echo a whole input)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = MAX_ECHO_CHARS
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 10
    text = short.repr(value)
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 3] + "..."


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known name is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _absent_sections_as_empty(cls, data: Any) -> Any:
        """An absent sub-section is validated as ``{}`` rather than built by its default factory,
        so its default paths resolve against the config's folder like written ones (a default
        factory runs without the validation context and would leave them relative to the
        current folder)."""
        if not isinstance(data, dict):
            return data
        missing: dict[str, dict[str, Any]] = {
            name: {}
            for name, field in cls.model_fields.items()
            if name not in data and isinstance(field.default_factory, type) and issubclass(field.default_factory, StrictModel)
        }
        return {**data, **missing} if missing else data


def _resolve(value: Path | str, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir") if info.context is not None else None
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return Path(os.path.normpath(p))


def _resolve_str(value: str, info: ValidationInfo) -> str:
    """Like ``_resolve`` but keeps a string (used for globs such as ``exports/*.csv``)."""
    return str(_resolve(value, info))


ConfigPath = Annotated[Path, AfterValidator(_resolve)]
"""A path; relative values resolve against the config file's folder."""

ConfigGlob = Annotated[str, AfterValidator(_resolve_str)]
"""A path or glob pattern; relative values resolve against the config file's folder."""
