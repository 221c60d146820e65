"""automm's logger, and Optuna's own log kept in step with it while automm runs trials.

The ``automm`` logger writes to standard error at INFO by default (as Optuna's does), so a
library search shows its progress; `set_verbosity` changes that (the CLI sets WARNING: it shows a
progress bar instead). While automm runs trials, Optuna's logger is held at WARNING (its INFO
lines repeat every raw encoding parameter) unless automm's level is DEBUG, and restored after.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

logger = logging.getLogger("automm")


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is now (so redirected and captured output sees it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("[automm] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def set_verbosity(level: int) -> None:
    """Set the level of automm's log (``logging.INFO``: a line per trial; ``logging.WARNING``: quiet)."""
    logger.setLevel(level)


def get_verbosity() -> int:
    return logger.getEffectiveLevel()


@contextmanager
def optuna_in_step() -> Iterator[None]:
    """Within this block Optuna logs at WARNING, or at INFO when automm's level is DEBUG, and not
    the traceback of a trial stopped by Ctrl-C (the caller says it in one line)."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if get_verbosity() <= logging.DEBUG else optuna.logging.WARNING)
    trials_logger, quiet = logging.getLogger("optuna.study._optimize"), QuietInterrupt()
    trials_logger.addFilter(quiet)
    try:
        yield
    finally:
        trials_logger.removeFilter(quiet)
        optuna.logging.set_verbosity(before)


class QuietInterrupt(logging.Filter):
    """Drops Optuna's two warnings about a trial failed by KeyboardInterrupt (traceback, then value)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropping = False

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.dropping = True
            return False
        if self.dropping and "failed with value" in record.getMessage():
            self.dropping = False
            return False
        return True
