"""Running a search: the objective (trial -> network -> trained on each fold -> score), folds and
racing, the first tries, the time budget, the trial loop and its workers, queries on the trials, and
the trial log.

Its modules are imported by name (``from automm.search import objective``); importing the package itself loads nothing.
"""

__all__ = [
    "budget",
    "first_tries",
    "folds",
    "jobs",
    "objective",
    "queries",
    "trial_log",
]
