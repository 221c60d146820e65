"""Time outside training in a search: the share of wall time not spent training networks.

The same search (digits preset, KS-NAS, one split, no ensemble, 1 torch thread, seed 0) with the
SQLite storage as Optuna opens it (rollback journal, a disk sync per commit) and as automm opens it
(write-ahead log, ``synchronous=NORMAL``), in one run, each in a fresh process (one-off imports
counted in both). Training = the trials' own training seconds plus the KB pretraining; storage =
cumulative time in SQLAlchemy commits and queries (cProfile); the rest is sampling, data
preparation, artifacts and bookkeeping.

Usage: python benchmarks/search_overhead.py [--trials 24] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

try:
    from benchmarks._results import record
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]

CHILD = """
import cProfile, json, pstats, sys, tempfile, time
import optuna, torch
import automm
torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)
mode, trials = sys.argv[1], int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{tmp}/digits.db"
    storage = optuna.storages.RDBStorage(url) if mode == "optuna" else url
    study = automm.Study("digits", runs_dir=tmp, storage=storage, folds=1, ensemble_size=1)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    study.optimize(trials, threads=1)
    profile.disable()
    wall = time.perf_counter() - start
    cost = study.training_cost()
    stats = pstats.Stats(profile).stats
    storage_s = sum(v[3] for k, v in stats.items() if k[2] in ("_create_scoped_session",))
    print(json.dumps({"wall": wall, "training": cost["seconds"], "storage": storage_s, "trials": study.n_finished()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    rows = {}
    for mode in ("optuna", "automm"):
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(args.trials)],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(mode, runs[-1], flush=True)
        rows[mode] = {k: sum(r[k] for r in runs) / len(runs) for k in ("wall", "training", "storage")}
    lines = [
        f"Mean of {args.repeats} runs of a {args.trials}-trial digits search "
        "(preset, one split, no ensemble, 1 thread).",
        "",
        "| SQLite opened by | wall s | training s | storage s | outside training | of which storage |",
        "|---|---|---|---|---|---|",
    ]
    for mode, r in rows.items():
        outside = r["wall"] - r["training"]
        lines.append(
            f"| {'Optuna (rollback journal)' if mode == 'optuna' else 'automm (WAL)'} | {r['wall']:.1f} | "
            f"{r['training']:.1f} | {r['storage']:.1f} | {100 * outside / r['wall']:.1f}% | "
            f"{100 * r['storage'] / r['wall']:.1f}% |"
        )
    body = "\n".join(lines)
    print(body)
    record("search-overhead", "Time outside training in a search", body)


if __name__ == "__main__":
    main()
