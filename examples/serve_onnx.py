"""Serve an automm export with ONNX Runtime alone: no automm, no PyTorch.

    pip install onnxruntime numpy
    python examples/serve_onnx.py --model model/ --data new_rows.npz

``new_rows.npz`` holds raw feature arrays in automm's layout (``views/<view>``, and ``views/<view>_mask``
for a padded token view; labels are not needed). ``model.onnx`` standardises the views itself; it has one
input per view, named by the view, and the outputs ``logits`` and ``probabilities``. The class names are
in the export's ``genotype.json``. Prints one line per row: the predicted class and its probability (for a
multilabel model: every label at or above the export's threshold).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime


def predict(model_dir: Path, arrays: dict[str, np.ndarray]) -> tuple[dict, np.ndarray]:
    """(``genotype.json``, probabilities (N, C)) of the export in ``model_dir`` for raw ``arrays`` by input name."""
    meta = json.loads((model_dir / "genotype.json").read_text())
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {}
    for node in session.get_inputs():
        if node.name.endswith("_mask") and node.name not in arrays:  # a token view without padding
            view = arrays[node.name.removesuffix("_mask")]
            feed[node.name] = np.ones(view.shape[:2], dtype=bool)
        else:
            value = arrays[node.name]
            feed[node.name] = value if value.dtype == bool else value.astype(np.float32)
    (probabilities,) = session.run(["probabilities"], feed)
    return meta, probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="an automm export folder holding model.onnx")
    parser.add_argument("--data", type=Path, required=True, help="an .npz of raw views (views/<view> keys)")
    args = parser.parse_args()
    with np.load(args.data, allow_pickle=False) as npz:
        arrays = {key.removeprefix("views/"): npz[key] for key in npz.files if key.startswith("views/")}
    meta, probabilities = predict(args.model, arrays)
    names = meta["class_names"]
    for row, p in enumerate(probabilities):
        if meta["task"] == "multilabel":
            print(f"{row}\t" + " ".join(f"{names[j]}:{p[j]:.4f}" for j in np.flatnonzero(p >= meta["threshold"])))
        else:
            best = int(np.argmax(p))
            print(f"{row}\t{names[best]}\t{p[best]:.4f}")


if __name__ == "__main__":
    main()
