"""Time outside training in a search: the share of a search's wall time not spent training networks.

The same search (digits preset, KS-NAS, seed 0, a fixed number of trials) at automm's default
settings (folds chosen from the data's size, the ensemble and the linear candidate chosen at the
end) and with one split, each run in a fresh process. With ``--before PATH`` (a source checkout
of an earlier automm, e.g. ``git worktree add /tmp/before <commit>``) the same runs of that code
come first, side by side in one run.

Training is timed by wrapping automm's own compute functions (``train_epoch``: every epoch,
supernet pretraining included; ``predict_logits``: validation scoring and out-of-fold
predictions; ``fit_linear``: the linear candidate), so the timing costs a few microseconds a
call, not a profiler's inflation. Storage = time in Optuna's storage calls (outermost call
counted once). The one-off imports a process pays before its first optimiser (``torch._dynamo``,
about 2 s) are paid before the timer starts and reported on their own.

Usage: python benchmarks/search_overhead.py [--trials 24] [--repeats 2] [--before PATH] [--section S --title T]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse

try:
    from benchmarks._results import record
    from benchmarks._timing import TIMER, run_child
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from _timing import TIMER, run_child  # type: ignore[no-redef]

CHILD = (
    f"TIMER = {TIMER!r}"
    + """
import functools, json, sys, tempfile, time
start_imports = time.perf_counter()
import optuna, torch
import automm
torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the one-off lazy imports of the first optimiser
one_off = time.perf_counter() - start_imports
optuna.logging.set_verbosity(optuna.logging.WARNING)

if hasattr(automm, "set_verbosity"):  # an older automm has no log of its own
    automm.set_verbosity(30)  # WARNING: no line per trial
exec(TIMER)  # defines spent: seconds in training and in storage calls (see benchmarks/_timing.py)

folds, trials = int(sys.argv[1]), int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    kwargs = {"folds": folds} if folds else {}
    study = automm.Study("digits", runs_dir=tmp, **kwargs)
    start = time.perf_counter()
    study.optimize(trials)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, **spent, "one_off": one_off, "trials": study.n_finished()}))
"""
)

SETTINGS = {0: "default (automm's folds)", 1: "one split"}


def run(source: Path, folds: int, trials: int) -> dict[str, float]:
    return run_child(CHILD, [str(folds), str(trials)], source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before", type=Path, help="a source checkout of the automm to compare with")
    parser.add_argument("--section", default="search-overhead", help="the RESULTS.md section to write")
    parser.add_argument("--title", default="Time outside training in a search", help="the section's heading")
    args = parser.parse_args()
    sources = {"now": Path(__file__).resolve().parents[1]}
    if args.before is not None:
        sources = {"before": args.before.resolve(), **sources}
    rows = []
    for folds, setting in SETTINGS.items():
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in sources}
        for _ in range(args.repeats):  # interleaved, so a drift of the machine's speed hits both alike
            for label, source in sources.items():
                runs[label].append(run(source, folds, args.trials))
                print(setting, label, runs[label][-1], flush=True)
        for label, done in runs.items():
            mean = {k: sum(r[k] for r in done) / len(done) for k in ("wall", "training", "storage", "one_off")}
            rows.append((setting, label, mean))
    lines = [
        f"Mean of {args.repeats} runs of a {args.trials}-trial digits search (preset, seed 0, automm's threads).",
        "",
        "| settings | code | wall s | training s | outside training | of which storage | one-off imports s |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, label, r in rows:
        outside = r["wall"] - r["training"]
        lines.append(
            f"| {setting} | {label} | {r['wall']:.1f} | {r['training']:.1f} | {100 * outside / r['wall']:.1f}% | "
            f"{100 * r['storage'] / r['wall']:.1f}% | {r['one_off']:.1f} |"
        )
    body = "\n".join(lines)
    print(body)
    record(args.section, args.title, body)


if __name__ == "__main__":
    main()
