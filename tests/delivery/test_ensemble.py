"""Greedy ensemble selection and the delivered ensemble: selection, export round trip, tampering."""

import json

import numpy as np
import pytest
import torch

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.core.metrics import log_loss, logits_from_probabilities, primary_score
from automm.delivery import greedy
from automm.delivery.ensemble import EnsembleChoice, choose_ensemble
from automm.delivery.greedy import greedy_selection
from automm.search import queries
from tests.conftest import make_toy
from tests.onnx_serving import served


def test_greedy_selection_combines_complementary_candidates():
    labels = np.array([0, 1, 0, 1, 0, 1])

    def predictions(correct: np.ndarray) -> np.ndarray:  # probability of the true class per row
        p = np.zeros((6, 2))
        p[np.arange(6), labels] = correct
        p[np.arange(6), 1 - labels] = 1 - correct
        return p

    a = predictions(np.array([0.4, 0.4, 0.4, 0.9, 0.9, 0.9]))  # weakly wrong on the first half
    b = predictions(np.array([0.9, 0.9, 0.9, 0.4, 0.4, 0.4]))  # weakly wrong on the second half
    bad = predictions(np.full(6, 0.3))
    counts = greedy_selection([a, b, bad], labels, "multiclass", rounds=6)
    mixed = sum(c * p for c, p in zip(counts, [a, b, bad], strict=True)) / sum(counts)
    assert counts[2] == 0 and counts[0] > 0 and counts[1] > 0
    assert primary_score(logits_from_probabilities(mixed, "multiclass"), labels, "multiclass") == 1.0  # each alone: 0.5
    with pytest.raises(AutommError, match="out-of-fold"):
        greedy_selection([], labels, "multiclass", 3)


def test_greedy_selection_never_below_the_best_single():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    probs = [rng.dirichlet(np.ones(3), 200) for _ in range(6)]
    counts = greedy_selection(probs, labels, "multiclass", rounds=10)
    mixed = sum(c * p for c, p in zip(counts, probs, strict=True)) / sum(counts)
    singles = [primary_score(logits_from_probabilities(p, "multiclass"), labels, "multiclass") for p in probs]
    assert primary_score(logits_from_probabilities(mixed, "multiclass"), labels, "multiclass") >= max(singles)


def _greedy_one_candidate_at_a_time(probs, labels, task, rounds, threshold=0.5):
    """Caruana's rounds written out: each candidate's mixture scored on its own."""
    counts, total, best = [0] * len(probs), np.zeros_like(probs[0], dtype=np.float64), None
    for r in range(rounds):
        round_key, pick = None, 0
        for i, p in enumerate(probs):
            mixed = (total + p) / (r + 1)
            score = primary_score(logits_from_probabilities(mixed, task), labels, task, threshold)
            key = (score, -log_loss(mixed, labels, task))
            if round_key is None or key > round_key:
                round_key, pick = key, i
        counts[pick] += 1
        total += probs[pick]
        if best is None or round_key > best[0]:
            best = (round_key, list(counts))
    return best[1]


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_greedy_selection_picks_as_one_candidate_at_a_time_does(task, monkeypatch):
    rng = np.random.default_rng(11)
    rows = 120
    if task == "multiclass":
        labels = rng.integers(0, 5, rows)
        scores = rng.normal(size=(rows, 5)) + 1.5 * np.eye(5)[labels]
        softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
        # the same class first in every row at every temperature: every mixture of them scores the same
        probs = [softmax(scores * t).astype(np.float32) for t in (0.5, 2.0, 1.0, 3.0)]
        probs += [rng.dirichlet(np.ones(5), rows).astype(np.float32) for _ in range(3)]
    else:
        labels = rng.integers(0, 2, (rows, 4))
        logits = rng.normal(size=(rows, 4)) + 1.5 * (2 * labels - 1)
        probs = [(1 / (1 + np.exp(-logits * t))).astype(np.float32) for t in (0.5, 2.0, 1.0, 3.0)]
        probs += [rng.random((rows, 4)).astype(np.float32) for _ in range(3)]
    probs.insert(1, probs[3].copy())  # an exact tie: the first of the two is picked
    for chunk in (10**9, rows * probs[0].shape[1] * 2):  # all candidates at once, and two at a time
        monkeypatch.setattr(greedy, "CHUNK", chunk)
        expected = _greedy_one_candidate_at_a_time(probs, labels, task, 12)
        assert greedy_selection(probs, labels, task, 12) == expected
    assert expected[1] > 0 and expected[4] == 0 and len({c for c in expected if c}) > 1


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    config = automm.SearchConfig(
        folds=3,
        ensemble_size=6,
        fusion_dim=16,
        max_views=3,
        dropout=0.1,
        lr=5e-3,
        batch_size=64,
        max_epochs=15,
        patience=3,
    )
    study = automm.Study(make_toy(n=240), method="random", runs_dir=tmp_path_factory.mktemp("runs"), config=config)
    study.optimize(10)
    return study


