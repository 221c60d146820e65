"""A search budget in wall-clock time: parse it, and stop a search where the next unit no longer fits.

A *unit* is the stretch of trials after which a method stops cleanly: one generation for KS-NAS
(`SearchMethod.trials_to_boundary`), one trial for the others. After every finished trial the
budget measures a trial's duration (median seconds of this run's finished trials, over every worker)
and the pace (that, divided by the parallel jobs), and decides: at a unit boundary the search goes on
only if a whole unit more fits before the deadline; inside a unit it goes on while one more trial (its
whole duration, whatever the jobs) fits, so a generation is not abandoned on a poor early estimate.
The deadline is absolute wall-clock time, so parallel workers share it.

The budget is the whole command's: what follows the search inside it (training the delivered model,
the export) is held back as a `DeliveryReserve`, predicted from the trials themselves and updated after
each one, so the search stops early enough to leave delivery its time.
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
from automm.store import fold_networks
from automm.store.trial_record import TrialRecord

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


MEMBERS_EXPECTED = 3  # distinct members a greedy ensemble of 5 rounds delivers, a middle estimate (1 to 4 seen)
ONE_SPLIT_REFIT = 1.25  # one split: the delivered network retrains on train + validation (a quarter more rows)


@dataclass(frozen=True)
class DeliveryReserve:
    """Predicted seconds of delivery after the search: the recorded training seconds of the best
    ``members`` fully scored candidates (a fold bag retrains the K networks its K folds trained; one split
    retrains one network on ``refit`` times the rows; a bag whose networks the search kept, with
    ``reuses_kept``, costs nothing), plus ``fixed`` seconds (the export and its check).

    With one split (``refit`` > 1), a warm-started candidate is delivered from scratch: a fit with early
    stopping finds its epochs, then it trains on train+validation (`automm.delivery.trainer`). Its
    seconds per epoch are then multiplied by the epochs of the study's from-scratch candidates (their
    median: epochs run, plus ``refit`` times the best epoch), not by its own short warm schedule. In a
    study without one (KS-NAS warm-starts every candidate), by an estimate: the from-scratch best epoch
    comes no earlier than the warm start's nor than ``scratch_floor`` (the method's
    `SearchMethod.scratch_epochs_floor`), the early-stopping run lasts that plus ``patience``, and the
    refit ``refit`` times that best epoch. With ``finish_patience`` (the search's patience; 0: the chosen
    members are not finished), a kept warm-started candidate is finished first (`automm.delivery.finishing`):
    each fold network trains again for its warm best epoch plus ``finish_patience`` + 1 epochs, at its
    trial's seconds per epoch. Picklable, so parallel workers hold back the same reserve."""

    members: int
    refit: float = 1.0
    fixed: float = 0.0
    reuses_kept: bool = False
    patience: int = 0
    scratch_floor: int = 0
    finish_patience: int = 0

    def __call__(self, study: optuna.Study) -> float:
        records = [TrialRecord.of(t) for t in queries.completed(study)]
        kept = {t.number for t in fold_networks.kept_trials(study)} if self.reuses_kept else set()
        trained = [
            r for r in records if r.fully_scored and r.duplicate_of is None and r.seconds and r.value is not None
        ]
        best = sorted(trained, key=lambda r: -float(r.value))[: self.members]  # type: ignore[arg-type]
        scratch = self._scratch_epochs(trained)
        seconds = 0.0
        for r in best:
            if r.number in kept:
                if self.finish_patience and r.initial_score is not None and r.epochs:
                    again = sum(e + self.finish_patience + 1 for e in r.fold_best_epochs)
                    seconds += float(r.seconds) / r.epochs * again  # type: ignore[arg-type]
                continue
            if self.refit > 1.0 and r.initial_score is not None and r.epochs:
                best_epoch = max(float(r.best_epoch or 1), float(self.scratch_floor))
                estimate = best_epoch + self.patience + self.refit * best_epoch
                seconds += float(r.seconds) / r.epochs * (scratch if scratch is not None else estimate)  # type: ignore[arg-type]
            else:
                seconds += self.refit * float(r.seconds)  # type: ignore[arg-type]
        return seconds + self.fixed

    def _scratch_epochs(self, trained: list[TrialRecord]) -> float | None:
        """Epochs a from-scratch delivery trains (one split): median epochs run plus ``refit`` times the
        median best epoch of the from-scratch candidates; None without one."""
        scratch = [r for r in trained if r.initial_score is None and r.epochs and r.best_epoch is not None]
        if not scratch:
            return None
        run = statistics.median(float(r.epochs) for r in scratch)  # type: ignore[arg-type]
        best = statistics.median(float(r.best_epoch) for r in scratch)  # type: ignore[arg-type]
        return run + self.refit * best


@dataclass
class TimeBudget:
    """An Optuna callback that stops the search when the next unit (or trial) would end past
    ``deadline`` (seconds since the epoch); trials started before ``started`` are not this run's."""

    deadline: float
    method: SearchMethod
    started: float = field(default_factory=time.time)
    jobs: int = 1
    stopped_by_budget: bool = False
    reserve: DeliveryReserve | None = None  # held back from the deadline for what follows the search

    def pace(self, study: optuna.Study) -> float | None:
        """Seconds per trial at this run's parallelism (None before this run finished one)."""
        duration = self.duration(study)
        return None if duration is None else duration / max(1, self.jobs)

    def duration(self, study: optuna.Study) -> float | None:
        """Median seconds of one of this run's finished trials (None before this run finished one)."""
        durations = [
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in study.get_trials(deepcopy=False, states=queries.FINISHED)
            if t.datetime_start is not None
            and t.datetime_complete is not None
            and t.datetime_start.timestamp() >= self.started - 1.0
        ]
        return statistics.median(durations) if durations else None

    def search_deadline(self, study: optuna.Study) -> float:
        """The deadline less the reserve for what follows the search."""
        return self.deadline - (self.reserve(study) if self.reserve is not None else 0.0)

    def fits(self, study: optuna.Study, now: float | None = None) -> bool:
        """Whether the search may go on (see module docstring)."""
        now = time.time() if now is None else now
        limit = self.search_deadline(study)
        if now >= limit:
            return False
        duration = self.duration(study)
        if duration is None:
            return True
        at_boundary = self.method.trials_to_boundary(study) == 0
        unit = (self.method.generation_size or 1) * duration / max(1, self.jobs) if at_boundary else 0.0
        return now + max(unit, duration) <= limit

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not self.fits(study):
            self.stopped_by_budget = True
            study.stop()
