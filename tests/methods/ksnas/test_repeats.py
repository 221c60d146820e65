"""A genotype met again in a later generation: its earlier result reused, as the evolution from scratch
reuses it (the default), or trained again from the newer KB (``retrain_repeats``, studies stored before).

One view per candidate over three views leaves three genotypes for twelve trials, so repeats across
generations are certain (generation 2 holds four trials, at most one of a genotype new to it).
"""

from __future__ import annotations

from dataclasses import replace

import automm
from automm.core import keys
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.ksnas.settings import KnowledgeSettings
from automm.search import queries
from automm.settings import load_preset
from automm.store.trial_record import TrialRecord
from tests.conftest import make_toy
from tests.methods.ksnas.test_every_fold import CONFIG


def _trials(tmp_path, retrain: bool | None) -> list:
    study = automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=replace(CONFIG, max_views=1),
        ensemble_size=1,
        ksnas={"population_size": 4, "generations": 3},
        knowledge={"kb_epochs": 2, **({} if retrain is None else {"retrain_repeats": retrain})},
    )
    study.optimize()
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


def test_with_retrain_repeats_a_genotype_met_again_trains_from_the_newer_kb(tmp_path):
    records = [TrialRecord.of(t) for t in _trials(tmp_path, retrain=True)]
    trained = [r for r in records if r.trained]
    assert len({r.genotype for r in trained}) < len(trained)
    for r in trained:
        assert r.cache_key.endswith(f"@kb{r.generation}")


def test_a_study_stored_before_the_rule_resumes_training_repeats_again():
    stored = {"knowledge": {k: v for k, v in KnowledgeSettings().to_dict().items() if k != "retrain_repeats"}}
    assert KSNASMethod.legacy_settings(stored, load_preset("toy"))["knowledge"]["retrain_repeats"] is True
    now = {"knowledge": KnowledgeSettings().to_dict()}
    assert "knowledge" not in KSNASMethod.legacy_settings(now, load_preset("toy"))  # nothing to make up
