"""Cross-validated, raced selection: folds, racing, no test rows, KB on the first fold only, resume."""

import numpy as np
import optuna
import pytest

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.engine.fold_data import AUTO_FOLDS, AUTO_MAX_ROWS, make_folds, resolve_folds, search_rows
from automm.engine.training import TensorData
from automm.search import queries
from automm.search.folds import estimate, goes_on, goes_on_at_epoch, rungs, warm_peers
from tests.conftest import make_toy

FOLDS_CONFIG = automm.SearchConfig(
    folds=3, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=20, patience=3
)


def test_folds_partition_the_search_rows_and_never_hold_test_rows():
    ds = make_toy(n=300)
    folds = make_folds(ds, 5, seed=3)
    rows = search_rows(ds)
    assert len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate([f.val for f in folds])), rows)  # every row scored once
    test = set(ds.splits.test)
    for f in folds:
        assert not set(f.train) & set(f.val)
        assert np.array_equal(np.sort(np.concatenate([f.train, f.val])), rows)
        assert not (set(f.train) | set(f.val)) & test
        counts = np.bincount(ds.labels[f.val], minlength=4)  # stratified: each class's share in every fold
        assert np.all(np.abs(counts - np.bincount(ds.labels[rows], minlength=4) / 5) <= 1)
    one = make_folds(ds, 1, seed=3)
    assert np.array_equal(one[0].train, ds.splits.train) and np.array_equal(one[0].val, ds.splits.val)
    assert np.array_equal(make_folds(ds, 5, seed=3)[2].val, folds[2].val)  # seeded


def test_automatic_fold_count_and_rungs():
    assert resolve_folds(0, 500) == AUTO_FOLDS
    assert resolve_folds(0, AUTO_MAX_ROWS + 1) == 1
    assert resolve_folds(3, 10**6) == 3
    assert resolve_folds(0, 500, fixed_validation=True) == 1  # given validation rows are kept
    assert rungs(1) == [] and rungs(2) == [1] and rungs(5) == [1, 3] and rungs(10) == [1, 3, 7]
    with pytest.raises(AutommError, match="folds"):
        automm.SearchConfig(folds=-1)


def _trial(study, scores):
    trial = study.ask()
    trial.set_user_attr(keys.FOLD_SCORES, scores)
    study.tell(trial, float(np.mean(scores)))


def test_racing_keeps_the_top_half_at_a_rung():
    study = optuna.create_study(direction="maximize")
    assert goes_on(study, 99, [0.1])  # too few peers: everyone goes on
    for score in (0.5, 0.6, 0.7, 0.8, 0.9):
        _trial(study, [score, score, score])
    assert goes_on(study, 99, [0.85])  # 1 of 5 peers above: inside the top ceil(6/2) = 3
    assert goes_on(study, 99, [0.75])  # 2 above
    assert not goes_on(study, 99, [0.65])  # 3 above: outside
    # a later rung compares running means over the same number of folds
    assert goes_on(study, 99, [0.95, 0.95, 0.7]) and not goes_on(study, 99, [0.6, 0.6, 0.6])


def _warm_trial(study, initial, curve, raced_at=None, scores=None):
    trial = study.ask()
    trial.set_user_attr(keys.INITIAL_SCORE, initial)
    trial.set_user_attr(keys.VAL_CURVE, curve)
    trial.set_user_attr(keys.FOLD_SCORES, scores or [max([initial, *curve])])
    if raced_at is not None:
        trial.set_user_attr(keys.RACED_OUT, True)
        trial.set_user_attr(keys.RACED_AT_EPOCH, raced_at)
    study.tell(trial, max([initial, *curve]))


def test_epoch_racing_compares_best_so_far_with_earlier_warm_starts_after_as_many_epochs():
    study = optuna.create_study(direction="maximize")
    for base in (0.5, 0.6, 0.7):
        _warm_trial(study, base, [base + 0.01, base + 0.02, base + 0.03, base + 0.3])
    assert goes_on_at_epoch(study, 99, 0.0, 1)  # 3 peers: too few, everyone goes on
    _warm_trial(study, 0.8, [0.81, 0.82, 0.83, 1.0])
    _warm_trial(study, 0.9, [0.91, 0.92, 0.93, 0.94])
    # after 1 epoch the peers stand at 0.51 .. 0.91: top ceil(6/2) = 3 needs fewer than 3 above
    assert goes_on_at_epoch(study, 99, 0.72, 1) and not goes_on_at_epoch(study, 99, 0.70, 1)
    # after 3 epochs they stand at 0.53 .. 0.93; a later epoch of a peer never counts early
    assert goes_on_at_epoch(study, 99, 0.74, 3) and not goes_on_at_epoch(study, 99, 0.72, 3)
    # peers read once for every rung of one training decide as the study read at each rung does
    peers = warm_peers(study, 99)
    assert [r.number for r in peers] == [0, 1, 2, 3, 4]
    assert goes_on_at_epoch(study, 99, 0.72, 1, peers) and not goes_on_at_epoch(study, 99, 0.72, 3, peers)
    assert [r.number for r in warm_peers(study, 3)] == [0, 1, 2, 4]  # never the trial itself
    # a cold start (no initial score) is no peer; one raced out before the epoch is none either
    cold = study.ask()
    cold.set_user_attr(keys.VAL_CURVE, [0.99] * 4)
    study.tell(cold, 0.99)
    _warm_trial(study, 0.95, [0.96], raced_at=1)
    _warm_trial(study, 0.96, [0.97], raced_at=1)
    assert not goes_on_at_epoch(study, 99, 0.72, 3)  # unchanged at epoch 3
    assert not goes_on_at_epoch(study, 99, 0.72, 1)  # at epoch 1 the two count: 4 of 7 above
    # a trial raced out inside fold 0 has a truncated fold score: no peer at a fold rung
    # fold-0 peers: 0.8, 0.9, 1.0, 1.0, 0.94 and the cold 0.99: 0.95 has 3 of 6 above, inside the top 4;
    # a seventh peer above would put it out
    assert goes_on(study, 98, [0.95])
    _warm_trial(study, 0.99, [0.99], raced_at=1, scores=[0.99])
    assert goes_on(study, 98, [0.95])


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    """A random search with 3 folds; the test rows a search makes tensors of are recorded."""
    seen: list[np.ndarray] = []
    original = TensorData.from_dataset.__func__

    def spy(cls, dataset, rows, standardizer, device):
        seen.append(np.asarray(rows))
        return original(cls, dataset, rows, standardizer, device)

    mp = pytest.MonkeyPatch()
    mp.setattr(TensorData, "from_dataset", classmethod(spy))
    study = automm.Study(
        make_toy(n=240), method="random", runs_dir=tmp_path_factory.mktemp("runs"), config=FOLDS_CONFIG
    )
    study.optimize(14)
    choice = study.ensemble(4)
    mp.undo()
    return study, seen, choice


