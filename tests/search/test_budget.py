"""The time budget: durations, the stop rule at and inside a unit, and a budgeted search."""

from __future__ import annotations

import datetime as dt
import time

import optuna
import pytest

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.search.budget import DeliveryReserve, TimeBudget, format_duration, parse_duration
from automm.store.optuna_internals import set_study_system_attr
from tests.conftest import make_toy


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("2h", 7200.0), (45, 45.0)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "m10", "0", "-5", "10m extra"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(AutommError, match=r"duration|positive"):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (12, 245, 3720)] == ["12s", "4m05s", "1h02m"]


class _Generations:
    """A method stub: generations of ``size`` trials; ``left`` trials still missing in the current one."""

    def __init__(self, size: int | None, left: int) -> None:
        self.generation_size, self.left = size, left

    def trials_to_boundary(self, study: optuna.Study) -> int:
        return self.left


def _study_with_trials(
    durations: list[float],
    start: float,
    values: list[float] | None = None,
    kept: tuple[int, ...] = (),
    attrs: list[dict] | None = None,
) -> optuna.Study:
    """Finished trials of ``durations`` seconds (and ``attrs``, user attributes per trial); those numbered
    in ``kept`` kept their fold networks."""
    study = optuna.create_study(direction="maximize")
    for i, seconds in enumerate(durations):
        begin = dt.datetime.fromtimestamp(start + i)
        value = 0.5 if values is None else values[i]
        trial = optuna.trial.create_trial(
            value=value,
            params={},
            distributions={},
            user_attrs={keys.SECONDS: seconds, **(attrs[i] if attrs else {})},
            system_attrs={keys.FOLD_NETWORKS: {"artifact_id": "x", "folds": 3}} if i in kept else {},
        )
        trial.datetime_start, trial.datetime_complete = begin, begin + dt.timedelta(seconds=seconds)
        study.add_trial(trial)
    return study


def test_at_a_boundary_a_whole_generation_must_fit():
    now = time.time()
    study = _study_with_trials([10.0, 10.0, 12.0], start=now - 40)
    budget = TimeBudget(deadline=now + 45, method=_Generations(5, left=0), started=now - 41)
    assert not budget.fits(study, now)  # 5 trials x 10 s > 45 s
    budget.deadline = now + 55
    assert budget.fits(study, now)
    budget.jobs = 2  # two trials at a time: 25 s
    budget.deadline = now + 30
    assert budget.fits(study, now)


def test_inside_a_generation_one_more_trial_is_enough():
    now = time.time()
    study = _study_with_trials([10.0, 10.0], start=now - 30)
    budget = TimeBudget(deadline=now + 15, method=_Generations(5, left=3), started=now - 31)
    assert budget.fits(study, now)  # generation 0 is not abandoned on a short budget
    budget.deadline = now + 5
    assert not budget.fits(study, now)
    assert not TimeBudget(deadline=now - 1, method=_Generations(None, 0)).fits(study, now)  # past the deadline


def test_with_parallel_jobs_one_more_trial_still_needs_its_whole_duration():
    now = time.time()
    study = _study_with_trials([10.0, 10.0], start=now - 30)
    budget = TimeBudget(deadline=now + 7, method=_Generations(5, left=3), started=now - 31, jobs=2)
    assert budget.pace(study) == 5.0 and not budget.fits(study, now)  # a trial started now ends in 10 s
    budget.deadline = now + 11
    assert budget.fits(study, now)


def test_the_delivery_reserve_is_the_best_candidates_training_time():
    now = time.time()
    study = _study_with_trials([4.0, 9.0, 2.0, 7.0], start=now - 60, values=[0.9, 0.5, 0.8, 0.7])
    assert DeliveryReserve(members=3)(study) == pytest.approx(4.0 + 2.0 + 7.0)  # the best three by value
    assert DeliveryReserve(members=1, refit=1.25, fixed=3.0)(study) == pytest.approx(1.25 * 4.0 + 3.0)
    assert DeliveryReserve(members=3)(optuna.create_study()) == 0.0
    study = _study_with_trials([10.0, 10.0], start=now - 30)
    budget = TimeBudget(deadline=now + 15, method=_Generations(5, left=3), started=now - 31)
    assert budget.fits(study, now)
    budget.reserve = DeliveryReserve(members=1, fixed=6.0)  # 16 s held back for the delivery
    assert budget.search_deadline(study) == pytest.approx(now - 1) and not budget.fits(study, now)


def test_trials_of_earlier_runs_do_not_set_the_pace():
    now = time.time()
    study = _study_with_trials([500.0], start=now - 3600)
    budget = TimeBudget(deadline=now + 60, method=_Generations(None, 0), started=now - 5)
    assert budget.pace(study) is None and budget.fits(study, now)


