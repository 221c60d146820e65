"""Where automm looks for data and keeps derived files, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "AUTOMM_DATA_DIR"
CACHE_DIR_ENV = "AUTOMM_CACHE_DIR"


def default_data_dir() -> Path:
    """``$AUTOMM_DATA_DIR`` if set, else ``~/automm_data``: where named data sets are looked for."""
    return Path(os.environ.get(DATA_DIR_ENV, "~/automm_data")).expanduser()


def default_cache_dir() -> Path:
    """``$AUTOMM_CACHE_DIR`` if set, else ``~/.cache/automm``: built data sets and extracted features."""
    return Path(os.environ.get(CACHE_DIR_ENV, "~/.cache/automm")).expanduser()
