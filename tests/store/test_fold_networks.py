"""Kept fold networks: the best candidates' networks are kept, the rest pruned; delivery reuses them exactly."""

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.core.metrics import probabilities
from automm.data.preprocess import Standardizer
from automm.engine.training import TensorData, predict_logits
from automm.methods.ksnas.method import FusionTreeMethod
from automm.methods.ksnas.model import build_fusion_net
from automm.methods.ksnas.space import FusionNode, Genotype
from automm.search import queries
from automm.store import fold_networks
from automm.store.artifacts import get_weights
from automm.store.trial_record import TrialRecord
from tests.conftest import make_toy

KEEP = 3


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    config = automm.SearchConfig(
        folds=3, ensemble_size=KEEP, fusion_dim=16, max_views=3, lr=5e-3, batch_size=64, max_epochs=15, patience=3
    )
    study = automm.Study(
        make_toy(n=300), runs_dir=tmp_path_factory.mktemp("kept"), config=config, seed=0,
        ksnas={"population_size": 4, "generations": 3}, knowledge={"kb_epochs": 2},
    )  # fmt: skip
    return study.optimize(time_budget="none")  # the search's own networks: none finished (`test_finishing`)


def _full(study):
    """Completed trials that trained their candidate on every fold."""
    records = [(t, TrialRecord.of(t)) for t in queries.completed(study.optuna_study)]
    return [t for t, r in records if r.fully_scored and r.trained]


def test_the_best_candidates_keep_their_fold_networks_and_no_other(searched):
    full = _full(searched)
    assert len(full) > KEEP  # otherwise nothing would have been pruned
    best = sorted(full, key=lambda t: (-t.values[0], t.number))[:KEEP]
    kept = fold_networks.kept_trials(searched.optuna_study)
    assert {t.number for t in kept} == {t.number for t in best}
    pruned = [t for t in full if keys.FOLD_NETWORKS in t.system_attrs and t not in best]
    assert pruned, "some candidate kept its networks and was pushed out later"
    files = {p.name for p in Path(searched.artifact_dir).rglob("automm-folds-*")}
    finished = {r["networks"]["artifact_id"] for r in fold_networks.finished(searched.optuna_study).values()}
    assert files == {t.system_attrs[keys.FOLD_NETWORKS]["artifact_id"] for t in kept} | finished  # pruned: gone
    for t in pruned:
        assert fold_networks.kept(searched.optuna_study, searched.artifact_store, t, 3) is None


def test_delivery_reuses_the_searched_networks_exactly(searched, tmp_path):
    best = queries.best_trial(searched.optuna_study)
    exported = searched.deliver(tmp_path / "model", genotype=TrialRecord.of(best).genotype, onnx=False)
    assert exported.meta["started_from"] == "search" and exported.meta["epochs"] == 0
    final = searched.final
    standardizer, _, _ = final.final_data()
    bag = final._kept_bag(searched.best_genotype, best, standardizer)
    oof = get_weights(searched.artifact_store, best.system_attrs[keys.PREDICTIONS], "oof")
    rows, expected = oof["rows"].numpy(), oof["probabilities"].float().numpy()
    dataset = searched.dataset
    for net, fold in zip(bag.nets, searched.fold_data.folds, strict=True):
        val = TensorData.from_dataset(dataset, fold.val, standardizer, torch.device("cpu"))
        got = probabilities(predict_logits(net, val), dataset.task)
        # the stored out-of-fold probabilities (float16) of the network the search scored on this fold
        np.testing.assert_allclose(got, expected[np.searchsorted(rows, fold.val)], atol=2e-3)


def test_a_member_without_kept_networks_is_trained_again(searched, tmp_path):
    full = _full(searched)
    kept = {t.number for t in fold_networks.kept_trials(searched.optuna_study)}
    other = next(t for t in full if t.number not in kept)
    exported = searched.deliver(tmp_path / "model", genotype=TrialRecord.of(other).genotype, onnx=False)
    assert exported.meta["started_from"] in ("bag", "bag-kb") and exported.meta["epochs"] > 0


def test_other_seeds_retrain(searched):
    evaluation = searched.evaluate(seeds=1)  # a retraining seed (study seed + 1000): not the search's bag
    assert evaluation.epochs > 0


def test_modified_kept_networks_are_refused(searched, tmp_path):
    trial = fold_networks.kept_trials(searched.optuna_study)[0]
    path = next(Path(searched.artifact_dir).rglob(trial.system_attrs[keys.FOLD_NETWORKS]["artifact_id"]))
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-4] + b"\x00\x00\x00\x00")
        with pytest.raises(AutommError, match="corrupted or was modified"):
            fold_networks.kept(searched.optuna_study, searched.artifact_store, trial, 3)
    finally:
        path.write_bytes(original)


def test_adopt_inputs_makes_a_network_take_other_standardised_views():
    rng = np.random.default_rng(0)
    views = {"a/x": rng.normal(3.0, 2.0, (50, 4)), "b/y": rng.normal(-1.0, 0.5, (50, 3))}
    views["a/x"][:25, 2] = 7.0  # constant in the first half: its scale there is 1
    genotype = Genotype(("a/x", "b/y"), (FusionNode(0, 1, "concat"),))
    torch.manual_seed(0)
    net = build_fusion_net(genotype, {"a/x": 4, "b/y": 3}, 3, 8, 0.0).eval()
    own = Standardizer.fit(views, np.arange(25))
    other = Standardizer.fit(views, np.arange(50))
    before = net({k: torch.from_numpy(v).float() for k, v in own.transform(views).items()})
    maps = {
        v: (
            torch.from_numpy((other.scale[v] / own.scale[v]).astype(np.float32)),
            torch.from_numpy(((other.mean[v] - own.mean[v]) / own.scale[v]).astype(np.float32)),
        )
        for v in views
    }
    assert FusionTreeMethod({}).adopt_inputs(net, maps)
    after = net({k: torch.from_numpy(v).float() for k, v in other.transform(views).items()})
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_networks_that_fall_out_are_marked_before_their_file_is_deleted(tmp_path, monkeypatch):
    from optuna.artifacts import FileSystemArtifactStore

    store = FileSystemArtifactStore(str(tmp_path))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    state = {"w": torch.ones(2)}
    for value in (0.9, 0.5):  # two kept candidates, the second the worst
        trial = study.ask()
        assert fold_networks.keep(trial, store, [state], value, limit=2)
        study.tell(trial, value)
    worst = study.trials[1]

    def crash(*args):  # the process dies as it deletes the file of the networks that fell out
        raise KeyboardInterrupt

    monkeypatch.setattr(fold_networks, "remove_artifact", crash)
    trial = study.ask()
    with pytest.raises(KeyboardInterrupt):
        fold_networks.keep(trial, store, [state], 0.7, limit=2)
    assert (tmp_path / worst.system_attrs[keys.FOLD_NETWORKS]["artifact_id"]).exists()  # an unused file is left
    assert fold_networks.kept(study, store, worst, 1) is None  # but no pointer to it is read
    assert worst.number not in {t.number for t in fold_networks.kept_trials(study)}
