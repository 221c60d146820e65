"""The self-contained HTML report over a finished study (`automm report`).

Its modules are imported by name (``from automm.report import html``); importing the package itself loads nothing.
"""

__all__ = [
    "html",
]