def test_ensemble_export_round_trip(searched, tmp_path):
    choice = searched.ensemble()
    assert choice.score >= choice.best_single and abs(sum(choice.weights) - 1) < 1e-9
    assert len(set(choice.genotypes)) == len(choice.genotypes) and choice.rows == 192  # every search row
    path = searched.export(tmp_path / "model", ensemble_size=6)
    meta = json.loads((path / "genotype.json").read_text())
    assert [m["genotype"] for m in meta["members"]] == choice.genotypes
    assert [m["weight"] for m in meta["members"]] == pytest.approx(choice.weights)
    model = automm.load_model(path)
    assert len(model.nets) == len(choice.genotypes)
    ds = searched.dataset
    rows = ds.splits.test
    views = {v: ds.views[v][rows] for v in ds.view_names}
    proba = model.predict_proba(views)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    # the ensemble's probabilities are the weighted mean of its members'
    inputs = model._inputs(views)
    members = [torch.softmax(net(inputs), dim=1).detach().numpy() for net in model.nets]
    np.testing.assert_allclose(proba, sum(w * p for w, p in zip(model.weights, members, strict=True)), atol=1e-5)
    logits, probabilities = served(path, views)  # ONNX Runtime alone, raw views in
    np.testing.assert_allclose(logits, model.predict_logits(views), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probabilities, model.predict_proba(views), atol=1e-5)
    accuracy = float((model.predict(views) == ds.labels[rows]).mean())
    assert accuracy == pytest.approx(meta["test_metrics"]["accuracy"])
    again = automm.load_model(searched.export(tmp_path / "again", ensemble_size=6))
    assert np.array_equal(again.predict_logits(views), model.predict_logits(views))  # identical retraining


@pytest.fixture
def two_members(searched):
    """The study's stored ensemble replaced by two members (its two best distinct candidates), so a test of
    a several-member delivery always has one, whatever the greedy choice kept on the toy data; the real
    choice is put back afterwards."""
    study = searched.optuna_study
    before = study.user_attrs.get(keys.ENSEMBLE)
    top = queries.top_genotypes(study, 2)
    trials = [queries.trial_of(study, g) for g in top]
    best = max(queries.score_of(t) for t in trials)
    choice = EnsembleChoice(
        genotypes=top,
        trials=[t.number for t in trials],
        weights=[0.6, 0.4],
        score=best,
        best_single=best,
        rows=192,
        rounds=6,
        trials_seen=queries.n_finished(study),
    )
    study.set_user_attr(keys.ENSEMBLE, choice.to_dict())
    yield choice
    study.set_user_attr(keys.ENSEMBLE, before)


def test_ensemble_member_tampering_is_refused(searched, two_members, tmp_path):
    path = searched.export(tmp_path / "model", ensemble_size=6)
    members = json.loads((path / "genotype.json").read_text())["members"]
    assert [m["genotype"] for m in members] == two_members.genotypes
    last = path / members[-1]["file"]
    data = bytearray(last.read_bytes())
    data[-5] ^= 0xFF
    last.write_bytes(bytes(data))
    with pytest.raises(AutommError, match="corrupted or was modified"):
        automm.load_model(path)
    last.unlink()
    with pytest.raises(AutommError, match="missing"):
        automm.load_model(path)


def test_single_network_when_asked(searched, tmp_path):
    path = searched.export(tmp_path / "one", ensemble_size=1)
    model = automm.load_model(path)
    assert len(model.nets) == 1 and str(model.genotype) == str(searched.best_genotype)


def test_retrain_scores_the_ensemble(searched, two_members):
    rows = searched.retrain(top=1, seeds=1, ensemble_size=6)
    assert rows[-1]["start"] == "ensemble" and 0 <= rows[-1]["mean"] <= 1
    assert [r["start"] for r in rows[:-1]] == ["scratch", "bag"]  # the best alone first, as usual
    with pytest.raises(AutommError, match="at least 1"):
        searched.ensemble(0)


