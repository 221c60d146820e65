"""The typed trial record: what the objective writes is what every reader reads, and older studies load."""

from __future__ import annotations

import optuna
import pytest

from automm.core import keys
from automm.store.optuna_internals import set_user_attrs_together
from automm.store.trial_record import KEYS, TrialRecord, as_attrs, held_attrs, record


@pytest.fixture
def study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize")


def test_written_fields_read_back_typed(study):
    trial = study.ask()
    record(trial, genotype="add(a,b)", folds=3, n_params=120, cache_key="k")
    running = TrialRecord.of(trial)
    assert running.state == optuna.trial.TrialState.RUNNING and running.value is None and running.genotype == "add(a,b)"
    record(trial, fold_scores=[0.5, 0.7], fold_best_epochs=[3, 4], epochs=9, seconds=1.5, raced_out=True, generation=2)
    study.tell(trial, 0.6)
    done = TrialRecord.of(study.trials[0])
    assert (done.value, done.fold_scores, done.fold_best_epochs, done.epochs, done.seconds) == (
        0.6,
        [0.5, 0.7],
        [3, 4],
        9,
        1.5,
    )
    assert done.raced_out and not done.fully_scored and done.generation == 2 and done.trained and done.complete
    assert study.trials[0].user_attrs[keys.FOLD_SCORES] == [0.5, 0.7]  # the stored keys are the old ones


def test_a_one_split_trial_of_an_older_study(study):
    trial = study.ask()
    trial.set_user_attr(keys.GENOTYPE, "a")
    trial.set_user_attr(keys.BEST_EPOCH, 7)
    study.tell(trial, 0.9)
    old = TrialRecord.of(study.trials[0])
    assert old.fold_scores == [0.9] and old.fold_best_epochs == [7] and old.epochs is None and old.fully_scored


def test_a_repeat_copies_the_fields_it_names(study):
    first = study.ask()
    record(first, epochs=5, n_params=10, seconds=2.0)
    study.tell(first, 0.5)
    again = study.ask()
    copied = held_attrs(study.trials[0], ("epochs", "n_params", "best_epoch"))
    set_user_attrs_together(again, {**copied, **as_attrs(duplicate_of=0)})
    study.tell(again, 0.5)
    repeat = TrialRecord.of(study.trials[1])
    assert (repeat.epochs, repeat.n_params, repeat.seconds, repeat.trained) == (5, 10, None, False)


def test_every_field_has_a_key_and_unknown_fields_are_refused(study):
    assert set(KEYS) <= set(TrialRecord.__dataclass_fields__)
    with pytest.raises(KeyError):
        record(study.ask(), genotpye="typo")
