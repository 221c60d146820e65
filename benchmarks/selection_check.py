"""The nested check of the ensemble choice (`automm.delivery.nested_check`): delivered with and without it.

For each data set and seed: the 80/20 protocol split of `versus_baselines` (avmnist keeps its own split);
inside the 80%, 20% become *selection* rows (stratified, ``random_state = seed + 100``) and the search
sees only the rest, through a `.npz` holding the search and selection rows (the selection rows as its
``test`` part, so the search never reads them; the test rows are not in the file). automm runs its
default search for ``--time-budget`` seconds, then the ensemble is chosen twice from the same trials:
greedy selection alone (automm before the check) and with the check (the default). Each choice is
delivered through `Study.deliver` and `automm.load_model` and scored on the selection rows (what
decides) and the test rows (reported once, decides nothing); when both choices are the same model it is
delivered once.

**Rule, written before the run:** the check stays the default when its mean paired difference on the
selection rows over every data set and seed is at or above zero; otherwise it is switched off.

Usage: python benchmarks/selection_check.py [--seeds 5] [--datasets webkb digits ...] [--time-budget 60]
           [--workers 2] [--runs DIR] [--log earlier-run.jsonl [--any-commit]] [--data-dir DIR]
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
    from benchmarks.versus_baselines import protocol_split
except ModuleNotFoundError:
    from _datasets import load_shared  # type: ignore[no-redef]
    from _results import machine, package_commit, paired, record, run_logged, sign_test, verdict  # type: ignore[no-redef]
    from versus_baselines import protocol_split  # type: ignore[no-redef]

DATA_DIR = Path(os.environ.get("AUTOMM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SETS = ["digits", "handwritten", "cub", "avmnist", "bbcsport", "3sources", "webkb", "20news"]


def selection_npz(dataset: Any, seed: int, folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A `.npz` of the search rows (``train``, and ``val`` where the data set fixes them) and the selection
    rows (its ``test``); returns it with the selection and test rows (indices of ``dataset``)."""
    from sklearn.model_selection import train_test_split

    train, test, val = protocol_split(dataset, seed)
    search, selection = train_test_split(
        train,
        test_size=0.2,
        stratify=dataset.labels[train] if dataset.labels.ndim == 1 else None,
        random_state=seed + 100,
    )
    search, selection = np.sort(search), np.sort(selection)
    parts = {"train": search, "test": selection} if val is None else {"train": search, "val": val, "test": selection}
    keep = np.sort(np.concatenate(list(parts.values())))
    position = {int(row): i for i, row in enumerate(keep)}
    arrays = {f"views/{v}": x[keep] for v, x in dataset.views.items()}
    arrays |= {f"views/{v}_mask": m[keep] for v, m in dataset.masks.items()}
    fixed = {p: np.array([position[int(r)] for r in rows], dtype=np.int64) for p, rows in parts.items()}
    npz = folder / f"{dataset.name}_s{seed}.npz"
    np.savez(npz, **arrays, labels=dataset.labels[keep], class_names=np.array(dataset.class_names), **fixed)
    return npz, selection, test


