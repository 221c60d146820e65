"""Bring your own multi-level features: write automm's `.npz` layout, then search it from the CLI.

Each view is stored under ``views/<modality>/<feature>``; several features of one modality (for
example several depths of one backbone) let MFAS choose among them. Here two "backbones" are
stand-ins (random projections of scikit-learn digits at growing widths); use your own arrays.
The same keys saved as one ``.npy`` file each (``my_features/views/left/layer1.npy``, ...,
``my_features/labels.npy``) work too: ``--data my_features``.

Run: python examples/own_features_npz.py && automm search --data my_features.npz --sampler mfas
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


def main(path: str = "my_features.npz") -> None:
    digits = load_digits()
    images, labels = digits.images.reshape(len(digits.images), -1), digits.target
    rng = np.random.default_rng(0)
    arrays = {}
    for modality, half in (("left", slice(0, 32)), ("right", slice(32, 64))):  # two "modalities"
        x = images[:, half]
        for depth, width in enumerate((8, 16, 32), start=1):  # three "layers" per modality
            x = np.tanh(x @ rng.standard_normal((x.shape[1], width)) / np.sqrt(x.shape[1]))
            arrays[f"views/{modality}/layer{depth}"] = x.astype(np.float32)
    arrays["labels"] = labels
    arrays["class_names"] = np.array([str(d) for d in range(10)])
    np.savez(path, **arrays)
    print(f"wrote {path}: {', '.join(k for k in arrays if k.startswith('views/'))}")


if __name__ == "__main__":
    main()
