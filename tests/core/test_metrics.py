import numpy as np

from automm.core.metrics import all_metrics, predict_labels, primary_score


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
