"""`MultimodalDataset`: named views, labels, task type, splits; all validation lives here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from automm.core.errors import AutommError

Task = Literal["multiclass", "multilabel"]
TASKS: tuple[str, ...] = ("multiclass", "multilabel")
FORBIDDEN_IN_VIEW_NAMES = "(),. "  # views appear in genotype strings and layer names


@dataclass(frozen=True)
class Splits:
    """Disjoint row-index arrays for train, validation and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def view_modality(view_name: str) -> str:
    """The modality of a view is the part of its name before the first '/'."""
    return view_name.split("/", 1)[0]


@dataclass
class MultimodalDataset:
    """Features from several views of the same samples, with labels and splits.

    - ``views``: ordered mapping view name -> float array (N, d), or (N, L, d) for a *token view*
      (L tokens of d channels: text tokens, image regions, audio frames). A view's name is
      ``modality/feature`` (e.g. ``image/layer3``); a name without '/' is its own modality.
    - ``masks``: for token views with padding, view name -> (N, L) bool (True: a real token; every row
      has one); padded positions are set to 0. A token view without a mask has no padding.
    - ``labels``: (N,) ints in [0, C) for ``multiclass``; (N, C) of 0/1 for ``multilabel``.
    - ``splits``: train/val/test row indices; test rows are for final evaluation only.
    - ``fixed_validation``: the validation rows were given with the data (they may keep groups,
      such as recordings, apart from the training rows), so automatic cross-validation keeps them.

    Construction validates everything and raises `AutommError` naming the bad view or field.
    """

    name: str
    views: dict[str, np.ndarray]
    labels: np.ndarray
    task: Task
    splits: Splits
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    fixed_validation: bool = False
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.views = {str(k): v for k, v in self.views.items()}
        self.masks = {str(k): v for k, v in self.masks.items()}
        _validate(self)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def view_names(self) -> list[str]:
        return list(self.views)

    @property
    def view_dims(self) -> dict[str, int]:
        """Each view's width: its features, or a token view's channels."""
        return {k: int(v.shape[-1]) for k, v in self.views.items()}

    @property
    def token_lengths(self) -> dict[str, int]:
        """The token views and their token counts L."""
        return {k: int(v.shape[1]) for k, v in self.views.items() if v.ndim == 3}

    @property
    def modalities(self) -> dict[str, list[str]]:
        """Modality -> the views that belong to it, in view order."""
        out: dict[str, list[str]] = {}
        for name in self.views:
            out.setdefault(view_modality(name), []).append(name)
        return out

    def with_view_names(self, names: list[str] | tuple[str, ...]) -> MultimodalDataset:
        """The same data with its views renamed, in order (``modality/feature`` names group them)."""
        names = [str(n).strip() for n in names]
        if len(names) != len(self.views):
            raise _fail(
                self.name, f"{len(names)} view names given for {len(self.views)} views ({', '.join(self.views)})"
            )
        if len(set(names)) != len(names):
            raise _fail(self.name, f"view names repeat: {', '.join(names)}")
        renamed = dict(zip(self.views, names, strict=True))
        return replace(
            self,
            views={renamed[k]: v for k, v in self.views.items()},
            masks={renamed[k]: m for k, m in self.masks.items()},
        )

    def view_labels(self) -> list[str]:
        """Each view with its shape: ``image/fc[64]``, a token view ``text/minilm[32 x 384]`` (L x d)."""
        lengths = self.token_lengths
        return [f"{k}[{lengths[k]} x {d}]" if k in lengths else f"{k}[{d}]" for k, d in self.view_dims.items()]

    def summary(self) -> str:
        s, n_modalities = self.splits, len(self.modalities)
        views = ", ".join(self.view_labels())
        return (
            f"{self.name}: {self.task}, {self.n_samples} samples, {self.n_classes} classes, "
            f"{len(self.views)} views of {n_modalities} modalit{'y' if n_modalities == 1 else 'ies'} ({views}), "
            f"split {len(s.train)}/{len(s.val)}/{len(s.test)}"
        )


def _fail(dataset_name: str, message: str) -> AutommError:
    return AutommError(f"data set {dataset_name!r}: {message}")


