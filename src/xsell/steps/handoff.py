"""Encoded order lines handed from one step to the next within one process.

``evaluate`` reads and encodes the canonical order lines (``encode_lines``: at 20M lines ~30 s
of reading and factorizing the id texts) and ``score``, the next stage of ``retrain``, needs the
same codes; ``score`` hands them on to ``recommend`` (its id columns, ~20 s of reading and
coding at 20M lines). ``offer`` keeps them for one ``take``, which gets them only while the
canonical files they came from are unchanged (path, size and modification time); otherwise the
taker reads and encodes the files itself. One slot: an offer replaces the previous one, and the
pipeline empties it after every stage but ``evaluate`` and ``score`` (``drop``), so the codes
are never held past the stage that needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pipeline imports this module: no pandas or interactions at its import
    import pandas as pd

    from xsell.interactions.build import CodedLines


@dataclass(frozen=True)
class EncodedLines:
    """``encode_lines`` of the canonical order lines and their ``buyer_countries``."""

    coded: CodedLines
    countries: pd.Series


_slot: dict[tuple[tuple[str, int, int] | tuple[str], ...], EncodedLines] = {}


def _key(files: Sequence[Path]) -> tuple[tuple[str, int, int] | tuple[str], ...]:
    key: list[tuple[str, int, int] | tuple[str]] = []
    for path in files:
        try:
            st = Path(path).stat()
        except OSError:
            key.append((str(path),))  # absent (an optional master): absent again to match
            continue
        key.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(key)


def offer(files: Sequence[Path], coded: CodedLines, countries: pd.Series) -> None:
    """Keep the encoding of the canonical ``files`` (the order lines, the customer master) for
    the next ``take`` of the same files."""
    _slot.clear()
    _slot[_key(files)] = EncodedLines(coded, countries)


def take(files: Sequence[Path]) -> EncodedLines | None:
    """The encoding offered for ``files`` when they are unchanged since (then no longer held),
    else None; the slot is empty afterwards either way."""
    key = _key(files)
    found = _slot.get(key)
    _slot.clear()
    return found


def drop() -> None:
    """Empty the slot (what was offered is no longer held here)."""
    _slot.clear()
