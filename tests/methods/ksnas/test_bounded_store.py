"""The knowledge bases' share of the artifact store stays bounded: KB versions and waiting weights at rest
in float16, and versions no trial of the delivery pool started from are deleted."""

from __future__ import annotations

import pytest
from safetensors.torch import load as load_safetensors

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.ksnas import knowledge as ksnas_knowledge
from automm.methods.ksnas import method as ksnas_method
from automm.methods.ksnas.knowledge import kb_versions
from automm.settings import load_preset
from automm.store.artifacts import read_artifact
from automm.store.trial_record import delivery_pool
from tests.conftest import make_toy

CONFIG = automm.SearchConfig(
    folds=3, fusion_dim=8, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=12, patience=3
)


def _study(tmp_path, population=4, generations=3, **knowledge):
    return automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=CONFIG,
        ensemble_size=1,
        ksnas={"population_size": population, "generations": generations},
        knowledge={"kb_epochs": 2, **knowledge},
    )


def _dtypes(study, pointer):
    state = load_safetensors(read_artifact(study.artifact_store, pointer["artifact_id"]))
    return {str(v.dtype) for v in state.values() if v.is_floating_point()}


def test_kb_versions_and_waiting_weights_rest_in_float16_and_load_as_float32(tmp_path):
    half = _study(tmp_path / "half")
    half.optimize()
    exact = _study(tmp_path / "exact", stored_dtype="float32")
    exact.optimize()
    for fold in range(3):
        for small, big in zip(kb_versions(half.optuna_study, fold), kb_versions(exact.optuna_study, fold), strict=True):
            assert small["dtype"] == "float16" and _dtypes(half, small) == {"torch.float16"}
            assert big["dtype"] == "float32" and _dtypes(exact, big) == {"torch.float32"}
            assert small["bytes"] < 0.7 * big["bytes"]  # half the tensor bytes; the header stays
    kb = ksnas_method.KSNASMethod._knowledge_base(half.method, half.context, fold=1)
    state, _ = kb.load(1)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {ksnas_knowledge.torch.float32}
    waiting = _live(half)  # the newest generations' weights, not yet merged or deleted
    assert waiting and all(_dtypes(half, p) == {"torch.float16"} for p in waiting)
    with pytest.raises(AutommError, match="stored_dtype must be one of"):
        ksnas_knowledge.KnowledgeSettings(stored_dtype="int8")


def _live(study):
    """Pointers of trials' waiting weights still in the study's artifact store."""
    out = []
    for t in study.optuna_study.get_trials(deepcopy=False):
        for key, pointer in t.system_attrs.items():
            if key.startswith(keys.TRIAL_WEIGHTS):
                try:
                    read_artifact(study.artifact_store, pointer["artifact_id"])
                    out.append(pointer)
                except AutommError:
                    pass
    return out


def test_versions_no_pool_trial_started_from_are_deleted_and_never_needed_again(tmp_path, monkeypatch):
    # a pool of 2 stands in for the default 20, so that a short search outgrows it
    real_pool = ksnas_knowledge.delivery_pool
    monkeypatch.setattr(ksnas_knowledge, "delivery_pool", lambda trials: real_pool(trials, 2))
    study = _study(tmp_path, population=3, generations=5)
    study.optimize()
    optuna_study = study.optuna_study
    pool = real_pool(optuna_study.get_trials(deepcopy=False), 2)
    needed = {int(t.user_attrs[keys.KB_VERSION]) for t in pool}
    newest = max(p["version"] for p in kb_versions(optuna_study, 0))
    pruned_any = False
    for fold in range(3):
        kb = ksnas_method.KSNASMethod._knowledge_base(study.method, study.context, fold=fold)
        for pointer in kb_versions(optuna_study, fold):
            version = pointer["version"]
            if version in needed or version >= newest - 1:  # never deleted while the pool may draw on it
                assert not pointer.get("pruned"), (fold, version, needed, newest)
                kb.load(version)
                continue
            if not pointer.get("pruned"):  # the pool left it after the last version was built: kept until the next
                continue
            pruned_any = True
            with pytest.raises(AutommError, match="is missing from the artifact store"):
                read_artifact(study.artifact_store, pointer["artifact_id"])
            with pytest.raises(AutommError, match="was pruned"):
                kb.load(version)
    assert pruned_any, "the schedule must outgrow the pool for this test to check anything"
    # a trial whose version was pruned is delivered from scratch; the pool's trials from their fold KBs
    cut = next(
        t
        for t in optuna_study.trials
        if keys.KB_VERSION in t.user_attrs and int(t.user_attrs[keys.KB_VERSION]) not in needed | {newest, newest - 1}
    )
    assert study.method.final_start(study.context, cut, fold=0) is None
    assert study.method.final_start(study.context, pool[0], fold=2) is not None
    exported = study.deliver(tmp_path / "model", ensemble_size=1, start="bag")  # trained again, not the kept bag
    assert exported.meta["started_from"] == "bag-kb"


def test_the_pool_only_loses_trials_as_trials_are_added(tmp_path):
    study = _study(tmp_path, population=3, generations=4)
    study.optimize()
    trials = study.optuna_study.get_trials(deepcopy=False)
    left: set[int] = set()
    previous: set[int] = set()
    for n in range(1, len(trials) + 1):
        now = {t.number for t in delivery_pool(trials[:n], 3)}
        assert not now & left
        left |= previous - now
        previous = now
    assert left, "12 trials must push some out of a pool of 3"


def test_studies_stored_before_keep_every_version_in_float32():
    meta = {"knowledge": {"kb_epochs": 2, "every_fold": True, "race_epochs": True}}
    knowledge = ksnas_method.KSNASMethod.legacy_settings(meta, load_preset("toy"))["knowledge"]
    assert knowledge["stored_dtype"] == "float32" and knowledge["prune_versions"] is False
