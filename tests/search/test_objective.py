import numpy as np
import optuna
import pytest

import automm.search.objective as objective_module
from automm.engine.training import TensorData
from automm.methods.ksnas.space import SearchSpace
from automm.methods.optuna_samplers import RandomMethod
from automm.search.objective import FusionObjective

GENES = {"encoding": {"readable_params": False}}  # the method's trials suggest the genes of `space` below


def test_objective_records_attrs_and_never_touches_test_rows(toy, fast_config, monkeypatch):
    used_rows = []
    original = TensorData.from_dataset.__func__

    def spy(cls, dataset, rows, standardizer, device):
        used_rows.append(np.asarray(rows))
        return original(cls, dataset, rows, standardizer, device)

    monkeypatch.setattr(TensorData, "from_dataset", classmethod(spy))
    space = SearchSpace(tuple(toy.view_names), fast_config.max_views)
    objective = FusionObjective(toy, RandomMethod(GENES), space, fast_config, seed=0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=3)
    touched = np.concatenate(used_rows)
    assert not set(touched) & set(toy.splits.test)
    assert set(toy.splits.train) | set(toy.splits.val) == set(touched)
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert space.decode(t.params) == space.decode(space.encode(space.decode(t.params)))
        assert t.user_attrs["genotype"] == str(space.decode(t.params))
        assert t.user_attrs["epochs"] >= t.user_attrs["best_epoch"] >= 1
        assert t.user_attrs["n_params"] > 0 and t.user_attrs["seconds"] > 0
        assert len(t.intermediate_values) == t.user_attrs["epochs"] == len(t.user_attrs["val_curve"])


def test_duplicate_genotype_is_not_trained_twice(toy, fast_config, monkeypatch):
    space = SearchSpace(tuple(toy.view_names), fast_config.max_views)
    objective = FusionObjective(toy, RandomMethod(GENES), space, fast_config, seed=0)
    calls = []
    real_fit = objective_module.fit
    monkeypatch.setattr(objective_module, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    study = optuna.create_study(direction="maximize")
    params = space.encode(space.decode({**space.encode(space.random_genotype(np.random.default_rng(0)))}))
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    study.optimize(objective, n_trials=2)
    assert len(calls) == 1
    assert study.trials[1].user_attrs["duplicate_of"] == 0
    assert study.trials[1].value == study.trials[0].value


def test_pruner_stops_training(toy, fast_config):
    space = SearchSpace(tuple(toy.view_names), fast_config.max_views)
    objective = FusionObjective(toy, RandomMethod(GENES), space, fast_config, seed=0)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert len(trial.intermediate_values) == 1
    assert trial.user_attrs["n_params"] > 0  # written before training, where a pruner may end the trial


def test_same_genotype_same_seed_same_score(toy, fast_config):
    space = SearchSpace(tuple(toy.view_names), fast_config.max_views)
    a = FusionObjective(toy, RandomMethod(GENES), space, fast_config, seed=5)
    g = space.random_genotype(np.random.default_rng(3))
    r1, r2 = a.train(a.build(g), g), a.train(a.build(g), g)
    assert r1.curve == r2.curve
    assert pytest.approx(r1.best_score) == max(r1.curve)
