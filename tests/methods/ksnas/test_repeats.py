"""A genotype met again in a later generation: its earlier result reused, as the evolution from scratch
reuses it (the default), or trained again from the newer KB (``retrain_repeats``, studies stored before);
under a time budget, a warm result is first confirmed from scratch once (``confirm_repeats``).

One view per candidate over three views leaves three genotypes for twelve trials, so repeats across
generations are certain (generation 2 holds four trials, at most one of a genotype new to it).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import optuna
import pytest

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.ksnas.knowledge_hooks import KnowledgeHooks
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.ksnas.settings import KnowledgeSettings
from automm.search import queries
from automm.settings import load_preset
from automm.store.trial_record import TrialRecord, first_trained
from tests.conftest import make_toy
from tests.methods.ksnas.test_every_fold import CONFIG
from tests.methods.ksnas.test_every_fold import _study as every_fold_study


def _trials(tmp_path, retrain: bool | None, time_budget: float | str = "none", **knowledge) -> list:
    study = automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=replace(CONFIG, max_views=1),
        ensemble_size=1,
        ksnas={"population_size": 4, "generations": 3},
        knowledge={"kb_epochs": 2, **({} if retrain is None else {"retrain_repeats": retrain}), **knowledge},
    )
    study.optimize(time_budget=time_budget)  # none, or one far above the schedule's time: the schedule ends it
    trials = queries.completed(study.optuna_study)
    assert len(trials) == 12 and len({TrialRecord.of(t).genotype for t in trials}) <= 3
    return trials


def test_by_default_a_genotype_met_again_reuses_its_earlier_result(tmp_path):
    trials = _trials(tmp_path, retrain=None)
    records = [TrialRecord.of(t) for t in trials]
    by_number = {r.number: r for r in records}
    attrs = {t.number: t.user_attrs for t in trials}
    trained = [r for r in records if r.trained]
    assert len({r.genotype for r in trained}) == len(trained)  # each genotype trained once
    later = []
    for r in records:
        if r.trained:
            continue
        source = by_number[r.duplicate_of]
        assert source.trained and source.genotype == r.genotype and source.cache_key == r.cache_key
        assert source.fold_scores == r.fold_scores and r.value == source.value
        # the KB version its weights started from: the source's, not its own generation's
        mine, theirs = attrs[r.number], attrs[source.number]
        assert mine[keys.KB_VERSION] == theirs[keys.KB_VERSION] == source.generation
        if r.generation > source.generation:
            later.append(r)
    assert later  # repeats across generations happened, and none trained
    assert not any(keys.CONFIRMS in a for a in attrs.values())  # no time budget: no confirmation


def test_under_a_time_budget_a_warm_result_met_again_is_confirmed_from_scratch_once(tmp_path):
    trials = _trials(tmp_path, retrain=None, time_budget=600)
    records = {t.number: TrialRecord.of(t) for t in trials}
    confirms = {t.number: t.user_attrs[keys.CONFIRMS] for t in trials if keys.CONFIRMS in t.user_attrs}
    assert confirms  # generation 0 alone holds a repeat (four trials, three genotypes)
    confirmed_by: dict[str, int] = {}
    for number, source in confirms.items():
        mine, warm = records[number], records[source]
        assert mine.trained and mine.cache_key == mine.genotype == warm.genotype  # from scratch, trained
        assert warm.trained and warm.cache_key == f"{warm.genotype}@kb{warm.generation}" and source < number
        assert mine.genotype not in confirmed_by  # once per genotype
        confirmed_by[mine.genotype] = number
        assert keys.KB_VERSION not in trials[number].user_attrs  # no KB version: it started from scratch
    for r in records.values():  # a repeat after the confirmation reuses it, before it the warm result
        if not r.trained:
            confirmation = confirmed_by.get(r.genotype)
            expected = confirmation if confirmation is not None and confirmation < r.number else None
            if expected is not None:
                assert r.duplicate_of == expected and r.value == records[expected].value
            else:
                assert records[r.duplicate_of].cache_key.endswith(f"@kb{records[r.duplicate_of].generation}")
    # switched off, the same budget reuses warm results as without one
    off = _trials(tmp_path / "off", retrain=None, time_budget=600, confirm_repeats=False)
    assert not any(keys.CONFIRMS in t.user_attrs for t in off)
    trained = [r for r in map(TrialRecord.of, off) if r.trained]
    assert len({r.genotype for r in trained}) == len(trained)
    assert all(r.cache_key.endswith(f"@kb{r.generation}") for r in trained)


def test_with_retrain_repeats_a_genotype_met_again_trains_from_the_newer_kb(tmp_path):
    records = [TrialRecord.of(t) for t in _trials(tmp_path, retrain=True)]
    trained = [r for r in records if r.trained]
    assert len({r.genotype for r in trained}) < len(trained)
    for r in trained:
        assert r.cache_key.endswith(f"@kb{r.generation}")


def test_a_study_stored_before_the_rule_resumes_training_repeats_again():
    stored = {"knowledge": {k: v for k, v in KnowledgeSettings().to_dict().items() if k != "retrain_repeats"}}
    assert KSNASMethod.legacy_settings(stored, load_preset("toy"))["knowledge"]["retrain_repeats"] is True
    stored = {"knowledge": {k: v for k, v in KnowledgeSettings().to_dict().items() if k != "confirm_repeats"}}
    assert KSNASMethod.legacy_settings(stored, load_preset("toy"))["knowledge"]["confirm_repeats"] is False
    stored = {"knowledge": {k: v for k, v in KnowledgeSettings().to_dict().items() if k != "confirm_best"}}
    assert KSNASMethod.legacy_settings(stored, load_preset("toy"))["knowledge"]["confirm_best"] is False
    now = {"knowledge": KnowledgeSettings().to_dict()}
    assert "knowledge" not in KSNASMethod.legacy_settings(now, load_preset("toy"))  # nothing to make up


def _best_parent_study(tmp_path, time_budget: float | str, **knowledge) -> automm.Study:
    """Three views, up to three in a candidate: a space the schedule does not exhaust."""
    study = every_fold_study(tmp_path, **knowledge)
    study.optimize(time_budget=time_budget)
    return study


def _first_of_each_generation(study: automm.Study) -> dict[int, optuna.trial.FrozenTrial]:
    firsts: dict[int, optuna.trial.FrozenTrial] = {}
    for t in sorted(queries.completed(study.optuna_study), key=lambda t: t.number):
        firsts.setdefault(TrialRecord.of(t).generation, t)
    return firsts


def test_under_a_time_budget_each_generation_confirms_its_best_warm_parent_from_scratch(tmp_path):
    study = _best_parent_study(tmp_path, 600, confirm_best=True)
    optuna_study, sampler = study.optuna_study, study.optuna_study.sampler
    firsts = _first_of_each_generation(study)
    assert sorted(firsts) == [0, 1, 2]
    elites = 0
    for g in (1, 2):
        parents = sampler.get_parent_population(optuna_study, g)
        best = max(parents, key=lambda t: (t.values[0], -t.number))
        genotype = TrialRecord.of(best).genotype
        earlier = [TrialRecord.of(t) for t in queries.completed(optuna_study) if t.number < firsts[g].number]
        scratch_known = any(r.genotype == genotype and r.trained and r.cache_key == genotype for r in earlier)
        first = TrialRecord.of(firsts[g])
        if keys.KB_VERSION in best.user_attrs and not scratch_known:  # warm, unconfirmed: bred again, confirmed
            warm = first_trained(optuna_study, genotype=genotype)
            assert first.genotype == genotype and firsts[g].user_attrs[keys.CONFIRMS] == warm.number
            assert first.trained and first.cache_key == genotype and keys.KB_VERSION not in firsts[g].user_attrs
            elites += 1
        else:
            assert keys.CONFIRMS not in firsts[g].user_attrs or first.genotype != genotype
    assert elites >= 1  # generation 1's best parent is a warm start of generation 0: certain
    # switched off, the same budget breeds generation 1 without confirming its best parent
    off = _best_parent_study(tmp_path / "off", 600)
    best = max(off.optuna_study.sampler.get_parent_population(off.optuna_study, 1), key=lambda t: t.values[0])
    assert not any(
        keys.CONFIRMS in t.user_attrs and TrialRecord.of(t).genotype == TrialRecord.of(best).genotype
        for t in queries.completed(off.optuna_study)
        if TrialRecord.of(t).generation == 1
    )


def test_without_a_time_budget_the_best_parent_is_not_confirmed(tmp_path):
    study = _best_parent_study(tmp_path, "none", confirm_best=True)
    assert not any(keys.CONFIRMS in t.user_attrs for t in queries.completed(study.optuna_study))


def test_confirming_the_best_parent_needs_confirmed_repeats():
    with pytest.raises(AutommError, match="confirm_best needs confirm_repeats"):
        KnowledgeSettings(confirm_best=True, confirm_repeats=False)


def test_a_confirmation_that_would_end_past_the_deadline_is_not_started(tmp_path, monkeypatch):
    monkeypatch.setattr(KnowledgeHooks, "scratch_seconds", lambda self, study, earlier: 1e9)
    trials = _trials(tmp_path, retrain=None, time_budget=600)  # repeats certain, as in the test above
    assert not any(keys.CONFIRMS in t.user_attrs for t in trials)
    trained = [r for r in map(TrialRecord.of, trials) if r.trained]
    assert len({r.genotype for r in trained}) == len(trained)  # every repeat reused the warm result
    assert all(r.cache_key.endswith(f"@kb{r.generation}") for r in trained)


def test_a_confirmations_seconds_are_predicted_from_the_warm_start_and_the_studys_scratch_trainings():
    def trial(number: int, **attrs) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(value=0.9, user_attrs={"genotype": f"g{number}", **attrs})

    study = optuna.create_study(direction="maximize")
    warm = dict(seconds=10.0, epochs=20, folds=3, fold_best_epochs=[1, 2, 3], initial_score=0.5)
    study.add_trial(trial(0, **warm))  # 0.5 s an epoch
    hooks = KnowledgeHooks([SimpleNamespace(settings=KnowledgeSettings(kb_epochs=2))], patience=4)
    earlier = study.get_trials()[0]
    # no from-scratch training yet: 3 folds x (best epoch 2, at least the KB's 2, + patience 4) epochs
    assert hooks.scratch_seconds(study, earlier) == pytest.approx(3 * (2 + 4) * 0.5)
    hooks = KnowledgeHooks([SimpleNamespace(settings=KnowledgeSettings(kb_epochs=5))], patience=4)
    assert hooks.scratch_seconds(study, earlier) == pytest.approx(3 * (5 + 4) * 0.5)  # the KB's floor
    for number, epochs in ((1, 30), (2, 50), (3, 40)):  # from scratch, scored on every fold
        study.add_trial(trial(number, seconds=1.0, epochs=epochs, folds=3))
    study.add_trial(trial(4, seconds=1.0, epochs=500, folds=3, raced_out=True))  # raced out: not counted
    assert hooks.scratch_seconds(study, earlier) == pytest.approx(40 * 0.5)  # their median epochs
    hooks.time_left = lambda: 19.0
    assert not hooks._confirmation_fits(study, earlier)
    hooks.time_left = lambda: 21.0
    assert hooks._confirmation_fits(study, earlier)