def test_a_budgeted_search_stops_early(tmp_path):
    config = automm.SearchConfig(folds=1, fusion_dim=16, max_views=3, max_epochs=30, patience=5, ensemble_size=1)
    study = automm.Study(make_toy(n=240), runs_dir=tmp_path, config=config, ksnas={"population_size": 6})
    study.optimize(time_budget="2s")
    assert 0 < study.n_finished() < study.default_trials
    assert study.last_budget is not None and not study.method.is_done(study.optuna_study)
    study.optimize(12, time_budget="none")  # a later run without a budget goes on
    assert study.n_finished() >= 12


def test_a_budget_bounds_search_and_delivery_together(tmp_path):
    config = automm.SearchConfig(folds=3, fusion_dim=16, max_views=3, max_epochs=30, patience=5)
    study = automm.Study(make_toy(n=300), runs_dir=tmp_path, config=config, ksnas={"population_size": 4})
    start = time.perf_counter()
    study.optimize(time_budget="8s")
    study.deliver(tmp_path / "model")
    wall = time.perf_counter() - start
    assert study.last_budget is not None and study.last_budget.reserve is not None
    assert study.last_budget.reserve(study.optuna_study) > 0  # delivery's time was held back
    assert study.last_budget.reserve.scratch_floor == study.method.knowledge.kb_epochs  # KS-NAS: its KB's length
    assert 0 < study.n_finished() < study.default_trials
    assert wall < 8 * 1.5, wall  # a generous tolerance: the precise ratio is in benchmarks/RESULTS.md


def test_the_delivery_reserve_skips_bags_the_search_kept():
    now = time.time()
    study = _study_with_trials([4.0, 9.0, 2.0, 7.0], start=now - 60, values=[0.9, 0.5, 0.8, 0.7], kept=(0,))
    assert DeliveryReserve(members=3, reuses_kept=True)(study) == pytest.approx(2.0 + 7.0)
    assert DeliveryReserve(members=3)(study) == pytest.approx(4.0 + 2.0 + 7.0)  # a method that retrains them
    set_study_system_attr(study, f"{keys.FOLD_NETWORKS_PRUNED}0", True)
    assert DeliveryReserve(members=3, reuses_kept=True)(study) == pytest.approx(4.0 + 2.0 + 7.0)  # pruned since


def test_one_split_reserves_a_from_scratch_delivery_for_a_warm_started_candidate():
    """A warm start trained 3 epochs, but its one-split delivery trains from scratch twice: early stopping
    finds the epochs (as the study's from-scratch candidates ran: 20), then train+validation (1.25 x 12)."""
    now = time.time()
    scratch = {keys.EPOCHS: 20, keys.BEST_EPOCH: 12}
    warm = {keys.EPOCHS: 3, keys.BEST_EPOCH: 2, keys.INITIAL_SCORE: 0.8}
    study = _study_with_trials(
        [10.0, 10.0, 1.5], start=now - 60, values=[0.7, 0.6, 0.9], attrs=[scratch, scratch, warm]
    )
    assert DeliveryReserve(members=1, refit=1.25)(study) == pytest.approx(1.5 / 3 * (20 + 1.25 * 12))
    assert DeliveryReserve(members=1)(study) == pytest.approx(1.5)  # K folds: its bag retrains what the folds did
    alone = _study_with_trials([1.5], start=now - 60, attrs=[warm])
    # no from-scratch candidate: its best epoch plus the patience found, then 1.25 x its best epoch trained again
    assert DeliveryReserve(members=1, refit=1.25, patience=10)(alone) == pytest.approx(1.5 / 3 * (2 + 10 + 1.25 * 2))
    # ... the best epoch no earlier than the method's floor (KS-NAS: its KB's pretraining epochs)
    floor = DeliveryReserve(members=1, refit=1.25, patience=10, scratch_floor=20)(alone)
    assert floor == pytest.approx(1.5 / 3 * (20 + 10 + 1.25 * 20))


def test_the_reserve_holds_back_finishing_a_kept_warm_started_candidate():
    """A kept bag costs no retraining, but finishing it trains each fold network on: its warm best epoch plus
    the patience + 1 epochs, at its trial's seconds per epoch (12 epochs in 6 s: 0.5 s an epoch)."""
    now = time.time()
    warm = {keys.EPOCHS: 12, keys.INITIAL_SCORE: 0.8, keys.FOLD_BEST_EPOCHS: [2, 1, 3]}
    scratch = {keys.EPOCHS: 30, keys.FOLD_BEST_EPOCHS: [5, 5, 5]}
    study = _study_with_trials([6.0, 9.0], start=now - 60, values=[0.9, 0.8], attrs=[warm, scratch], kept=(0, 1))
    reserve = DeliveryReserve(members=2, reuses_kept=True, finish_patience=10)
    assert reserve(study) == pytest.approx(0.5 * ((2 + 11) + (1 + 11) + (3 + 11)))  # the from-scratch one: nothing
    assert DeliveryReserve(members=2, reuses_kept=True)(study) == 0.0  # not finished: nothing to train
