"""Small raw inputs in the exact layouts automm reads: MM-IMDB's raw release, JPEG posters, and a fake backbone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from automm.data.mmimdb import GENRES
from automm.extract.backbones import Backbone

PLOTS = ("a love story in paris", "a detective hunts a killer", "a ship explores deep space")


def write_jpeg(path: Path, color: tuple[int, int, int], seed: int, size: tuple[int, int] = (64, 96)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (np.array(color)[None, None] + rng.normal(0, 20, (size[1], size[0], 3))).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=85)
    return path


def write_raw_mmimdb(root: Path, n: int = 36) -> list[str]:
    """``root/split.json`` + ``root/dataset/<id>.json|.jpeg``: three poster colours tied to three genres."""
    (root / "dataset").mkdir(parents=True, exist_ok=True)
    ids = [f"{i:07d}" for i in range(n)]
    colors = ((200, 30, 30), (30, 200, 30), (30, 30, 200))
    for i, movie in enumerate(ids):
        genres = [GENRES[i % 3], "Talk-Show"] + ([GENRES[10]] if i % 2 else [])  # Talk-Show is not among the 23
        meta = {"title": f"movie {i}", "genres": genres, "plot": [PLOTS[i % 3], f"number {i}."]}
        (root / "dataset" / f"{movie}.json").write_text(json.dumps(meta), encoding="utf-8")
        write_jpeg(root / "dataset" / f"{movie}.jpeg", colors[i % 3], seed=i)
    a, b = int(n * 2 / 3), int(n * 5 / 6)
    (root / "split.json").write_text(json.dumps({"train": ids[:a], "dev": ids[a:b], "test": ids[b:]}))
    return ids


@dataclass
class ColourNet:
    """Stands in for an image network: per-channel means and their squares; counts the images it saw."""

    seen: int = 0

    def forward_levels(self, images: torch.Tensor, levels: tuple[str, ...]) -> dict[str, torch.Tensor]:
        self.seen += images.shape[0]
        mean = images.mean(dim=(2, 3))
        return {"mean": mean, "square": mean**2}


def fake_image_backbone() -> Backbone:
    return Backbone("colour", "image", ("mean", "square"), {"mean": 3, "square": 3}, "0" * 64, ColourNet())
