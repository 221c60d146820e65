"""The manifest: which raw inputs make up a data set (CSV or JSON Lines, one row per sample).

Columns:

- ``image:<name>``: path of an image file (relative paths are relative to the manifest's folder);
  ``<name>`` becomes the view's modality, e.g. ``image:poster``.
- ``text:<name>``: the text itself, e.g. ``text:plot``.
- ``label`` (one class per sample) or ``labels`` (multi-label: a JSON list, or ``|``-separated in CSV).
- optional ``split``: ``train``, ``val`` (or ``dev``/``valid``) or ``test`` for every row (train and
  test rows required; without val rows, validation is carved out of train);
  with it the split is kept, without it automm makes a seeded stratified one.
- optional ``id``; other columns are ignored.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automm.core.errors import AutommError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "dev": "val", "test": "test"}


@dataclass
class Manifest:
    """Raw inputs of a data set, rows aligned: image paths and texts per modality, labels, split."""

    name: str
    ids: list[str]
    images: dict[str, list[Path]]
    texts: dict[str, list[str]]
    labels: np.ndarray  # (N,) class codes, or (N, C) 0/1 for multilabel
    class_names: list[str]
    split: list[str] | None = None  # "train" / "val" / "test" per row

    def __post_init__(self) -> None:
        n = len(self.ids)
        if n == 0:
            raise AutommError(f"{self.name}: the manifest has no rows")
        if not self.images and not self.texts:
            raise AutommError(f"{self.name}: no 'image:<name>' or 'text:<name>' column")
        for column in (*self.images.values(), *self.texts.values()):
            if len(column) != n:
                raise AutommError(f"{self.name}: columns of different lengths")

    @property
    def task(self) -> str:
        return "multilabel" if self.labels.ndim == 2 else "multiclass"

    def __len__(self) -> int:
        return len(self.ids)

    def split_indices(self) -> dict[str, np.ndarray]:
        """Row indices per split named in the manifest (empty when it has no split column)."""
        if self.split is None:
            return {}
        arr = np.asarray(self.split)
        return {part: np.flatnonzero(arr == part) for part in ("train", "val", "test") if (arr == part).any()}


def encode_label_column(values: list[Any], multilabel: bool, source: str) -> tuple[np.ndarray, list[str]]:
    """Class codes (sorted names) or a 0/1 matrix from a column of labels."""
    if multilabel:
        sets = [[str(v) for v in value] for value in values]
        names = sorted({v for s in sets for v in s})
        if not names:
            raise AutommError(f"{source}: no labels in the 'labels' column")
        position = {name: i for i, name in enumerate(names)}
        matrix = np.zeros((len(sets), len(names)), dtype=np.float32)
        for row, s in enumerate(sets):
            matrix[row, [position[v] for v in s]] = 1.0
        return matrix, names
    text = [str(v) for v in values]
    if any(not v for v in text):
        raise AutommError(f"{source}: a row has an empty label")
    names = sorted(set(text))
    position = {name: i for i, name in enumerate(names)}
    return np.array([position[v] for v in text], dtype=np.int64), names


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            rows = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise AutommError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
            return rows
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise AutommError(f"{path}: cannot read ({exc})") from exc
    raise AutommError(f"{path}: a manifest is a .csv or .jsonl file, got {path.suffix!r}")


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a CSV / JSON Lines manifest (see the module docstring for its columns)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise AutommError(f"{path}: no such manifest file")
    rows = _rows(path)
    if not rows:
        raise AutommError(f"{path}: the manifest has no rows")
    columns = list(rows[0])
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or set(row) != set(columns):
            raise AutommError(f"{path}: row {number} has other columns than the first row")
    if "label" in columns and "labels" in columns:
        raise AutommError(f"{path}: give either 'label' or 'labels', not both")
    if "label" not in columns and "labels" not in columns:
        raise AutommError(f"{path}: no 'label' (one class) or 'labels' (multi-label) column")
    multilabel = "labels" in columns
    raw_labels = []
    for number, row in enumerate(rows, 1):
        value = row["labels" if multilabel else "label"]
        if multilabel and isinstance(value, str):
            value = [v for v in value.split("|") if v]
        if multilabel and not isinstance(value, list):
            raise AutommError(f"{path}: row {number}: 'labels' must be a list or a '|'-separated string")
        raw_labels.append(value)
    labels, names = encode_label_column(raw_labels, multilabel, str(path))
    images: dict[str, list[Path]] = {}
    texts: dict[str, list[str]] = {}
    for column in columns:
        kind, sep, name = column.partition(":")
        if kind not in ("image", "text") or not sep:
            continue
        if not name or any(c in name for c in "/(),. "):
            raise AutommError(f"{path}: column {column!r}: name must be non-empty, without /(),. or spaces")
        values = [row[column] for row in rows]
        if any(not isinstance(v, str) for v in values):
            raise AutommError(f"{path}: column {column!r} must hold strings")
        if kind == "image":
            resolved = [(path.parent / v).resolve() if v else Path() for v in values]
            for number, (value, file) in enumerate(zip(values, resolved, strict=True), 1):
                if not value or not file.is_file():
                    raise AutommError(f"{path}: row {number}: image file {value!r} not found")
            images[name] = resolved
        else:
            texts[name] = values
    split = None
    if "split" in columns:
        split = []
        for number, row in enumerate(rows, 1):
            part = SPLIT_NAMES.get(str(row["split"]).strip().lower())
            if part is None:
                raise AutommError(f"{path}: row {number}: split {row['split']!r} is not train, val or test")
            split.append(part)
        if not {"train", "test"} <= set(split):
            raise AutommError(f"{path}: the split column needs train and test rows (val is optional)")
    ids = [str(row.get("id", i)) for i, row in enumerate(rows)]
    return Manifest(path.stem, ids, images, texts, labels, names, split)
