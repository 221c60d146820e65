"""`digits`: the embedded default data set, five views built from scikit-learn's 8x8 digits.

Each view sees a different part or property of the image, so that which views to choose
and how to fuse them matters:

- ``pixels/top``: the top four pixel rows (32 values)
- ``pixels/bottom``: the bottom four pixel rows (32)
- ``shape/profiles``: row and column ink sums (16)
- ``shape/gradients``: gradient-orientation histograms over 2x2 image quadrants (32)
- ``shape/moments``: centroid, spread and normalised central moments up to order 3 (10)

`load_digits_tokens` (the data set ``digits-tokens``) gives the same rows and split as two token
views: ``top/rows`` and ``bottom/rows``, the top and bottom four pixel rows as 4 tokens of 8 pixels.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sk_load_digits

from automm.data.dataset import MultimodalDataset
from automm.data.splits import make_splits


def _gradient_histograms(images: np.ndarray, bins: int = 8) -> np.ndarray:
    gy, gx = np.gradient(images, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), 2 * np.pi)
    bin_idx = np.minimum((angle / (2 * np.pi) * bins).astype(int), bins - 1)
    feats = []
    for r in (slice(0, 4), slice(4, 8)):
        for c in (slice(0, 4), slice(4, 8)):
            m, b = magnitude[:, r, c].reshape(len(images), -1), bin_idx[:, r, c].reshape(len(images), -1)
            hist = np.zeros((len(images), bins))
            for k in range(bins):
                hist[:, k] = (m * (b == k)).sum(axis=1)
            feats.append(hist)
    return np.concatenate(feats, axis=1)


def _moments(images: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:8, 0:8].astype(np.float64)
    mass = images.sum(axis=(1, 2)) + 1e-9
    cy = (images * ys).sum(axis=(1, 2)) / mass
    cx = (images * xs).sum(axis=(1, 2)) / mass
    dy = ys[None] - cy[:, None, None]
    dx = xs[None] - cx[:, None, None]
    feats = [cy, cx, mass]
    for p, q in ((2, 0), (0, 2), (1, 1), (3, 0), (0, 3), (2, 1), (1, 2)):
        mu = (images * dx**p * dy**q).sum(axis=(1, 2))
        feats.append(mu / mass ** (1 + (p + q) / 2))
    return np.stack(feats, axis=1)


def load_digits(seed: int = 0) -> MultimodalDataset:
    """The 1,797 digits with five views and a seeded stratified 60/20/20 split."""
    raw = _sk_load_digits()
    images = raw.images.astype(np.float64)
    labels = raw.target.astype(np.int64)
    views = {
        "pixels/top": images[:, :4, :].reshape(len(images), -1),
        "pixels/bottom": images[:, 4:, :].reshape(len(images), -1),
        "shape/profiles": np.concatenate([images.sum(axis=2), images.sum(axis=1)], axis=1),
        "shape/gradients": _gradient_histograms(images),
        "shape/moments": _moments(images),
    }
    return MultimodalDataset(
        name="digits",
        views={k: v.astype(np.float32) for k, v in views.items()},
        labels=labels,
        task="multiclass",
        splits=make_splits(labels, seed=seed),
        class_names=[str(d) for d in range(10)],
        description="scikit-learn 8x8 digits, five views (embedded; no download)",
    )


def load_digits_tokens(seed: int = 0) -> MultimodalDataset:
    """The 1,797 digits as two token views (module docstring), with `load_digits`'s split."""
    flat = load_digits(seed)
    images = _sk_load_digits().images.astype(np.float32)
    return MultimodalDataset(
        name="digits-tokens",
        views={"top/rows": images[:, :4, :], "bottom/rows": images[:, 4:, :]},
        labels=flat.labels,
        task="multiclass",
        splits=flat.splits,
        class_names=flat.class_names,
        description="scikit-learn 8x8 digits, top and bottom pixel rows as tokens (embedded; no download)",
    )
