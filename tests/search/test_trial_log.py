"""automm's log in library use, long-step progress, how objects print and how errors name arguments."""

import logging

import optuna
import pytest

import automm
from automm.core.errors import AutommError, cli_names, option
from automm.core.progress import listening
from automm.engine.linear_net import LinearGenotype
from automm.inspection.tables import breakable
from automm.methods.ksnas.knowledge import PRETRAINING
from automm.methods.ksnas.space import Genotype


def test_library_search_logs_a_line_per_trial_and_keeps_optuna_quiet(toy, fast_config, tmp_path, capsys):
    optuna.logging.set_verbosity(optuna.logging.INFO)  # what a fresh Python session has
    try:
        study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
        study.optimize(2)
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # restored afterwards
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    err = capsys.readouterr().err
    assert "[automm] new study 'toy': 2 trials planned" in err
    assert "[automm] trial 0: accuracy " in err and "[automm] trial 1: accuracy " in err
    assert "Trial 0 finished" not in err and "A new study created" not in err  # Optuna's own INFO lines
    automm.Study(toy, runs_dir=tmp_path).optimize(2)
    assert "study 'toy' is already complete (2 trials)" in capsys.readouterr().err
    automm.set_verbosity(logging.WARNING)
    try:
        automm.Study(toy, runs_dir=tmp_path).optimize(3)
        assert "[automm]" not in capsys.readouterr().err
    finally:
        automm.set_verbosity(logging.INFO)


def test_resumed_study_says_how_far_it_is(toy, fast_config, tmp_path):
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
    study.optimize(1)
    assert study.progress_line(3) == "resuming study 'toy': 1 of 3 trials done"


def test_the_header_says_which_generations_the_trials_cover(toy, fast_config, tmp_path):
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, ksnas={"population_size": 4, "generations": 3})
    assert study.progress_line(4) == (
        "new study 'toy': 4 trials planned (generation 0 (4 trials); the full search is 3 generations, 12 trials)"
    )
    assert study.progress_line(10).endswith(
        "(generations 0-1 (4 trials each) and 2 of 4 trials of generation 2; "
        "the full search is 3 generations, 12 trials)"
    )
    assert study.progress_line().endswith("12 trials planned (generations 0-2 (4 trials each): the full search)")


def test_kb_pretraining_reports_its_progress(toy, fast_config, tmp_path):
    heard = []
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, knowledge={"kb_epochs": 3})
    with listening(lambda what, done, total: heard.append((what, done, total))):
        study.optimize(1)
    pretraining = [(d, t) for w, d, t in heard if w == PRETRAINING]
    assert pretraining == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_repeated_candidates_are_one_row(toy, fast_config, tmp_path):
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
    study.optimize(1)
    params = study.optuna_study.trials[0].params
    waiting = len(study.optuna_study.get_trials(states=(optuna.trial.TrialState.WAITING,)))  # the seed designs
    study.optuna_study.enqueue_trial(params)
    study.optuna_study.enqueue_trial(params)
    study.optimize(1 + waiting + 2)
    rows = study.trials_table()
    assert next(r for r in rows if r["number"] == 0)["repeats"] == 2
    assert len(study.trials_table(repeats=True)) == len(rows) + 2


def test_genotypes_print_as_their_strings_and_wrap_between_names():
    g = Genotype.from_string("concat(add(image/googlenet,text/doc2vec),audio/mfcc)")
    assert repr(g) == str(g) == "concat(add(image/googlenet,text/doc2vec),audio/mfcc)"
    shown = breakable(str(g))
    assert shown == "concat(add(image/googlenet, text/doc2vec), audio/mfcc)"
    assert Genotype.from_string(shown) == g  # what a user copies from the terminal reads back
    linear = LinearGenotype(("a/x", "b/y"))
    assert repr(linear) == "linear(a/x,b/y)" and LinearGenotype.parse(breakable(str(linear))) == linear


def test_errors_name_library_arguments_in_python_and_flags_on_the_command_line(toy, fast_config, tmp_path):
    assert option("study_name") == "study_name" and option("data", "FILE") == "data=FILE"
    with cli_names():
        assert option("study_name") == "--study-name" and option("overwrite", "True") == "--overwrite"
    automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="tpe")
    with pytest.raises(AutommError, match=r"choose another study_name$"):
        automm.Study(toy, runs_dir=tmp_path, sampler="random")


def test_evaluation_prints_what_it_means():
    ev = automm.Evaluation("concat(a,b)", "accuracy", [0.9, 0.92], 0.91, 0.01, 12, False, [])
    assert str(ev) == "test accuracy 0.9100 ± 0.0100 over 2 seeds: concat(a,b)"
