"""Ablation of the training recipe: which of label smoothing, a cosine schedule, view dropout, weight
averaging (EMA) and a smaller or larger batch help a fusion network, decided without test rows.

For each data set and seed s: the 80/20 protocol split of `versus_baselines` (avmnist: its own
split). Inside the 80%, 20% become *selection* rows and 20% of the rest validation rows (both
stratified, seed s). Fixed architectures, the ones every search starts from (best single view,
concatenation, late fusion; see `automm.methods.ksnas.method.FusionTreeMethod.baseline_genotypes`), are
trained on the remaining training rows with early stopping on validation under each recipe, scored on
the selection rows (what decides) and on the test rows (reported once, never used for a choice). Each
recipe adds one change to the *plain* recipe (the data set's preset without label smoothing and view
dropout); "chosen" combines every single change whose mean paired difference on the selection rows is
positive (of two changes to one setting, the better), and is trained in a second pass on the same jobs.
**The default recipe is the one with the highest mean selection-row score among plain, automm's current
defaults (read from `SearchConfig`) and chosen.** Differences are paired (same data, split, architecture,
seed).

Usage: python benchmarks/training_recipe.py [--datasets digits,handwritten,cub,bbcsport,3sources,webkb,20news]
           [--seeds 5] [--jobs 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import multiprocessing as mp
import time
from dataclasses import replace
from typing import Any

import numpy as np

try:
    from benchmarks._datasets import load_shared
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR, protocol_split
except ModuleNotFoundError:  # run as a script
    from _datasets import load_shared  # type: ignore[no-redef]
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR, protocol_split  # type: ignore[no-redef]

from automm.settings import SearchConfig

PLAIN = {"label_smoothing": 0.0, "view_dropout": 0.0}  # the preset without the two regularisers under test
RECIPES: dict[str, dict[str, Any]] = {
    "plain": PLAIN,
    "label smoothing 0.1": {**PLAIN, "label_smoothing": 0.1},
    "cosine schedule": {**PLAIN, "schedule": "cosine"},
    "view dropout 0.2": {**PLAIN, "view_dropout": 0.2},
    "EMA 0.99": {**PLAIN, "ema": 0.99},
    "batch / 2": {**PLAIN, "batch_size": 0.5},
    "batch x 2": {**PLAIN, "batch_size": 2.0},
    "label smoothing 0.1 + view dropout 0.2 (defaults until 2026-12-06)": {"label_smoothing": 0.1, "view_dropout": 0.2},
}
BASE = "plain"
# automm's current defaults of the settings under test (`SearchConfig`): a recipe above when one matches
CURRENT = {**PLAIN, **{name: getattr(SearchConfig, name) for name in PLAIN}}
DEFAULTS = next((name for name, recipe in RECIPES.items() if recipe == CURRENT), "automm's defaults")
RECIPES.setdefault(DEFAULTS, CURRENT)


def run(job: tuple[str, int, str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    import torch

    from automm.core.metrics import primary_score
    from automm.data.dataset import Splits
    from automm.data.preprocess import Standardizer
    from automm.data.splits import make_splits
    from automm.engine.training import TensorData, fit, predict_logits
    from automm.methods.ksnas.method import KSNASMethod
    from automm.methods.ksnas.model import build_fusion_net
    from automm.methods.ksnas.space import SearchSpace
    from automm.search.first_tries import rank_views
    from automm.settings import load_preset

    torch.set_num_threads(1)
    name, seed, data_dir, recipes = job
    dataset = load_shared(name, data_dir)
    train, test, val = protocol_split(dataset, seed)
    rest = np.setdiff1d(np.arange(len(dataset.labels)), train)
    selection_split = make_splits(dataset.labels, seed=seed + 100, test=rest)  # 20% of the 80%: selection rows
    selection = selection_split.val
    if val is None:
        fit_rows = np.sort(selection_split.train)
        inner = make_splits(dataset.labels, seed=seed, test=np.setdiff1d(np.arange(len(dataset.labels)), fit_rows))
        train, val = inner.train, inner.val
    else:  # a fixed validation split (avmnist): selection rows come out of its training rows
        train = np.setdiff1d(train, selection)
    dataset.splits = Splits(train=train, val=val, test=test)
    config = load_preset(name).config
    space = SearchSpace(tuple(dataset.view_names), config.max_views, config.ops)
    method = KSNASMethod(KSNASMethod.default_settings(load_preset(name)))
    genotypes = method.baseline_genotypes(space, rank_views(dataset, train, val, seed=seed))
    st = Standardizer.fit(dataset.views, train)
    device = torch.device("cpu")
    data = {
        part: TensorData.from_dataset(dataset, rows, st, device)
        for part, rows in (("train", train), ("val", val), ("selection", selection), ("test", test))
    }
    out = []
    for recipe, change in recipes.items():
        values = dict(change)
        if "batch_size" in values:
            values["batch_size"] = max(8, int(config.batch_size * values["batch_size"]))
        train_config = replace(config.train_config(), **values)
        for label, genotype in genotypes:
            torch.manual_seed(seed)
            net = build_fusion_net(genotype, dataset.view_dims, dataset.n_classes, config.fusion_dim, config.dropout)
            start = time.perf_counter()
            result = fit(net, data["train"], data["val"], dataset.task, train_config, seed=seed)
            scores = {
                part: primary_score(predict_logits(net, data[part]), data[part].labels.numpy(), dataset.task)
                for part in ("selection", "test")
            }
            out.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "recipe": recipe,
                    "genotype": label,
                    "selection": scores["selection"],
                    "test": scores["test"],
                    "val": result.best_score,
                    "epochs": result.epochs,
                    "seconds": time.perf_counter() - start,
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,handwritten,cub,bbcsport,3sources,webkb,20news")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    for name in names:
        load_shared(name, args.data_dir)  # builds a cache (avmnist) once, before the jobs
    start = time.perf_counter()
    jobs = [(n, s, args.data_dir) for n in names for s in range(args.seeds)]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = [r for part in pool.map(run, [(*j, RECIPES) for j in jobs], chunksize=1) for r in part]
        base = {(r["dataset"], r["seed"], r["genotype"]): r for r in rows if r["recipe"] == BASE}

        def diffs(recipe: str, part: str) -> np.ndarray:
            mine = [r for r in rows if r["recipe"] == recipe]
            return np.array([r[part] - base[(r["dataset"], r["seed"], r["genotype"])][part] for r in mine])

        # single changes to the plain recipe that raise the selection rows' score on average, the best per setting
        best: dict[str, str] = {}
        for recipe, change in RECIPES.items():
            changed = [k for k, v in change.items() if k not in PLAIN or PLAIN[k] != v]
            gain = diffs(recipe, "selection").mean()
            if recipe == BASE or len(changed) != 1 or gain <= 0:
                continue
            if changed[0] not in best or gain > diffs(best[changed[0]], "selection").mean():
                best[changed[0]] = recipe
        chosen = [recipe for recipe in RECIPES if recipe in best.values()]
        recipes = dict(RECIPES)
        candidates = [BASE, DEFAULTS, *chosen[:1]]
        if len(chosen) > 1:  # the combination is a recipe of its own: measured, not assumed
            combined = {k: v for recipe in chosen for k, v in RECIPES[recipe].items()}
            candidates[-1] = "chosen (" + ", ".join(chosen) + ")"
            recipes[candidates[-1]] = combined
            jobs_combined = [(*j, {candidates[-1]: combined}) for j in jobs]
            rows += [r for part in pool.map(run, jobs_combined, chunksize=1) for r in part]
    total = time.perf_counter() - start
    default = max(candidates, key=lambda recipe: diffs(recipe, "selection").mean())
    header = ["recipe", *names, "mean difference, selection rows", "wins / losses", "mean difference, test", "epochs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for recipe in recipes:
        mine = [r for r in rows if r["recipe"] == recipe]
        cells = [f"{100 * np.mean([r['selection'] for r in mine if r['dataset'] == n]):.2f}" for n in names]
        picked, tested = diffs(recipe, "selection"), diffs(recipe, "test")
        wins, losses = int((picked > 0).sum()), int((picked < 0).sum())
        epochs = np.mean([r["epochs"] for r in mine])
        lines.append(
            f"| {recipe} | " + " | ".join(cells) + f" | {100 * picked.mean():+.2f} | {wins} / {losses} | "
            f"{100 * tested.mean():+.2f} | {epochs:.1f} |"
        )
    body = "\n".join(
        [
            "Selection-row accuracy (%) of the three first-try architectures (best view, concatenation, late fusion), "
            f"mean over {args.seeds} protocol seeds; each recipe adds one change to the plain recipe (the preset "
            "without label smoothing and view dropout). Mean differences: paired, in points, over data sets, seeds "
            "and architectures; the selection rows decide, the test column is reported once and decides nothing.",
            "",
            *lines,
            "",
            f"Single changes with a mean selection-row difference > 0: {', '.join(chosen) or 'none'}. "
            f"**Default by the rule (the best mean selection-row score among {', '.join(candidates)}): {default}.** "
            f"Wall time {total:.0f} s ({args.jobs} jobs, 1 torch thread each).",
        ]
    )
    print(body)
    record("training-recipe", "Training recipe ablation, decided on selection rows", body)


if __name__ == "__main__":
    main()
