"""Knowledge sharing under cross-validated selection: KS-NAS with one KB per fold (the default, with epoch
racing of warm starts inside fold 0), the same without epoch racing, with fold 0's KB only (automm 0.1's
rule), and the same evolution from scratch, paired (same seed, same split, same schedule).

For each data set and seed: the 80/20 protocol split of `versus_baselines` (stratified, ``random_state =
seed``; avmnist keeps its own split), automm's fold rule (``folds = 0``: 5 folds up to 10,000 search rows),
the same evolution for every variant and data set (N x T from ``--population`` / ``--generations``), then the
default delivery (greedy ensemble of fold-network bags, the linear candidate in the pool). Reported per
variant: the delivered model's test score (the 20% never seen by the search), epochs the user pays (trials +
KB pretraining + delivery) and wall seconds (search + delivery); and, paired per seed against the
from-scratch evolution, the test difference and the epoch and wall ratios (mean ± std over seeds).

With ``--time-budget T`` it runs per-fold KBs (or ``--variants``) and the evolution from scratch for the same
wall-clock search budget instead (``Study.optimize(time_budget=T)`` over a schedule longer than the budget, N
from ``--population``), and records the delivered test scores side by side with the trials each could afford
(section ``knowledge-sharing-budget``); with two sharing variants, also the first against the second, paired,
by the delivered choice's out-of-fold score (what decides) and its test score (reported once).

Usage: python benchmarks/knowledge_sharing.py [--seeds 3] [--datasets digits handwritten ...] [--workers 2]
           [--variants "per-fold KBs" "no epoch racing" "from scratch"] [--section knowledge-sharing-racing]
           [--data-dir DIR] [--log earlier-run.jsonl [--any-commit]]
       python benchmarks/knowledge_sharing.py --time-budget 60 [--seeds 3] [--datasets ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

try:  # imported when the benchmark starts, so the section names the code that ran
    from benchmarks._datasets import load_shared
    from benchmarks._results import machine, package_commit, paired, record, run_logged, sign_test, verdict
except ModuleNotFoundError:
    from _datasets import load_shared  # type: ignore[no-redef]
    from _results import machine, package_commit, paired, record, run_logged, sign_test, verdict  # type: ignore[no-redef]

# ../shared/data beside the checkout; AUTOMM_SHARED_DATA (set by --data-dir) names another folder
DATA_DIR = Path(os.environ.get("AUTOMM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VARIANTS: dict[str, dict[str, Any]] = {
    "per-fold KBs": {},
    "no epoch racing": {"knowledge": {"race_epochs": False}},
    # KB pretraining to convergence: stops on a holdout of its own rows (the default before was "per-fold KBs")
    "KB stops on a holdout": {"knowledge": {"kb_epochs": 100, "kb_patience": 2}},
    "fold-0 KB": {"knowledge": {"every_fold": False}},
    "warm patience 2": {"knowledge": {"warm_patience": 2}},
    "warm patience 5": {"knowledge": {"warm_patience": 5}},
    "warm patience 10": {"knowledge": {"warm_patience": 10}},
    "KB 10 epochs": {"knowledge": {"kb_epochs": 10}},
    # a genotype met again reuses its earlier result (the default since knowledge-sharing-repeats) ...
    "reuse repeats": {"knowledge": {"retrain_repeats": False}},
    # ... or trains again from the newer KB (the default before)
    "retrain repeats": {"knowledge": {"retrain_repeats": True}},
    "from scratch": {"knowledge_sharing": False},
    # under a time budget a repeat of a warm-started genotype is confirmed from scratch once (the default since
    # knowledge-sharing-budget-confirm) or reuses the warm result (the default before); with --time-budget
    "no confirmation": {"knowledge": {"confirm_repeats": False}},
    # under a time budget each generation's best parent, a warm result not yet confirmed, is bred again and so
    # confirmed from scratch (`knowledge.confirm_best`); with --time-budget
    "confirm best": {"knowledge": {"confirm_best": True}},
    "no best confirmation": {"knowledge": {"confirm_best": False}},
    # after a search under a time budget the chosen warm-started members' fold networks train on at the
    # from-scratch patience (`knowledge.finish_members`, "budget": the default since knowledge-sharing-budget-finish)
    # or not (the default before)
    "no finishing": {"knowledge": {"finish_members": "never"}},
    "finish always": {"knowledge": {"finish_members": "always"}},
    # warm starts race inside the one split too (K = 1; the default since knowledge-sharing-one-split-race) or
    # not: with automm's fold rule this changes only large data (avmnist); the "one split" variants force K = 1
    # on any set, each paired against its own scratch ("one split": without the race, the default before)
    "race one split": {"knowledge": {"race_one_split": True}},
    "no race on one split": {"knowledge": {"race_one_split": False}},
    "one split": {"folds": 1, "knowledge": {"race_one_split": False}},
    "one split, race": {"folds": 1, "knowledge": {"race_one_split": True}},
    "one split, from scratch": {"folds": 1, "knowledge_sharing": False},
}
SCRATCH = "from scratch"
# the section (key, title) a run writes unless told: by whether it is an equal-time (--time-budget) run
DEFAULT_SECTIONS = {
    False: (
        "knowledge-sharing-racing",
        "Knowledge sharing under cross-validated selection (per-fold KBs, epoch racing), paired against scratch",
    ),
    True: ("knowledge-sharing-budget", "Knowledge sharing at equal search time: per-fold KBs against scratch"),
}


def reference(variant: str) -> str:
    """The from-scratch variant ``variant`` is paired against: the one with the same folds."""
    return "one split, from scratch" if VARIANTS[variant].get("folds") == 1 else SCRATCH


def _dataset(name: str, seed: int) -> Any:
    from automm.data import Splits, make_splits

    try:
        from benchmarks.versus_baselines import protocol_split
    except ModuleNotFoundError:
        from versus_baselines import protocol_split  # type: ignore[no-redef]

    dataset = load_shared(name, DATA_DIR, seed)
    train, test, val = protocol_split(dataset, seed)
    if val is None:  # 20% of the 80% becomes validation (the folds use train + validation anyway)
        dataset.splits = make_splits(dataset.labels, seed=seed, test=test, train=train)
    else:
        dataset.splits = Splits(np.sort(train), np.sort(val), np.sort(test))
    return dataset


def variant_study(name: str, variant: str, seed: int, population: int, generations: int, runs: str) -> Any:
    """A job's study in a process of its own (one torch thread, quiet): ``name``'s protocol split for
    ``seed``, automm's fold rule, N x T KS-NAS with the variant's settings, stored under ``runs``."""
    import optuna
    import torch

    import automm

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    return automm.Study(
        _dataset(name, seed),
        runs_dir=runs,
        seed=seed,
        ksnas={"population_size": population, "generations": generations},
        **{"folds": 0, **VARIANTS[variant]},  # 0: automm's fold rule
    )


def run_one(job: tuple[str, str, int, int, int, float | None]) -> dict[str, Any]:
    name, variant, seed, population, generations, budget = job
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        study = variant_study(name, variant, seed, population, generations, runs)
        # None: the whole schedule, also on data without a preset (which would get automm's default budget)
        study.optimize(time_budget="none" if budget is None else budget)
        searched = time.perf_counter() - start
        exported = study.deliver(Path(runs) / "model")
        wall = time.perf_counter() - start
        cost = study.training_cost()
        folder = Path(study.artifact_dir)
        stored = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0
        delivered = exported.meta["epochs"]
        delivery_epochs = sum(delivered) if isinstance(delivered, list) else int(delivered)
        starts = exported.meta["started_from"]
        starts = starts if isinstance(starts, list) else [starts]
        members = [
            f"{m['weight']:.2f} {'linear' if str(m['genotype']).startswith('linear(') else 'net'}"
            + (f" x{m['bagged']}" if m.get("bagged") else "")
            + (" kept" if how == "search" else "")  # the fold networks the search trained, not trained again
            for m, how in zip(exported.members, starts, strict=True)
        ]
        return {
            "dataset": name,
            "variant": variant,
            "seed": seed,
            "folds": len(study.fold_data),
            "test": float(exported.meta["test_metrics"][study.metric]),
            "val": study.best_value,
            "search_epochs": cost["epochs"],
            "pretrain_epochs": cost["pretrain_epochs"],
            "delivery_epochs": delivery_epochs,
            "epochs": cost["epochs"] + delivery_epochs,
            "search_wall": searched,
            "wall": wall,
            "delivered": ", ".join(members),
            "ensemble_oof": float(study.ensemble().score),  # the delivered choice's out-of-fold score
            "trials": study.n_finished(),
            "trained": trained_trials(study),
            "folds_per_trial": folds_trained(study),  # racing: folds a trained candidate was scored on, mean
            "artifact_mb": stored / 2**20,  # the artifact store after delivery: KB versions, OOF predictions, ...
            "commit": package_commit(),  # None: a dirty tree (never reused by --log)
            "machine": machine(),
        }


def trained_trials(study: Any) -> int:
    """Completed trials of ``study`` that trained their candidate (not repeats that reused a result)."""
    from automm.search import queries
    from automm.store.trial_record import TrialRecord

    return sum(1 for t in queries.completed(study.optuna_study) if TrialRecord.of(t).trained)


def folds_trained(study: Any) -> float:
    """Mean number of folds the trained (not repeated) candidates of ``study`` were scored on."""
    from automm.search import queries
    from automm.store.trial_record import TrialRecord

    records = [TrialRecord.of(t) for t in queries.completed(study.optuna_study)]
    counts = [len(r.fold_scores) for r in records if r.trained]
    return float(np.mean(counts)) if counts else float("nan")


def fmt(values: list[float], digits: int = 2) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def table(results: list[dict[str, Any]], datasets: list[str], variants: list[str]) -> str:
    lines = [
        "| data set | variant | folds | out-of-fold (delivered choice) | paired OOF diff vs scratch | test "
        "| paired test diff vs scratch | epochs (search + KB / delivery) "
        "| epochs saved (paired) | search epochs saved | wall s | wall saved |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in datasets:
        for v in variants:
            cold = {r["seed"]: r for r in results if r["dataset"] == d and r["variant"] == reference(v)}
            rows = {r["seed"]: r for r in results if r["dataset"] == d and r["variant"] == v}
            seeds = sorted(set(rows) & set(cold))
            if not seeds:
                continue
            diff = [100 * (rows[s]["test"] - cold[s]["test"]) for s in seeds]
            oof = [100 * rows[s].get("ensemble_oof", np.nan) for s in seeds]
            oof_diff = [o - 100 * cold[s].get("ensemble_oof", np.nan) for o, s in zip(oof, seeds, strict=True)]
            saved = [cold[s]["epochs"] / rows[s]["epochs"] for s in seeds]
            search_saved = [cold[s]["search_epochs"] / rows[s]["search_epochs"] for s in seeds]
            wall_saved = [cold[s]["wall"] / rows[s]["wall"] for s in seeds]
            paired = "-" if v == reference(v) else f"{np.mean(diff):+.2f} ± {np.std(diff):.2f}"
            paired_oof = "-" if v == reference(v) else f"{np.mean(oof_diff):+.2f} ± {np.std(oof_diff):.2f}"
            lines.append(
                f"| {d} | {v} | {rows[seeds[0]]['folds']} | {fmt(oof)} | {paired_oof} | "
                f"{fmt([100 * rows[s]['test'] for s in seeds])} | {paired} | "
                f"{np.mean([rows[s]['search_epochs'] for s in seeds]):.0f} / "
                f"{np.mean([rows[s]['delivery_epochs'] for s in seeds]):.0f} | "
                f"{np.mean(saved):.2f}x ± {np.std(saved):.2f} | {np.mean(search_saved):.2f}x | "
                f"{np.mean([rows[s]['wall'] for s in seeds]):.0f} | {np.mean(wall_saved):.2f}x |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--datasets", nargs="+", default=["digits", "handwritten", "cub", "bbcsport", "3sources", "webkb", "20news"]
    )
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-budget", type=float, default=None, help="equal search budget (s) per run")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        help="default: per-fold KBs, no epoch racing, from scratch; with --time-budget: per-fold KBs, from scratch",
    )
    parser.add_argument(
        "--section",
        help="the RESULTS.md section to write (default: knowledge-sharing-racing; knowledge-sharing-budget "
        "with --time-budget)",
    )
    parser.add_argument("--title", help="the section's heading (default: the default section's)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the shared data sets' folder")
    parser.add_argument("--log", type=Path, help="JSON rows of an earlier run of this package commit: jobs not rerun")
    parser.add_argument("--any-commit", action="store_true", help="with --log: reuse rows of other commits too")
    args = parser.parse_args()
    os.environ["AUTOMM_SHARED_DATA"] = str(args.data_dir.resolve())  # the spawned jobs read it
    # one torch thread per job, wide data too: automm's thread rule gives a job on wide views every core, and
    # --workers jobs that each take every core fight over them (4x slower per job on 2 cores, measured)
    os.environ["OMP_NUM_THREADS"] = "1"
    default_section, default_title = DEFAULT_SECTIONS[args.time_budget is not None]
    args.section, args.title = args.section or default_section, args.title or default_title
    if args.time_budget is not None:
        args.variants = args.variants or ["per-fold KBs", SCRATCH]
        return budget_run(args)
    args.variants = args.variants or ["per-fold KBs", "no epoch racing", SCRATCH]
    jobs = [
        (d, v, s, args.population, args.generations, None)
        for d in args.datasets
        for v in args.variants
        for s in range(args.seeds)
    ]
    # longest first
    jobs.sort(key=lambda j: (j[0] in ("handwritten", "avmnist"), j[1] == reference(j[1])), reverse=True)
    results = run_jobs(jobs, args)
    body = table(results, args.datasets, args.variants)
    delivered = "\n".join(
        f"- {r['dataset']} s{r['seed']} {r['variant']}: {r['delivered']}"
        for r in sorted(results, key=lambda r: (r["dataset"], r["variant"], r["seed"]))
    )
    print(body)
    note = (
        f"{args.seeds} seeds, N = {args.population}, T = {args.generations} for every data set and variant "
        "(the schedule of the issue that asked for this), automm's fold rule, the default delivery. Test = the "
        "delivered model on the protocol's 20% (never seen by the search or any choice); epochs = every training "
        "epoch the user pays (trials, KB pretraining: one KB per fold for per-fold KBs, delivery); saved = "
        "from scratch / variant, per seed. Each job in its own process with one torch thread, "
        f"{args.workers} at a time (wall times are comparable within this table only)."
        + "".join(f" Machine: {m}." for m in sorted({r.get("machine", "this one") for r in results}))
    )
    record(
        args.section,
        args.title,
        body + "\n\n" + note + "\n\nWhat was delivered (weight, kind, fold networks):\n\n" + delivered,
    )


def _job_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["dataset"], row["variant"], row["seed"])


def run_jobs(jobs: list[tuple[Any, ...]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every job's row (`run_logged`): a job is known by its data set, variant and seed."""
    return run_logged(run_one, jobs, lambda j: j[:3], _job_key, args.workers, args.log, args.any_commit)


