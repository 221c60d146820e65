"""BM-NAS's step rule decided on validation scores: may a derived step read one node twice?

The paper derives each step's two inputs independently, so a step can read one node twice (``glu(y,y)``
fuses nothing); automm's default (``step_inputs="distinct"``) takes the best pair of two different nodes.
That default was once chosen by test accuracy; this benchmark decides it again without test rows.

For each data set and seed: the yardstick's protocol split (`versus_baselines.protocol_split`, 80/20 per
seed; avmnist its own split) through a `.npz` with fixed ``train``/``test`` rows, so the search carves its
validation rows out of ``train``. Two plain BM-NAS runs (``Study(method="bmnas", folds=1).optimize(1)``:
the bilevel search, derivation, the derived network trained from scratch with early stopping), identical
but for ``bmnas={"step_inputs": rule}``. The decision uses the validation score of the derived network
(``best_value``, rows the test split never enters); **rule: the default is the rule with the higher mean
validation score over every data set and seed (paired)**. The test split is scored once per run, after
the run (`Study.evaluate`, retrained on train+validation), for the report only.

Usage: python benchmarks/bmnas_step_inputs.py [--datasets digits,handwritten,...] [--seeds 3] [--jobs 2]
           [--log rows.jsonl [--any-commit]]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import json
import logging
import multiprocessing as mp
import os
import tempfile
import time
from typing import Any

import numpy as np

try:  # imported when the benchmark starts, so the section names the code that ran
    from benchmarks._datasets import load_shared
    from benchmarks._results import package_commit, paired, record, reused_rows, sign_test, verdict
    from benchmarks.versus_baselines import DATA_DIR, write_protocol_npz
except ModuleNotFoundError:  # run as a script
    from _datasets import load_shared  # type: ignore[no-redef]
    from _results import package_commit, paired, record, reused_rows, sign_test, verdict  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR, write_protocol_npz  # type: ignore[no-redef]

RULES = ("distinct", "paper")


def run(job: tuple[str, str, int, str]) -> dict[str, Any]:
    """One BM-NAS run of ``rule`` on (data set, seed), one torch thread."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import optuna
    import torch

    import automm

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    name, rule, seed, data_dir = job
    dataset = load_shared(name, data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        npz = write_protocol_npz(dataset, seed, Path(tmp))
        start = time.perf_counter()
        study = automm.Study(
            data=npz,
            method="bmnas",
            seed=seed,
            runs_dir=Path(tmp) / "runs",
            study_name=f"bmnas-{rule}",
            folds=1,
            ensemble_size=1,
            bmnas={"step_inputs": rule},
        )
        study.optimize(1)
        wall = time.perf_counter() - start
        genotype = study.best_genotype
        val = float(study.best_value)  # decided on this: the derived network's validation score
        test = float(study.evaluate(seeds=1).mean)  # reported once, after the run
    steps = [s for c in genotype.cells for s in c.steps]
    return {
        "dataset": name,
        "rule": rule,
        "seed": seed,
        "val": val,
        "test": test,
        "wall": wall,
        "genotype": str(genotype),
        "steps_reading_one_node_twice": sum(s.x == s.y for s in steps),
        "steps": len(steps),
        "commit": package_commit(),
    }


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["dataset"], row["rule"], row["seed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,handwritten,cub,avmnist,bbcsport,3sources,webkb,20news")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--log", type=Path, help="JSON rows of an earlier run of this package commit: not rerun")
    parser.add_argument("--any-commit", action="store_true", help="with --log: reuse rows of other commits too")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    for name in names:  # build caches (avmnist) once, before the pool starts
        load_shared(name, args.data_dir)
    jobs = [(n, r, s, args.data_dir) for n in names for s in range(args.seeds) for r in RULES]
    rows = reused_rows(args.log, _key, {j[:3] for j in jobs}, args.any_commit) if args.log else []
    done = {_key(r) for r in rows}
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap_unordered(run, [j for j in jobs if j[:3] not in done], chunksize=1):
            print(json.dumps(row), flush=True)  # each run as it ends: --log resumes a cut-off run
            rows.append(row)
    total = time.perf_counter() - start
    body = report(rows, names, args.seeds, args.jobs, total)
    print(body)
    record("bmnas-step-inputs", "BM-NAS's step rule, decided on validation scores", body)


def report(rows: list[dict[str, Any]], names: list[str], seeds: int, jobs: int, total: float) -> str:
    lines = [
        "| data set | validation, distinct | validation, paper | paired val diff (paper - distinct), 95% "
        "interval | test, distinct | test, paper | steps reading one node twice (paper) | wall s, distinct / paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    val_diffs: list[float] = []
    test_diffs: list[float] = []
    for name in names:
        by = {r: {row["seed"]: row for row in rows if row["dataset"] == name and row["rule"] == r} for r in RULES}
        common = sorted(set(by["distinct"]) & set(by["paper"]))
        if not common:
            continue
        a, b = [by["distinct"][s] for s in common], [by["paper"][s] for s in common]
        vd = [y["val"] - x["val"] for x, y in zip(a, b, strict=True)]
        val_diffs += vd
        test_diffs += [y["test"] - x["test"] for x, y in zip(a, b, strict=True)]
        mean, low, high = paired(vd)
        twice = sum(r["steps_reading_one_node_twice"] for r in b)
        lines.append(
            f"| {name} | {100 * np.mean([r['val'] for r in a]):.2f} | {100 * np.mean([r['val'] for r in b]):.2f} | "
            f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] | {100 * np.mean([r['test'] for r in a]):.2f} | "
            f"{100 * np.mean([r['test'] for r in b]):.2f} | {twice} of {sum(r['steps'] for r in b)} | "
            f"{np.mean([r['wall'] for r in a]):.0f} / {np.mean([r['wall'] for r in b]):.0f} |"
        )
    mean, low, high = paired(val_diffs)
    chosen = "paper" if np.mean(val_diffs) > 0 else "distinct"
    test_mean, test_low, test_high = paired(test_diffs)
    return "\n".join(
        [
            f"Validation and test accuracy in %, mean over seeds 0..{seeds - 1}; paired differences in points. "
            f"One BM-NAS run per rule, data set and seed (`folds=1`, the default settings otherwise); 1 torch "
            f"thread per job, {jobs} jobs in parallel; whole run {total / 60:.1f} min.",
            "",
            *lines,
            "",
            f"- Validation, paper - distinct, over every data set and seed: {mean:+.2f} [{low:+.2f}, {high:+.2f}] "
            f"({verdict(low, high)}); {sign_test(val_diffs)}.",
            f"- **Chosen by the rule (higher mean validation score): `{chosen}`.**",
            f"- Test, paper - distinct (reported once, not used): {test_mean:+.2f} "
            f"[{test_low:+.2f}, {test_high:+.2f}].",
        ]
    )


if __name__ == "__main__":
    main()
