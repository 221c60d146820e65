"""A KS-NAS study stores readable Optuna parameters (what optuna-dashboard's Best Trial card and parameter
importance show); a study stored with genes before resumes with genes."""

from __future__ import annotations

import automm
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.ksnas.settings import KSNASSettings
from automm.search import queries
from automm.settings import load_preset
from tests.conftest import make_toy
from tests.methods.ksnas.test_every_fold import CONFIG


def _study(tmp_path, **ksnas):
    return automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        study_name="readable",
        config=CONFIG,
        ensemble_size=1,
        ksnas={"population_size": 3, "generations": 2, **ksnas},
        knowledge={"kb_epochs": 1},
    )


def test_a_new_study_names_its_views_operators_and_inputs(tmp_path):
    study = _study(tmp_path)
    study.optimize(4)
    for trial in queries.completed(study.optuna_study):
        params = trial.params
        assert "n_views" not in params and "node_0_left" not in params  # no genes
        genotype = study.space.decode(params)
        assert str(genotype) == trial.user_attrs["genotype"]
        views = [v for k, v in params.items() if k.startswith("view_") and v != "-"]
        assert tuple(views) == genotype.views and set(views) <= set(study.dataset.view_names)
        ops = [params[f"node_{j}"] for j in range(1, len(genotype.views))]
        assert ops == [node.op for node in genotype.nodes]


def test_a_study_stored_with_genes_resumes_with_genes(tmp_path):
    study = _study(tmp_path, readable_params=False)  # as a study stored before readable parameters
    study.optimize(3)
    again = automm.Study(make_toy(n=240), runs_dir=tmp_path, study_name="readable")  # resumed as stored
    again.optimize(6)
    trials = queries.completed(again.optuna_study)
    assert len(trials) == 6 and all("n_views" in t.params and "node_1" not in t.params for t in trials)


def test_settings_stored_before_readable_parameters_mean_genes():
    stored = {"ksnas": {k: v for k, v in KSNASSettings().to_dict().items() if k != "readable_params"}}
    assert KSNASMethod.legacy_settings(stored, load_preset("toy"))["ksnas"]["readable_params"] is False
    now = {"ksnas": KSNASSettings().to_dict()}
    assert "ksnas" not in KSNASMethod.legacy_settings(now, load_preset("toy"))  # nothing to make up
