"""Trials per minute on each storage with 1, 2 and 4 workers, and the share of wall time outside training.

The same search (digits preset, KS-NAS, seed 0, ``--trials`` trials at automm's default folds) on
- SQLite (the default file; one worker: SQLite is not for several processes writing at once),
- a journal file (``journal:PATH``; Optuna has no heartbeat there, automm writes liveness marks),
- PostgreSQL (a throwaway local server from Debian's postgresql package, reached by a unix socket,
  with Optuna's heartbeat; ``--postgres URL`` uses a server of your own),
each run in a fresh process, workers started by ``Study.optimize(jobs=J)``. Training and storage
time are timed in the first process by wrapping (see ``benchmarks/_timing.py``), so the shares are
given for one worker only. On this 2-core machine 4 workers oversubscribe the cores: the rows with 4
workers show the cost of coordination under contention, not a speed-up.

With ``--before PATH`` (a source checkout of an earlier automm, e.g. ``git worktree add /tmp/before
<commit>``) each one-worker row is also run on that code, ``--repeats`` times each, interleaved (before,
now, before, now, ...) so that a drift of the machine's speed hits both alike; the shares are means.

Usage: python benchmarks/storages.py [--trials 20] [--workers 1,2,4] [--postgres URL] [--before PATH [--repeats 3]]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import record  # noqa: E402
from benchmarks._timing import TIMER, run_child  # noqa: E402

CHILD = (
    f"TIMER = {TIMER!r}"
    + """
import json, sys, time
import optuna, torch
import automm
torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the first optimiser's one-off imports
optuna.logging.set_verbosity(optuna.logging.WARNING)
automm.set_verbosity(30)
exec(TIMER)
storage, jobs, trials, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
study = automm.Study("digits", storage=storage, study_name="bench", runs_dir=runs)
start = time.perf_counter()
study.optimize(trials, jobs=jobs)
wall = time.perf_counter() - start
states = [t.state.name for t in study.optuna_study.trials]
print(json.dumps({"wall": wall, **spent, "finished": study.n_finished(), "states": sorted(set(states))}))
"""
)


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str | None]:
    if url is not None:
        yield url
        return
    from tests.postgres import running_postgres, server_programs

    if isinstance(server_programs(), str):
        yield None
        return
    with running_postgres() as started:
        yield started


def fresh_storage(kind: str, tmp: Path, server: str | None, index: int) -> str:
    if kind == "SQLite":
        return f"sqlite:///{tmp / f'run{index}.db'}"
    if kind == "journal":
        return f"journal:{tmp / f'run{index}.log'}"
    from tests.postgres import fresh_database

    assert server is not None
    return fresh_database(server, f"bench{index}")


def run(storage: str, jobs: int, trials: int, runs: Path, source: Path = ROOT) -> dict:
    return run_child(CHILD, [storage, str(jobs), str(trials), str(runs)], source)


def paired(args: argparse.Namespace, server: str | None, tmp: Path) -> str:
    """One-worker rows of the code in ``args.before`` and of this checkout, interleaved."""
    codes = {"before": args.before.resolve(), "now": ROOT}
    runs: dict[tuple[str, str], list[dict]] = {}
    index = 1000
    for _ in range(args.repeats):
        for kind in ("SQLite", "journal", "PostgreSQL"):
            if kind == "PostgreSQL" and server is None:
                continue
            for code, source in codes.items():
                index += 1
                storage = fresh_storage(kind, tmp, server, index)
                result = run(storage, 1, args.trials, tmp / f"runs{index}", source)
                print(kind, code, result, flush=True)
                runs.setdefault((kind, code), []).append(result)
    lines = [
        "",
        "",
        f"One worker, the code before ({args.before}) against this checkout, {args.repeats} runs each, interleaved "
        "(means):",
        "",
        "| storage | code | wall s | outside training | of which storage | storage s |",
        "|---|---|---|---|---|---|",
    ]
    for (kind, code), results in runs.items():
        wall = sum(r["wall"] for r in results) / len(results)
        outside = sum((r["wall"] - r["training"]) / r["wall"] for r in results) / len(results)
        share = sum(r["storage"] / r["wall"] for r in results) / len(results)
        spent = sum(r["storage"] for r in results) / len(results)
        lines.append(f"| {kind} | {code} | {wall:.1f} | {100 * outside:.1f}% | {100 * share:.1f}% | {spent:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a throwaway local server")
    parser.add_argument("--before", type=Path, help="a source checkout of the automm to compare with")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each code with --before")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    rows = []
    with postgres(args.postgres) as server, tempfile.TemporaryDirectory() as tmp:
        plan = [("SQLite", 1)] + [(k, j) for k in ("journal", "PostgreSQL") for j in workers]
        for index, (kind, jobs) in enumerate(plan):
            if kind == "PostgreSQL" and server is None:
                print("no PostgreSQL server: its rows are skipped", flush=True)
                continue
            runs = Path(tmp) / f"runs{index}"
            result = run(fresh_storage(kind, Path(tmp), server, index), jobs, args.trials, runs)
            print(kind, jobs, result, flush=True)
            rows.append((kind, jobs, result))
        comparison = paired(args, server, Path(tmp)) if args.before is not None else ""
    lines = [
        f"A {args.trials}-trial digits search (KS-NAS preset, default folds, seed 0), one fresh process per row.",
        "",
        "| storage | workers | wall s | trials / min | outside training | of which storage | trial states |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, jobs, r in rows:
        shares = "| - | -"
        if jobs == 1:
            shares = f"| {100 * (r['wall'] - r['training']) / r['wall']:.1f}% | {100 * r['storage'] / r['wall']:.1f}%"
        lines.append(
            f"| {kind} | {jobs} | {r['wall']:.1f} | {60 * r['finished'] / r['wall']:.1f} {shares} | "
            f"{', '.join(r['states'])} |"
        )
    body = "\n".join(lines) + comparison
    print(body)
    record("storages", "Storages: trials per minute and time outside training", body)


if __name__ == "__main__":
    main()
