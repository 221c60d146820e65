"""No choice sees a test row, for every method: the same search on data whose test rows are replaced by
noise (views and labels) makes the same trials, the same ensemble, the same linear candidate and the same
delivered weights; only the test score differs.

This covers every place a test row could enter a choice at once: standardiser fitting, the per-view ranking
of the first tries, KS-NAS's KB pretraining and merges, MFAS's layer bank, BM-NAS's and MMnas's architecture
steps, the racing, the linear candidate's C, the ensemble choice and the delivery's training.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import automm
from automm.core import keys
from automm.search import queries
from automm.store import optuna_internals
from tests.conftest import make_token_toy, make_toy

FAST = {"fusion_dim": 8, "dropout": 0.0, "lr": 5e-3, "batch_size": 64, "max_epochs": 4, "patience": 2}
METHODS = {
    "ksnas": ({"ksnas": {"population_size": 4, "generations": 2}, "knowledge": {"kb_epochs": 2}}, None, 3),
    "mfas": ({"mfas": {"iterations": 1}}, 4, 3),
    "bmnas": ({"bmnas": {"channels": 8, "length": 2, "cells": 1, "steps": 1, "epochs": 2, "warmup": 1}}, 1, 1),
    "mmnas": ({"mmnas": {"hidden": 8, "heads": 2, "encoder_blocks": 1, "decoder_blocks": 1, "epochs": 2}}, 2, 3),
    "random": ({}, 4, 3),
    "tpe": ({}, 4, 3),
}


def _spoiled(ds: automm.MultimodalDataset) -> automm.MultimodalDataset:
    """``ds`` with its test rows' views replaced by noise and their labels shuffled."""
    rng = np.random.default_rng(1)
    test = ds.splits.test
    views = {}
    for name, view in ds.views.items():
        view = view.copy()
        view[test] = rng.normal(5.0, 3.0, size=view[test].shape).astype(view.dtype)
        views[name] = view
    labels = ds.labels.copy()
    labels[test] = rng.permutation(labels[test])
    if ds.task == "multiclass":
        labels[test] = (labels[test] + 1) % ds.n_classes
    return dataclasses.replace(ds, views=views, labels=labels)


def _run(ds, method, tmp_path, name):
    settings, trials, folds = METHODS[method]
    config = automm.SearchConfig(folds=folds, **FAST)
    study = automm.Study(ds, method=method, runs_dir=tmp_path / name, config=config, **settings)
    study.optimize(trials)
    exported = study.deliver(tmp_path / name / "model", onnx=False)
    trials_seen = [
        (t.number, t.state.name, t.values, t.user_attrs.get(keys.GENOTYPE), t.user_attrs.get(keys.FOLD_SCORES))
        for t in study.optuna_study.trials
    ]
    weights = {m["file"]: load_file(str(exported.path / m["file"])) for m in exported.members}
    return study, exported, trials_seen, weights


@pytest.mark.parametrize("method", list(METHODS))
def test_test_rows_change_nothing_but_the_test_score(method, tmp_path):
    ds = make_token_toy() if method in ("mmnas", "bmnas") else make_toy(n=200)
    study, exported, trials, weights = _run(ds, method, tmp_path, "real")
    spoiled, spoiled_export, spoiled_trials, spoiled_weights = _run(_spoiled(ds), method, tmp_path, "noise")
    assert trials == spoiled_trials  # the same candidates, in the same order, with the same scores
    assert queries.n_finished(study.optuna_study) > 0
    chosen = study.optuna_study.user_attrs.get(keys.ENSEMBLE)
    assert chosen == spoiled.optuna_study.user_attrs.get(keys.ENSEMBLE)
    linear = optuna_internals.study_system_attrs(study.optuna_study).get(keys.LINEAR)
    other = optuna_internals.study_system_attrs(spoiled.optuna_study).get(keys.LINEAR)
    if linear is not None or other is not None:
        assert {k: v for k, v in linear.items() if k != "predictions"} == {
            k: v for k, v in other.items() if k != "predictions"
        }
    assert exported.members == spoiled_export.members
    assert weights.keys() == spoiled_weights.keys()
    for name, state in weights.items():  # the delivered weights, bit for bit
        assert all(np.array_equal(state[k], spoiled_weights[name][k]) for k in state), name
    meta = json.loads((exported.path / "genotype.json").read_text())
    assert meta["test_metrics"] != json.loads((spoiled_export.path / "genotype.json").read_text())["test_metrics"]
