import numpy as np
import optuna
import torch
from typer.testing import CliRunner

import automm
from automm.cli import app
from automm.core.keys import LAYER_BANK as BANK_ATTR
from automm.methods.ksnas import sampler as ksnas_module
from automm.methods.ksnas.settings import KSNASSettings
from automm.methods.ksnas.space import SearchSpace
from automm.methods.mfas.layer_bank import LayerBank
from tests.conftest import make_toy

MFAS = {"k": 3, "iterations": 1, "max_layers": 2}


def _study(tmp_path, **kwargs):
    return automm.Study(make_toy(n=240), sampler="mfas", runs_dir=tmp_path, folds=1, mfas={**MFAS, **kwargs})


def test_mfas_study_shares_layers_and_delivers(tmp_path):
    study = _study(tmp_path)
    assert study.default_trials == 3 + 3  # toy: 3 modalities x 1 view each x 3 activations, then K = 3
    study.optimize()
    trials = study.optuna_study.trials
    assert all(t.user_attrs["epochs"] == 2 for t in trials)  # E_train epochs, no early stopping
    assert any(t.user_attrs["inherited_layers"] > 0 for t in trials[1:])
    bank = study.optuna_study._storage.get_study_system_attrs(study.optuna_study._study_id)[BANK_ATTR]
    layer_files = {p.name for p in study.artifact_dir.iterdir() if p.name.startswith("automm-layers")}
    assert layer_files == {p["artifact_id"] for p in bank.values()}  # stale files were deleted
    # a fresh net of the same shapes inherits exactly the banked weights
    net = study.objective.build(study.best_genotype)
    LayerBank(study.optuna_study, study.artifact_store).warm_start(net)
    key = f"0:{net.layers[0][0].in_features}"
    data = (study.artifact_dir / bank[key]["artifact_id"]).read_bytes()
    from safetensors.torch import load

    assert torch.equal(net.layers[0][0].weight, load(data)[f"{key}.weight"])
    # retrain to convergence, export, load
    evaluation = study.evaluate()
    assert evaluation.epochs > 2 and not evaluation.warm_started
    model = automm.load_model(study.export(tmp_path / "model"))
    ds = study.dataset
    views = {v: ds.views[v][ds.splits.test] for v in ds.view_names}
    assert model.predict(views).shape == (len(ds.splits.test),)
    assert "<svg" in study.method.diagram(study.space, study.best_genotype, ds.view_dims, study.config)


def test_resumed_mfas_study_continues_as_an_uninterrupted_one(tmp_path):
    settings = {**MFAS, "iterations": 2}
    whole = automm.Study(make_toy(n=240), method="mfas", runs_dir=tmp_path / "a", seed=3, mfas=settings)
    whole.optimize()
    storage = f"sqlite:///{tmp_path}/b.db"
    first = automm.Study(
        make_toy(n=240), method="mfas", storage=storage, runs_dir=tmp_path / "b", seed=3, mfas=settings
    )
    first.optimize(4)  # stopped inside the first iteration's second level
    resumed = automm.Study(make_toy(n=240), storage=storage, runs_dir=tmp_path / "b")
    resumed.optimize()
    genotypes = [t.user_attrs["genotype"] for t in whole.optuna_study.trials]
    assert len(genotypes) == whole.default_trials == 12
    assert [t.user_attrs["genotype"] for t in resumed.optuna_study.trials] == genotypes


def test_mfas_without_weight_sharing(tmp_path):
    study = _study(tmp_path, weight_sharing=False)
    study.optimize()
    assert all("inherited_layers" not in t.user_attrs for t in study.optuna_study.trials)


def test_surrogate_pool_evaluates_the_surrogates_favourite(monkeypatch):
    space = SearchSpace(("a/x", "b/y", "c/z", "d/w", "e/v"), max_views=4)

    class ViewCounter:  # a stand-in surrogate that prefers more views
        def __init__(self, *args, **kwargs):
            pass

        def fit(self, genotypes, scores):
            return self

        def predict(self, genotypes):
            return np.array([g.k for g in genotypes], dtype=float)

    monkeypatch.setattr(ksnas_module, "SequenceSurrogate", ViewCounter)

    def run(pool):
        sampler = ksnas_module.KSNASSampler(
            space, KSNASSettings(population_size=6, generations=3, surrogate_pool=pool), seed=0
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: 0.5 + 0.01 * space.suggest(t).k, n_trials=18)
        return [space.decode(t.params).k for t in study.trials[6:]]

    assert np.mean(run(4)) > np.mean(run(1))


def test_cli_mfas(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--folds",
            "1",
            "--sampler",
            "mfas",
            "--mfas-k",
            "2",
            "--mfas-iterations",
            "1",
            "--mfas-layers",
            "2",
            "--runs-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sampler mfas (K=2, E_search=1, L=2, 2 epochs per candidate)" in result.output
    assert "2-epoch proxies" in result.output
