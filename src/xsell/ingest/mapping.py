"""Map source columns onto canonical names; every mistake names the file and the column.

A configured name that the file lacks (``data.columns``, ``data.buying_center_key``) is a
``ConfigError`` (exit 2: the config is wrong); a required column that is neither mapped nor
present is an ``InputDataError`` (exit 3: the export lacks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xsell.configbase import did_you_mean
from xsell.errors import ConfigError, InputDataError


def _available(columns: Sequence[str]) -> str:
    return "available columns: " + ", ".join(repr(c) for c in columns)


def resolve_columns(
    columns: Sequence[str],
    mapping: Mapping[str, str],
    canonical: Sequence[str],
    required: Sequence[str],
    *,
    file: str,
    config_key: str,
) -> dict[str, str]:
    """canonical name -> source column, for every canonical column the source provides.

    An explicitly mapped column must exist; an unmapped canonical name is looked up as is
    (so a source that already uses canonical names needs no mapping). A ``required`` column
    that is neither mapped nor present is an ``InputDataError``.
    """
    present = set(columns)
    resolved: dict[str, str] = {}
    for name in canonical:
        if name in mapping:
            source = mapping[name]
            if source not in present:
                raise ConfigError(
                    f"{config_key}.{name} maps to source column {source!r}, which does not exist in {file}; "
                    f"{_available(columns)}{did_you_mean(source, columns)}",
                    key=f"{config_key}.{name}",
                )
            resolved[name] = source
        elif name in present:
            resolved[name] = name
    missing = [name for name in required if name not in resolved]
    if missing:
        raise InputDataError(
            f"required column(s) {missing} missing: map them in {config_key}; {_available(columns)}",
            file=file,
            column=missing[0],
        )
    return resolved


def resolve_key_parts(
    columns: Sequence[str], resolved: Mapping[str, str], parts: Sequence[str], *, file: str
) -> list[str]:
    """Source columns of ``data.buying_center_key``: each part is a canonical name (mapped) or a source column."""
    present = set(columns)
    out = []
    for part in parts:
        source = resolved.get(part, part)
        if source not in present:
            raise ConfigError(
                f"data.buying_center_key part {part!r} is neither a mapped canonical column nor a source column of {file}; "
                f"{_available(columns)}{did_you_mean(part, columns)}",
                key="data.buying_center_key",
            )
        out.append(source)
    return out
