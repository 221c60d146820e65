"""Threads and parallel jobs: trials per minute for 1 thread vs torch's default, idle and beside a
competing process, and for ``--jobs 1/2/4``, in one run.

Part 1 (threads): the same search (random sampler, seed 0, one split, fixed epochs, so every
setting trains identical trials) on synthetic data whose widths set the work per batch (the
quantity `automm.core.threads` decides by), once with 1 intra-op thread and once with torch's default
(one per core); each idle and beside a competing process (another torch process multiplying
matrices with its default threads, as a second search would). Part 2 (jobs): a digits search of
the same trials with ``jobs`` = 1, 2, 4 and automm's thread rule; trials per minute of wall time,
worker start-up included.

Usage: python benchmarks/threads_and_jobs.py [--trials 6] [--job-trials 24]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import subprocess
import tempfile
import time

import numpy as np

try:
    from benchmarks._results import record
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]

COMPETITOR = "import torch\nx = torch.randn(1024, 1024)\nwhile True:\n    x = torch.tanh(x @ x / 1024)\n"
# (name, view widths, fusion width FD, batch size)
SIZES = [
    ("small: 3 views of 64, FD 128", (64, 64, 64), 128, 64),
    ("medium: 3 views of 512, FD 256", (512, 512, 512), 256, 128),
    ("large: 2 views of 2048, FD 512", (2048, 2048), 512, 128),
]


def synthetic(widths: tuple[int, ...], n: int = 3000, classes: int = 10):
    from automm.data.dataset import MultimodalDataset
    from automm.data.splits import make_splits

    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n)
    views = {}
    for i, d in enumerate(widths):
        centres = rng.normal(size=(classes, d))
        views[f"v{i}/x"] = (centres[labels] + 3 * rng.normal(size=(n, d))).astype(np.float32)
    return MultimodalDataset(
        name="synthetic",
        views=views,
        labels=labels,
        task="multiclass",
        class_names=[str(c) for c in range(classes)],
        splits=make_splits(labels, seed=0),
    )


def search_rate(dataset, config, trials: int, threads: int | None, jobs: int = 1) -> float:
    """Trials per minute of a fresh random search."""
    import optuna

    import automm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    with tempfile.TemporaryDirectory() as tmp:
        study = automm.Study(dataset, method="random", seed=0, runs_dir=tmp, config=config)
        start = time.perf_counter()
        study.optimize(trials, threads=threads, jobs=jobs, time_budget="none")
        return 60 * study.n_finished() / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--job-trials", type=int, default=24)
    args = parser.parse_args()
    import torch

    import automm
    from automm.core.threads import SMALL_WORK, available_cores, batch_work, choose_threads

    cores = available_cores()
    default_threads = torch.get_num_threads()
    # warm-up: the first search of a process pays one-off imports and initialisation, not a setting
    search_rate(synthetic((8, 8)), automm.SearchConfig(folds=1, ensemble_size=1, max_epochs=1), 2, 1)
    torch.set_num_threads(default_threads)
    rows = []
    for name, widths, fd, batch in SIZES:
        data = synthetic(widths)
        config = automm.SearchConfig(
            folds=1, ensemble_size=1, fusion_dim=fd, batch_size=batch, max_epochs=4, patience=100, max_views=0
        )
        work = batch_work(dict(data.view_dims), fd, batch, data.n_classes)
        rule = choose_threads(None, 1, work, cores) or default_threads
        rates = {}
        for condition in ("idle", "competing"):
            competitor = None
            if condition == "competing":
                competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
                time.sleep(2)
            try:
                for threads in (1, default_threads):
                    rates[(condition, threads)] = search_rate(data, config, args.trials, threads)
                    print(name, condition, threads, f"{rates[(condition, threads)]:.1f} trials/min", flush=True)
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()
        rows.append((name, work, rule, rates))

    digits = automm.load_dataset("digits", seed=0)
    preset = automm.settings.load_preset("digits").config
    from dataclasses import replace

    config = replace(preset, folds=1, ensemble_size=1)
    job_rates = {}
    for jobs in (1, 2, 4):
        job_rates[jobs] = search_rate(digits, config, args.job_trials, None, jobs)
        print("digits jobs", jobs, f"{job_rates[jobs]:.1f} trials/min", flush=True)

    t = default_threads
    lines = [
        f"Part 1, threads: trials per minute of the same {args.trials}-trial random search (one split, 4 epochs per "
        f"trial, 3,000 synthetic rows, 10 classes); torch's default here is {t} threads on {cores} cores. "
        "Competing: beside another torch process multiplying matrices with its default threads. "
        f"automm's rule: 1 thread below {SMALL_WORK / 1e6:.0f} M multiply-accumulates per batch, else the job's "
        "share of the cores.",
        "",
        f"| network | work per batch (M MAC) | rule | idle, 1 thread | idle, {t} threads | idle ratio {t}/1 | "
        f"competing, 1 thread | competing, {t} threads | competing ratio {t}/1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, work, rule, r in rows:
        lines.append(
            f"| {name} | {work / 1e6:.0f} | {rule} | {r[('idle', 1)]:.1f} | {r[('idle', t)]:.1f} | "
            f"{r[('idle', t)] / r[('idle', 1)]:.2f} | {r[('competing', 1)]:.1f} | {r[('competing', t)]:.1f} | "
            f"{r[('competing', t)] / r[('competing', 1)]:.2f} |"
        )
    lines += [
        "",
        f"Part 2, parallel jobs: trials per minute of a {args.job_trials}-trial random search on digits (its preset, "
        "one split), automm's thread rule, wall time including the workers' start-up.",
        "",
        "| jobs | trials/min | speed-up vs 1 job |",
        "|---|---|---|",
        *(f"| {j} | {rate:.1f} | {rate / job_rates[1]:.2f} |" for j, rate in job_rates.items()),
    ]
    body = "\n".join(lines)
    print(body)
    record("threads-and-jobs", "Threads and parallel jobs", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