def test_no_test_row_reaches_search_or_ensemble_selection(raced):
    study, seen, _ = raced
    test = set(study.dataset.splits.test)
    assert seen and all(not set(rows) & test for rows in seen)


def test_trials_record_fold_scores_and_race(raced):
    study, _, _ = raced
    trials = queries.completed(study.optuna_study)
    full = [t for t in trials if not t.user_attrs.get(keys.RACED_OUT)]
    out = [t for t in trials if t.user_attrs.get(keys.RACED_OUT)]
    assert full and out  # racing stopped some candidates after the first fold
    for t in full:
        scores = t.user_attrs[keys.FOLD_SCORES]
        assert len(scores) == 3 and t.values[0] == pytest.approx(np.mean(scores))
        assert keys.PREDICTIONS in t.system_attrs
    for t in out:
        assert len(t.user_attrs[keys.FOLD_SCORES]) < 3 and keys.PREDICTIONS not in t.system_attrs
    best = study.best_trial
    assert not best.user_attrs.get(keys.RACED_OUT)  # a raced-out trial is never delivered
    mean, std, n = estimate(best)
    assert n == 3 and std >= 0 and mean == pytest.approx(best.values[0])
    assert next(r["folds"] for r in study.trials_table() if not r["raced_out"]) == 3


def test_baselines_are_the_first_trials(raced):
    study, _, _ = raced
    first = sorted(queries.completed(study.optuna_study), key=lambda t: t.number)[:3]
    assert [t.user_attrs.get(keys.BASELINE) for t in first] == ["best view", "concatenation", "late fusion"]
    concat = first[1].user_attrs[keys.GENOTYPE]
    assert concat.count("concat(") == 2 and "noise/feat" in concat  # all three views (max_views 3)
    assert first[0].user_attrs[keys.GENOTYPE] in ("left/feat", "right/feat")  # an informative view, not noise


def test_with_one_kb_the_first_fold_only_feeds_and_uses_it(tmp_path, monkeypatch):
    from automm.methods.ksnas.knowledge_hooks import KnowledgeHooks

    calls = []
    original = KnowledgeHooks.before_fit

    def counting(self, trial, net, fold=0):
        calls.append(trial.number)
        return original(self, trial, net, fold)

    monkeypatch.setattr(KnowledgeHooks, "before_fit", counting)
    study = automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=FOLDS_CONFIG,
        ksnas={"population_size": 4, "generations": 2},
        knowledge={"kb_epochs": 2, "every_fold": False},
    )
    study.optimize()
    objective = study.objective
    assert np.array_equal(objective.folds[0].train, make_folds(study.dataset, 3, study.seed)[0].train)
    # the KB was pretrained on the first fold's training rows: the data the hooks were given
    assert len(objective.train_data) == len(objective.folds[0].train)
    trained = [t for t in queries.completed(study.optuna_study) if keys.DUPLICATE_OF not in t.user_attrs]
    assert sorted(calls) == sorted(t.number for t in trained)  # once per trial: fold 0 only
    assert any(keys.KB_VERSION in t.user_attrs for t in trained)


def test_folds_are_stored_and_resume_refuses_others(tmp_path):
    toy = make_toy(n=240)
    study = automm.Study(toy, method="random", runs_dir=tmp_path, config=FOLDS_CONFIG)
    study.optimize(4)
    again = automm.Study(toy, runs_dir=tmp_path)
    assert again.config.folds == 3 and again.method.name == "random"
    again.optimize(6)
    assert again.n_finished() == 6
    with pytest.raises(AutommError, match="folds=3"):
        automm.Study(toy, runs_dir=tmp_path, folds=5)
    fresh = automm.Study(make_toy(n=240), runs_dir=tmp_path, study_name="other", folds=2, ensemble_size=3)
    assert fresh.config.folds == 2 and fresh.config.ensemble_size == 3
