"""MMnas in automm: the searched encoder-decoder against MCAN's fixed pattern, a random op assignment
and the vector-view methods, on token views.

For every token data set and seed, on the yardstick's protocol (`versus_baselines.protocol_split`:
80/20 stratified per seed; avmnist its own recording-disjoint split), through a `.npz` with fixed
``train``/``test`` rows (and the token views' masks), so every search carves its validation rows
out of ``train``:

1. one plain MMnas run (``automm.Study(method="mmnas").optimize(1)``: the default settings' gated
   search, derivation, from-scratch training of the derived network);
2. the same shape (E, D, H, heads, the encoder's views) with MCAN's fixed ops (encoder SA, FFN
   repeated; decoder SA, GA, FFN repeated), and with ops drawn uniformly at random (seeded);
3. KS-NAS on the same token views mean-pooled (what a vector method sees of them), and KS-NAS on
   the data set's vector views (``avmnist``: seven CNN-layer views; ``digits``: five views), each
   with a time budget equal to the MMnas run's search wall time;
4. concatenation + logistic regression on the pooled token views.

Every search scores candidates on one validation split (``folds=1``), and every network is scored
on the test rows once, after selection on validation data: retrained on train+validation
(`Study.evaluate`, one seed per split). Columns: test accuracy (mean ± std over seeds), search wall
time, parameters of the network scored.

Usage: python benchmarks/mmnas.py [--datasets avmnist-tokens,digits-tokens] [--seeds 3] [--jobs 2]
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
    from benchmarks.versus_baselines import DATA_DIR, protocol_split, write_protocol_npz
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR, protocol_split, write_protocol_npz  # type: ignore[no-redef]

VECTOR_TWIN = {"avmnist-tokens": "avmnist", "digits-tokens": "digits"}  # same rows, vector views
COLUMNS = ("MMnas", "MCAN pattern", "random ops", "KS-NAS, pooled tokens", "KS-NAS, vector views")


def with_ops(genotype: Any, encoder: tuple[str, ...], decoder: tuple[str, ...]) -> Any:
    """``genotype``'s shape and sides with other ops."""
    import dataclasses

    return dataclasses.replace(genotype, encoder=encoder, decoder=decoder)


