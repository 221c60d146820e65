"""How a candidate is scored over the study's folds (`automm.engine.fold_data`): raced.

One validation split ranks many candidates noisily on small data, and a search then picks
the luckiest. With ``folds = K > 1`` every candidate is trained K times, each time scored on
rows it never saw, and its fitness is the mean over folds. Racing (successive halving over
folds) keeps the cost down: after the folds of each *rung* a candidate goes on only if its
running mean is in the top ``1/ETA`` of every earlier candidate's running mean at that rung;
a candidate raced out keeps its partial mean and is never the delivered model.

A method whose warm starts have an informative early curve (KS-NAS: every fold starts from a
knowledge base) may also race *inside* fold 0 (`goes_on_at_epoch`): after epochs 1, 3, 7, ... a
warm start goes on only if its best score so far is in the top ``1/ETA`` of every earlier warm
start's best score after as many epochs. A candidate stopped there is raced out, and its truncated
fold score never counts as a peer's at a fold rung.
"""

from __future__ import annotations

import math

import numpy as np
import optuna

from automm.store.trial_record import TrialRecord

ETA = 2  # racing keeps the top 1/ETA at each rung
MIN_RUNG_PEERS = 4  # below this many earlier candidates at a rung, everyone goes on


def rungs(k: int) -> list[int]:
    """Fold counts after which racing decides: 1, 3, 7, ... below ``k``."""
    out, n = [], 1
    while n < k:
        out.append(n)
        n = 2 * n + 1
    return out


def fold_scores(trial: optuna.trial.FrozenTrial) -> list[float]:
    """A trial's per-fold scores (one-split trials of older studies: their value)."""
    return TrialRecord.of(trial).fold_scores


def fully_scored(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was scored on every fold (not raced out)."""
    return TrialRecord.of(trial).fully_scored


def goes_on(study: optuna.Study, trial_number: int, scores: list[float]) -> bool:
    """Whether a candidate with ``scores`` (after a rung) is in the top 1/ETA of earlier candidates there."""
    n = len(scores)
    peers = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        theirs = TrialRecord.of(t)
        if (
            t.number != trial_number
            and len(theirs.fold_scores) >= n
            and theirs.trained
            and theirs.raced_at_epoch is None
        ):
            peers.append(float(np.mean(theirs.fold_scores[:n])))
    return _in_top(float(np.mean(scores)), peers)


def warm_peers(study: optuna.Study, trial_number: int) -> list[TrialRecord]:
    """The completed trained candidates but ``trial_number``: the peers of `goes_on_at_epoch`."""
    records = (TrialRecord.of(t) for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return [r for r in records if r.number != trial_number and r.trained]


def goes_on_at_epoch(
    study: optuna.Study, trial_number: int, best: float, epoch: int, peers: list[TrialRecord] | None = None
) -> bool:
    """Whether a warm start whose best fold-0 score after ``epoch`` epochs is ``best`` is in the top
    1/ETA of earlier warm starts after as many epochs (`TrialRecord.best_by_epoch`). ``peers``: the
    `warm_peers` read once for every epoch rung of one training (default: read now)."""
    peers = warm_peers(study, trial_number) if peers is None else peers
    return _in_top(best, [b for r in peers if (b := r.best_by_epoch(epoch)) is not None])


def _in_top(mine: float, peers: list[float]) -> bool:
    """Whether ``mine`` ranks in the top 1/ETA among ``peers`` and itself (always, below MIN_RUNG_PEERS peers)."""
    if len(peers) < MIN_RUNG_PEERS:
        return True
    keep = max(1, math.ceil((len(peers) + 1) / ETA))
    return sum(p > mine for p in peers) < keep


def estimate(trial: optuna.trial.FrozenTrial) -> tuple[float, float, int]:
    """(mean, standard deviation over folds, folds) of a trial's score."""
    scores = fold_scores(trial)
    if not scores:
        return float("nan"), float("nan"), 0
    return float(np.mean(scores)), float(np.std(scores)) if len(scores) > 1 else 0.0, len(scores)


def scratch_best_epochs(trial: optuna.trial.FrozenTrial, warm_folds: int) -> list[int]:
    """The best epochs of ``trial``'s folds trained from scratch (its first ``warm_folds`` were not)."""
    return TrialRecord.of(trial).fold_best_epochs[warm_folds:]
