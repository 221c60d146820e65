"""Turn a manifest's raw inputs into multi-level feature views, through the feature cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from automm.core.atomic import atomic_write
from automm.core.errors import AutommError
from automm.core.paths import default_cache_dir
from automm.extract.backbones import Backbone
from automm.extract.cache import FeatureCache, file_key, text_key
from automm.extract.manifest import Manifest

Progress = Callable[[str, int, int], None]  # (what, done, total)
MASK_SUFFIX = "_mask"  # a token view's padding mask in the .npz format (`automm.data.npzfile`)


def view_name(column: str, backbone: Backbone, level: str) -> str:
    """``<column>/<backbone>_<level>``, e.g. ``poster/efficientnet_lite0_stage3``."""
    return f"{column}/{backbone.name}_{level}"


def encode_column(
    inputs: Sequence[Path] | Sequence[str],
    backbone: Backbone,
    cache_root: Path,
    *,
    batch_size: int = 32,
    progress: Progress | None = None,
    label: str = "",
) -> dict[str, np.ndarray]:
    """Features {level: (N, width)} of one column (a token extractor's: (N, L, width), and a text one's
    ``mask`` (N, L)); only inputs missing from the cache are encoded."""
    keys = [file_key(Path(x)) if backbone.modality == "image" else text_key(str(x)) for x in inputs]
    cache = FeatureCache(cache_root, backbone.key, backbone.cache_levels)
    input_of = dict(zip(keys, inputs, strict=True))  # one input per distinct content
    todo = cache.missing(keys)
    what = f"{label or backbone.modality} with {backbone.name}"
    if progress:
        progress(what, 0, len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        cache.store(batch, backbone.encode([input_of[k] for k in batch]))
        if progress:
            progress(what, min(start + batch_size, len(todo)), len(todo))
    return cache.gather(keys)


def extract_views(
    manifest: Manifest,
    backbones: Sequence[Backbone],
    *,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """All views: every image column through every image backbone, every text column through every text one;
    a text token extractor's views come with their padding masks (``<view>_mask``, bool)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    views: dict[str, np.ndarray] = {}
    columns: list[tuple[str, Sequence[Path] | Sequence[str], str]] = [
        *((name, paths, "image") for name, paths in manifest.images.items()),
        *((name, texts, "text") for name, texts in manifest.texts.items()),
    ]
    for column, inputs, modality in columns:
        matching = [b for b in backbones if b.modality == modality]
        if not matching:
            raise AutommError(f"{manifest.name}: column {modality}:{column} has no {modality} backbone to encode it")
        for backbone in matching:
            feats = encode_column(
                inputs, backbone, root, batch_size=batch_size, progress=progress, label=f"{modality}:{column}"
            )
            views.update({view_name(column, backbone, lv): feats[lv] for lv in backbone.levels})
            if "mask" in feats:
                mask = feats["mask"] > 0.5
                views.update({view_name(column, backbone, lv) + MASK_SUFFIX: mask for lv in backbone.levels})
    return views


def write_features(path: str | Path, manifest: Manifest, views: dict[str, np.ndarray]) -> Path:
    """Write automm's `.npz` layout (views, labels, class names, the manifest's split) atomically."""
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        raise AutommError(f"{path}: the output must be a .npz file")
    arrays: dict[str, np.ndarray] = {f"views/{name}": arr for name, arr in views.items()}
    arrays["labels"] = manifest.labels
    arrays["class_names"] = np.array(manifest.class_names, dtype=str)
    arrays["ids"] = np.array(manifest.ids, dtype=str)
    parts = manifest.split_indices()
    if "val" in parts:
        arrays.update(parts)
    elif parts:
        arrays["test"] = parts["test"]  # without validation rows, the loader carves them out of the rest
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


class ConsoleProgress:
    """A `Progress` callback drawing one rich bar per (column, backbone) on stderr; use as a context."""

    def __init__(self, console: Console | None = None) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self._bars = RichProgress(*columns, console=console or Console(stderr=True))
        self._tasks: dict[str, TaskID | None] = {}  # None: nothing to extract, said once

    def __enter__(self) -> ConsoleProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def __call__(self, what: str, done: int, total: int) -> None:
        if what not in self._tasks:
            if total == 0:
                self._bars.console.print(f"{what}: all features cached", highlight=False)
            self._tasks[what] = self._bars.add_task(what, total=total) if total else None
        task = self._tasks[what]
        if task is not None:
            self._bars.update(task, completed=done)