def random_ops(genotype: Any, seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from automm.methods.mmnas.ops import DECODER_OPS, ENCODER_OPS

    rng = np.random.default_rng(1000 + seed)
    encoder = tuple(str(rng.choice(ENCODER_OPS)) for _ in genotype.encoder)
    decoder = tuple(str(rng.choice(DECODER_OPS)) for _ in genotype.decoder)
    return encoder, decoder


def run(job: tuple[str, int, str]) -> dict[str, Any]:
    """Every column of one (data set, seed), with one torch thread (automm's thread rule respects the variable)."""
    os.environ["OMP_NUM_THREADS"] = "1"  # two jobs on two cores: more threads would fight over them
    import optuna
    import torch

    import automm
    from automm.engine.training import count_parameters
    from automm.methods.mmnas.space import mcan_pattern
    from automm.search.first_tries import concat_logistic_regression

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    name, seed, data_dir = job
    dataset = automm.load_dataset(name, data_dir=data_dir, seed=0)
    twin = automm.load_dataset(VECTOR_TWIN[name], data_dir=data_dir, seed=0)
    train, test, val = protocol_split(dataset, seed)
    out: dict[str, Any] = {"dataset": name, "seed": seed, "columns": {}}
    with tempfile.TemporaryDirectory() as tmp:
        npz = write_protocol_npz(dataset, seed, Path(tmp))
        twin_npz = write_protocol_npz(twin, seed, Path(tmp))
        runs = Path(tmp) / "runs"

        def scored(study: Any, genotype: Any, wall: float) -> dict[str, Any]:
            ds = study.dataset
            net = study.method.build_net(study.space, genotype, ds.view_dims, ds.n_classes, study.config)
            evaluation = study.evaluate(seeds=1, genotype=genotype)
            return {"test": evaluation.mean, "wall": wall, "params": count_parameters(net), "genotype": str(genotype)}

        start = time.perf_counter()
        mm = automm.Study(
            data=npz, method="mmnas", seed=seed, runs_dir=runs, study_name="mmnas", folds=1, ensemble_size=1
        )
        assert not set(mm.dataset.splits.train) & set(test) and not set(mm.dataset.splits.val) & set(test)
        mm.optimize(1)
        wall = time.perf_counter() - start
        derived = mm.best_genotype
        search = mm.best_trial.user_attrs["mmnas_search"]
        out["columns"]["MMnas"] = {**scored(mm, derived, wall), "val": mm.best_value, "top": search["top_mean"]}
        mcan = with_ops(derived, *mcan_pattern(len(derived.encoder), len(derived.decoder)))
        out["columns"]["MCAN pattern"] = scored(mm, mcan, 0.0)
        out["columns"]["random ops"] = scored(mm, with_ops(derived, *random_ops(derived, seed)), 0.0)
        for column, data in (("KS-NAS, pooled tokens", npz), ("KS-NAS, vector views", twin_npz)):
            start = time.perf_counter()
            peer = automm.Study(
                data=data, method="ksnas", seed=seed, runs_dir=runs, study_name=column[8:11], folds=1, ensemble_size=1
            )
            peer.optimize(time_budget=wall)
            out["columns"][column] = scored(peer, peer.best_genotype, time.perf_counter() - start)
    fit_rows = train if val is None else np.sort(np.concatenate([train, val]))
    out["concat + LR"] = concat_logistic_regression(dataset, fit_rows, test, seed=seed)
    return out


def _ms(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * np.mean(values):.{digits}f} ± {scale * np.std(values):.{digits}f}" if values else "not run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="avmnist-tokens,digits-tokens")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--section", help="record under this RESULTS.md key instead of 'mmnas'")
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
            mm = result["columns"]["MMnas"]
            print(f"{result['dataset']} seed {result['seed']}: MMnas test {mm['test']:.4f}", flush=True)
            if args.log:
                with open(args.log, "a") as log:
                    log.write(json.dumps(result) + "\n")
    total = time.perf_counter() - start
    table = [
        "| data set | column | test accuracy % | search wall s | parameters |",
        "|---|---|---|---|---|",
    ]
    detail = [
        "| data set | seed | derived genotype | validation | mean top probability | test |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        rows = sorted((r for r in results if r["dataset"] == name), key=lambda r: r["seed"])
        if not rows:
            continue
        for column in COLUMNS:
            cells = [r["columns"][column] for r in rows]
            searched = column == "MMnas" or column.startswith("KS-NAS")
            wall = _ms([c["wall"] for c in cells], 1.0, 1) if searched else "(MMnas's)"
            label = f"{column}, MMnas's shape" if column in ("MCAN pattern", "random ops") else column
            table.append(
                f"| {name} | {label} | {_ms([c['test'] for c in cells])} | {wall} | "
                f"{np.mean([c['params'] for c in cells]):,.0f} |"
            )
        table.append(f"| {name} | concat + LR, pooled tokens | {_ms([r['concat + LR'] for r in rows])} | - | - |")
        for r in rows:
            mm = r["columns"]["MMnas"]
            detail.append(
                f"| {name} | {r['seed']} | `{mm['genotype']}` | {100 * mm['val']:.2f} | {mm['top']:.3f} | "
                f"{100 * mm['test']:.2f} |"
            )
    body = "\n".join(
        [
            f"Test accuracy in %, mean ± std over seeds 0..{args.seeds - 1} (80/20 stratified split per seed; "
            "avmnist its own split); every network scored once on test after selection on validation, "
            "retrained on train+validation. MMnas: one search with the default settings (E=2, D=3, H=32, "
            "4 heads, 10 search epochs). 'MCAN pattern' and 'random ops' keep the derived network's shape and "
            "sides. KS-NAS had a time budget equal to MMnas's search wall time (it stops at a generation's "
            "end, so it may run longer); 'vector views' is the same rows' vector data set (avmnist, digits). "
            f"1 torch thread per job, {args.jobs} jobs in parallel; whole run {total / 60:.1f} min.",
            "",
            *table,
            "",
            "Per seed, the MMnas search (mean top probability: the chosen op's probability, averaged over blocks):",
            "",
            *detail,
        ]
    )
    print(body)
    record(args.section or "mmnas", "MMnas on token views: searched, MCAN, random ops, KS-NAS", body)


if __name__ == "__main__":
    main()
