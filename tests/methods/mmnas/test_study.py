"""MMnas end to end: a trial searches, derives and retrains; the delivered model reads tokens and masks."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import automm
from automm.cli import app
from automm.core import keys
from automm.methods.mmnas.space import MMNASGenotype, MMNASRecipe
from tests.conftest import make_token_toy, token_toy_npz
from tests.onnx_serving import served

SMALL = {"encoder_blocks": 1, "decoder_blocks": 2, "hidden": 8, "heads": 2, "epochs": 3, "warmup": 1}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    study = automm.Study(make_token_toy(), method="mmnas", runs_dir=runs, folds=1, ensemble_size=1, mmnas=SMALL)
    study.optimize(2)
    return study


def test_a_mmnas_trial_searches_derives_and_trains_on_tokens(searched):
    study = searched
    assert study.dataset.token_lengths == {"text/tokens": 6, "image/grid": 4}  # not pooled
    assert study.default_trials == 4
    first, second = study.optuna_study.trials
    assert first.user_attrs[keys.BASELINE]  # the first trial runs the default settings
    assert first.params == study.space.encode(MMNASRecipe(1, 2, 8, "text"))
    for trial in (first, second):
        genotype = MMNASGenotype.from_string(trial.user_attrs[keys.GENOTYPE])
        recipe = study.space.decode(trial.params)
        assert (len(genotype.encoder), len(genotype.decoder), genotype.hidden) == (
            recipe.encoder_blocks,
            recipe.decoder_blocks,
            recipe.hidden,
        )
        assert genotype.x_views == study.space.sides(recipe)[0]
        search = trial.user_attrs[keys.MMNAS_SEARCH]
        assert search["epochs"] == 3 and len(search["supernet_val_curve"]) == 3
        assert trial.user_attrs[keys.SECONDS] >= search["seconds"]
    history = json.loads((study.artifact_dir / first.user_attrs[keys.MMNAS_HISTORY]).read_text())
    probabilities = history["epochs"][-1]["probabilities"]
    assert len(probabilities["encoder"]) == 1 and len(probabilities["decoder"][0]) == 3
    assert all(abs(sum(row) - 1) < 1e-3 for row in probabilities["decoder"])
    from optuna_dashboard._note import get_note_from_system_attrs

    system = study.optuna_study._storage.get_study_system_attrs(study.optuna_study._study_id)
    note = get_note_from_system_attrs(system, first._trial_id)["body"]
    assert "mean probability of the chosen op" in note
    svg = study.diagram(study.best_genotype)
    assert "<svg" in svg and "attentional flattening" in svg


def test_the_delivered_mmnas_model_reads_tokens_with_their_masks(searched, tmp_path):
    study = searched
    assert study.best_value > 0.4  # the label needs token positions and masks; chance is 0.25
    model = automm.load_model(study.export(tmp_path / "model", genotype=study.best_genotype))
    assert model.token_views == {"text/tokens": 6, "image/grid": 4}
    ds = study.dataset
    test = ds.splits.test
    views = {v: ds.views[v][test] for v in ds.view_names} | {"text/tokens_mask": ds.masks["text/tokens"][test]}
    proba = model.predict_proba(views)
    assert proba.shape == (len(test), 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    garbage = dict(views)
    garbage["text/tokens"] = np.where(views["text/tokens_mask"][:, :, None], views["text/tokens"], 7.0)
    assert np.allclose(model.predict_proba(garbage), proba, atol=1e-5)  # padding is never read
    with pytest.raises(automm.AutommError, match=r"must be \(N, L, 3\)"):
        model.predict({**views, "text/tokens": views["text/tokens"].mean(axis=1)})
    # model.onnx in ONNX Runtime: raw tokens plus masks, any token count
    inputs = {k: np.ascontiguousarray(v) for k, v in views.items()}
    inputs["image/grid_mask"] = np.ones((len(test), 4), dtype=bool)
    expected = model.predict_logits(views)
    assert np.allclose(served(tmp_path / "model", inputs)[0], expected, atol=1e-4)
    longer = dict(inputs)  # two more padded positions change nothing
    longer["text/tokens"] = np.concatenate([inputs["text/tokens"], np.full((len(test), 2, 3), 5.0, np.float32)], 1)
    longer["text/tokens_mask"] = np.concatenate([inputs["text/tokens_mask"], np.zeros((len(test), 2), bool)], 1)
    assert np.allclose(served(tmp_path / "model", longer)[0], expected, atol=1e-4)


def test_a_recipe_searched_before_is_not_searched_again(tmp_path):
    small = {**SMALL, "epochs": 2}
    study = automm.Study(make_token_toy(), method="mmnas", runs_dir=tmp_path, folds=1, ensemble_size=1, mmnas=small)
    study.optuna_study.enqueue_trial(study.space.encode(MMNASRecipe(1, 2, 8, "text")))  # the default, again
    study.optimize(2)
    first, again = study.optuna_study.trials
    assert again.user_attrs[keys.MMNAS_SEARCH] == first.user_attrs[keys.MMNAS_SEARCH]
    assert again.user_attrs[keys.DUPLICATE_OF] == first.number


def test_cli_search_with_mmnas_on_a_token_file_end_to_end(tmp_path):
    data = token_toy_npz(tmp_path / "tokens.npz")
    runner = CliRunner()
    args = ["search", "--data", str(data), "--method", "mmnas", "--trials", "1", "--runs-dir", str(tmp_path)]
    args += ["--mmnas-epochs", "2", "--mmnas-hidden", "8", "--mmnas-heads", "2", "--mmnas-encoder-blocks", "1"]
    args += ["--mmnas-decoder-blocks", "2", "--folds", "1", "--ensemble-size", "1", "--model-dir", str(tmp_path / "m")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "sampler mmnas (E=1, D=2 blocks, H=8, 2 heads, 2 search epochs, arch lr auto)" in text
    assert "text/tokens[6 x 3]" in text
    model = automm.load_model(tmp_path / "m")
    assert str(model.genotype).startswith("mmnas(H=8,heads=2,x(")
    result = runner.invoke(app, ["search", "--data", str(data), "--method", "mmnas", "--population", "4"])
    assert result.exit_code == 2 and "--population does not apply to method mmnas" in result.output
    result = runner.invoke(app, ["search", "--data", str(data), "--method", "mmnas", "--mmnas-heads", "3"])
    assert result.exit_code == 2 and "heads" in result.output
