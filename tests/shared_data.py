"""Where the real public datasets are: ``$XSELL_SHARED_DATA``, else a ``shared/data`` folder
beside one of this checkout's parents (``../shared/data`` from the project root). Tests that
need them skip cleanly when neither exists; the project itself never needs them."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir(needs: str | None = None) -> Path | None:
    """The shared data folder (containing ``needs``, a relative path, if given), or None."""
    env = os.environ.get("XSELL_SHARED_DATA")
    candidates = [Path(env)] if env else [p / "shared" / "data" for p in Path(__file__).resolve().parents]
    for candidate in candidates:
        if candidate.is_dir() and (needs is None or (candidate / needs).exists()):
            return candidate
    return None
