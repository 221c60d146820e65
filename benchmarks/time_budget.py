"""The time budget of a whole command: asked against used wall time, per data set, budget and jobs.

Each run is a fresh study through `automm.Study(...).optimize(time_budget=B, jobs=J)` followed by
`study.deliver(...)`, the path of ``automm search --time-budget B --jobs J``; "used" is the wall time of both
(knowledge-base pretraining, trials, the linear candidate and the ensemble choice, training the delivered
model and its export with model.onnx). Also shown: search and delivery apart, the delivery time the search
held back for (the reserve predicted when it stopped), the trials that fitted, whether the budget stopped the
search (or the schedule ended first), and the search's own estimate of its best candidate.

Each run prints its row as one JSON line. With ``--log FILE`` (the printed rows of earlier runs) a run whose
row is there, from this package commit, is not run again: a table can be built from runs made in parts.

Usage: python benchmarks/time_budget.py [--datasets digits,cub,3sources] [--budgets 60,180] [--jobs 1,2]
           [--generations N] [--note TEXT] [--section KEY] [--data-dir DIR]
           [--log FILE [--any-commit] [--logged-only]]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import json
import logging
import tempfile
import time
from typing import Any

try:
    from benchmarks._datasets import TEXT_SETS
    from benchmarks._results import package_commit, record, reused_rows
    from benchmarks.versus_baselines import DATA_DIR
except ModuleNotFoundError:  # run as a script
    from _datasets import TEXT_SETS  # type: ignore[no-redef]
    from _results import package_commit, record, reused_rows  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR  # type: ignore[no-redef]


def _study(name: str, data_dir: str, runs: str, generations: int | None):
    import automm

    longer = {} if generations is None else {"ksnas": {"generations": generations}}
    if name in TEXT_SETS:  # no preset: what a user gets from `automm search --data FILE`
        return automm.Study(data=Path(data_dir) / TEXT_SETS[name], runs_dir=runs, **longer)
    return automm.Study(name, data_dir=data_dir, runs_dir=runs, **longer)


def run_one(name: str, budget: float, jobs: int, data_dir: str, generations: int | None) -> dict[str, Any]:
    """One fresh study searched under ``budget`` seconds with ``jobs`` jobs, then delivered: its row."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        study = _study(name, data_dir, tmp, generations)
        study.optimize(time_budget=budget, jobs=jobs)
        searched = time.perf_counter() - start
        last = study.last_budget
        held = last.reserve(study.optuna_study) if last is not None and last.reserve else 0.0
        study.deliver(Path(tmp) / "model")
        used = time.perf_counter() - start
        return {
            "dataset": name,
            "budget": budget,
            "jobs": jobs,
            "generations": generations,
            "search_s": searched,
            "delivery_s": used - searched,
            "held_s": held,
            "used_s": used,
            "trials": study.n_finished(),
            "stopped_by": "budget" if last is not None and last.stopped_by_budget else "schedule",
            "best": study.best_value,
            "commit": package_commit(),
        }


def table_line(row: dict[str, Any]) -> str:
    from automm.search.budget import format_duration

    return (
        f"| {row['dataset']} | {format_duration(row['budget'])} | {row['jobs']} | {format_duration(row['search_s'])} | "
        f"{format_duration(row['delivery_s'])} ({format_duration(row['held_s'])}) | {format_duration(row['used_s'])} | "
        f"{row['used_s'] / row['budget']:.2f} | {row['trials']} | {row['stopped_by']} | {row['best']:.4f} |"
    )


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
    parser.add_argument("--log", type=Path, help="the printed rows of earlier runs: runs found there are not rerun")
    parser.add_argument("--any-commit", action="store_true", help="reuse --log rows of another package commit")
    parser.add_argument(
        "--logged-only", action="store_true", help="run nothing: the table of the --log rows asked for, naming the rest"
    )
    args = parser.parse_args()
    if args.logged_only and not args.log:
        parser.error("--logged-only needs --log")
    import optuna

    import automm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    runs = [
        (name, float(budget), int(jobs))
        for name in [n.strip() for n in args.datasets.split(",") if n.strip()]
        for budget in args.budgets.split(",")
        for jobs in args.jobs.split(",")
    ]

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["dataset"], float(row["budget"]), int(row["jobs"]), row.get("generations"))

    wanted = {(*run, args.generations) for run in runs}
    logged = {key(r): r for r in reused_rows(args.log, key, wanted, args.any_commit)} if args.log else {}
    rows, missing = [], []
    for run in runs:
        row = logged.get((*run, args.generations))
        if row is None and args.logged_only:
            missing.append(run)
            continue
        if row is None:
            row = run_one(run[0], run[1], run[2], args.data_dir, args.generations)
            print(json.dumps(row), flush=True)
        rows.append(row)
        print(table_line(row), flush=True)
    ratios = [r["used_s"] / r["budget"] for r in rows]
    lines = [
        "| data set | budget | jobs | search | delivery (held back) | used | used / budget | trials | stopped by "
        "| best (validation) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(table_line(r) for r in rows),
    ]
    not_run = ", ".join(f"{name} at {budget:g} s with {jobs} job{'s' * (jobs > 1)}" for name, budget, jobs in missing)
    body = "\n".join(
        [
            "Wall time of `Study(...).optimize(time_budget=B, jobs=J)` and `study.deliver(...)` together (what "
            "`automm search --time-budget B --jobs J` runs): digits and cub with their presets (KS-NAS, its N and "
            f"T), the text sets without one (`--data FILE`: KS-NAS's defaults), {args.generations} KS-NAS "
            "generations; 5 folds on small data; torch "
            'threads by automm\'s rule. "held back": the delivery seconds the search reserved when it stopped '
            "(`DeliveryReserve`).",
            "",
            *lines,
            "",
            f"used / budget: at most {max(ratios):.2f}, mean {sum(ratios) / len(ratios):.2f} over {len(ratios)} runs.",
            *([f"Not run (not in the --log rows): {not_run}."] if missing else []),
            *(["", args.note] if args.note else []),
        ]
    )
    print(body)
    record(args.section, "Time budget of the whole command (search and delivery): asked against used", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
