"""Run an export's ``model.onnx`` the way a user serves it: ONNX Runtime alone, raw views in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def served(path: Path, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(logits, probabilities) of ``path / "model.onnx"`` for ``inputs`` (the file's inputs by name)."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX serving needs the onnx extra")
    session = onnxruntime.InferenceSession(str(Path(path) / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {n: np.ascontiguousarray(inputs[n]) for n in names}
    feed = {n: v.astype(np.float32) if v.dtype.kind == "f" else v for n, v in feed.items()}
    logits, probabilities = session.run(["logits", "probabilities"], feed)
    return logits, probabilities
