"""`KSNASMethod`'s settings as a study uses them: the warm patience a study keeps, the from-scratch floor."""

from __future__ import annotations

import automm
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.ksnas.settings import KnowledgeSettings
from automm.settings import load_preset
from tests.conftest import make_toy
from tests.methods.ksnas.test_every_fold import CONFIG


def test_warm_starts_stop_after_two_epochs_without_improvement_by_default():
    assert KnowledgeSettings().warm_patience == 2
    assert KnowledgeSettings().warm_config(CONFIG.train_config()).patience == 2
    assert KnowledgeSettings(warm_patience=None).warm_config(CONFIG.train_config()).patience == CONFIG.patience


def test_a_study_stored_with_another_warm_patience_resumes_with_it(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    toy = make_toy(n=120)
    study = automm.Study(
        toy, config=CONFIG, storage=storage, study_name="s", runs_dir=tmp_path, knowledge={"warm_patience": 3}
    )
    assert study.method.knowledge.warm_patience == 3
    resumed = automm.Study(toy, storage=storage, study_name="s", runs_dir=tmp_path)  # settings from the storage
    assert resumed.method.knowledge.warm_patience == 3


def test_a_from_scratch_network_is_assumed_to_train_at_least_as_long_as_the_kb_pretrained():
    """What a time budget holds back for a one-split delivery from scratch (`DeliveryReserve.scratch_floor`)."""
    settings = KSNASMethod.default_settings(load_preset("toy"))
    assert KSNASMethod({**settings, "knowledge": {**settings["knowledge"], "kb_epochs": 7}}).scratch_epochs_floor() == 7
    assert KSNASMethod({**settings, "knowledge_sharing": False}).scratch_epochs_floor() == 0
