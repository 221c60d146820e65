"""Library use: search fusion architectures on your own arrays, then score the winner on test data.

Run: python examples/library_search.py
"""

from __future__ import annotations

import tempfile

import numpy as np

import automm
from automm.data import make_splits


def main() -> None:
    # Your own features: any number of views per modality, rows aligned with the labels.
    base = automm.load_dataset("digits")  # stands in for your data here
    views = {name: arr for name, arr in base.views.items()}
    labels = base.labels
    dataset = automm.MultimodalDataset(
        name="my_digits",
        views=views,
        labels=labels,
        task="multiclass",
        splits=make_splits(labels, seed=0),  # or your own train/val/test index arrays
    )
    config = automm.SearchConfig(fusion_dim=32, max_views=3, max_epochs=60, patience=8)
    with tempfile.TemporaryDirectory() as runs:
        study = automm.Study(dataset, sampler="tpe", config=config, runs_dir=runs, seed=0)
        study.optimize(n_trials=15)  # validation data only
        print("best validation accuracy", round(study.best_value, 4), "for", study.best_genotype)
        for row in study.trials_table(top=3):
            print(row["number"], round(row["value"], 4), row["genotype"])
        result = study.evaluate(seeds=3)  # retrain on train+val, score the test split once
        print(f"test accuracy {result.mean:.4f} ± {result.std:.4f} over {len(result.scores)} seeds")
        print("scores", np.round(result.scores, 4))


if __name__ == "__main__":
    main()
