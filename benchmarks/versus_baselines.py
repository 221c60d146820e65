"""The yardstick: automm's delivered model against what a user tries first, and against AutoGluon-Tabular.

Protocol (the one published multi-view numbers use): for seed s,
``train_test_split(range(N), test_size=0.2, stratify=y, random_state=s)``; the 20% is the test
split and nothing else: every choice (automm's search and ensemble, each baseline's C, AutoGluon's
models) is made on the other 80%, and the test rows are scored once, for this table. automm gets the
80% through the path a user takes: a `.npz` with fixed ``train``/``test`` indices, then `automm.Study`,
`Study.export`, and `automm.load_model(...).predict` on the test rows. avmnist keeps its own
recording-disjoint split, the same for every seed.

Columns: automm's default delivery (the greedy ensemble, the linear candidate allowed), automm's best
fusion network alone (its fold networks: what the search itself found), concatenation + logistic
regression (C = 1, and C chosen by 5-fold cross-validation on the training rows from 0.01, 0.1, 1, 10),
late fusion (mean of per-view LR probabilities, C = 1 and C by CV per view), the best single view (by
3-fold CV) + LR, concatenation + an MLP, and, with ``--autogluon PYTHON`` (the Python of an environment
with the benchmark-only extra, ``pip install -e '.[bench]'``), AutoGluon-Tabular with each of
``--presets`` on the views concatenated as columns, ``time_limit`` = automm's whole wall time (search
and export) on the same data set and seed, one CPU like automm's one torch thread.

Verdicts are paired: per seed, automm's test score minus the best peer's (the peer with the best mean
on that data set), mean and 95% t-interval over seeds (a win or loss only when the interval excludes
0), and a sign test over every data set and seed.

Usage: python benchmarks/versus_baselines.py [--datasets digits,handwritten,cub,avmnist,bbcsport,3sources,webkb,20news]
       [--seeds 5] [--columns preset] [--time-budget 60] [--autogluon /path/to/python]
       [--presets medium_quality,best_quality] [--jobs 2] [--data-dir ../shared/data]
       [--log runs.jsonl [--any-commit]]
       (a run without the preset column records its own section, e.g. ``versus-baselines-tuned``;
       with ``--log``, an interrupted run of the same package commit continues where it stopped)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import tempfile
import time
from typing import Any

import numpy as np

try:
    from benchmarks._datasets import load_shared
    from benchmarks._results import package_commit, paired, record, reused_rows, sign_test, verdict
except ModuleNotFoundError:  # run as a script
    from _datasets import load_shared  # type: ignore[no-redef]
    from _results import package_commit, paired, record, reused_rows, sign_test, verdict  # type: ignore[no-redef]

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLISHED = {  # RCML/ECML (AAAI 2024), Table 2, 80/20 split; accuracy in %
    "handwritten": "ECML 99.40, TMDL-OA 99.25",
    "cub": "ECML 98.50 ± 2.75, TMDL-OA 95.43",
}
BASELINES = (
    "concat + LR",
    "concat + LR (C by CV)",
    "late fusion LR",
    "late fusion LR (C by CV)",
    "best view LR",
    "concat + MLP",
)
C_GRID = (0.01, 0.1, 1.0, 10.0)  # automm's linear candidate chooses from the same values


def protocol_split(dataset: Any, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(train rows, test rows, fixed validation rows or None) of ``seed`` under the protocol."""
    from sklearn.model_selection import train_test_split

    if dataset.name.startswith("avmnist"):  # recording-disjoint: its own split, the same for every seed
        s = dataset.splits
        return s.train, s.test, s.val
    rows = np.arange(len(dataset.labels))
    train, test = train_test_split(rows, test_size=0.2, stratify=dataset.labels, random_state=seed)
    return np.sort(train), np.sort(test), None


def write_protocol_npz(dataset: Any, seed: int, folder: Path) -> Path:
    """``dataset`` as a `.npz` whose fixed ``train``/``test`` rows (and ``val``, where the data set fixes
    them) are ``seed``'s protocol split: the path a user's own data takes."""
    train, test, val = protocol_split(dataset, seed)
    npz = folder / f"{dataset.name}_s{seed}.npz"
    arrays = {f"views/{v}": x for v, x in dataset.views.items()}
    arrays |= {f"views/{v}_mask": m for v, m in dataset.masks.items()}  # token views' padding
    fixed = {"train": train, "test": test} if val is None else {"train": train, "val": val, "test": test}
    np.savez(npz, **arrays, labels=dataset.labels, class_names=np.array(dataset.class_names), **fixed)
    return npz


