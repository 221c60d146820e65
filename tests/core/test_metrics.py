import numpy as np

from automm.core.metrics import (
    all_metrics,
    log_loss,
    logits_from_probabilities,
    predict_labels,
    primary_score,
    scores_and_losses,
)


def test_multiclass_accuracy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert primary_score(logits, np.array([0, 1, 1]), "multiclass") == 2 / 3


def test_multilabel_threshold_and_weighted_f1():
    logits = np.array([[2.0, -2.0], [-0.5, 2.0], [2.0, 2.0]])  # sigmoid(-0.5) = 0.378
    labels = np.array([[1, 0], [1, 1], [1, 1]])
    assert predict_labels(logits, "multilabel", 0.5).tolist() == [[1, 0], [0, 1], [1, 1]]
    assert primary_score(logits, labels, "multilabel", threshold=0.3) == 1.0
    m = all_metrics(logits, labels, "multilabel", threshold=0.5)
    assert m["threshold"] == 0.5 and 0 < m["weighted_f1"] < 1
    assert set(m) == {"weighted_f1", "macro_f1", "micro_f1", "samples_f1", "threshold"}


def test_scores_and_losses_are_each_candidates_own_numbers() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 150)
    probs = rng.dirichlet(np.ones(4), (7, 150)).astype(np.float32)
    probs[2] = probs[5]  # a tie
    probs[3, :, 0] = 1.0  # clipped
    scores, losses = scores_and_losses(probs, labels, "multiclass")
    for i, p in enumerate(probs):
        assert scores[i] == primary_score(logits_from_probabilities(p, "multiclass"), labels, "multiclass")
        assert losses[i] == log_loss(p, labels, "multiclass")
    label_sets = rng.integers(0, 2, (60, 3))
    probs = rng.random((4, 60, 3))
    scores, losses = scores_and_losses(probs, label_sets, "multilabel", threshold=0.4)
    for i, p in enumerate(probs):
        expected = primary_score(logits_from_probabilities(p, "multilabel"), label_sets, "multilabel", 0.4)
        assert scores[i] == expected
        assert losses[i] == log_loss(p, label_sets, "multilabel")