def budget_run(args: argparse.Namespace) -> None:
    sharing = [v for v in args.variants if v != SCRATCH]
    variants = [*sharing, SCRATCH]
    jobs = [
        (d, v, s, args.population, 1000, args.time_budget)
        for d in args.datasets
        for v in variants
        for s in range(args.seeds)
    ]
    results = run_jobs(jobs, args)
    body = "\n\n".join(
        [budget_table(results, args.datasets, v) for v in sharing]
        + ([paired_table(results, args.datasets, sharing[0], sharing[1])] if len(sharing) > 1 else [])
    )
    print(body)
    note = (
        f"{args.seeds} seeds, a budget of {args.time_budget:.0f} s per run (`Study.optimize(time_budget=...)`, "
        "which holds back the delivery's predicted time, then `deliver`), "
        f"N = {args.population}, the default delivery, "
        f"the protocol's 20% as test. Each job in its own process with one torch thread, {args.workers} at a time."
    )
    record(args.section, args.title, body + "\n\n" + note)


def _by_seed(results: list[dict[str, Any]], dataset: str, variant: str) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in results if r["dataset"] == dataset and r["variant"] == variant}


def budget_table(results: list[dict[str, Any]], datasets: list[str], variant: str) -> str:
    """``variant`` against the evolution from scratch at the same budget, per data set, paired per seed."""
    lines = [
        f"| data set | test, {variant} | test, from scratch | paired diff (points), 95% interval | verdict | "
        f"out-of-fold best, {variant} / scratch | trials, {variant} / scratch | search s / delivery s, "
        f"{variant} | search s / delivery s, scratch | folds a trained candidate, {variant} / scratch | "
        f"artifact MB, {variant} / scratch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    diffs: list[float] = []
    for d in datasets:
        ks, cold = _by_seed(results, d, variant), _by_seed(results, d, SCRATCH)
        seeds = sorted(set(ks) & set(cold))
        if not seeds:
            continue
        diff = [ks[s]["test"] - cold[s]["test"] for s in seeds]  # fractions: `paired` reports points
        diffs += diff
        mean, low, high = paired(diff)

        def times(rows: dict[int, dict[str, Any]], seeds: list[int] = seeds) -> str:
            search = np.mean([rows[s]["search_wall"] for s in seeds])
            return f"{search:.0f} / {np.mean([rows[s]['wall'] for s in seeds]) - search:.0f}"

        lines.append(
            f"| {d} | {fmt([100 * ks[s]['test'] for s in seeds])} | {fmt([100 * cold[s]['test'] for s in seeds])} | "
            f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] | {verdict(low, high)} | "
            f"{np.mean([100 * ks[s]['val'] for s in seeds]):.2f} / "
            f"{np.mean([100 * cold[s]['val'] for s in seeds]):.2f} | {np.mean([ks[s]['trials'] for s in seeds]):.0f} / "
            f"{np.mean([cold[s]['trials'] for s in seeds]):.0f} | {times(ks)} | {times(cold)} | "
            f"{np.mean([ks[s]['folds_per_trial'] for s in seeds]):.2f} / "
            f"{np.mean([cold[s]['folds_per_trial'] for s in seeds]):.2f} | "
            f"{np.mean([ks[s]['artifact_mb'] for s in seeds]):.1f} / "
            f"{np.mean([cold[s]['artifact_mb'] for s in seeds]):.1f} |"
        )
    mean, low, high = paired(diffs)
    lines.append(
        f"| all | | | {mean:+.2f} [{low:+.2f}, {high:+.2f}] over sets x seeds | {verdict(low, high)} | | | | | | |"
    )
    lines += ["", f"{variant} vs scratch over every data set and seed: {sign_test(diffs)}."]
    return "\n".join(lines)


