"""Predictions of a loaded export for new rows, in batches, written as one CSV (what ``automm predict`` does).

The CSV has a row per input row, in input order: ``id`` (when the input has one), ``prediction`` (the class
name; for a multilabel model, the names of the labels at or above the export's threshold, joined by
``;``), then ``p_<class>``: each class's (label's) probability. It is written whole or not at all.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from automm.core.atomic import atomic_write
from automm.core.errors import AutommError, option
from automm.core.metrics import predict_labels
from automm.core.progress import step
from automm.data.new_rows import NewRows
from automm.delivery.loading import FusionModel

PREDICTING = "predicting"
BATCH_ROWS = 4096
LABEL_SEPARATOR = ";"


def predict_rows(model: FusionModel, rows: NewRows, batch_rows: int = BATCH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class indices, or a 0/1 matrix for multilabel; probabilities (N, C)) of ``rows``, computed
    ``batch_rows`` at a time (each batch checked by the model: view names, widths, NaN, token masks)."""
    if batch_rows < 1:
        raise AutommError(f"the batch size must be at least 1, got {batch_rows}")
    n = len(rows)
    labels, probabilities = [], []
    step(PREDICTING, 0, n, "rows")
    for start in range(0, n, batch_rows):
        batch = {k: v[start : start + batch_rows] for k, v in rows.views.items()}
        logits = model.predict_logits(batch)
        labels.append(predict_labels(logits, model.task, model.meta["threshold"]))
        scores = torch.from_numpy(logits)
        scores = torch.softmax(scores, 1) if model.task == "multiclass" else torch.sigmoid(scores)
        probabilities.append(scores.numpy())
        step(PREDICTING, min(start + batch_rows, n), n, "rows")
    return np.concatenate(labels), np.concatenate(probabilities)


def write_predictions(
    path: str | Path,
    model: FusionModel,
    rows: NewRows,
    predicted: np.ndarray,
    probabilities: np.ndarray,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the CSV of the module docstring to ``path`` (an existing file only with ``overwrite``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise AutommError(f"{path} is a folder; give {option('out')} a file name such as predictions.csv")
    if path.exists() and not overwrite:
        raise AutommError(f"{path} exists; pass {option('overwrite', 'True')} to replace it")
    names = model.class_names
    header = (["id"] if rows.ids is not None else []) + ["prediction"] + [f"p_{c}" for c in names]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i in range(len(rows)):
                if model.task == "multilabel":
                    what = LABEL_SEPARATOR.join(names[j] for j in np.flatnonzero(predicted[i]))
                else:
                    what = names[int(predicted[i])]
                ids = [] if rows.ids is None else [rows.ids[i].item()]
                writer.writerow([*ids, what, *(f"{p:.6g}" for p in probabilities[i])])

    return atomic_write(path, write)
