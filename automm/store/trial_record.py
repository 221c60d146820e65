"""`TrialRecord`: what the objective records of a trial, typed, read from one place.

The objective writes these fields with `record` as Optuna user attributes under the keys of
`automm.core.keys` (the same keys as before the record existed, so stored studies keep loading), and
every reader takes `TrialRecord.of(trial)` instead of parsing string-keyed attributes itself. A
method's own attributes (BM-NAS's search summary, KS-NAS's knowledge-base version) stay in its
wing, read by its `SearchMethod` members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.store import optuna_internals

# field -> user attribute key
KEYS = {
    "genotype": keys.GENOTYPE,
    "cache_key": keys.CACHE_KEY,
    "duplicate_of": keys.DUPLICATE_OF,
    "n_params": keys.N_PARAMS,
    "epochs": keys.EPOCHS,
    "best_epoch": keys.BEST_EPOCH,
    "seconds": keys.SECONDS,
    "val_curve": keys.VAL_CURVE,
    "initial_score": keys.INITIAL_SCORE,
    "diagram": keys.DIAGRAM,
    "first_try": keys.BASELINE,
    "folds": keys.FOLDS,
    "fold_scores": keys.FOLD_SCORES,
    "fold_best_epochs": keys.FOLD_BEST_EPOCHS,
    "raced_out": keys.RACED_OUT,
    "raced_at_epoch": keys.RACED_AT_EPOCH,
    "generation": keys.GENERATION,
}


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the objective left it. ``value``: the first objective (None while running or
    failed); ``fold_scores``: one validation score per fold scored (a one-split trial of an older
    study: its value); ``first_try``: the first-try name of an enqueued trial; ``generation``: set by
    methods with generations."""

    number: int
    state: TrialState
    value: float | None
    genotype: str | None = None
    cache_key: str | None = None
    duplicate_of: int | None = None
    n_params: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    val_curve: list[float] = field(default_factory=list)
    initial_score: float | None = None
    diagram: str | None = None
    first_try: str | None = None
    folds: int | None = None
    fold_scores: list[float] = field(default_factory=list)
    fold_best_epochs: list[int] = field(default_factory=list)
    raced_out: bool = False
    raced_at_epoch: int | None = None
    generation: int | None = None

    @classmethod
    def of(cls, trial: FrozenTrial | optuna.Trial) -> TrialRecord:
        """The record of a finished trial, or of a running one so far (state RUNNING, no value)."""
        attrs = trial.user_attrs
        values = getattr(trial, "values", None)
        value = float(values[0]) if values else None
        scores = attrs.get(keys.FOLD_SCORES)
        best_epochs = attrs.get(keys.FOLD_BEST_EPOCHS)
        if best_epochs is None:  # one split, older studies
            best_epochs = [attrs[keys.BEST_EPOCH]] if attrs.get(keys.BEST_EPOCH) is not None else []
        generation = attrs.get(keys.GENERATION)
        duplicate = attrs.get(keys.DUPLICATE_OF)
        return cls(
            number=trial.number,
            state=getattr(trial, "state", TrialState.RUNNING),
            value=value,
            genotype=attrs.get(keys.GENOTYPE),
            cache_key=attrs.get(keys.CACHE_KEY),
            duplicate_of=None if duplicate is None else int(duplicate),
            n_params=attrs.get(keys.N_PARAMS),
            epochs=None if attrs.get(keys.EPOCHS) is None else int(attrs[keys.EPOCHS]),
            best_epoch=attrs.get(keys.BEST_EPOCH),
            seconds=None if attrs.get(keys.SECONDS) is None else float(attrs[keys.SECONDS]),
            val_curve=[float(s) for s in attrs.get(keys.VAL_CURVE) or []],
            initial_score=attrs.get(keys.INITIAL_SCORE),
            diagram=attrs.get(keys.DIAGRAM),
            first_try=attrs.get(keys.BASELINE),
            folds=attrs.get(keys.FOLDS),
            fold_scores=[float(s) for s in scores] if scores is not None else ([value] if value is not None else []),
            fold_best_epochs=[int(e) for e in best_epochs if e is not None],
            raced_out=bool(attrs.get(keys.RACED_OUT, False)),
            raced_at_epoch=None if attrs.get(keys.RACED_AT_EPOCH) is None else int(attrs[keys.RACED_AT_EPOCH]),
            generation=None if generation is None else int(generation),
        )

    @property
    def complete(self) -> bool:
        return self.state == TrialState.COMPLETE

    @property
    def trained(self) -> bool:
        """Whether this trial trained its candidate (not a repeat that reused an earlier result)."""
        return self.duplicate_of is None

    @property
    def fully_scored(self) -> bool:
        """Whether it was scored on every fold (not raced out)."""
        return not self.raced_out

    def best_by_epoch(self, epoch: int) -> float | None:
        """Fold 0's best validation score after ``epoch`` epochs of a warm start (its score before
        training counts); None for a cold start, or one raced out inside fold 0 before ``epoch``."""
        if self.initial_score is None or (self.raced_at_epoch is not None and self.raced_at_epoch < epoch):
            return None
        return max([float(self.initial_score), *self.val_curve[:epoch]])


