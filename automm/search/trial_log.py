"""The trial log: one short line per finished trial on automm's logger, in the study's terms."""

from __future__ import annotations

import logging

import optuna

from automm.core.log import logger
from automm.search import folds
from automm.store.trial_record import TrialRecord


class TrialLog:
    """An Optuna callback: one INFO line per finished trial, in the study's terms (metric, genotype)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        record = TrialRecord.of(trial)
        genotype = record.genotype or "?"
        if trial.state == optuna.trial.TrialState.PRUNED:
            logger.info("trial %d pruned: %s", trial.number, genotype)
            return
        if trial.state != optuna.trial.TrialState.COMPLETE:
            return
        mean, std, n = folds.estimate(trial)
        spread = f" ± {std:.4f} ({n} folds)" if n > 1 else ""
        if not record.trained:
            took = f"as trial {record.duplicate_of} (drawn again, not retrained)"
        else:
            took = f"in {record.seconds or 0.0:.1f} s"
        raced = ", raced out" if record.raced_out else ""
        logger.info("trial %d: %s %.4f%s%s %s: %s", trial.number, self.metric, mean, spread, raced, took, genotype)
