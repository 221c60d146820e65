"""The time budget of a whole command: asked against used wall time, per data set, budget and jobs.

Each run is a fresh study through `automm.Study(...).optimize(time_budget=B, jobs=J)` followed by
`study.deliver(...)`, the path of ``automm search --time-budget B --jobs J``; "used" is the wall time of both
(knowledge-base pretraining, trials, the linear candidate and the ensemble choice, training the delivered
model and its export with model.onnx). Also shown: search and delivery apart, the delivery time the search
held back for (the reserve predicted when it stopped), the trials that fitted, whether the budget stopped the
search (or the schedule ended first), and the search's own estimate of its best candidate.

Usage: python benchmarks/time_budget.py [--datasets digits,cub,3sources] [--budgets 60,180] [--jobs 1,2]
           [--note TEXT] [--section KEY] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks._datasets import TEXT_SETS
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR
except ModuleNotFoundError:  # run as a script
    from _datasets import TEXT_SETS  # type: ignore[no-redef]
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR  # type: ignore[no-redef]


def _study(name: str, data_dir: str, runs: str, generations: int | None):
    import automm

    longer = {} if generations is None else {"ksnas": {"generations": generations}}
    if name in TEXT_SETS:  # no preset: what a user gets from `automm search --data FILE`
        return automm.Study(data=Path(data_dir) / TEXT_SETS[name], runs_dir=runs, **longer)
    return automm.Study(name, data_dir=data_dir, runs_dir=runs, **longer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,cub,3sources")
    parser.add_argument("--budgets", default="60,180", help="seconds, comma-separated")
    parser.add_argument("--jobs", default="1,2", help="parallel jobs, comma-separated")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument(
        "--generations", type=int, default=100, help="KS-NAS generations: a schedule longer than any budget here"
    )
    parser.add_argument("--note", default="", help="a sentence on the machine's load, printed under the table")
    parser.add_argument("--section", default="time-budget-whole", help="the RESULTS.md section to write")
    args = parser.parse_args()
    import optuna

    import automm
    from automm.search.budget import format_duration

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    lines = [
        "| data set | budget | jobs | search | delivery (held back) | used | used / budget | trials | stopped by "
        "| best (validation) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        for budget in [float(b) for b in args.budgets.split(",")]:
            for jobs in [int(j) for j in args.jobs.split(",")]:
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    study = _study(name, args.data_dir, tmp, args.generations)
                    study.optimize(time_budget=budget, jobs=jobs)
                    searched = time.perf_counter() - start
                    last = study.last_budget
                    held = last.reserve(study.optuna_study) if last is not None and last.reserve else 0.0
                    study.deliver(Path(tmp) / "model")
                    used = time.perf_counter() - start
                    stopper = "budget" if last is not None and last.stopped_by_budget else "schedule"
                    ratios.append(used / budget)
                    lines.append(
                        f"| {name} | {format_duration(budget)} | {jobs} | {format_duration(searched)} | "
                        f"{format_duration(used - searched)} ({format_duration(held)}) | {format_duration(used)} | "
                        f"{used / budget:.2f} | {study.n_finished()} | {stopper} | {study.best_value:.4f} |"
                    )
                    print(lines[-1], flush=True)
    body = "\n".join(
        [
            "Wall time of `Study(...).optimize(time_budget=B, jobs=J)` and `study.deliver(...)` together (what "
            "`automm search --time-budget B --jobs J` runs): digits and cub with their presets (KS-NAS, its N and "
            "T), the text sets without one (`--data FILE`: KS-NAS's defaults); 5 folds on small data; torch "
            'threads by automm\'s rule. "held back": the delivery seconds the search reserved when it stopped '
            "(`DeliveryReserve`).",
            "",
            *lines,
            "",
            f"used / budget: at most {max(ratios):.2f}, mean {sum(ratios) / len(ratios):.2f} over {len(ratios)} runs.",
            *(["", args.note] if args.note else []),
        ]
    )
    print(body)
    record(args.section, "Time budget of the whole command (search and delivery): asked against used", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
