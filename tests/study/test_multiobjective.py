import optuna
from typer.testing import CliRunner

import automm
from automm.cli import app
from tests.conftest import make_toy


def test_score_and_parameter_count_pareto_front(tmp_path):
    config = automm.SearchConfig(
        folds=1, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=20, patience=3
    )
    study = automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=config,
        minimize_params=True,
        ksnas={"population_size": 4, "generations": 3},
        knowledge={"kb_epochs": 2},
    )
    study.optimize()
    trials = [t for t in study.optuna_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.values) == 2 and t.values[1] == t.user_attrs["n_params"] for t in trials)
    front = study.pareto_front_numbers()
    assert front
    for t in trials:  # nothing dominates a front member
        if t.number in front:
            assert not any(
                o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in trials
            )
    assert study.best_value == max(t.values[0] for t in trials)
    assert study.optuna_study.metric_names == ["accuracy", "parameters"]
    # elitist selection keeps the non-dominated individuals of parents + offspring
    sampler = study.optuna_study.sampler
    parents = sampler.get_parent_population(study.optuna_study, 2)
    pool = sampler.get_population(study.optuna_study, 1) + sampler.get_parent_population(study.optuna_study, 1)
    pool_front = [
        t
        for t in pool
        if not any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in pool)
    ]
    parent_keys = {str(sampler.decode(p)) for p in parents}
    front_keys = {str(sampler.decode(t)) for t in pool_front}
    assert len(parents) == 4 and len(parent_keys) == 4
    if len(front_keys) <= 4:  # every non-dominated genotype survives
        assert front_keys <= parent_keys
    else:  # more non-dominated genotypes than places: only they survive
        assert parent_keys <= front_keys


def test_cli_minimize_params(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--folds",
            "1",
            "--runs-dir",
            str(tmp_path),
            "--population",
            "3",
            "--generations",
            "1",
            "--kb-epochs",
            "1",
            "--minimize-params",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best accuracy" in result.output