def baselines(dataset: Any, train: np.ndarray, test: np.ndarray, seed: int) -> dict[str, float]:
    """Test accuracy of the baselines, fitted on ``train`` (standardised on it) only; every C chosen by
    cross-validation on ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier

    from automm.data.preprocess import Standardizer

    st = Standardizer.fit(dataset.views, train)
    x_train, x_test = st.transform(dataset.views, train), st.transform(dataset.views, test)
    y_train, y_test = dataset.labels[train], dataset.labels[test]

    def lr(c: float = 1.0) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=5000, random_state=seed)

    def lr_cv() -> GridSearchCV:  # C chosen by 5-fold cross-validation on the training rows only
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        return GridSearchCV(lr(), {"C": list(C_GRID)}, cv=folds, scoring="accuracy")

    def proba(model: Any, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), dataset.n_classes))
        out[:, model.classes_] = model.predict_proba(x)
        return out

    cat_train = np.concatenate(list(x_train.values()), axis=1)
    cat_test = np.concatenate(list(x_test.values()), axis=1)
    out = {
        "concat + LR": float((lr().fit(cat_train, y_train).predict(cat_test) == y_test).mean()),
        "concat + LR (C by CV)": float((lr_cv().fit(cat_train, y_train).predict(cat_test) == y_test).mean()),
    }
    probs, tuned, cv = [], [], {}
    for view in dataset.view_names:
        probs.append(proba(lr().fit(x_train[view], y_train), x_test[view]))
        tuned.append(proba(lr_cv().fit(x_train[view], y_train), x_test[view]))
        cv[view] = cross_val_score(lr(), x_train[view], y_train, cv=3).mean()
    out["late fusion LR"] = float((np.mean(probs, axis=0).argmax(1) == y_test).mean())
    out["late fusion LR (C by CV)"] = float((np.mean(tuned, axis=0).argmax(1) == y_test).mean())
    best = max(cv, key=lambda v: cv[v])
    out["best view LR"] = float((probs[dataset.view_names.index(best)].argmax(1) == y_test).mean())
    mlp = MLPClassifier(hidden_layer_sizes=(256,), max_iter=500, early_stopping=True, random_state=seed)
    out["concat + MLP"] = float((mlp.fit(cat_train, y_train).predict(cat_test) == y_test).mean())
    return out


def automm_run(job: tuple[str, str, int, str, float | None]) -> dict[str, Any]:
    """One automm search on one split: through a `.npz`, `Study`, export and `load_model`; the default
    delivery, and the best fusion network alone (its fold networks)."""
    import optuna
    import torch

    import automm
    from automm.settings import TUNABLE, has_preset, load_preset

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)  # no line per trial
    name, column, seed, data_dir, budget = job
    dataset = load_shared(name, data_dir)
    test = protocol_split(dataset, seed)[1]
    with tempfile.TemporaryDirectory() as tmp:
        npz = write_protocol_npz(dataset, seed, Path(tmp))
        settings: dict[str, Any] = {}
        if column in ("preset", "tuned") and has_preset(name):
            preset = load_preset(name)
            config = preset.config
            if column == "tuned":  # the preset, with its training settings searched too
                config = dataclasses.replace(config, tune=TUNABLE)
            settings = {"config": config, **{k: preset.section(k) for k in ("ksnas", "knowledge")}}
        start = time.perf_counter()
        study = automm.Study(data=npz, seed=seed, runs_dir=Path(tmp) / "runs", **settings)
        assert not set(study.dataset.splits.train) & set(test) and not set(study.dataset.splits.val) & set(test)
        study.optimize(time_budget=budget)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        exported = study.deliver(Path(tmp) / "model")
        export_wall = time.perf_counter() - start
        model = automm.load_model(exported.path)
        views = {v: dataset.views[v][test] for v in model.meta["view_dims"]}
        accuracy = float((model.predict(views) == dataset.labels[test]).mean())
        networks = automm.load_model(study.deliver(Path(tmp) / "networks", genotype=study.best_genotype).path)
        # the views each model reads: a delivered linear candidate may read one view alone (chosen out of fold)
        network_views = {v: dataset.views[v][test] for v in networks.meta["view_dims"]}
        networks_accuracy = float((networks.predict(network_views) == dataset.labels[test]).mean())
        cost = study.training_cost()
        best = study.best_trial
        linear = [m for m in exported.members if str(m["genotype"]).startswith("linear(")]
        return {
            "folds": int(best.user_attrs.get("folds", 1)),
            "members": len(model.nets),
            "delivered": [
                {
                    "weight": round(m["weight"], 3),
                    "kind": "linear" if m in linear else "fusion network",
                    "bagged": m.get("bagged"),
                }
                for m in exported.members
            ],
            "linear_member": bool(linear),
            "oof": float((study.optuna_study.user_attrs.get("ensemble") or {}).get("score", study.best_value)),
            "dataset": name,
            "column": column,
            "seed": seed,
            "test": accuracy,
            "test_networks": networks_accuracy,
            "val": study.best_value,
            "wall": wall,
            "export_wall": export_wall,
            "epochs": cost["epochs"],
            "trials": study.n_finished(),
        }


def autogluon_run(job: tuple[str, int, str, str, str, float]) -> dict[str, Any]:
    """AutoGluon-Tabular (``preset``) on one split, ``time_limit`` seconds, in the Python ``python``."""
    import subprocess

    from automm.data.preprocess import Standardizer

    name, seed, data_dir, python, preset, time_limit = job
    dataset = load_shared(name, data_dir)
    train, test, val = protocol_split(dataset, seed)
    fit_rows = train if val is None else np.sort(np.concatenate([train, val]))  # all non-test rows, as automm
    st = Standardizer.fit(dataset.views, fit_rows)

    def columns(rows: np.ndarray) -> np.ndarray:
        return np.concatenate(list(st.transform(dataset.views, rows).values()), axis=1)

    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "split.npz"
        np.savez(split, x_train=columns(fit_rows), y_train=dataset.labels[fit_rows], x_test=columns(test),
                 y_test=dataset.labels[test])  # fmt: skip
        script = Path(__file__).resolve().parent / "_autogluon_peer.py"
        # Equal wall time first. AutoGluon fails outright (no model) on very short limits: then the same limit
        # without dynamic stacking, then twice the limit, and the row says what it was given.
        tries = [(time_limit, [])]
        if preset == "best_quality":
            tries.append((time_limit, ["no-dystack"]))
        tries += [(2 * time_limit, ["no-dystack"]), (4 * time_limit, ["no-dystack"])]
        errors = []
        for limit, flags in tries:
            done = subprocess.run(
                [python, str(script), str(split), preset, f"{limit:.1f}", *flags],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            if done.returncode == 0:
                break
            errors.append(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
        else:
            raise RuntimeError(f"AutoGluon {preset} failed on {name} seed {seed}: {errors[-1]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["given"] = f"{limit:.1f} s{' no dynamic stacking' if flags else ''}"
        result["failed_tries"] = errors
    return {"dataset": name, "seed": seed, "peer": f"AutoGluon {preset}", "time_limit": time_limit, **result}


def baseline_run(job: tuple[str, int, str]) -> dict[str, Any]:
    name, seed, data_dir = job
    dataset = load_shared(name, data_dir)
    train, test, val = protocol_split(dataset, seed)
    fit_rows = train if val is None else np.sort(np.concatenate([train, val]))  # all non-test rows, as automm
    return {"dataset": name, "seed": seed, **baselines(dataset, fit_rows, test, seed)}


def _ms(values: list[float], scale: float = 100.0) -> str:
    if not values:
        return "not run"
    return f"{scale * np.mean(values):.2f} ± {scale * np.std(values):.2f}"


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """A logged row's job: ("run", data set, column, seed) for automm, ("peer", data set, peer, seed) for AutoGluon."""
    if "peer" in row:
        return ("peer", row["dataset"], row["peer"], row["seed"])
    return ("run", row["dataset"], row.get("column"), row["seed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,handwritten,cub,avmnist,bbcsport,3sources,webkb,20news")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--columns",
        default="preset",
        help="automm columns to run: preset (the data set's preset where it has one), default (no preset), "
        "tuned (the preset with --tune of every setting)",
    )
    parser.add_argument("--time-budget", type=float, help="automm's budget per run (s), search and delivery")
    parser.add_argument("--autogluon", help="a Python with the bench extra (AutoGluon-Tabular): adds its columns")
    parser.add_argument("--presets", default="medium_quality,best_quality", help="AutoGluon presets")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--section", help="record under this RESULTS.md key instead of the default one")
    parser.add_argument(
        "--log",
        help="JSON-lines file: each finished run is appended; runs of this package commit found there are not repeated",
    )
    parser.add_argument("--any-commit", action="store_true", help="with --log: reuse rows of other commits too")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # one thread per job, wide data too (see knowledge_sharing.py)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    presets = [p.strip() for p in args.presets.split(",") if p.strip()] if args.autogluon else []
    for name in names:  # build caches (avmnist) once, before the pool starts
        load_shared(name, args.data_dir)
    jobs = [(n, c, s, args.data_dir, args.time_budget) for n in names for c in columns for s in range(args.seeds)]
    start = time.perf_counter()
    wanted = {("run", n, c, s) for n, c, s, *_ in jobs}
    wanted |= {("peer", n, f"AutoGluon {p}", s) for n in names for p in presets for s in range(args.seeds)}
    log = Path(args.log) if args.log else None
    done = reused_rows(log, _row_key, wanted, args.any_commit) if log and log.is_file() else []

    def keep(result: dict[str, Any]) -> None:
        result["commit"] = package_commit()  # None: a dirty tree (never reused by --log)
        print(json.dumps(result), flush=True)
        if args.log:
            with open(args.log, "a") as out:
                out.write(json.dumps(result) + "\n")

    runs = [r for r in done if "column" in r]
    finished = {(r["dataset"], r["column"], r["seed"]) for r in runs}
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        base = pool.map(baseline_run, [(n, s, args.data_dir) for n in names for s in range(args.seeds)])
        for result in pool.imap_unordered(automm_run, [j for j in jobs if j[:3] not in finished], chunksize=1):
            runs.append(result)
            keep(result)
        walls = {(r["dataset"], r["seed"]): r["wall"] + r["export_wall"] for r in runs if r["column"] == columns[0]}
        peers = [r for r in done if "peer" in r]
        ran = {_row_key(r) for r in peers}
        peer_jobs = [
            (n, s, args.data_dir, args.autogluon, p, round(walls[(n, s)], 1))
            for n in names
            for s in range(args.seeds)
            for p in presets
            if (n, s) in walls and ("peer", n, f"AutoGluon {p}", s) not in ran
        ]
        for result in pool.imap_unordered(autogluon_run, peer_jobs, chunksize=1):
            peers.append(result)
            keep(result)
    total = time.perf_counter() - start
    body = report(names, columns, presets, runs, base, peers, args, total)
    print(body)
    if args.section:
        record(args.section, f"The yardstick protocol on {', '.join(names)}", body)
    elif "preset" in columns:
        record("versus-baselines", "automm against the baselines and AutoGluon (the yardstick, 80/20 protocol)", body)
    else:  # another column alone (e.g. tuned): its own section, the yardstick's stays
        key = "versus-baselines-" + "-".join(columns)
        record(key, f"The yardstick protocol, automm columns {', '.join(columns)}", body)


