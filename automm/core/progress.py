"""Progress of long steps (KB pretraining, retraining, building a data cache) for whoever shows it.

A long step calls `step(what, done, total)` as it goes (``done`` from 0 to ``total``). The CLI
listens (`listening`) and shows a bar per step; without a listener the first call of a step
logs one INFO line on the ``automm`` log, so a library user also sees why nothing else moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger("automm")  # the log `automm.core.log` configures

Listener = Callable[[str, int, int], None]  # (what, done, total)

_LISTENERS: ContextVar[tuple[Listener, ...]] = ContextVar("automm_activity", default=())


def step(what: str, done: int, total: int, unit: str = "steps") -> None:
    """Say that ``done`` of ``total`` ``unit`` of the step ``what`` are done."""
    listeners = _LISTENERS.get()
    for listener in listeners:
        listener(what, done, total)
    if not listeners and done == 0:
        logger.info("%s: %d %s", what, total, unit[:-1] if total == 1 and unit.endswith("s") else unit)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Within this block ``listener`` hears every `step`."""
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield
    finally:
        _LISTENERS.reset(token)
