"""BM-NAS in automm: the searched cells against fixed fusions, and against the other methods at equal wall time.

For every data set and seed, on the yardstick's protocol (`versus_baselines.protocol_split`: 80/20
stratified per seed; avmnist its own recording-disjoint split), through a `.npz` with fixed
``train``/``test`` rows, so every search carves its validation rows out of ``train``:

1. one plain BM-NAS run (``automm.Study(method="bmnas").optimize(1)``: the default settings'
   bilevel search, derivation, from-scratch training of the derived network), and the same with the
   paper's continuous (softmax) relaxation instead of automm's default Gumbel sampling;
2. the paper's Table 7 shape: the derived genotype's feature selection (each cell's two inputs) with
   its cells' steps replaced by a fixed fusion: Sum ``sum(x,y)``, ConcatFC ``concatfc(x,y)``,
   attention ``attention(x,y)`` and attention on attention ``attention(x,y)`` then ``glu(step.0,x)``;
3. KS-NAS, MFAS and TPE, each with a time budget equal to the BM-NAS run's search wall time;
4. concatenation + logistic regression (the yardstick's first baseline).

Every search scores candidates on one validation split (``folds=1``, as the paper's dev split; the
same for every method), and every network is scored on the test rows once, after selection on
validation data: retrained on train+validation (`Study.evaluate`, one seed per split). Columns:
test accuracy (mean ± std over seeds), search wall time, parameters of the network scored; for
BM-NAS also how decided its architecture weights were (mean margin of the strongest candidate over
the next, 0 = uniform).

Usage: python benchmarks/bmnas.py [--datasets handwritten,avmnist] [--seeds 3] [--jobs 2]
       [--data-dir ../shared/data] [--log runs.jsonl] [--section KEY]
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

try:
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR, baselines, protocol_split, write_protocol_npz
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR, baselines, protocol_split, write_protocol_npz  # type: ignore[no-redef]

FIXED = {
    "Sum": ("sum(x,y)",),
    "ConcatFC": ("concatfc(x,y)",),
    "attention": ("attention(x,y)",),
    "attention on attention": ("attention(x,y)", "glu(step.0,x)"),
}
PEERS = ("ksnas", "mfas", "tpe")


def with_fixed_steps(genotype: Any, steps: tuple[str, ...]) -> Any:
    """``genotype``'s cells and their inputs, every cell's steps replaced by ``steps``."""
    from automm.methods.bmnas.space import BMNASGenotype

    cells = ",".join(f"cell({c.x},{c.y},{','.join(steps)})" for c in genotype.cells)
    return BMNASGenotype.from_string(f"bmnas(C={genotype.channels},L={genotype.length},{cells})")


def run(job: tuple[str, int, str, str]) -> dict[str, Any]:
    """Every column of one (data set, seed), with one torch thread (automm's thread rule respects the variable)."""
    os.environ["OMP_NUM_THREADS"] = "1"  # two jobs on two cores: more threads would fight over them
    import optuna
    import torch

    import automm
    from automm.engine.training import count_parameters

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    name, seed, data_dir = job
    dataset = automm.load_dataset(name, data_dir=data_dir, seed=0)
    train, test, val = protocol_split(dataset, seed)
    out: dict[str, Any] = {"dataset": name, "seed": seed, "columns": {}}
    with tempfile.TemporaryDirectory() as tmp:
        npz = write_protocol_npz(dataset, seed, Path(tmp))
        runs = Path(tmp) / "runs"

        def scored(study: Any, genotype: Any, wall: float) -> dict[str, Any]:
            ds = study.dataset
            net = study.method.build_net(study.space, genotype, ds.view_dims, ds.n_classes, study.config)
            evaluation = study.evaluate(seeds=1, genotype=genotype)
            return {"test": evaluation.mean, "wall": wall, "params": count_parameters(net), "genotype": str(genotype)}

        for column, relaxation in (("BM-NAS, softmax", "softmax"), ("BM-NAS", "gumbel")):
            start = time.perf_counter()
            bm = automm.Study(
                data=npz,
                method="bmnas",
                seed=seed,
                runs_dir=runs,
                study_name=f"bmnas-{relaxation}",
                folds=1,
                ensemble_size=1,
                bmnas={"relaxation": relaxation},
            )
            assert not set(bm.dataset.splits.train) & set(test) and not set(bm.dataset.splits.val) & set(test)
            bm.optimize(1)
            wall = time.perf_counter() - start
            derived = bm.best_genotype
            search = bm.best_trial.user_attrs["bmnas_search"]
            out["columns"][column] = {
                **scored(bm, derived, wall),
                "margin": search["margin_mean"],
                "val": bm.best_value,
            }
        for label, steps in FIXED.items():
            out["columns"][label] = scored(bm, with_fixed_steps(derived, steps), 0.0)
        for method in PEERS:
            start = time.perf_counter()
            peer = automm.Study(
                data=npz, method=method, seed=seed, runs_dir=runs, study_name=method, folds=1, ensemble_size=1
            )
            peer.optimize(time_budget=wall)
            out["columns"][method] = scored(peer, peer.best_genotype, time.perf_counter() - start)
    fit_rows = train if val is None else np.sort(np.concatenate([train, val]))
    out["concat + LR"] = baselines(dataset, fit_rows, test, seed)["concat + LR"]
    return out


def _ms(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * np.mean(values):.{digits}f} ± {scale * np.std(values):.{digits}f}" if values else "not run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="handwritten,avmnist")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--section", help="record under this RESULTS.md key instead of 'bmnas'")
    parser.add_argument("--log", help="JSON-lines file: finished runs are appended and not repeated")
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    import automm

    for name in names:  # build caches (avmnist) once, before the pool starts
        automm.load_dataset(name, data_dir=args.data_dir, seed=0)
    done: list[dict[str, Any]] = []
    if args.log and Path(args.log).is_file():
        done = [json.loads(line) for line in Path(args.log).read_text().splitlines() if line.strip()]
    jobs = [(n, s, args.data_dir) for n in names for s in range(args.seeds)]
    todo = [j for j in jobs if (j[0], j[1]) not in {(r["dataset"], r["seed"]) for r in done}]
    start = time.perf_counter()
    results = [r for r in done if (r["dataset"], r["seed"]) in {(j[0], j[1]) for j in jobs}]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run, todo, chunksize=1):
            results.append(result)
            bm = result["columns"]["BM-NAS"]
            print(f"{result['dataset']} seed {result['seed']}: BM-NAS test {bm['test']:.4f}", flush=True)
            if args.log:
                with open(args.log, "a") as log:
                    log.write(json.dumps(result) + "\n")
    total = time.perf_counter() - start
    columns = ["BM-NAS", "BM-NAS, softmax", *FIXED, *PEERS]
    table = [
        "| data set | column | test accuracy % | search wall s | parameters |",
        "|---|---|---|---|---|",
    ]
    detail = [
        "| data set | seed | relaxation | derived genotype | validation | margin | test |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        rows = sorted((r for r in results if r["dataset"] == name), key=lambda r: r["seed"])
        if not rows:
            continue
        for column in columns:
            cells = [r["columns"][column] for r in rows]
            searched = column.startswith("BM-NAS") or column in PEERS
            wall = _ms([c["wall"] for c in cells], 1.0, 1) if searched else "(BM-NAS's)"
            label = f"fixed {column}, BM-NAS's inputs" if column in FIXED else column
            table.append(
                f"| {name} | {label} | {_ms([c['test'] for c in cells])} | {wall} | "
                f"{np.mean([c['params'] for c in cells]):,.0f} |"
            )
        table.append(f"| {name} | concat + LR | {_ms([r['concat + LR'] for r in rows])} | - | - |")
        for r in rows:
            for column, relaxation in (("BM-NAS", "gumbel"), ("BM-NAS, softmax", "softmax")):
                bm = r["columns"][column]
                detail.append(
                    f"| {name} | {r['seed']} | {relaxation} | `{bm['genotype']}` | {100 * bm['val']:.2f} | "
                    f"{bm['margin']:.3f} | {100 * bm['test']:.2f} |"
                )
    body = "\n".join(
        [
            f"Test accuracy in %, mean ± std over seeds 0..{args.seeds - 1} (80/20 stratified split per seed; "
            "avmnist its own split); every network scored once on test after selection on validation, "
            "retrained on train+validation. BM-NAS: automm's default (Gumbel sampling); 'BM-NAS, softmax': the "
            "paper's continuous relaxation, otherwise the same. KS-NAS, MFAS and TPE had a "
            "time budget equal to BM-NAS's search wall time (KS-NAS stops at a generation's end, so it may run "
            f"longer). 1 torch thread per job, {args.jobs} jobs in parallel; whole run {total / 60:.1f} min.",
            "",
            *table,
            "",
            "The derived genotypes (validation = the search's own score of the derived network; margin = how "
            "decided the architecture weights were at the derivation epoch, mean over choices, 0 = uniform):",
            "",
            *detail,
        ]
    )
    print(body)
    record(args.section or "bmnas", "BM-NAS: searched cells, fixed fusions, and the other methods", body)


if __name__ == "__main__":
    main()
