"""Optuna's samplers store readable parameters through `ReadableTuner` and still search the genes exactly as
before: a seed gives the same genotypes with and without it; a study stored with genes resumes with genes."""

from __future__ import annotations

import zlib

import optuna
import pytest

import automm
from automm.methods.ksnas.space import SearchSpace
from automm.methods.optuna_samplers import NSGA2Method, TPEMethod
from automm.methods.readable_tuner import GeneView, ReadableTuner
from automm.search import queries
from automm.settings import load_preset
from tests.conftest import make_toy
from tests.methods.ksnas.test_every_fold import CONFIG

VIEWS = ("a/x", "b/y", "c/z", "d/w")
OPS = ("concat", "add", "mul")

SAMPLERS = {
    "tpe": lambda: optuna.samplers.TPESampler(seed=3, n_startup_trials=5),
    "random": lambda: optuna.samplers.RandomSampler(seed=3),
    "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=3, population_size=4),
}


def _score(genotype: object) -> float:
    """A fixed score per architecture, so both runs see the same history when they propose the same."""
    return zlib.crc32(str(genotype).encode()) % 997 / 997


def _run(space: SearchSpace, sampler: optuna.samplers.BaseSampler, storage: str | None, trials: int = 24) -> list:
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    genotypes = []

    def objective(trial: optuna.Trial) -> float:
        genotype = space.suggest(trial)
        genotypes.append(str(genotype))
        return _score(genotype)

    study.optimize(objective, n_trials=trials)
    return [genotypes, study]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_the_same_seed_proposes_the_same_genotypes_as_with_genes(name, tmp_path):
    genes = SearchSpace(VIEWS, 4, OPS)
    readable = SearchSpace(VIEWS, 4, OPS, readable=True)
    before, _ = _run(genes, SAMPLERS[name](), None)
    now, study = _run(readable, ReadableTuner(SAMPLERS[name](), readable), f"sqlite:///{tmp_path / 'r.db'}")
    assert now == before
    assert len(set(before)) > 10  # the samplers did search: many different architectures
    for trial in study.trials:  # stored: the readable parameters of the architecture trained, no genes
        assert "n_views" not in trial.params and "node_1" in trial.params
        assert trial.params == readable.encode_readable(readable.decode(trial.params))
        assert str(readable.decode(trial.params)) == now[trial.number]


def test_the_wrapped_sampler_reads_genes():
    readable = SearchSpace(VIEWS, 4, OPS, readable=True)
    study = optuna.create_study(direction="maximize")
    genotype = readable.parse("concat(add(a/x,b/y),c/z)")
    study.add_trial(
        optuna.trial.create_trial(
            params={**readable.encode_readable(genotype), "lr": 0.01},
            distributions={
                **readable.readable_distributions(),
                "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
            },
            value=0.5,
        )
    )
    seen = GeneView(readable).of(study).get_trials()[0]
    assert seen.params == {**readable.encode_genes(genotype), "lr": 0.01}  # other parameters kept
    assert set(seen.distributions) == set(readable.gene_distributions()) | {"lr"}
    assert study.trials[0].params["node_1"] == "add"  # the study itself is untouched


def _toy_study(tmp_path, method, **sections):
    return automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        study_name=method,
        method=method,
        config=CONFIG,
        ensemble_size=1,
        **sections,
    )


@pytest.mark.parametrize("method", ["tpe", "nsga2"])
def test_a_new_study_stores_readable_parameters(tmp_path, method):
    study = _toy_study(tmp_path, method)
    study.optimize(3)
    trials = queries.completed(study.optuna_study)
    assert len(trials) == 3
    for trial in trials:
        assert "n_views" not in trial.params and "view_1" in trial.params
        assert str(study.space.decode(trial.params)) == trial.user_attrs["genotype"]


def test_a_study_stored_with_genes_resumes_with_genes(tmp_path):
    study = _toy_study(tmp_path, "tpe", encoding={"readable_params": False})
    study.optimize(2)
    again = automm.Study(make_toy(n=240), runs_dir=tmp_path, study_name="tpe")  # resumed as stored
    again.optimize(4)
    trials = queries.completed(again.optuna_study)
    assert len(trials) == 4 and all("n_views" in t.params and "node_1" not in t.params for t in trials)


def test_settings_stored_before_readable_parameters_mean_genes():
    preset = load_preset("toy")
    assert TPEMethod.legacy_settings({}, preset)["encoding"] == {"readable_params": False}
    assert "encoding" not in TPEMethod.legacy_settings({"encoding": {"readable_params": True}}, preset)
    stored = {"nsga2": {"population_size": 4}}
    assert NSGA2Method.legacy_settings(stored, preset) == {"encoding": {"readable_params": False}}
    assert TPEMethod.default_settings(preset)["encoding"] == {"readable_params": True}
