"""Issue 28's moonshot, toward the physical limit: what does a 400-individual KS-NAS search (N = T = 20, the
paper's schedule) cost, counted in from-scratch trainings of one candidate?

For each data set and seed: the 80/20 protocol split of `versus_baselines`, automm's fold rule (``folds = 0``),
a KS-NAS search of N x T individuals with the variant's knowledge settings. Its cost is every epoch it trains
(individuals + KB pretraining, one KB per fold). The unit is one from-scratch training of one candidate as the
search scores it: the search's best genotype trained from its random initialisation on every fold, with
automm's default (cold) early stopping; its epochs summed over the folds. The search's delivered model is not
built here (the search cost is the question); the best out-of-fold score is reported beside the cost, and the
test rows are never read.

Usage: python benchmarks/search_cost_floor.py [--datasets digits cub ...] [--seeds 1] [--population 20]
           [--generations 20] [--variants "per-fold KBs" "retrain repeats"] [--workers 2] [--log rows.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import os
import tempfile
import time
from typing import Any

import numpy as np

try:  # imported when the benchmark starts, so the section names the code that ran
    from benchmarks._results import machine, package_commit, record, run_logged
    from benchmarks.knowledge_sharing import DATA_DIR, VARIANTS, variant_study
except ModuleNotFoundError:
    from _results import machine, package_commit, record, run_logged  # type: ignore[no-redef]
    from knowledge_sharing import DATA_DIR, VARIANTS, variant_study  # type: ignore[no-redef]


def run_one(job: tuple[str, str, int, int, int]) -> dict[str, Any]:
    from automm.search import queries
    from automm.store.trial_record import TrialRecord

    name, variant, seed, population, generations = job
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        study = variant_study(name, variant, seed, population, generations, runs)
        study.optimize()
        wall = time.perf_counter() - start
        cost = study.training_cost()
        records = [TrialRecord.of(t) for t in queries.completed(study.optuna_study)]
        # the unit: the best genotype trained from scratch on every fold, as a cold candidate is scored
        objective, genotype = study.objective, study.best_genotype
        unit_epochs, unit_start = 0, time.perf_counter()
        for k in range(len(study.fold_data)):
            result = objective.train(objective.build(genotype, k), genotype, None, warm=False, fold=k)
            unit_epochs += result.epochs
        unit_wall = time.perf_counter() - unit_start
        return {
            "dataset": name,
            "variant": variant,
            "seed": seed,
            "folds": len(study.fold_data),
            "trials": len(records),
            "trained": sum(r.trained for r in records),
            "genotypes": len({r.genotype for r in records}),
            "search_epochs": cost["epochs"],
            "pretrain_epochs": cost["pretrain_epochs"],
            "search_wall": wall,
            "best_oof": study.best_value,
            "best_genotype": str(genotype),
            "unit_epochs": unit_epochs,
            "unit_wall": unit_wall,
            "commit": package_commit(),
            "machine": machine(),
        }


def table(rows: list[dict[str, Any]], datasets: list[str], variants: list[str]) -> str:
    lines = [
        "| data set | variant | folds | trials (trained / genotypes) | search epochs (of which KB) | one candidate "
        "from scratch, epochs | search / one candidate, epochs | search / one candidate, wall | best out-of-fold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in datasets:
        for v in variants:
            rs = [r for r in rows if r["dataset"] == d and r["variant"] == v]
            if not rs:
                continue
            ratio = [r["search_epochs"] / r["unit_epochs"] for r in rs]
            wall = [r["search_wall"] / r["unit_wall"] for r in rs]
            lines.append(
                f"| {d} | {v} | {rs[0]['folds']} | {np.mean([r['trials'] for r in rs]):.0f} "
                f"({np.mean([r['trained'] for r in rs]):.0f} / {np.mean([r['genotypes'] for r in rs]):.0f}) | "
                f"{np.mean([r['search_epochs'] for r in rs]):.0f} ({np.mean([r['pretrain_epochs'] for r in rs]):.0f})"
                f" | {np.mean([r['unit_epochs'] for r in rs]):.0f} | {np.mean(ratio):.1f} "
                f"[{min(ratio):.1f}, {max(ratio):.1f}] | {np.mean(wall):.1f} | "
                f"{100 * np.mean([r['best_oof'] for r in rs]):.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["digits", "cub", "bbcsport", "3sources", "webkb", "20news"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--variants", nargs="+", default=["per-fold KBs"], choices=VARIANTS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the shared data sets' folder")
    parser.add_argument("--log", type=Path, help="JSON rows of an earlier run of this package commit: jobs not rerun")
    parser.add_argument("--section", default="search-cost-floor", help="the RESULTS.md section to write")
    args = parser.parse_args()
    os.environ["AUTOMM_SHARED_DATA"] = str(args.data_dir.resolve())
    os.environ["OMP_NUM_THREADS"] = "1"  # one torch thread per job (see knowledge_sharing.py)
    jobs = [
        (d, v, s, args.population, args.generations)
        for d in args.datasets
        for v in args.variants
        for s in range(args.seeds)
    ]
    rows = run_logged(
        run_one, jobs, lambda j: j[:3], lambda r: (r["dataset"], r["variant"], r["seed"]), args.workers, args.log
    )
    body = table(rows, args.datasets, args.variants)
    print(body)
    note = (
        f"{args.seeds} seeds, N = {args.population}, T = {args.generations}, automm's fold rule. Search epochs: "
        "every epoch the search trained (individuals and KB pretraining). One candidate from scratch: the search's "
        "best genotype trained from random weights on every fold with the default early stopping (the unit of the "
        "issue's goal: the search costs at most 20 of them); ratios per seed, mean [min, max]. Each job in its own "
        f"process with one torch thread, {args.workers} at a time."
        + "".join(f" Machine: {m}." for m in sorted({r.get("machine", "this one") for r in rows}))
    )
    record(
        args.section,
        f"Search cost in from-scratch trainings of one candidate (N = {args.population}, T = {args.generations})",
        body + "\n\n" + note,
    )


if __name__ == "__main__":
    main()
