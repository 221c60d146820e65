"""Finishing the chosen candidates: their warm-started fold networks train on at the from-scratch patience.

A KS-NAS warm start stops early (the warm patience, epoch racing): long enough to rank candidates, short of
what the same networks reach when trained as far as a from-scratch candidate is. Before the delivered
ensemble is final (`automm.delivery.final_trainer.FinalTrainer.ensemble`), each member whose kept fold
networks (`automm.store.fold_networks`) were all warm-started trains on: every fold network from its kept
weights, on its fold's training rows, with early stopping on its fold's validation rows at the genotype's
own training settings (the from-scratch patience), its kept weights scored first (epoch 0), so no fold
network ends below where it started on its own validation rows. These are the rows the search trained and
scored it on, so its out-of-fold predictions stay out of fold; the finished networks, their predictions
and their cost are stored beside the search's (`fold_networks.keep_finished`), and the ensemble is chosen
again from them. Test rows are never read here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

from automm.core.metrics import probabilities
from automm.engine.training import fit, predict_logits
from automm.methods.hyperparams import resolve
from automm.search.objective import fold_seed
from automm.store import fold_networks
from automm.store.trial_record import TrialRecord

if TYPE_CHECKING:
    from automm.delivery.trainer import Delivery


def to_finish(delivery: Delivery, numbers: list[int | None]) -> list[optuna.trial.FrozenTrial]:
    """The trials among ``numbers`` (None: a candidate that is not a trial) that can be finished: every fold
    warm-started, fold networks kept (not pruned), not finished yet."""
    if len(delivery.folds) < 2:
        return []
    kept = {t.number: t for t in fold_networks.kept_trials(delivery.study)}
    done = fold_networks.finished(delivery.study)
    return [
        kept[n]
        for n in dict.fromkeys(numbers)
        if n in kept and n not in done and delivery.method.warm_folds(kept[n]) >= len(delivery.folds)
    ]


def finish(delivery: Delivery, trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """Train ``trial``'s kept fold networks on (see module docstring) and store the result; returns its
    record (`fold_networks.keep_finished`), None when the networks are no longer kept."""
    context = delivery.context
    folds = delivery.folds
    states = fold_networks.kept(delivery.study, context.artifact_store, trial, len(folds))
    if states is None:
        return None
    genotype = delivery.parse(TrialRecord.of(trial).genotype)
    config = resolve(delivery.space, genotype, context.config)[2].train_config()
    task = delivery.dataset.task
    trained, predictions, scores, epochs, seconds = [], [], [], 0, 0.0
    for k, (fold, state) in enumerate(zip(folds, states, strict=True)):
        net = delivery._net(genotype)
        net.load_state_dict(state)
        train, val = context.folds.tensors(k)
        result = fit(net, train, val, task, config, seed=fold_seed(context.seed, genotype, k), score_initial=True)
        trained.append({name: t.detach().cpu() for name, t in net.state_dict().items()})
        predictions.append((fold.val, probabilities(predict_logits(net, val), task)))
        scores.append(result.best_score)
        epochs += result.epochs
        seconds += result.seconds
    return fold_networks.keep_finished(
        delivery.study,
        context.artifact_store,
        trial.number,
        trained,
        predictions,
        scores,
        epochs,
        seconds,
        context.lock_dir,
    )
