"""One knowledge base per fold: every fold of an individual starts from its own fold's KB, which never
saw that fold's scoring rows; a study stored before per-fold KBs resumes with one."""

from __future__ import annotations

import automm
from automm.core import keys
from automm.methods.ksnas import method as ksnas_method
from automm.methods.ksnas.knowledge import kb_versions, weights_key
from automm.methods.ksnas.knowledge_hooks import KnowledgeHooks
from automm.search import queries
from automm.settings import load_preset
from tests.conftest import make_toy

CONFIG = automm.SearchConfig(
    folds=3, fusion_dim=8, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=20, patience=4
)


def _study(tmp_path, config=CONFIG, **knowledge):
    return automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=config,
        ensemble_size=1,
        ksnas={"population_size": 4, "generations": 3},
        knowledge={"kb_epochs": 2, **knowledge},
    )


def test_every_fold_starts_from_its_own_kb_pretrained_on_its_training_rows(tmp_path, monkeypatch):
    pretrained, warmed = [], []
    real_pretrain = ksnas_method.pretrain_supernet
    real_before = KnowledgeHooks.before_fit

    def pretrain(net, space, train, *args, **kwargs):
        pretrained.append(train)
        return real_pretrain(net, space, train, *args, **kwargs)

    def before(self, trial, net, fold=0):
        warmed.append((trial.number, fold))
        return real_before(self, trial, net, fold)

    monkeypatch.setattr(ksnas_method, "pretrain_supernet", pretrain)
    monkeypatch.setattr(KnowledgeHooks, "before_fit", before)
    study = _study(tmp_path)
    study.optimize()
    folds = study.fold_data
    # each KB version 0 was pretrained on exactly its fold's training tensors (never its validation rows)
    assert [id(t) for t in pretrained] == [id(folds.tensors(k)[0]) for k in range(3)]
    for fold in folds.folds:
        assert not set(fold.train) & set(fold.val)
    trained = [t for t in queries.completed(study.optuna_study) if keys.DUPLICATE_OF not in t.user_attrs]
    for t in trained:  # every fold it trained on was warm-started
        scored = len(t.user_attrs[keys.FOLD_SCORES])
        assert sorted(f for n, f in warmed if n == t.number) == list(range(scored))
        assert t.user_attrs[keys.KB_FOLDS] == 3
    for k in range(3):  # one KB per fold, a version per generation, each merged from that fold's weights
        versions = kb_versions(study.optuna_study, k)
        assert [p["version"] for p in versions] == [0, 1, 2]
        assert versions[1]["contributors"] == kb_versions(study.optuna_study, 0)[1]["contributors"]
    assert study.training_cost()["pretrain_epochs"] == 3 * 2
    assert study.method.warm_folds(trained[0]) == 3


def test_a_kb_of_one_fold_is_merged_from_that_folds_weights_only(tmp_path, monkeypatch):
    merged = []
    real = ksnas_method.KnowledgeBase._build

    def build(self, version):
        if version > 0:
            merged.append(
                (self.fold, [weights_key(self.fold) in t.system_attrs for t in self.contributors(version - 1)])
            )
        return real(self, version)

    monkeypatch.setattr(ksnas_method.KnowledgeBase, "_build", build)
    study = _study(tmp_path)
    study.optimize()
    assert {f for f, _ in merged} == {0, 1, 2} and all(all(has) for _, has in merged)
    pointers = {k: [p["artifact_id"] for p in kb_versions(study.optuna_study, k)] for k in range(3)}
    assert len({a for ids in pointers.values() for a in ids}) == 9  # nine distinct files: no fold shares one


def test_one_kb_when_asked_and_for_studies_stored_before(tmp_path):
    study = _study(tmp_path, every_fold=False)
    study.optimize()
    assert kb_versions(study.optuna_study, 1) == [] and kb_versions(study.optuna_study, 0)
    # a study stored without the setting (an older automm) resumes with one KB
    meta = dict(study.optuna_study.user_attrs[keys.META])
    meta["knowledge"] = {k: v for k, v in meta["knowledge"].items() if k != "every_fold"}
    assert ksnas_method.KSNASMethod.legacy_settings(meta, load_preset("toy"))["knowledge"]["every_fold"] is False