def paired_table(results: list[dict[str, Any]], datasets: list[str], variant: str, other: str) -> str:
    """``variant`` against ``other`` at the same budget: the delivered choice's out-of-fold score (what a rule
    decides on) and test score (reported once), paired per seed."""
    lines = [
        f"**{variant} against {other}**, paired per seed:",
        "",
        "| data set | out-of-fold (delivered choice), paired diff | lowest seed | test, paired diff (reported once) "
        f"| trials, {variant} / {other} | trials that trained, {variant} / {other} |",
        "|---|---|---|---|---|---|",
    ]
    oof_all, test_all = [], []
    for d in datasets:
        mine, theirs = _by_seed(results, d, variant), _by_seed(results, d, other)
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        oof = [100 * (mine[s]["ensemble_oof"] - theirs[s]["ensemble_oof"]) for s in seeds]
        test = [100 * (mine[s]["test"] - theirs[s]["test"]) for s in seeds]
        oof_all.append(float(np.mean(oof)))
        test_all += [t / 100 for t in test]  # fractions: `paired` reports points
        lines.append(
            f"| {d} | {np.mean(oof):+.2f} ± {np.std(oof):.2f} | {min(oof):+.2f} | {np.mean(test):+.2f} ± "
            f"{np.std(test):.2f} | {np.mean([mine[s]['trials'] for s in seeds]):.0f} / "
            f"{np.mean([theirs[s]['trials'] for s in seeds]):.0f} | "
            f"{np.mean([mine[s].get('trained', np.nan) for s in seeds]):.0f} / "
            f"{np.mean([theirs[s].get('trained', np.nan) for s in seeds]):.0f} |"
        )
    mean, low, high = paired(test_all)
    lines += [
        "",
        f"Out-of-fold, mean over data sets {np.mean(oof_all):+.2f} points, lowest data set {min(oof_all):+.2f}. "
        f"Test (not used), over sets x seeds: {mean:+.2f} [{low:+.2f}, {high:+.2f}]; {sign_test(test_all)}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
