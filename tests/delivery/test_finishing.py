"""Finishing: the chosen warm-started members' kept fold networks train on, out of fold, before the choice is final."""

import numpy as np
import optuna
import pytest
import torch
from optuna.artifacts import FileSystemArtifactStore

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.core.metrics import primary_score, probabilities
from automm.data import MultimodalDataset, make_splits
from automm.delivery import finishing
from automm.engine.training import predict_logits
from automm.methods.ksnas.settings import KnowledgeSettings
from automm.store import fold_networks
from automm.store.artifacts import get_weights
from automm.store.trial_record import TrialRecord

PATIENCE = 3
FOLDS = 3


def _xor(n: int = 300, seed: int = 0) -> MultimodalDataset:
    """Two views, each one bit; the label is their XOR, which no linear model separates: the networks
    are chosen over the linear candidate."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    views = {
        "left/feat": np.c_[a + 0.2 * rng.standard_normal(n), rng.standard_normal((n, 2))],
        "right/feat": np.c_[b + 0.2 * rng.standard_normal(n), rng.standard_normal((n, 2))],
    }
    labels = a ^ b
    return MultimodalDataset(name="xor", views=views, labels=labels, task="multiclass", splits=make_splits(labels))


def _study(runs, **knowledge):
    config = automm.SearchConfig(
        folds=FOLDS, ensemble_size=3, fusion_dim=16, max_views=3, lr=5e-3, batch_size=64, max_epochs=15,
        patience=PATIENCE,
    )  # fmt: skip
    return automm.Study(
        _xor(), runs_dir=runs, config=config, seed=0, ksnas={"population_size": 4, "generations": 2},
        knowledge={"kb_epochs": 2, **knowledge},
    )  # fmt: skip


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory):
    """The whole schedule under a time budget that does not stop it: the chosen members are finished."""
    return _study(tmp_path_factory.mktemp("finish")).optimize(time_budget="10m")


def _predict(study, genotype, state, k):
    net = study.final._net(genotype)
    net.load_state_dict(state)
    val = study.fold_data.tensors(k)[1]
    return probabilities(predict_logits(net, val), study.dataset.task)


def test_a_budgeted_search_finishes_the_chosen_warm_started_members(budgeted):
    study = budgeted.optuna_study
    choice = budgeted.ensemble()
    finished = fold_networks.finished(study)
    assert finished, "no member was finished"
    assert choice.finished and set(choice.finished) <= set(finished)
    # every warm-started network member the choice delivers with kept networks was finished first
    assert finishing.to_finish(budgeted.final, choice.trials) == []
    for number, record in finished.items():
        trial = study.trials[number]
        assert budgeted.method.warm_folds(trial) >= FOLDS
        assert record["epochs"] >= FOLDS * (PATIENCE + 1)  # each fold trained at least patience + 1 epochs
        assert len(record["fold_scores"]) == FOLDS


def test_a_finished_fold_network_scores_no_lower_than_its_kept_start_and_is_what_is_read(budgeted):
    study, store = budgeted.optuna_study, budgeted.artifact_store
    labels, task = budgeted.dataset.labels, budgeted.dataset.task
    for number, record in fold_networks.finished(study).items():
        trial = study.trials[number]
        genotype = budgeted.space.parse(TrialRecord.of(trial).genotype)
        merged = get_weights(store, trial.system_attrs[keys.FOLD_NETWORKS], "the search's networks")
        now = fold_networks.kept(study, store, trial, FOLDS)
        oof = get_weights(store, record["predictions"], "finished predictions")
        rows, stored = oof["rows"].numpy(), oof["probabilities"].float().numpy()
        for k, fold in enumerate(budgeted.fold_data.folds):
            start = {n.partition(".")[2]: t.float() for n, t in merged.items() if n.startswith(f"fold{k}.")}
            before = primary_score(np.log(_predict(budgeted, genotype, start, k) + 1e-12), labels[fold.val], task)
            after = _predict(budgeted, genotype, now[k], k)  # what `kept` (and so delivery) reads now
            np.testing.assert_allclose(after, stored[np.searchsorted(rows, fold.val)], atol=2e-3)
            score = primary_score(np.log(after + 1e-12), labels[fold.val], task)
            assert score == pytest.approx(record["fold_scores"][k], abs=1e-6)
            assert score >= before - 1e-9  # its kept weights were scored first (epoch 0)


def test_the_finishing_is_paid_for_once(budgeted):
    study = budgeted.optuna_study
    paid = sum(r["epochs"] for r in fold_networks.finished(study).values())
    assert budgeted.training_cost()["finishing_epochs"] == paid > 0
    assert budgeted.training_cost()["epochs"] >= paid
    budgeted.ensemble()  # the stored choice: nothing trained again
    budgeted.final.ensemble(finish=True, store=False)
    assert budgeted.training_cost()["finishing_epochs"] == paid


def test_delivery_uses_the_finished_networks(budgeted, tmp_path):
    exported = budgeted.deliver(tmp_path / "model", onnx=False)
    choice = budgeted.ensemble()
    starts = exported.meta["started_from"]
    starts = starts if isinstance(starts, list) else [starts]
    for number, how in zip(choice.trials, starts, strict=True):
        if number in choice.finished:
            assert how == "search"  # its kept (finished) networks, not trained again
    assert exported.meta["test_metrics"]


def test_a_fixed_schedule_finishes_nothing_unless_asked(tmp_path):
    study = _study(tmp_path / "fixed").optimize(time_budget="none")  # data without a preset: 10 min by default
    assert fold_networks.finished(study.optuna_study) == {}
    assert study.ensemble().finished == [] and study.training_cost()["finishing_epochs"] == 0
    always = _study(tmp_path / "always", finish_members="always").optimize(time_budget="none")
    assert fold_networks.finished(always.optuna_study)


def test_finish_modes():
    assert KnowledgeSettings().finish_members == "budget"
    with pytest.raises(AutommError, match="finish_members must be one of budget, always, never"):
        KnowledgeSettings(finish_members="sometimes")


def _kept_study(tmp_path):
    store = FileSystemArtifactStore(str(tmp_path))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    state = {"w": torch.ones(2)}
    for value in (0.9, 0.5):
        trial = study.ask()
        assert fold_networks.keep(trial, store, [state], value, limit=2)
        study.tell(trial, value)
    return study, store, state


def _finish(study, store, number, value=2.0):
    predictions = [(np.array([1, 0]), np.full((2, 3), 1 / 3))]
    return fold_networks.keep_finished(
        study, store, number, [{"w": torch.full((2,), value)}], predictions, [0.7], 5, 1.0
    )


def _files(tmp_path):
    return {p.name for p in tmp_path.iterdir() if p.name.startswith("automm-")}


def test_a_finished_version_is_read_and_a_second_is_not_kept(tmp_path):
    study, store, _ = _kept_study(tmp_path)
    record = _finish(study, store, 1)
    assert fold_networks.finished(study) == {1: record}
    assert torch.equal(fold_networks.kept(study, store, study.trials[1], 1)[0]["w"], torch.full((2,), 2.0))
    oof = get_weights(store, record["predictions"], "oof")
    assert oof["rows"].tolist() == [0, 1] and oof["probabilities"].dtype == torch.float16
    files = _files(tmp_path)
    assert _finish(study, store, 1, value=3.0) == record  # another worker's later try: the first stays
    assert _files(tmp_path) == files  # and its files are removed
    assert fold_networks.finishing_cost(study) == (5, 1.0)


def test_a_finished_version_goes_with_its_pruned_networks(tmp_path):
    study, store, state = _kept_study(tmp_path)
    record = _finish(study, store, 1)
    trial = study.ask()
    assert fold_networks.keep(trial, store, [state], 0.7, limit=2)  # trial 1 (0.5) falls out
    study.tell(trial, 0.7)
    assert fold_networks.finished(study) == {}
    assert fold_networks.kept(study, store, study.trials[1], 1) is None
    for pointer in (record["networks"], record["predictions"]):
        assert not (tmp_path / pointer["artifact_id"]).exists()
    assert _finish(study, store, 1) is None  # pruned: nothing is kept
    assert fold_networks.finishing_cost(study) == (5, 1.0)  # what was paid stays counted