def _validate(ds: MultimodalDataset) -> None:
    name = ds.name
    if ds.task not in TASKS:
        raise _fail(name, f"task must be one of {TASKS}, got {ds.task!r}")
    if not ds.views:
        raise _fail(name, "has no views")
    labels = np.asarray(ds.labels)
    n = labels.shape[0] if labels.ndim >= 1 else 0
    if n == 0:
        raise _fail(name, "labels are empty")
    for view_name, arr in list(ds.views.items()):
        if not view_name or any(c in view_name for c in FORBIDDEN_IN_VIEW_NAMES):
            raise _fail(name, f"view name {view_name!r} must be non-empty without any of {FORBIDDEN_IN_VIEW_NAMES!r}")
        arr = np.asarray(arr)
        if arr.ndim not in (2, 3):
            raise _fail(
                name,
                f"view {view_name!r} must be 2-D (samples x features) or 3-D (samples x tokens x channels), "
                f"got shape {arr.shape}",
            )
        if arr.shape[-1] == 0:
            raise _fail(name, f"view {view_name!r} has zero width")
        if arr.shape[1] == 0:
            raise _fail(name, f"view {view_name!r} has no tokens")
        if arr.shape[0] != n:
            raise _fail(name, f"view {view_name!r} has {arr.shape[0]} samples but labels have {n}")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise _fail(name, f"view {view_name!r} must be real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float32, copy=False)
        if view_name in ds.masks:
            arr = _masked(ds, view_name, arr)
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).reshape(n, -1).any(axis=1).sum())
            raise _fail(name, f"view {view_name!r} has NaN or inf values in {bad} samples; impute or drop them")
        ds.views[view_name] = arr
    stray = sorted(set(ds.masks) - set(ds.views))
    if stray:
        raise _fail(name, f"mask(s) for view(s) {', '.join(stray)} that the data set does not have")

    if ds.task == "multiclass":
        if labels.ndim != 1:
            raise _fail(name, f"multiclass labels must be 1-D (N,), got shape {labels.shape}")
        is_integral = np.issubdtype(labels.dtype, np.integer) or (
            np.issubdtype(labels.dtype, np.floating) and bool(np.all(np.mod(labels, 1) == 0))
        )
        if not is_integral:
            raise _fail(name, "multiclass labels must be integers")
        labels = labels.astype(np.int64)
        n_classes = len(ds.class_names) if ds.class_names else int(labels.max()) + 1
        if ds.class_names and labels.min() >= 0 and labels.max() >= n_classes:
            raise _fail(name, f"{n_classes} class names for labels with {int(labels.max()) + 1} classes")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise _fail(name, f"labels must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    else:
        if labels.ndim != 2:
            raise _fail(name, f"multilabel labels must be 2-D (N, C) of 0/1, got shape {labels.shape}")
        if not np.isin(labels, (0, 1)).all():
            raise _fail(name, "multilabel labels must contain only 0 and 1")
        labels = labels.astype(np.float32)
        n_classes = labels.shape[1]
        if ds.class_names and len(ds.class_names) != n_classes:
            raise _fail(name, f"{len(ds.class_names)} class names for {n_classes} label columns")
    ds.labels = labels
    if not ds.class_names:
        ds.class_names = [str(i) for i in range(n_classes)]
    ds.class_names = [str(c) for c in ds.class_names]
    if n_classes < 2:
        raise _fail(name, f"needs at least 2 classes, got {n_classes}")

    _validate_splits(ds, n)


def _masked(ds: MultimodalDataset, view_name: str, arr: np.ndarray) -> np.ndarray:
    """A token view with its padded positions set to 0, after checking its mask (kept as bool)."""
    mask = np.asarray(ds.masks[view_name])
    if arr.ndim != 3:
        raise _fail(ds.name, f"view {view_name!r} has a mask but no tokens (shape {arr.shape})")
    if mask.shape != arr.shape[:2]:
        raise _fail(ds.name, f"the mask of view {view_name!r} has shape {mask.shape}, expected {arr.shape[:2]}")
    if mask.dtype != np.bool_:
        if not np.isin(mask, (0, 1)).all():
            raise _fail(ds.name, f"the mask of view {view_name!r} must be bool (or 0/1)")
        mask = mask.astype(bool)
    empty = int((~mask.any(axis=1)).sum())
    if empty:
        raise _fail(ds.name, f"view {view_name!r} has {empty} samples without any token; drop them")
    ds.masks[view_name] = mask
    return np.where(mask[:, :, None], arr, np.float32(0.0))


def _validate_splits(ds: MultimodalDataset, n: int) -> None:
    name = ds.name
    parts: dict[str, np.ndarray] = {}
    for part, idx in ds.splits.as_dict().items():
        idx = np.asarray(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise _fail(name, f"split {part!r} must be a 1-D integer index array")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise _fail(name, f"split {part!r} has indices outside [0, {n})")
        if np.unique(idx).size != idx.size:
            raise _fail(name, f"split {part!r} repeats indices")
        parts[part] = idx
    if parts["train"].size == 0 or parts["val"].size == 0:
        raise _fail(name, "train and validation splits must not be empty")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = np.intersect1d(parts[a], parts[b])
        if shared.size:
            raise _fail(name, f"splits {a!r} and {b!r} overlap in {shared.size} samples")
    train_labels = ds.labels[parts["train"]]
    if ds.task == "multiclass":
        missing = sorted(set(range(ds.n_classes)) - set(np.unique(train_labels).tolist()))
    else:
        present = ds.labels.sum(axis=0) > 0
        missing = [i for i in range(ds.n_classes) if present[i] and train_labels[:, i].sum() == 0]
    if missing:
        names = ", ".join(ds.class_names[i] for i in missing[:5])
        raise _fail(name, f"the training split leaves out class(es) {names}; use a stratified split")
    ds.splits = Splits(**parts)
