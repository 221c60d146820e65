"""Search throughput and quality on digits and handwritten, next to a concat + LR baseline.

For each data set: one TPE search (SQLite storage, as a user runs it), then
- trials per minute and the share of wall time spent outside network training
  (sampler, storage, data preparation, bookkeeping);
- best validation score, and the test score of the best genotype retrained on
  train+validation (mean +- std over 3 seeds);
- concatenation + logistic regression: validation (fit on train) and test (fit on train+val).

Usage: python benchmarks/search_throughput.py [--trials 30] [--data-dir ../shared/data]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import tempfile
import time

import numpy as np
import optuna

import automm
from automm.data.registry import load_dataset
from automm.search.first_tries import concat_logistic_regression

try:
    from benchmarks._results import record
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]


def run(name: str, trials: int, data_dir: Path, seed: int) -> dict[str, object]:
    dataset = load_dataset(name, data_dir=data_dir, seed=seed)
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        study = automm.Study(dataset, sampler="tpe", seed=seed, runs_dir=runs)
        study.optimize(trials)
        wall = time.perf_counter() - start
        train_seconds = sum(t.user_attrs.get("seconds", 0.0) for t in study.optuna_study.trials)
        evaluation = study.evaluate(seeds=3)
        s = dataset.splits
        trainval = np.concatenate([s.train, s.val])
        return {
            "data set": name,
            "trials": trials,
            "wall s": f"{wall:.1f}",
            "trials/min": f"{trials / wall * 60:.1f}",
            "outside training": f"{100 * (1 - train_seconds / wall):.1f}%",
            "best val": f"{study.best_value:.4f}",
            "test (3 seeds)": f"{evaluation.mean:.4f} ± {evaluation.std:.4f}",
            "concat+LR val": f"{concat_logistic_regression(dataset, s.train, s.val):.4f}",
            "concat+LR test": f"{concat_logistic_regression(dataset, trainval, s.test):.4f}",
            "best genotype": f"`{study.best_genotype}`",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import automm

    automm.set_verbosity(logging.WARNING)  # no line per trial
    rows = [run(name, args.trials, args.data_dir, args.seed) for name in ("digits", "handwritten")]
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    note = (
        "Metric: accuracy. Sampler TPE, default SQLite storage, preset settings (`studies/*.toml`). "
        "'outside training' = 1 - (sum of per-trial training seconds) / wall time of the search."
    )
    record("search-throughput", "Search throughput and quality (foundation)", table + "\n\n" + note)


if __name__ == "__main__":
    main()
