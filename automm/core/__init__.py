"""The bottom layer, used by every other: errors, attribute keys, atomic writes, paths, progress, logging,
metrics, the torch device and threads, SVG primitives. It imports no other part of automm.

Its modules are imported by name (``from automm.core import keys``); importing the package itself loads nothing.
"""

__all__ = [
    "atomic",
    "device",
    "errors",
    "keys",
    "log",
    "metrics",
    "paths",
    "progress",
    "svg",
    "threads",
]
