"""The nested check of the ensemble choice: built cases where the greedy choice's out-of-fold score is
certainly optimistic, and where its candidates are certainly better than the fallback."""

import numpy as np

from automm.core.metrics import logits_from_probabilities, primary_score
from automm.delivery.greedy import greedy_selection
from automm.delivery.nested_check import candidates_to_load, nested_scores


def _score(p, labels):
    return primary_score(logits_from_probabilities(p, "multiclass"), labels, "multiclass")


def _fallback(labels, right: float, rng):
    """Probabilities that put the true class first on a fraction ``right`` of the rows."""
    n, k = len(labels), int(labels.max()) + 1
    hit = rng.permutation(n) < round(right * n)
    first = np.where(hit, labels, (labels + 1) % k)
    return np.eye(k)[first] * 0.6 + 0.4 / k


def test_noise_candidates_that_win_on_the_rows_they_were_chosen_on_lose_to_the_fallback_there():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    noise = [rng.dirichlet([1, 1], size=len(labels)) for _ in range(300)]  # no signal: 50% on new rows
    fallback = _fallback(labels, 0.7, rng)
    probs = [*noise, fallback]
    counts = greedy_selection(probs, labels, "multiclass", rounds=5)
    mixed = sum(c * p for c, p in zip(counts, probs, strict=True)) / sum(counts)
    assert _score(mixed, labels) > _score(fallback, labels)  # plain greedy selection prefers the noise
    nested = nested_scores(probs, len(noise), labels, "multiclass", rounds=5, pool_size=20)
    assert nested is not None and (nested.splits, nested.repeats) == (5, 3)
    assert nested.alone == _score(fallback, labels)
    assert nested.ensemble < nested.alone  # on rows it did not choose on, the noise is found out


def test_candidates_better_than_the_fallback_keep_the_greedy_choice():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 40)
    good = [_fallback(labels, 0.9, rng) for _ in range(30)]  # each right on 90% of rows, errors independent
    fallback = _fallback(labels, 0.7, rng)
    nested = nested_scores([*good, fallback], len(good), labels, "multiclass", rounds=5, pool_size=20)
    assert nested is not None and nested.ensemble > nested.alone


def test_label_sets_are_parted_without_strata_and_too_few_rows_are_not_checked():
    rng = np.random.default_rng(2)
    sets = (rng.random((40, 3)) < 0.5).astype(np.float32)
    probs = [np.clip(sets * 0.8 + rng.random((40, 3)) * 0.2, 0, 1) for _ in range(4)]
    nested = nested_scores(probs, 0, sets, "multilabel", rounds=3, pool_size=2)
    assert nested is not None and nested.splits == 5
    one_row_class = np.array([0, 0, 0, 1])
    flat = [np.full((4, 2), 0.5)] * 2
    assert nested_scores(flat, 1, one_row_class, "multiclass", rounds=3, pool_size=2) is None


def test_the_candidates_loaded_are_bounded_by_memory_and_never_fewer_than_the_pool():
    assert candidates_to_load(rows=200, outputs=4, pool_size=20) == 25_000
    assert candidates_to_load(rows=25_000, outputs=23, pool_size=20) == 34
    assert candidates_to_load(rows=10_000_000, outputs=10, pool_size=20) == 20
