"""Ablation of the training recipe: which of label smoothing, a cosine schedule, view dropout, weight
averaging (EMA) and a smaller or larger batch help a fusion network, on the yardstick's protocol.

For each data set and seed s: the 80/20 protocol split of `versus_baselines` (avmnist: its own
split); 20% of the training rows become validation (stratified, seed s). Fixed architectures,
the ones every search starts from (best single view, concatenation, late fusion; see
`automm.methods.ksnas.method.FusionTreeMethod.baseline_genotypes`), are trained on the training
rows with early stopping on validation under each recipe and scored on the test rows. A recipe
changes one setting of the data set's preset; "all helpful" combines every change whose mean
difference is positive. Differences are paired (same data, split, architecture, seed).

Usage: python benchmarks/training_recipe.py [--datasets digits,handwritten,cub,avmnist] [--seeds 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from dataclasses import replace
from typing import Any

import numpy as np

try:
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR, protocol_split
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR, protocol_split  # type: ignore[no-redef]

RECIPES: dict[str, dict[str, Any]] = {
    "preset": {},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "cosine schedule": {"schedule": "cosine"},
    "view dropout 0.2": {"view_dropout": 0.2},
    "EMA 0.99": {"ema": 0.99},
    "batch / 2": {"batch_size": 0.5},
    "batch x 2": {"batch_size": 2.0},
}


def run(job: tuple[str, int, str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    import torch

    import automm
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
    dataset = automm.load_dataset(name, data_dir=data_dir, seed=0)
    train, test, val = protocol_split(dataset, seed)
    if val is None:
        inner = make_splits(dataset.labels, seed=seed, test=np.setdiff1d(np.arange(len(dataset.labels)), train))
        train, val = inner.train, inner.val
    dataset.splits = Splits(train=train, val=val, test=test)
    config = load_preset(name).config
    space = SearchSpace(tuple(dataset.view_names), config.max_views, config.ops)
    method = KSNASMethod(KSNASMethod.default_settings(load_preset(name)))
    genotypes = method.baseline_genotypes(space, rank_views(dataset, train, val, seed=seed))
    st = Standardizer.fit(dataset.views, train)
    device = torch.device("cpu")
    data = {
        part: TensorData.from_dataset(dataset, rows, st, device)
        for part, rows in (("train", train), ("val", val), ("test", test))
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
            test_score = primary_score(predict_logits(net, data["test"]), data["test"].labels.numpy(), dataset.task)
            out.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "recipe": recipe,
                    "genotype": label,
                    "test": test_score,
                    "val": result.best_score,
                    "epochs": result.epochs,
                    "seconds": time.perf_counter() - start,
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,handwritten,cub,avmnist")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    import automm

    for name in names:
        automm.load_dataset(name, data_dir=args.data_dir, seed=0)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        jobs = [(n, s, args.data_dir, RECIPES) for n in names for s in range(args.seeds)]
        rows = [r for part in pool.map(run, jobs, chunksize=1) for r in part]
        base = {(r["dataset"], r["seed"], r["genotype"]): r["test"] for r in rows if r["recipe"] == "preset"}
        helpful = {}
        for recipe in RECIPES:
            if recipe != "preset":
                diffs = [
                    r["test"] - base[(r["dataset"], r["seed"], r["genotype"])] for r in rows if r["recipe"] == recipe
                ]
                if np.mean(diffs) > 0:
                    helpful.update(RECIPES[recipe])
        combined = {"all helpful": helpful} if len(helpful) > 1 else {}
        if combined:
            rows += [
                r
                for part in pool.map(run, [(n, s, args.data_dir, combined) for n in names for s in range(args.seeds)])
                for r in part
            ]
    total = time.perf_counter() - start
    recipes = [*RECIPES, *combined]
    header = ["recipe", *names, "mean difference", "wins / losses", "epochs (mean)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for recipe in recipes:
        mine = [r for r in rows if r["recipe"] == recipe]
        cells = []
        for name in names:
            cells.append(f"{100 * np.mean([r['test'] for r in mine if r['dataset'] == name]):.2f}")
        diffs = np.array([r["test"] - base[(r["dataset"], r["seed"], r["genotype"])] for r in mine])
        wins, losses = int((diffs > 0).sum()), int((diffs < 0).sum())
        epochs = np.mean([r["epochs"] for r in mine])
        lines.append(
            f"| {recipe} | " + " | ".join(cells) + f" | {100 * diffs.mean():+.2f} | {wins} / {losses} | {epochs:.1f} |"
        )
    body = "\n".join(
        [
            "Test accuracy (%) of the three first-try architectures (best view, concatenation, late fusion), mean over "
            f"{args.seeds} protocol seeds; each recipe changes one setting of the data set's preset. Mean difference: "
            "paired, in points, over data sets, seeds and architectures.",
            "",
            *lines,
            "",
            f"All helpful: {helpful or 'none'}. Wall time {total:.0f} s ({args.jobs} jobs, 1 torch thread each).",
        ]
    )
    print(body)
    record("training-recipe", "Training recipe ablation", body)


if __name__ == "__main__":
    main()
