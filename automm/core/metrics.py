"""Scores from logits: accuracy (multiclass) and F1 after a sigmoid threshold (multilabel)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score

CLIP = 1e-7  # probabilities are kept this far from 0 and 1 before a log (the one clip constant)

PRIMARY_METRIC = {"multiclass": "accuracy", "multilabel": "weighted_f1"}


def predict_labels(logits: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    """Class indices (multiclass) or 0/1 matrix at ``threshold`` on sigmoid outputs (multilabel)."""
    if task == "multiclass":
        return logits.argmax(axis=1)
    probs = 1.0 / (1.0 + np.exp(-logits))
    return (probs >= threshold).astype(np.int64)


def all_metrics(logits: np.ndarray, labels: np.ndarray, task: str, threshold: float = 0.5) -> dict[str, float]:
    """Every metric for the task; multilabel F1 values use ``threshold`` (also returned)."""
    pred = predict_labels(logits, task, threshold)
    if task == "multiclass":
        return {
            "accuracy": float((pred == labels).mean()),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0)),
        }
    y = labels.astype(np.int64)
    out = {
        f"{avg}_f1": float(f1_score(y, pred, average=avg, zero_division=0))
        for avg in ("weighted", "macro", "micro", "samples")
    }
    out["threshold"] = threshold
    return out


def primary_score(logits: np.ndarray, labels: np.ndarray, task: str, threshold: float = 0.5) -> float:
    """The metric searches maximise: accuracy or weighted F1."""
    pred = predict_labels(logits, task, threshold)
    if task == "multiclass":
        hits = pred == labels  # the share of hits, without np.mean's overhead on small arrays (equal numbers)
        return np.count_nonzero(hits) / hits.size if hits.size else float(hits.mean())
    return float(f1_score(labels.astype(np.int64), pred, average="weighted", zero_division=0))


def probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    """Softmax (multiclass) or sigmoid (multilabel) of ``logits``."""
    tensor = torch.from_numpy(logits)
    return (torch.softmax(tensor, dim=1) if task == "multiclass" else torch.sigmoid(tensor)).numpy()


def logits_from_probabilities(probs: np.ndarray, task: str) -> np.ndarray:
    """Scores whose softmax (multiclass) or sigmoid (multilabel) gives back ``probs`` (clipped by `CLIP`)."""
    p = np.clip(probs.astype(np.float64), CLIP, 1 - CLIP)
    return np.log(p) if task == "multiclass" else np.log(p / (1 - p))


def stack_candidates(probs: Sequence[np.ndarray]) -> np.ndarray:
    """``probs`` (each rows x outputs) as one candidates x rows x outputs array stored outputs first in
    memory: the layout in which `scores_and_losses` reduces over the outputs fastest."""
    out = np.empty((probs[0].shape[1], len(probs), probs[0].shape[0]), dtype=np.result_type(*{p.dtype for p in probs}))
    for i, p in enumerate(probs):
        out[:, i, :] = p.T
    return out.transpose(1, 2, 0)


def scores_and_losses(
    probs: np.ndarray, labels: np.ndarray, task: str, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate of ``probs`` (candidates x rows x outputs, any memory layout; fastest from
    `stack_candidates`), the primary score and the log loss: the numbers
    ``primary_score(logits_from_probabilities(p))`` and `log_loss` give for each finite ``p``, computed for
    all candidates at once where the task allows (one label per row; a row with a NaN is a miss)."""
    if task != "multiclass":  # weighted F1: one candidate at a time
        scores = [primary_score(logits_from_probabilities(p, task), labels, task, threshold) for p in probs]
        return np.array(scores, dtype=np.float64), np.array([log_loss(p, labels, task) for p in probs])
    logp = np.log(np.clip(probs.astype(np.float64, copy=False), CLIP, 1 - CLIP))
    best = np.maximum.reduce(logp, axis=2)  # a ufunc reduction: no argmax over a short last axis
    at_labels = np.ascontiguousarray(logp[:, np.arange(len(labels)), labels])
    hit = at_labels == best
    tied = hit & (np.add.reduce(logp == best[:, :, None], axis=2) > 1)  # argmax takes the first of equals
    candidate, row = np.nonzero(tied)
    if candidate.size:
        hit[candidate, row] = logp[candidate, row].argmax(axis=1) == labels[row]
    return hit.mean(axis=1), -at_labels.mean(axis=1)  # rows contiguous: `log_loss`'s sums, row by row


def log_loss(probs: np.ndarray, labels: np.ndarray, task: str) -> float:
    """Mean log loss of probabilities ``probs`` (clipped away from 0 and 1 by `CLIP`)."""
    p = np.clip(probs.astype(np.float64), CLIP, 1 - CLIP)
    if task == "multiclass":
        return float(-np.log(p[np.arange(len(labels)), labels]).mean())
    y = labels.astype(np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
