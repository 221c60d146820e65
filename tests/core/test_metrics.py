import numpy as np

from automm.core.metrics import (
    all_metrics,
    log_loss,
    logits_from_probabilities,
    predict_labels,
    primary_score,
    scores_and_losses,
    stack_candidates,
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
    probs[4, :, :] = 0.25  # four classes equal in every row: the first is the prediction
    probs[6, ::2, :2] = 0.5  # two equal first, the label's class one of them in some rows
    probs[6, ::2, 2:] = 0.0
    assert (probs[6, ::2][labels[::2] < 2].argmax(axis=1) != labels[::2][labels[::2] < 2]).any()
    for stacked in (probs, stack_candidates(list(probs))):  # candidates first, and outputs first, in memory
        assert np.array_equal(stacked, probs)
        scores, losses = scores_and_losses(stacked, labels, "multiclass")
        for i, p in enumerate(probs):
            assert scores[i] == primary_score(logits_from_probabilities(p, "multiclass"), labels, "multiclass")
            assert losses[i] == log_loss(p, labels, "multiclass")
    assert scores[4] == np.mean(labels == 0)
    many = [p.astype(np.float64 if i % 2 else np.float16) for i in range(100) for p in probs[:1]]
    assert stack_candidates(many).dtype == np.float64 and np.array_equal(stack_candidates(many), np.stack(many))
    label_sets = rng.integers(0, 2, (60, 3))
    probs = rng.random((4, 60, 3))
    for stacked in (probs, stack_candidates(list(probs))):
        scores, losses = scores_and_losses(stacked, label_sets, "multilabel", threshold=0.4)
        for i, p in enumerate(probs):
            expected = primary_score(logits_from_probabilities(p, "multilabel"), label_sets, "multilabel", 0.4)
            assert scores[i] == expected
            assert losses[i] == log_loss(p, label_sets, "multilabel")
