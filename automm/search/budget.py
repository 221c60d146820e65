"""A search budget in wall-clock time: parse it, and stop a search where the next unit no longer fits.

A *unit* is the stretch of trials after which a method stops cleanly: one generation for KS-NAS
(`SearchMethod.trials_to_boundary`), one trial for the others. After every finished trial the
budget measures the pace (median seconds of this run's finished trials, over every worker,
divided by the parallel jobs) and decides: at a unit boundary the search goes on only if a whole
unit more fits before the deadline; inside a unit it goes on while one more trial fits, so a
generation is not abandoned on a poor early estimate (nor generation 0 on a budget shorter than
it). The deadline is absolute wall-clock time, so parallel workers share it.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna

from automm.core.errors import AutommError
from automm.search import queries

if TYPE_CHECKING:
    from automm.methods.base import SearchMethod

DEFAULT_TIME_BUDGET = 600.0  # seconds: a search on data without a preset, unless trials are asked for
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text``: a number of seconds, or amounts with units s, m, h, d (``90s``, ``10m``,
    ``1h30m``, ``2h``)."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        cleaned = str(text).strip().lower().replace(" ", "")
        try:
            seconds = float(cleaned)
        except ValueError:
            parts = _DURATION.findall(cleaned)
            if not parts or "".join(n + u for n, u in parts) != cleaned:
                raise AutommError(
                    f"cannot read the duration {text!r}; write e.g. 90s, 10m, 1h30m or a number of seconds"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise AutommError(f"a time budget must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h02m``, ``4m05s``, ``12s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class TimeBudget:
    """An Optuna callback that stops the search when the next unit (or trial) would end past
    ``deadline`` (seconds since the epoch); trials started before ``started`` are not this run's."""

    deadline: float
    method: SearchMethod
    started: float = field(default_factory=time.time)
    jobs: int = 1
    stopped_by_budget: bool = False

    def pace(self, study: optuna.Study) -> float | None:
        """Seconds per trial at this run's parallelism (None before this run finished one)."""
        durations = [
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in study.get_trials(deepcopy=False, states=queries.FINISHED)
            if t.datetime_start is not None
            and t.datetime_complete is not None
            and t.datetime_start.timestamp() >= self.started - 1.0
        ]
        return statistics.median(durations) / max(1, self.jobs) if durations else None

    def fits(self, study: optuna.Study, now: float | None = None) -> bool:
        """Whether the search may go on (see module docstring)."""
        now = time.time() if now is None else now
        if now >= self.deadline:
            return False
        pace = self.pace(study)
        if pace is None:
            return True
        at_boundary = self.method.trials_to_boundary(study) == 0
        needed = (self.method.generation_size or 1) if at_boundary else 1
        return now + needed * pace <= self.deadline

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not self.fits(study):
            self.stopped_by_budget = True
            study.stop()
