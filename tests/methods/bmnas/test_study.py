import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import automm
from automm.cli import app
from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.bmnas.method import supernet_weights
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe
from automm.methods.bmnas.supernet import BMNASSupernet
from tests.conftest import make_toy

SMALL = {"channels": 8, "length": 2, "cells": 1, "steps": 1, "epochs": 3, "warmup": 1}


def test_a_bmnas_trial_searches_derives_and_trains_and_the_result_is_delivered(tmp_path):
    study = automm.Study(make_toy(n=240), method="bmnas", runs_dir=tmp_path, folds=1, ensemble_size=1, bmnas=SMALL)
    assert study.default_trials == 4
    study.optimize(2)
    first, second = study.optuna_study.trials
    assert first.user_attrs[keys.BASELINE]  # the first trial runs the default settings
    assert first.params == study.space.encode(BMNASRecipe(8, 2, 1, 1))
    for trial in (first, second):
        genotype = BMNASGenotype.from_string(trial.user_attrs[keys.GENOTYPE])
        recipe = study.space.decode(trial.params)
        shape = (genotype.channels, genotype.length, len(genotype.cells))
        assert shape == (recipe.channels, recipe.length, recipe.cells)
        search = trial.user_attrs[keys.BMNAS_SEARCH]
        assert search["epochs"] == 3 and len(search["supernet_val_curve"]) == 3
        assert trial.user_attrs[keys.SECONDS] >= search["seconds"]  # the search counts in the trial's time
    # the per-epoch architecture weights are a JSON artifact of the trial
    history = json.loads((study.artifact_dir / first.user_attrs[keys.BMNAS_HISTORY]).read_text())
    assert len(history["epochs"]) == 3
    assert {"cell.0.x", "cell.0.y", "cell.0.step.0.op"} <= set(history["epochs"][0]["weights"])
    # the supernet is a safetensors artifact, verified on load; a damaged file is refused
    state = supernet_weights(study.artifact_store, first)
    recipe = study.space.decode(first.params)
    fresh = BMNASSupernet(recipe, study.dataset.view_dims, study.dataset.n_classes, 0.0)
    assert set(state) == set(fresh.state_dict())
    path = study.artifact_dir / first.user_attrs[keys.BMNAS_SUPERNET]["artifact_id"]
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(AutommError, match="corrupted or was modified"):
        supernet_weights(study.artifact_store, first)
    # the dashboard note tells how decided the search was
    from optuna_dashboard._note import get_note_from_system_attrs

    system = study.optuna_study._storage.get_study_system_attrs(study.optuna_study._study_id)
    note = get_note_from_system_attrs(system, first._trial_id)["body"]
    assert "architecture weights decided by a mean margin" in note and "derived at epoch" in note
    svg = study.diagram(study.best_genotype)
    assert "<svg" in svg and "cell 0" in svg
    # retrain on train+validation, export, load, predict
    evaluation = study.evaluate(seeds=1)
    assert 0.0 <= evaluation.mean <= 1.0 and evaluation.genotype == str(study.best_genotype)
    model = automm.load_model(study.export(tmp_path / "model", genotype=study.best_genotype))
    ds = study.dataset
    views = {v: ds.views[v][ds.splits.test] for v in ds.view_names}
    assert model.predict(views).shape == (len(ds.splits.test),)
    assert np.isfinite(model.predict_proba(views)).all()


def test_a_recipe_searched_before_is_not_searched_again(tmp_path):
    study = automm.Study(make_toy(n=240), method="bmnas", runs_dir=tmp_path, folds=1, ensemble_size=1, bmnas=SMALL)
    params = study.space.encode(BMNASRecipe(8, 2, 1, 1))
    study.optuna_study.enqueue_trial(params)  # the default recipe again, after the first try
    study.optimize(2)
    first, again = study.optuna_study.trials
    assert again.user_attrs[keys.GENOTYPE] == first.user_attrs[keys.GENOTYPE]
    assert again.user_attrs[keys.BMNAS_SEARCH] == first.user_attrs[keys.BMNAS_SEARCH]
    assert again.user_attrs[keys.DUPLICATE_OF] == first.number  # the same network: not trained again


def test_bmnas_needs_two_views_and_refuses_options_of_other_methods(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["search", "--dataset", "digits", "--method", "bmnas", "--population", "4", "--runs-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--population does not apply to method bmnas" in result.output
    result = runner.invoke(
        app, ["search", "--dataset", "digits", "--method", "bmnas", "--ops", "glu", "--runs-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--ops (fusion operators) does not apply to method bmnas" in result.output
    toy = make_toy(n=240)
    one_view = dataclasses.replace(toy, views={"left/feat": toy.views["left/feat"]})
    with pytest.raises(AutommError, match="BM-NAS fuses two or more views"):
        automm.Study(one_view, method="bmnas", runs_dir=tmp_path / "one")


def test_cli_search_with_bmnas_on_digits_end_to_end(tmp_path):
    runner = CliRunner()
    args = ["search", "--dataset", "digits", "--method", "bmnas", "--trials", "1", "--runs-dir", str(tmp_path)]
    args += ["--bmnas-epochs", "2", "--bmnas-channels", "8", "--bmnas-length", "2", "--bmnas-cells", "1"]
    args += ["--folds", "1", "--ensemble-size", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # as wrapped to the terminal's width
    assert "sampler bmnas (C=8, L=2, 1 cells x 2 steps, 2 search epochs, arch lr auto)" in text
    assert "1 trial planned (one BM-NAS search with the default settings)" in text
    assert "delivered model" in text
    model = automm.load_model(tmp_path / "digits_model")
    assert str(model.genotype).startswith("bmnas(C=8,L=2,cell(")
