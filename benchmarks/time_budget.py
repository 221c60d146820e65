"""The time budget: asked against used wall time, per data set, with the data set's preset (KS-NAS).

Each run is a fresh study through `automm.Study(...).optimize(time_budget=...)`, the path of
``automm search --time-budget``; "used" is the wall time of the whole call (trials, knowledge-base
pretraining, the linear candidate and the ensemble choice at the end). Also shown: the trials and
generations that fitted, whether the budget stopped the search (or the schedule ended first), and
the search's own estimate of its best candidate.

Usage: python benchmarks/time_budget.py [--datasets digits,handwritten,cub] [--budgets 60,180] [--note TEXT]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR  # type: ignore[no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,handwritten,cub")
    parser.add_argument("--budgets", default="60,180", help="seconds, comma-separated")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--note", default="", help="a sentence on the machine's load, printed under the table")
    args = parser.parse_args()
    import optuna

    import automm
    from automm.core.keys import GENERATION
    from automm.search.budget import format_duration

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    lines = [
        "| data set | budget | used | used / budget | trials | generations | stopped by | best (validation) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        for budget in [float(b) for b in args.budgets.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                study = automm.Study(name, data_dir=args.data_dir, runs_dir=tmp)
                study.optimize(time_budget=budget)
                used = time.perf_counter() - start
                gens = {t.user_attrs.get(GENERATION) for t in study.optuna_study.trials} - {None}
                stopper = "budget" if study.last_budget and study.last_budget.stopped_by_budget else "schedule"
                lines.append(
                    f"| {name} | {format_duration(budget)} | {format_duration(used)} | {used / budget:.2f} | "
                    f"{study.n_finished()} | {len(gens)} | {stopper} | {study.best_value:.4f} |"
                )
                print(lines[-1], flush=True)
    body = "\n".join(
        [
            "Wall time of `Study(name).optimize(time_budget=B)` (the data set's preset: KS-NAS, its N and T, 5 folds "
            "on small data), from the study's creation to the chosen ensemble; torch threads by automm's rule.",
            "",
            *lines,
            *(["", args.note] if args.note else []),
        ]
    )
    print(body)
    record("time-budget", "Time budget: asked against used", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