def test_a_delivered_fold_bag_starts_each_network_from_its_folds_kb(tmp_path, monkeypatch):
    study = _study(tmp_path)
    study.optimize()
    asked = []
    real = ksnas_method.KSNASMethod.final_start

    def final_start(self, context, trial, fold=0):
        asked.append(fold)
        return real(self, context, trial, fold)

    monkeypatch.setattr(ksnas_method.KSNASMethod, "final_start", final_start)
    exported = study.deliver(tmp_path / "model", ensemble_size=1, start="bag")  # trained again, not the kept bag
    assert exported.meta["started_from"] == "bag-kb" and sorted(asked) == [0, 1, 2]
    assert exported.meta["epochs"] < 3 * CONFIG.max_epochs


def test_each_fold_keeps_at_most_two_kb_versions_in_memory(tmp_path):
    study = _study(tmp_path)
    study.optimize()
    kb = ksnas_method.KSNASMethod._knowledge_base(study.method, study.context, fold=2)
    for version in range(3):
        kb.load(version)
    assert sorted(kb._cache) == [1, 2]


def test_warm_starts_race_inside_fold_0_at_epoch_rungs_and_are_never_delivered(tmp_path, monkeypatch):
    from automm.search import objective

    asked = []

    def losing_after_3(study, number, best, epoch, peers=None):  # the rule itself: tests/search/test_folds.py
        asked.append((number, epoch))
        return not (number % 2 and epoch == 3)

    monkeypatch.setattr(objective, "goes_on_at_epoch", losing_after_3)
    study = _study(tmp_path)
    study.optimize()
    assert {e for _, e in asked} <= {1, 3, 7, 15}
    trials = [t for t in queries.completed(study.optuna_study) if keys.DUPLICATE_OF not in t.user_attrs]
    stopped = [t for t in trials if keys.RACED_AT_EPOCH in t.user_attrs]
    assert {t.number for t in stopped} == {
        t.number for t in trials if t.number % 2 and len(t.user_attrs[keys.VAL_CURVE]) >= 3
    }
    for t in stopped:  # stopped at an epoch rung of fold 0, after exactly that many epochs, then no other fold
        epoch = t.user_attrs[keys.RACED_AT_EPOCH]
        assert epoch in (1, 3, 7, 15) and t.user_attrs[keys.RACED_OUT] is True
        assert t.user_attrs[keys.EPOCHS] == epoch and len(t.user_attrs[keys.FOLD_SCORES]) == 1
    chosen = {n for n in study.ensemble(3).trials if n is not None}
    assert not chosen & {t.number for t in stopped}
    # off when asked, and for studies stored before the rule
    off = _study(tmp_path / "off", race_epochs=False)
    off.optimize()
    assert not any(keys.RACED_AT_EPOCH in t.user_attrs for t in off.optuna_study.trials)
    meta = dict(study.optuna_study.user_attrs[keys.META])
    meta["knowledge"] = {k: v for k, v in meta["knowledge"].items() if k != "race_epochs"}
    assert ksnas_method.KSNASMethod.legacy_settings(meta, load_preset("toy"))["knowledge"]["race_epochs"] is False


def test_warm_starts_race_on_one_split_too(tmp_path, monkeypatch):
    from dataclasses import replace

    from automm.search import objective

    def losing_after_3(study, number, best, epoch, peers=None):
        return not (number % 2 and epoch == 3)

    monkeypatch.setattr(objective, "goes_on_at_epoch", losing_after_3)
    one_split = replace(CONFIG, folds=1)
    raced = _study(tmp_path / "raced", one_split)  # the default
    raced.optimize()
    assert len(raced.fold_data) == 1
    trials = [t for t in queries.completed(raced.optuna_study) if keys.DUPLICATE_OF not in t.user_attrs]
    stopped = [t for t in trials if keys.RACED_AT_EPOCH in t.user_attrs]
    assert stopped and {t.number for t in stopped} == {
        t.number for t in trials if t.number % 2 and len(t.user_attrs[keys.VAL_CURVE]) >= 3
    }
    for t in stopped:
        assert t.user_attrs[keys.RACED_AT_EPOCH] == 3 and t.user_attrs[keys.EPOCHS] == 3
    assert raced.best_trial.number not in {t.number for t in stopped}
    # off when asked (either setting), and for studies stored before the one-split rule
    for path, knowledge in (("off", {"race_one_split": False}), ("no race", {"race_epochs": False})):
        plain = _study(tmp_path / path, one_split, **knowledge)
        plain.optimize()
        assert not any(keys.RACED_AT_EPOCH in t.user_attrs for t in plain.optuna_study.trials)
    meta = dict(raced.optuna_study.user_attrs[keys.META])
    meta["knowledge"] = {k: v for k, v in meta["knowledge"].items() if k != "race_one_split"}
    assert ksnas_method.KSNASMethod.legacy_settings(meta, load_preset("toy"))["knowledge"]["race_one_split"] is False
