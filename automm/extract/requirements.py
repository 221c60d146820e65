"""Optional packages of the ``extract`` extra, imported on demand with a message naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from automm.errors import AutommError

EXTRA = "pip install 'automm[extract]'"


def require(module: str, package: str) -> ModuleType:
    """Import ``module`` or raise a one-line `AutommError` naming ``package`` and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AutommError(f"feature extraction needs the optional package {package}: {EXTRA}") from exc