def run_one(job: tuple[str, int, float, str, str]) -> dict[str, Any]:
    """One search, then its ensemble chosen with and without the check, each delivered and scored."""
    import optuna
    import torch

    import automm
    from automm.core import keys

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    name, seed, budget, data_dir, runs = job
    dataset = load_shared(name, data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(runs) / f"{name}_s{seed}" if runs else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        npz, selection, test = selection_npz(dataset, seed, folder)
        start = time.perf_counter()
        study = automm.Study(data=npz, seed=seed, runs_dir=folder / "runs")
        if not study.n_finished():
            study.optimize(time_budget=budget)
        wall = time.perf_counter() - start
        checked = study.final.ensemble(store=False)
        plain = study.final.ensemble(store=False, check=False)

        def scored(choice: Any, where: str) -> dict[str, float]:
            study.optuna_study.set_user_attr(keys.ENSEMBLE, choice.to_dict())  # what `deliver` delivers
            model = automm.load_model(study.deliver(Path(tmp) / where).path)
            out = {}
            for part, rows in (("selection", selection), ("test", test)):
                views = {v: dataset.views[v][rows] for v in model.meta["view_dims"]}
                out[part] = float((model.predict(views) == dataset.labels[rows]).mean())
            return out

        same = checked.genotypes == plain.genotypes and checked.weights == plain.weights
        with_check = scored(checked, "checked")
        without = with_check if same else scored(plain, "plain")
        return {
            "dataset": name,
            "seed": seed,
            "commit": package_commit(),
            "trials": study.n_finished(),
            "wall": wall,
            "fallback_chosen": checked.fallback_chosen,
            "changed": not same,
            "oof_greedy": plain.score,
            "nested_greedy": checked.nested_score,
            "oof_linear": checked.fallback_score,
            "members_plain": len(plain.genotypes),
            "selection_checked": with_check["selection"],
            "selection_plain": without["selection"],
            "test_checked": with_check["test"],
            "test_plain": without["test"],
        }


def _job_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["dataset"], row["seed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", default=SETS)
    parser.add_argument("--time-budget", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="", help="keep each search's study here (a rerun reuses it)")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--log", type=Path, help="a JSON-lines output of an earlier run: its rows are reused")
    parser.add_argument("--any-commit", action="store_true", help="reuse --log rows of other package commits")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # the workers' torch threads: one each
    jobs = [(d, s, args.time_budget, args.data_dir, args.runs) for s in range(args.seeds) for d in args.datasets]
    results = run_logged(run_one, jobs, lambda j: j[:2], _job_key, args.workers, args.log, args.any_commit)
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    lines = [
        "| data set | runs | choices the check changed | linear alone delivered | out-of-fold, greedy | "
        "nested, greedy | out-of-fold, linear | "
        "selection, with check / without | paired diff, selection (points) | test, with check / without | "
        "paired diff, test (points) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    every_selection, every_test = [], []
    for d in args.datasets:
        mine = sorted((r for r in results if r["dataset"] == d), key=lambda r: r["seed"])
        for r in mine:  # rows before "changed" was logged: greedy selection alone had not chosen the linear one alone
            plain_linear = r["members_plain"] == 1 and r["oof_greedy"] == r["oof_linear"]
            r.setdefault("changed", r["fallback_chosen"] and not plain_linear)
        if not mine:
            continue
        sel = [r["selection_checked"] - r["selection_plain"] for r in mine]
        tst = [r["test_checked"] - r["test_plain"] for r in mine]
        every_selection += sel
        every_test += tst
        m, lo, hi = paired(sel)
        mt, lot, hit = paired(tst)
        nested = [r["nested_greedy"] for r in mine if r["nested_greedy"] is not None]
        linear = [r["oof_linear"] for r in mine if r["oof_linear"] is not None]
        lines.append(
            f"| {d} | {len(mine)} | {sum(r['changed'] for r in mine)} | {sum(r['fallback_chosen'] for r in mine)} | "
            f"{100 * np.mean([r['oof_greedy'] for r in mine]):.2f} | "
            f"{100 * np.mean(nested):.2f} | {100 * np.mean(linear):.2f} | "
            f"{100 * np.mean([r['selection_checked'] for r in mine]):.2f} / "
            f"{100 * np.mean([r['selection_plain'] for r in mine]):.2f} | {m:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
            f"{100 * np.mean([r['test_checked'] for r in mine]):.2f} / "
            f"{100 * np.mean([r['test_plain'] for r in mine]):.2f} | {mt:+.2f} [{lot:+.2f}, {hit:+.2f}] |"
        )
    m, lo, hi = paired(every_selection)
    mt, lot, hit = paired(every_test)
    keep = m >= 0
    body = "\n".join(
        [
            f"Each run: automm's default search for {args.time_budget:.0f} s on the search rows, then the ensemble "
            "chosen with the nested check (the default) and without it (greedy selection alone), both delivered. "
            "Selection rows (20% of the training rows, never searched) decide; the test column is reported once "
            f"and decides nothing. Machine: {machine()}, {args.workers} runs at a time, one torch thread each.",
            "",
            *lines,
            "",
            f"All runs, selection rows: {m:+.2f} points [{lo:+.2f}, {hi:+.2f}] ({verdict(lo, hi)}); "
            f"{sign_test(every_selection)}.",
            f"All runs, test rows (not used): {mt:+.2f} points [{lot:+.2f}, {hit:+.2f}]; {sign_test(every_test)}.",
            "",
            f"Rule (module docstring): the check {'stays the default' if keep else 'is switched off'} "
            f"(mean selection-row difference {m:+.2f} points {'>=' if keep else '<'} 0).",
        ]
    )
    print(body)
    record("selection-check", "The nested check of the ensemble choice", body)


if __name__ == "__main__":
    main()