def as_attrs(**fields: Any) -> dict[str, Any]:
    """Record fields (`TrialRecord`'s names) as the user attributes that store them."""
    return {KEYS[name]: value for name, value in fields.items()}


def held_attrs(source: FrozenTrial, names: tuple[str, ...]) -> dict[str, Any]:
    """The user attributes of record fields ``names`` that ``source`` holds, as stored."""
    return {KEYS[name]: source.user_attrs[KEYS[name]] for name in names if KEYS[name] in source.user_attrs}


def record(trial: optuna.Trial, **fields: Any) -> None:
    """Write record fields (`TrialRecord`'s names) into a running trial (one transaction on a database)."""
    optuna_internals.set_user_attrs_together(trial, as_attrs(**fields))


def first_trained(study: optuna.Study, **match: str) -> FrozenTrial | None:
    """The first completed trial that trained its candidate (not a repeat) and whose record fields equal
    ``match`` (e.g. ``cache_key=...`` or ``genotype=...``), if any."""
    verbatim = {KEYS[name]: value for name, value in match.items() if name in _VERBATIM}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if any(t.user_attrs.get(key) != value for key, value in verbatim.items()):
            continue  # a field differs as stored: no record to build (asked once or twice a trial)
        found = TrialRecord.of(t)
        if found.trained and all(getattr(found, name) == value for name, value in match.items()):
            return t
    return None


def trials_of(trials: list[FrozenTrial], genotype: str) -> list[FrozenTrial]:
    """The trials among ``trials`` (any state) whose genotype is ``genotype``, read as stored."""
    return [t for t in trials if t.user_attrs.get(KEYS["genotype"]) == genotype]


_VERBATIM = ("genotype", "cache_key")  # record fields that hold their user attribute as stored


POOL_SIZE = 20  # the best candidates (by mean fold score) the delivered ensemble may draw from


def delivery_pool(trials: list[FrozenTrial], size: int = POOL_SIZE) -> list[FrozenTrial]:
    """The trials a delivered ensemble may draw from: of the completed trials scored on every fold (all
    completed ones, if racing left none), the best by score, the best trial of each genotype only, trained,
    with kept out-of-fold predictions; at most ``size``. New trials only push trials out of it."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    full = [t for t in complete if TrialRecord.of(t).fully_scored] or complete
    pool: list[FrozenTrial] = []
    seen: set[str | None] = set()
    for t in sorted(full, key=lambda t: -(t.values[0] if t.values else float("-inf"))):
        record = TrialRecord.of(t)
        if record.genotype in seen or not record.trained or keys.PREDICTIONS not in t.system_attrs:
            continue
        seen.add(record.genotype)
        pool.append(t)
        if len(pool) == size:
            break
    return pool
