"""The linear candidate's choice along the regularisation path against fits from zero weights.

For each shared data set and seed, the choice a search makes before its first trial (`choose_linear_views`:
every view set x every C x the study's folds, on the protocol's search rows; test rows never enter) is made
by two checkouts side by side in fresh processes, one torch thread each: ``--before PATH`` (e.g.
``git worktree add /tmp/before <commit>``: every fit from zero weights) and this one (each C from the fit of
the next smaller C on the same fold and views). Printed: seconds, L-BFGS iterations, fits that stopped at
the iteration cap, the chosen views and C, and the out-of-fold score of the choice.

Usage: python benchmarks/linear_path.py --before /tmp/before [--seeds 2] [--datasets digits cub ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse

try:
    from benchmarks._results import record
    from benchmarks._timing import run_child
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from _timing import run_child  # type: ignore[no-redef]

DATASETS = ("digits", "handwritten", "cub", "avmnist", "bbcsport", "3sources", "webkb", "20news")

CHILD = """
import json, logging, sys, tempfile, time
import torch
import automm
from automm.delivery import linear_candidate
from automm.engine import linear_net
torch.set_num_threads(1)
automm.set_verbosity(logging.WARNING)
sys.path.insert(0, "benchmarks")
from knowledge_sharing import _dataset

iterations = []
step = torch.optim.LBFGS.step
def counted(self, closure):
    out = step(self, closure)
    iterations.append(self.state[self._params[0]]["n_iter"])
    return out
torch.optim.LBFGS.step = counted

name, seed = sys.argv[1], int(sys.argv[2])
dataset = _dataset(name, seed)
with tempfile.TemporaryDirectory() as runs:
    context = automm.Study(dataset, runs_dir=runs, seed=seed).context
    folds = [(fold, *context.folds.tensors(k)) for k, fold in enumerate(context.folds.folds)]
    start = time.perf_counter()
    chosen = linear_candidate.choose_linear_views(folds, tuple(dataset.view_names), dataset.task, dataset.n_classes)
    seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds, "iterations": sum(iterations), "fits": len(iterations),
    "capped": sum(i >= linear_net.MAX_ITER for i in iterations), "views": list(chosen.genotype.views),
    "c": chosen.c, "score": chosen.score, "scores_by_c": {str(c): s for c, s in chosen.scores_by_c.items()},
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a source checkout fitting every C from zero")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = parser.parse_args()
    sources = {"from zero": args.before.resolve(), "along the path": Path(__file__).resolve().parents[1]}
    lines = [
        f"Seeds 0..{args.seeds - 1}; the protocol's search rows and automm's folds; one torch thread, one process "
        "per row (seconds comparable within this table).",
        "",
        "| data set | seed | fits | seconds, from zero / along the path | ratio | L-BFGS iterations | "
        "fits at the cap | same choice | out-of-fold score of the choice |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.datasets:
        for seed in range(args.seeds):
            runs = {label: run_child(CHILD, [name, str(seed)], source) for label, source in sources.items()}
            before, now = runs["from zero"], runs["along the path"]
            print(name, seed, runs, flush=True)
            same = before["views"] == now["views"] and before["c"] == now["c"]
            lines.append(
                f"| {name} | {seed} | {now['fits']} | {before['seconds']:.2f} / {now['seconds']:.2f} | "
                f"{before['seconds'] / now['seconds']:.2f}x | {before['iterations']} / {now['iterations']} | "
                f"{before['capped']} / {now['capped']} | {'yes' if same else 'no'} | "
                f"{100 * before['score']:.2f} / {100 * now['score']:.2f} |"
            )
    body = "\n".join(lines)
    print(body)
    record("linear-path", "The linear candidate along the regularisation path, against fits from zero", body)


if __name__ == "__main__":
    main()
