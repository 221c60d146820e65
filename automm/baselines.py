"""Reference scores a fusion search must beat: concatenate all views, fit logistic regression."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.metrics import primary_score


def concat_logistic_regression(
    dataset: MultimodalDataset, fit_rows: np.ndarray, score_rows: np.ndarray, c: float = 1.0, seed: int = 0
) -> float:
    """Primary metric on ``score_rows`` of an L2 logistic regression on all views concatenated.

    Views are standardised with statistics from ``fit_rows`` only. Multilabel tasks use one
    classifier per label; its decision values go through the same 0.5-sigmoid threshold rule.
    """
    st = Standardizer.fit(dataset.views, fit_rows)
    x_fit = np.concatenate(list(st.transform(dataset.views, fit_rows).values()), axis=1)
    x_score = np.concatenate(list(st.transform(dataset.views, score_rows).values()), axis=1)
    model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    if dataset.task == "multilabel":
        clf = OneVsRestClassifier(model).fit(x_fit, dataset.labels[fit_rows].astype(int))
        logits = clf.decision_function(x_score)
    else:
        clf = model.fit(x_fit, dataset.labels[fit_rows])
        logits = np.full((len(score_rows), dataset.n_classes), -np.inf)
        logits[:, clf.classes_] = clf.predict_log_proba(x_score)
    return primary_score(logits, dataset.labels[score_rows], dataset.task)
