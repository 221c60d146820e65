"""A `MultimodalDataset` from features that `automm.extract` computed for a manifest's rows."""

from __future__ import annotations

import numpy as np

from automm.data.dataset import MultimodalDataset, Splits
from automm.data.splits import make_splits
from automm.data.tokens import MASK_SUFFIX, is_mask_key
from automm.extract.manifest import Manifest


def to_dataset(
    manifest: Manifest, views: dict[str, np.ndarray], seed: int = 0, description: str = ""
) -> MultimodalDataset:
    """A `MultimodalDataset` from extracted views (token views' masks under ``<view>_mask``): the
    manifest's split if complete, else a seeded one."""
    masks = {k.removesuffix(MASK_SUFFIX): v for k, v in views.items() if is_mask_key(k, views)}
    views = {k: v for k, v in views.items() if not is_mask_key(k, views)}
    parts = manifest.split_indices()
    if {"train", "val", "test"} <= set(parts):
        splits = Splits(train=parts["train"], val=parts["val"], test=parts["test"])
    else:
        splits = make_splits(manifest.labels, seed=seed, test=parts.get("test"))
    return MultimodalDataset(
        name=manifest.name,
        views=views,
        labels=manifest.labels,
        task=manifest.task,  # type: ignore[arg-type]
        splits=splits,
        class_names=manifest.class_names,
        description=description or f"features extracted from {manifest.name}",
        masks=masks,
    )
