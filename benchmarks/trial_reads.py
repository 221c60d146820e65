"""How long reading trials takes: Optuna's `RDBStorage` against automm's `TrialReadingRDBStorage`.

A study of ``--trials`` finished trials shaped like automm's (8 parameters, 30 user attributes, 10 system
attributes, 15 intermediate values, one value) and one running trial (8 parameters, 10 user and 10 system
attributes), on SQLite (a file) and PostgreSQL (a throwaway local server from Debian's postgresql package,
reached by a unix socket; ``--postgres URL`` uses a server of your own). Three reads, each the median of
``--repeats`` timings, by both classes on the same database:

- every trial of the study: what a process opening a study does first (a resumed search, `automm report`,
  `automm dashboard`, a new worker);
- a sync: the running trial and the trials finished since the last read (Optuna's cache does this twice a
  trial: in ``ask``, and when the sampler reads the study);
- the running trial alone (Optuna's ``ask``, ``tell`` and trial loop read it once each a trial).

Both classes must return the same trials (checked on every read); the table gives milliseconds.

Usage: python benchmarks/trial_reads.py [--trials 300] [--repeats 20] [--postgres URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from automm.store.optuna_internals import TrialReadingRDBStorage
from benchmarks._results import record

DISTRIBUTIONS = {
    "n_layers": IntDistribution(1, 4),
    "width": IntDistribution(32, 512, log=True),
    "fusion": CategoricalDistribution(("concat", "sum", "attention")),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
    "view_a": CategoricalDistribution((True, False)),
    "view_b": CategoricalDistribution((True, False)),
    "act": CategoricalDistribution(("relu", "gelu")),
}


def _trial(number: int) -> optuna.trial.FrozenTrial:
    """A finished trial shaped like automm's."""
    return create_trial(
        state=TrialState.COMPLETE,
        value=0.9 + number * 1e-4,
        params={name: _value(dist, number) for name, dist in DISTRIBUTIONS.items()},
        distributions=DISTRIBUTIONS,
        user_attrs={f"attr_{i}": {"fold": i, "curve": [0.5, 0.7, 0.8], "note": "x" * 40} for i in range(30)},
        system_attrs={f"system_{i}": [number, i] for i in range(10)},
        intermediate_values={step: 0.5 + step / 100 for step in range(15)},
    )


def _value(dist: Any, number: int) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[number % len(dist.choices)]
    if isinstance(dist, IntDistribution):
        return dist.low + number % (dist.high - dist.low + 1)
    return dist.low + (dist.high - dist.low) * ((number * 37) % 100) / 100


def _median_ms(read: Callable[[], Any], repeats: int) -> float:
    read()  # warm: compiled statements, connections
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        read()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure(url: str, trials: int, repeats: int) -> list[tuple[str, float, float]]:
    """(read, Optuna's ms, automm's ms) for each read, after checking both return the same trials."""
    optunas, ours = RDBStorage(url), TrialReadingRDBStorage(url)
    study = optuna.create_study(storage=optunas, study_name="reads")
    study.add_trials([_trial(n) for n in range(trials)])
    running = study.ask()  # as a running automm trial holds it after its first write: parameters, attributes
    for name, dist in DISTRIBUTIONS.items():
        optunas.set_trial_param(running._trial_id, name, dist.to_internal_repr(_value(dist, trials)), dist)
    for i in range(10):
        optunas.set_trial_user_attr(running._trial_id, f"attr_{i}", {"fold": i})
        optunas.set_trial_system_attr(running._trial_id, f"system_{i}", [trials, i])
    study_id, running_id = study._study_id, running._trial_id
    last_finished = running_id - 1
    recent = {last_finished - n for n in range(3)}
    reads: dict[str, Callable[[RDBStorage], Any]] = {
        "every trial of the study": lambda s: s._get_trials(study_id, None, set(), -1),
        "a sync (the running trial, 3 finished since)": lambda s: s._get_trials(
            study_id, None, {running_id}, last_finished - 3
        ),
        "the running trial": lambda s: s.get_trial(running_id),
    }
    rows = []
    for name, read in reads.items():
        mine, theirs = read(ours), read(optunas)
        if mine != theirs:
            raise AssertionError(f"{name}: the two storages read different trials")
        if name.startswith("a sync") and {t._trial_id for t in mine} != recent | {running_id}:
            raise AssertionError("the sync read other trials than the running one and those finished since")
        rows.append((name, _median_ms(lambda r=read: r(optunas), repeats), _median_ms(lambda r=read: r(ours), repeats)))
    return rows


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from tests.postgres import fresh_database, running_postgres

    with running_postgres() as server:
        yield fresh_database(server, "reads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="finished trials in the study")
    parser.add_argument("--repeats", type=int, default=20, help="timings of each read (the median is given)")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: a throwaway local server)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = [
        "| storage | read | Optuna's RDBStorage, ms | automm's TrialReadingRDBStorage, ms | ratio |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp, postgres(args.postgres) as pg_url:
        for storage, url in (("SQLite", f"sqlite:///{tmp}/reads.db"), ("PostgreSQL", pg_url)):
            for name, before, now in measure(url, args.trials, args.repeats):
                table.append(f"| {storage} | {name} | {before:.2f} | {now:.2f} | {before / now:.2f}x |")
                print(table[-1], flush=True)
    body = "\n".join(table) + (
        f"\n\nA study of {args.trials} finished trials shaped like automm's (8 parameters, 30 user and 10 system "
        "attributes, 15 intermediate values) and one running trial (8 parameters, 10 user and 10 system attributes); "
        "each read the median of "
        f"{args.repeats} timings, both classes on the same database, the trials read checked equal."
    )
    print(body)
    record("trial-reads", "Reading trials: Optuna's RDBStorage against automm's TrialReadingRDBStorage", body)


if __name__ == "__main__":
    main()
