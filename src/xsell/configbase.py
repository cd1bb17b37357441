"""Building blocks shared by every config section.

Sections are pydantic models with ``extra="forbid"`` (a misspelt key is an error) and a
docstring per field (``use_attribute_docstrings``), LensKit style. Paths resolve against
the folder of the config file they came from, so cron can run from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )


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
