"""The study's folds and their tensors: made once, shared by the objective, the linear candidate and
delivery, each fold standardised on its own training rows only."""

from __future__ import annotations

import numpy as np
import torch

import automm
from automm.core import keys
from automm.engine.fold_data import FoldData
from automm.engine.training import standardized
from automm.store import optuna_internals
from tests.conftest import make_toy


def test_each_fold_is_standardised_on_its_training_rows_only():
    toy = make_toy(n=200)
    data = FoldData(toy, 4, seed=0, device=torch.device("cpu"))
    assert len(data) == 4
    for k, fold in enumerate(data.folds):
        train, val = data.tensors(k)
        assert data.tensors(k)[0] is train  # made once
        assert not set(fold.train) & set(fold.val) and not set(fold.val) & set(toy.splits.test)
        raw = toy.views["left/feat"]
        mean, std = raw[fold.train].mean(0), raw[fold.train].std(0)
        np.testing.assert_allclose(train.views["left/feat"].numpy(), (raw[fold.train] - mean) / std, atol=1e-4)
        np.testing.assert_allclose(val.views["left/feat"].numpy(), (raw[fold.val] - mean) / std, atol=1e-4)


def test_standardized_fits_on_the_given_rows():
    toy = make_toy(n=100)
    fit_rows, other = np.arange(50), np.arange(50, 100)
    standardizer, (a, b) = standardized(toy, fit_rows, [fit_rows, other], torch.device("cpu"))
    np.testing.assert_allclose(a.views["noise/feat"].numpy().mean(0), 0, atol=1e-5)
    assert abs(float(b.views["noise/feat"].mean())) > 1e-4  # other rows keep the fit rows' statistics
    np.testing.assert_allclose(standardizer.mean["noise/feat"], toy.views["noise/feat"][fit_rows].mean(0), atol=1e-6)


def test_one_set_of_fold_tensors_serves_the_search_and_the_linear_candidate(tmp_path, monkeypatch):
    config = automm.SearchConfig(folds=3, ensemble_size=2, fusion_dim=8, max_views=2, max_epochs=3, patience=2)
    study = automm.Study(make_toy(n=150), method="random", runs_dir=tmp_path, config=config)
    made = []
    real = FoldData.tensors

    def spy(self, k):
        out = real(self, k)
        made.append((id(self), k, id(out[0])))
        return out

    monkeypatch.setattr(FoldData, "tensors", spy)
    study.optimize(3)
    assert study.objective.shared_folds is study.fold_data is study.context.folds
    assert keys.LINEAR in optuna_internals.study_system_attrs(study.optuna_study)  # the linear candidate ran
    assert len({(owner, k) for owner, k, _ in made}) == 3 and len({t for *_, t in made}) == 3  # one set, reused
