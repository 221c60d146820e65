"""Reference scores a fusion search must beat: concatenate all views, fit logistic regression.

Token views enter as the mean of their real tokens (`automm.data.tokens.pooled`).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from automm.core.metrics import primary_score
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.data.tokens import pooled


def concat_logistic_regression(
    dataset: MultimodalDataset, fit_rows: np.ndarray, score_rows: np.ndarray, c: float = 1.0, seed: int = 0
) -> float:
    """Primary metric on ``score_rows`` of an L2 logistic regression on all views concatenated.

    Views are standardised with statistics from ``fit_rows`` only. Multilabel tasks use one
    classifier per label; its decision values go through the same 0.5-sigmoid threshold rule.
    """
    dataset = pooled(dataset)
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


def rank_views(
    dataset: MultimodalDataset, fit_rows: np.ndarray, score_rows: np.ndarray, max_rows: int = 5000, seed: int = 0
) -> list[str]:
    """View names, best first, by the score on ``score_rows`` of a ridge classifier fitted on each
    view alone (on at most ``max_rows`` of ``fit_rows``; a cheap closed form, ties by name)."""
    dataset = pooled(dataset)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(fit_rows, max_rows, replace=False)) if len(fit_rows) > max_rows else fit_rows
    st = Standardizer.fit(dataset.views, fit_rows)
    x_fit, x_score = st.transform(dataset.views, fit_rows), st.transform(dataset.views, score_rows)
    labels = dataset.labels[fit_rows]
    targets = np.eye(dataset.n_classes)[labels] if dataset.task == "multiclass" else labels.astype(np.float64)
    scores = {}
    for view in dataset.view_names:
        x = np.c_[x_fit[view].astype(np.float64), np.ones(len(fit_rows))]
        weights = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ targets)
        decision = np.c_[x_score[view].astype(np.float64), np.ones(len(score_rows))] @ weights
        logits = decision if dataset.task == "multiclass" else np.log(np.clip(decision, 1e-6, None) / 0.5)
        scores[view] = primary_score(logits, dataset.labels[score_rows], dataset.task)
    return sorted(dataset.view_names, key=lambda v: (-scores[v], v))