def report(
    names: list[str],
    columns: list[str],
    presets: list[str],
    runs: list[dict[str, Any]],
    base: list[dict[str, Any]],
    peers: list[dict[str, Any]],
    args: argparse.Namespace,
    total: float,
) -> str:
    """The tables: test accuracy per column, paired verdicts against the best peer, search cost."""
    column = columns[0]
    peer_names = [*BASELINES, *(f"AutoGluon {p}" for p in presets)]

    def peer_scores(name: str, peer: str) -> dict[int, float]:
        if peer.startswith("AutoGluon"):
            return {r["seed"]: r["test"] for r in peers if r["dataset"] == name and r["peer"] == peer}
        return {r["seed"]: r[peer] for r in base if r["dataset"] == name}

    header = ["data set", f"automm ({column}), delivered", "automm, best fusion network", *peer_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdict_lines = [
        "| data set | automm | best peer | paired diff (points), 95% interval | verdict |",
        "|---|---|---|---|---|",
    ]
    all_diffs: dict[str, list[float]] = {"delivered": [], "best fusion network": []}
    autogluon_diffs: list[float] = []
    for name in names:
        mine = {r["seed"]: r for r in runs if r["dataset"] == name and r["column"] == column}
        scores = {p: peer_scores(name, p) for p in peer_names}
        cells = [_ms([r["test"] for r in mine.values()]), _ms([r["test_networks"] for r in mine.values()])]
        cells += [_ms(list(scores[p].values())) for p in peer_names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        ranked = [p for p in peer_names if scores[p]]
        if not mine or not ranked:
            continue
        best = max(ranked, key=lambda p: np.mean(list(scores[p].values())))
        for label, key in (("delivered", "test"), ("best fusion network", "test_networks")):
            seeds = sorted(set(mine) & set(scores[best]))
            diffs = [mine[s][key] - scores[best][s] for s in seeds]
            all_diffs[label] += diffs
            mean, low, high = paired(diffs)
            verdict_lines.append(
                f"| {name} | {label} | {best} | {mean:+.2f} [{low:+.2f}, {high:+.2f}] | {verdict(low, high)} |"
            )
        for p in presets:
            theirs = scores[f"AutoGluon {p}"]
            autogluon_diffs += [mine[s]["test_networks"] - theirs[s] for s in sorted(set(mine) & set(theirs))]
    cost_lines = [
        "| data set | folds | trials | total epochs | search wall s | export wall s | members | linear member | "
        "out of fold (best single) | out of fold (delivered) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        rows = [r for r in runs if r["dataset"] == name and r["column"] == column]
        if rows:
            cost_lines.append(
                f"| {name} | {np.mean([r['folds'] for r in rows]):.0f} | {np.mean([r['trials'] for r in rows]):.0f} | "
                f"{np.mean([r['epochs'] for r in rows]):.0f} | {_ms([r['wall'] for r in rows], 1.0)} | "
                f"{_ms([r['export_wall'] for r in rows], 1.0)} | {np.mean([r['members'] for r in rows]):.1f} | "
                f"{sum(r.get('linear_member', False) for r in rows)} of {len(rows)} | "
                f"{_ms([r['val'] for r in rows])} | {_ms([r['oof'] for r in rows])} |"
            )
    budget = f"a {args.time_budget:.0f} s budget per run" if args.time_budget else "the preset's schedule"
    summary = [
        f"- delivered vs the best peer of each data set: {sign_test(all_diffs['delivered'])}",
        f"- best fusion network alone vs the best peer: {sign_test(all_diffs['best fusion network'])}",
    ]
    if presets:
        summary.append(f"- best fusion network alone vs AutoGluon (each preset): {sign_test(autogluon_diffs)}")
        extended = [f"{r['dataset']} seed {r['seed']} {r['peer']} ({r['given']})"
                    for r in peers if r.get("failed_tries")]  # fmt: skip
        if extended:
            summary.append(
                "- AutoGluon trained no model in automm's wall time with its preset as given on these rows, so they "
                "ran with what is in brackets (the same limit without dynamic stacking, or a longer limit, in "
                "AutoGluon's favour): " + "; ".join(extended)
            )
    published = [f"{n}: {PUBLISHED[n]}" for n in names if n in PUBLISHED]
    if published:
        summary.append("- best published numbers (their authors' protocol, not run here): " + "; ".join(published))
    return "\n".join(
        [
            "**Goal: automm's default delivery at or above the best peer on every data set; its fusion networks "
            "alone at or above AutoGluon on most.**",
            "",
            f"Test accuracy in %, mean ± std over seeds 0..{args.seeds - 1}; 80/20 stratified split per seed "
            "(avmnist: its own recording-disjoint split). automm = the exported model (`automm.load_model`) scored "
            f"on the test rows, {budget}; AutoGluon's `time_limit` = automm's wall time (search and export) on the "
            "same data set and seed, one CPU; every C by 5-fold CV on the training rows.",
            "",
            *lines,
            "",
            "Paired verdicts against the best peer (the peer with the best mean on the data set; a win or loss "
            "only when the 95% t-interval over seeds excludes 0):",
            "",
            *verdict_lines,
            "",
            *summary,
            "",
            "What the search cost and what it delivered (mean per seed; out of fold = the search's own estimate; "
            f"1 torch thread per job, {args.jobs} jobs in parallel; whole run {total / 60:.1f} min):",
            "",
            *cost_lines,
        ]
    )


if __name__ == "__main__":
    main()