def test_report_and_note_show_the_ensemble(searched, two_members, tmp_path):
    from html import escape

    from automm.inspection.dashboard import study_note
    from automm.report.html import write_report

    html = write_report(searched, tmp_path / "r.html").read_text()
    note = study_note(searched.optuna_study, searched.method, searched.dataset.summary(), searched.metric)
    assert "The delivered model" in html and "Delivered (" in note
    for genotype in two_members.genotypes:
        assert genotype in note
        # in words, each network as the 3 fold networks the default delivery trains
        assert f"x fusion network {genotype} x 3 fold networks (`{genotype}`)" in note
        assert f"fusion network {escape(genotype)} x 3 fold networks</h3>" in html
    assert "over 3 folds" in html  # the best architectures' mean ± std over folds


def test_the_linear_candidate_joins_the_pool(searched):
    from automm.delivery.linear_candidate import linear_view_sets

    linear = searched.final.linear_candidate()
    sets = linear_view_sets(searched.dataset.view_names)
    assert [tuple(k.split(",")) for k in linear.scores_by_views] == sets  # every view set was scored
    assert linear.genotype.views in sets and linear.score == max(linear.scores_by_views.values())
    assert linear.c in linear.scores_by_c and linear.score == max(linear.scores_by_c.values())
    choice = searched.ensemble(6)
    assert np.array_equal(
        linear.rows, np.sort(np.concatenate([searched.dataset.splits.train, searched.dataset.splits.val]))
    )
    again = searched.final.linear_candidate()  # kept in the study: read back, not refitted
    assert again.c == linear.c and np.allclose(again.probabilities, linear.probabilities, atol=1e-6)
    assert again.genotype == linear.genotype and again.scores_by_views == linear.scores_by_views
    pool = searched.final._extra_candidates()
    assert [g for g, _, _ in pool] == [str(linear.genotype)]  # it is in the pool the greedy choice draws from
    if str(linear.genotype) in choice.genotypes:
        assert choice.trials[choice.genotypes.index(str(linear.genotype))] is None


def test_a_linear_candidate_that_is_best_out_of_fold_is_delivered_as_a_member(searched, monkeypatch):
    import dataclasses

    ds = searched.dataset
    linear = searched.final.linear_candidate()
    sure = np.eye(ds.n_classes)[ds.labels[linear.rows]] * 0.9 + 0.1 / ds.n_classes  # right on every row
    monkeypatch.setattr(searched.final, "linear_candidate", lambda: dataclasses.replace(linear, probabilities=sure))
    choice = choose_ensemble(
        searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=searched.final._extra_candidates()
    )
    assert choice.genotypes[0] == str(linear.genotype) and choice.trials[0] is None and choice.score == 1.0


def test_an_extra_candidate_that_is_better_is_chosen(searched):
    from automm.delivery.ensemble import choose_ensemble

    ds = searched.dataset
    rows = np.sort(np.concatenate([ds.splits.train, ds.splits.val]))
    perfect = np.eye(ds.n_classes)[ds.labels[rows]] * 0.9 + 0.1 / ds.n_classes
    choice = choose_ensemble(
        searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=[("oracle", rows, perfect)]
    )
    assert choice.genotypes[0] == "oracle" and choice.trials[0] is None and choice.score == 1.0
    wrong_rows = choose_ensemble(
        searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=[("oracle", rows[1:], perfect[1:])]
    )
    assert "oracle" not in wrong_rows.genotypes  # other rows (other folds) cannot be compared


def test_the_checked_choice_delivers_the_linear_candidate_alone_only_when_it_scores_above(searched, monkeypatch):
    from automm.delivery import ensemble as ensemble_module
    from automm.delivery.nested_check import NestedScores
    from automm.store.trial_record import delivery_pool

    ds = searched.dataset
    extra = searched.final._extra_candidates()
    linear_name = extra[0][0]
    seen = []

    def nested(scores):
        def fake(probs, fallback, *args, **kwargs):
            seen.append((len(probs), fallback))
            return NestedScores(*scores, splits=5, repeats=3)

        return fake

    plain = choose_ensemble(
        searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=extra, check=False
    )
    assert plain.nested_score is None and not plain.fallback_chosen
    monkeypatch.setattr(ensemble_module, "nested_scores", nested((0.7, 0.9)))
    alone = choose_ensemble(searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=extra)
    assert alone.genotypes == [linear_name] and alone.trials == [None] and alone.weights == [1.0]
    assert alone.fallback_chosen and (alone.nested_score, alone.fallback_score) == (0.7, 0.9)
    assert alone.score == pytest.approx(searched.final.linear_candidate().score)
    n_candidates, fallback = seen[-1]
    assert fallback == n_candidates - 1  # the linear candidate is the last of every candidate with predictions
    every = delivery_pool(searched.optuna_study.get_trials(), 10**6)  # each genotype's best trained trial
    assert n_candidates - 1 == len(every)
    monkeypatch.setattr(ensemble_module, "nested_scores", nested((0.9, 0.9)))  # a tie keeps the greedy choice
    kept = choose_ensemble(searched.optuna_study, searched.artifact_store, ds.labels, ds.task, 6, extra=extra)
    assert (kept.genotypes, kept.weights, kept.score) == (plain.genotypes, plain.weights, plain.score)
    assert not kept.fallback_chosen and kept.nested_score == 0.9


