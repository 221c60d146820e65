"""KS-NAS ablation and sampler comparison at equal trial budgets, side by side in one run.

Variants (each over several seeds; the seed also draws the data split):
- KS-NAS: knowledge sharing + fair selection, warm-started individuals stop after the KB's
  ``warm_patience`` epochs without improvement (automm's convergence rule for warm starts);
- KS-NAS, cold patience: the same, but warm starts use the from-scratch patience;
- KS-NAS w/o FS: every individual feeds the KB;
- KS-NAS w/o KS: the same evolution, every individual trained from scratch;
- KS-NAS + surrogate: each offspring slot breeds 4 candidates, the surrogate picks one;
- MFAS: the progressive surrogate-guided search (2 training epochs per candidate, shared layer
  weights), cut to the same trial budget; its best genotype is retrained to convergence;
- TPE, random search, NSGA-II: Optuna's samplers on the same objective and space.

Reported per data set and variant (mean ± std over seeds): best validation score, test score
of the best genotype retrained on train+validation, total training epochs (KB pretraining
included), wall time. With ``--kb-size`` it also runs one 20 x 20 KS-NAS study on digits and
measures its artifact directory.

With ``--paired`` it runs only KS-NAS and KS-NAS w/o KS on the same seeds and splits and records
the paired table (section ``ksnas-paired``): per seed, the test score difference (KS minus
from-scratch) and the ratio of training epochs, so a saving is read at equal test score.

Usage: python benchmarks/ksnas_ablation.py [--seeds 3] [--datasets digits handwritten cub] [--kb-size]
       python benchmarks/ksnas_ablation.py --paired [--seeds 3] [--folds 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import multiprocessing as mp
import tempfile
import time
from typing import Any

import numpy as np

VARIANTS: dict[str, dict[str, Any]] = {
    "KS-NAS": {"sampler": "ksnas"},
    "KS-NAS, cold patience": {"sampler": "ksnas", "knowledge": {"warm_patience": None}},
    "KS-NAS, warm patience 5": {"sampler": "ksnas", "knowledge": {"warm_patience": 5}},
    "KS-NAS w/o FS": {"sampler": "ksnas", "knowledge": {"fair_selection": False}},
    "KS-NAS w/o KS": {"sampler": "ksnas", "knowledge_sharing": False},
    "KS-NAS + surrogate": {"sampler": "ksnas", "ksnas": {"surrogate_pool": 4}},
    "MFAS": {"sampler": "mfas"},
    "TPE": {"sampler": "tpe"},
    "random": {"sampler": "random"},
    "NSGA-II": {"sampler": "nsga2"},
}
COLD = "KS-NAS w/o KS"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_one(job: tuple[str, str, int, int]) -> dict[str, Any]:
    import optuna
    import torch

    import automm
    from automm.methods.ksnas.settings import KSNASSettings
    from automm.settings import load_preset

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    dataset_name, variant, seed, folds = job
    dataset = automm.load_dataset(dataset_name, data_dir=DATA_DIR, seed=seed)
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        study = automm.Study(dataset, runs_dir=runs, seed=seed, folds=folds, ensemble_size=1, **VARIANTS[variant])
        evolution = KSNASSettings(**load_preset(dataset_name).section("ksnas"))  # the same budget for every method
        budget = evolution.population_size * evolution.generations
        if variant.startswith("KS-NAS"):
            study.optimize()  # until generation T-1 holds N individuals
        else:
            study.optimize(budget)
        wall = time.perf_counter() - start
        cost = study.training_cost()
        test = study.evaluate(seeds=1).mean
        per_gen = [r["epochs_mean"] for r in study.generation_report()]
        return {
            "dataset": dataset_name,
            "variant": variant,
            "seed": seed,
            "val": study.best_value,
            "test": test,
            "epochs": cost["epochs"],
            "wall": wall,
            "trials": len(study.optuna_study.trials),
            "per_gen": per_gen,
            "folds": len(study.final.folds),
        }


def kb_size_study() -> str:
    import optuna

    import automm
    from automm.methods.ksnas.knowledge import kb_versions

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    with tempfile.TemporaryDirectory() as runs:
        study = automm.Study("digits", runs_dir=runs, ksnas={"population_size": 20, "generations": 20})
        peak = {"bytes": 0}

        def track(_s: Any, _t: Any) -> None:
            peak["bytes"] = max(peak["bytes"], sum(p.stat().st_size for p in study.artifact_dir.iterdir()))

        start = time.perf_counter()
        study.optimize(callbacks=[track])
        wall = time.perf_counter() - start
        files = {p.name: p.stat().st_size for p in study.artifact_dir.iterdir()}
        kb_ids = {p["artifact_id"] for p in kb_versions(study.optuna_study)}
        kb = [b for n, b in files.items() if n in kb_ids]
        weights = [b for n, b in files.items() if n.startswith("automm-weights")]
        diagrams = [b for n, b in files.items() if n not in kb_ids and not n.startswith("automm-weights")]
        return (
            f"20 x 20 KS-NAS study on digits (FD 64): {len(study.optuna_study.trials)} trials in {wall:.0f} s. "
            f"Artifact directory at the end: {len(kb)} KB versions ({sum(kb) / 1e6:.2f} MB), {len(weights)} "
            f"waiting weight files ({sum(weights) / 1e6:.2f} MB), {len(diagrams)} SVG diagrams "
            f"({sum(diagrams) / 1e6:.2f} MB); peak during the run {peak['bytes'] / 1e6:.2f} MB. "
            "Bound: T KB versions + the weights of at most two generations (<= 2N files) + one diagram per trial."
        )


def fmt(values: list[float], digits: int = 4) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def paired_table(results: list[dict[str, Any]], datasets: list[str], variants: list[str]) -> str:
    """Each KS-NAS variant against the same evolution from scratch, paired per seed (same seed, same split)."""
    lines = [
        "| data set | variant | folds | test KS | test w/o KS | paired diff (KS - w/o) | KS better/equal/worse "
        "| epochs KS | epochs w/o KS | epochs saved (paired) | best val KS / w/o |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in datasets:
        cold = {r["seed"]: r for r in results if r["dataset"] == d and r["variant"] == COLD}
        for v in (v for v in variants if v != COLD):
            ks = {r["seed"]: r for r in results if r["dataset"] == d and r["variant"] == v}
            seeds = sorted(set(ks) & set(cold))
            if not seeds:
                continue
            diff = [100 * (ks[s]["test"] - cold[s]["test"]) for s in seeds]
            ratio = [cold[s]["epochs"] / ks[s]["epochs"] for s in seeds]
            better = sum(x > 1e-9 for x in diff)
            worse = sum(x < -1e-9 for x in diff)
            lines.append(
                f"| {d} | {v} | {ks[seeds[0]]['folds']} | {fmt([100 * ks[s]['test'] for s in seeds], 2)} | "
                f"{fmt([100 * cold[s]['test'] for s in seeds], 2)} | {np.mean(diff):+.2f} ± {np.std(diff):.2f} | "
                f"{better}/{len(seeds) - better - worse}/{worse} | {fmt([ks[s]['epochs'] for s in seeds], 0)} | "
                f"{fmt([cold[s]['epochs'] for s in seeds], 0)} | {np.mean(ratio):.2f}x ± {np.std(ratio):.2f} | "
                f"{np.mean([ks[s]['val'] for s in seeds]):.4f} / {np.mean([cold[s]['val'] for s in seeds]):.4f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=["digits", "handwritten", "cub"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kb-size", action="store_true")
    parser.add_argument("--paired", action="store_true", help="KS-NAS against w/o KS only, paired per seed")
    parser.add_argument("--folds", type=int, default=1, help="folds that score a candidate (0: automm's rule)")
    parser.add_argument("--section", default="ksnas-paired", help="RESULTS.md section of the paired table")
    args = parser.parse_args()
    if args.paired:
        if "--variants" not in sys.argv:
            args.variants = ["KS-NAS", COLD]
        args.variants = list(dict.fromkeys([*args.variants, COLD]))
        if "--datasets" not in sys.argv:
            args.datasets = ["digits", "handwritten", "cub", "avmnist"]
    jobs = [(d, v, s, args.folds) for d in args.datasets for v in args.variants for s in range(args.seeds)]
    jobs.sort(key=lambda j: j[0] == "avmnist", reverse=True)  # the longest first, so two workers finish together
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(run_one, jobs, chunksize=1)
    if args.paired:
        return record_paired(results, args)

    lines = [
        "| data set | variant | trials | best val | test (best genotype) | total epochs | epochs vs KS-NAS | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in args.datasets:
        ref = [r["epochs"] for r in results if r["dataset"] == d and r["variant"] == "KS-NAS"]
        for v in args.variants:
            rows = [r for r in results if r["dataset"] == d and r["variant"] == v]
            ratio = f"{np.mean([r['epochs'] for r in rows]) / np.mean(ref):.2f}x" if ref else "-"
            lines.append(
                f"| {d} | {v} | {int(np.mean([r['trials'] for r in rows]))} | {fmt([r['val'] for r in rows])} | "
                f"{fmt([r['test'] for r in rows])} | {fmt([r['epochs'] for r in rows], 0)} | {ratio} | "
                f"{fmt([r['wall'] for r in rows], 1)} |"
            )
    figure = [
        "",
        "Epochs per individual by generation (mean over seeds; the paper's Figure 3):",
        "",
        "| data set | variant | " + " | ".join(f"g{g}" for g in range(8)) + " |",
        "|---|---|" + "---|" * 8,
    ]
    for d in args.datasets:
        for v in ("KS-NAS", "KS-NAS, cold patience", "KS-NAS w/o KS"):
            rows = [r["per_gen"] for r in results if r["dataset"] == d and r["variant"] == v]
            if rows:
                width = min(len(r) for r in rows)
                means = np.mean([r[:width] for r in rows], axis=0)
                figure.append(f"| {d} | {v} | " + " | ".join(f"{m:.1f}" for m in means[:8]) + " |")
    table = "\n".join(lines + figure)
    print(table)
    extra = ""
    if args.kb_size:
        extra = "\n\n" + kb_size_study()
        print(extra)
    if not jobs:
        return
    try:
        from benchmarks._results import record
    except ModuleNotFoundError:
        from _results import record  # type: ignore[no-redef]
    note = (
        f"{args.seeds} seeds (each seed also draws the split). Budgets from the presets (`studies/*.toml`): "
        "digits N=10, T=5; handwritten N=10, T=6; cub N=4, T=4; the Optuna samplers get N x T trials. "
        "Total epochs include the KB's supernet pretraining (20 epochs). Test = best genotype retrained on "
        "train+validation (warm-started from its KB version for KS variants; MFAS from scratch with early "
        "stopping), one retraining per seed. MFAS's best val is a 2-epoch proxy, not comparable with the others. "
        "Each job ran in its own process with one torch thread, two at a time."
    )
    record("ksnas-ablation", "KS-NAS ablation and sampler comparison", table + "\n\n" + note + extra)


def record_paired(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    table = paired_table(results, args.datasets, args.variants)
    print(table)
    try:
        from benchmarks._results import record
    except ModuleNotFoundError:
        from _results import record  # type: ignore[no-redef]
    note = (
        f"{args.seeds} seeds; each seed draws the split, and both variants of a seed share it. Budgets from the "
        "presets (N x T as in the ablation above); one network per candidate score "
        f"({'automm chooses the folds' if args.folds == 0 else f'{args.folds} fold(s)'}), no ensemble. Test = the "
        "best genotype retrained on train+validation with automm's rule (`start=auto`: from scratch unless the "
        "KB warm start scored strictly better on validation). Epochs = all training epochs of the search, KB "
        "pretraining included; saved = epochs w/o KS / epochs KS-NAS, per seed. Each job in its own process "
        "with one torch thread, two at a time."
    )
    title = "KS-NAS against the same evolution from scratch, paired per seed"
    if args.section != "ksnas-paired":
        title += f": {', '.join(v for v in args.variants if v != COLD)}"
    record(args.section, title, table + "\n\n" + note)


if __name__ == "__main__":
    main()
