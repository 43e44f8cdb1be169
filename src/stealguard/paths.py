"""Where data and the artifact cache live. No path of any particular machine is hard-coded.

Data directory, first that exists:
  1. an explicit ``data_dir`` argument (the CLI's ``--data-dir``),
  2. the ``STEALGUARD_DATA`` environment variable,
  3. ``shared/data`` or ``../shared/data`` relative to the working directory, then relative to the repository
     that holds this package (the layout of a development checkout).

Cache directory: ``STEALGUARD_CACHE`` or ``~/.cache/stealguard``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError

_PKG_ROOT = Path(__file__).resolve().parents[2]  # <repo>/src/stealguard -> <repo>


def data_dir(explicit: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """Return the directory holding the shared data files (see the module docstring for the search order)."""
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_dir():
            raise DataError(f"data directory {p} does not exist")
        return p
    env = os.environ.get("STEALGUARD_DATA")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise DataError(f"STEALGUARD_DATA={env} is not a directory")
        return p
    for base in (Path.cwd(), _PKG_ROOT):
        for rel in ("shared/data", "../shared/data"):
            p = (base / rel).resolve()
            if p.is_dir():
                return p
    if required:
        raise DataError("no data directory found: pass --data-dir or set STEALGUARD_DATA")
    return None


def cache_dir() -> Path:
    """Return (and create) the artifact cache directory."""
    p = Path(os.environ.get("STEALGUARD_CACHE", "~/.cache/stealguard")).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p