def test_the_linear_member_exports_and_loads(searched, tmp_path):
    ds = searched.dataset
    text = f"linear({','.join(ds.view_names)})"
    path = searched.export(tmp_path / "linear", genotype=text)
    meta = json.loads((path / "genotype.json").read_text())
    assert meta["members"][0]["space"] == "linear" and meta["members"][0]["c"] == searched.final.linear_candidate().c
    model = automm.load_model(path)
    views = {v: ds.views[v][ds.splits.test] for v in ds.view_names}
    assert str(model.genotype) == text
    logits, probabilities = served(path, views)  # ONNX Runtime alone, raw views in
    np.testing.assert_allclose(logits, model.predict_logits(views), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probabilities, model.predict_proba(views), atol=1e-5)
    accuracy = float((model.predict(views) == ds.labels[ds.splits.test]).mean())
    assert accuracy == pytest.approx(meta["test_metrics"]["accuracy"])


def test_bagged_and_linear_members_export_together(searched, tmp_path, monkeypatch):
    ds = searched.dataset
    best = searched.space.parse(str(searched.best_genotype))
    linear = searched.final.parse(f"linear({','.join(ds.view_names)})")
    monkeypatch.setattr(searched.final, "_members", lambda genotype, size: ([best, linear], [0.5, 0.5]))
    path = searched.export(tmp_path / "mixed")
    members = json.loads((path / "genotype.json").read_text())["members"]
    assert members[0]["bagged"] == 3 and "bagged" not in members[1] and members[1]["space"] == "linear"
    model = automm.load_model(path)
    views = {v: ds.views[v][ds.splits.test] for v in ds.view_names}
    assert len(model.nets[0].nets) == 3  # the fold networks
    logits, probabilities = served(path, views)  # ONNX Runtime alone, raw views in
    np.testing.assert_allclose(logits, model.predict_logits(views), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probabilities, model.predict_proba(views), atol=1e-5)
    meta = json.loads((path / "genotype.json").read_text())
    accuracy = float((model.predict(views) == ds.labels[ds.splits.test]).mean())
    assert accuracy == pytest.approx(meta["test_metrics"]["accuracy"])


def test_the_ensemble_is_chosen_once_and_reused_until_a_trial_finishes(tmp_path, monkeypatch):
    config = automm.SearchConfig(folds=2, ensemble_size=3, fusion_dim=8, max_views=2, max_epochs=4, patience=2)
    study = automm.Study(make_toy(n=160), method="random", runs_dir=tmp_path, config=config)
    study.optimize(4)  # the ensemble is chosen (and stored) at the end
    stored = study.optuna_study.user_attrs["ensemble"]
    assert stored["rounds"] == 3 and stored["trials_seen"] == 4
    import automm.delivery.final_trainer as final_trainer

    calls = []
    real = final_trainer.choose_ensemble
    monkeypatch.setattr(final_trainer, "choose_ensemble", lambda *a, **k: calls.append(1) or real(*a, **k))
    exported = study.deliver(tmp_path / "model")
    assert calls == []  # export reused the stored choice
    assert [m["genotype"] for m in exported.members] == stored["genotypes"]
    assert exported.meta == json.loads((exported.path / "genotype.json").read_text())
    assert study.ensemble(size=2) and calls == [1]  # other rounds: chosen again
    study.optimize(5)  # one more finished trial (5 in all) makes the stored choice stale
    calls.clear()
    study.ensemble()
    assert calls == []  # optimize chose it again at its end, and stored it
    assert study.optuna_study.user_attrs["ensemble"]["trials_seen"] == 5
