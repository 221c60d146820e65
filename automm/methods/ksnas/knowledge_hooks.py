"""KS-NAS's trial hooks: each trial tagged with its generation, warm-started from that generation's KB
version (one KB per fold under K folds), its trained weights offered back; repeats reuse or confirm."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from automm.core import keys
from automm.engine.training import FitResult
from automm.methods.base import TrialHooks
from automm.methods.ksnas.knowledge import KnowledgeBase, warm_start
from automm.methods.ksnas.sampler import trial_generation
from automm.settings import TrainConfig
from automm.store.optuna_internals import set_attrs_together, set_user_attrs_together
from automm.store.trial_record import TrialRecord, as_attrs, first_trained


class KnowledgeHooks(TrialHooks):
    """Tag each trial's generation; warm-start it from its generation's KB version; offer its weights.

    ``knowledge`` holds one KB per fold when every fold is warm-started (`KnowledgeSettings.every_fold`),
    else fold 0's alone. With several KBs the fitness that fair selection judges is the mean over the
    folds, known after the last one: a candidate raced out before it contributes nothing. A genotype met
    again reuses its first result; under a time budget, one that started warm is first trained once from
    scratch (`KnowledgeSettings.confirm_repeats`) where that is predicted to end before the search's
    deadline (`scratch_seconds`), and later repeats reuse that confirmation.
    """

    def __init__(self, knowledge: list[KnowledgeBase] | None, fusion_dim: int | None = None, patience: int = 0) -> None:
        """``patience``: the early-stopping patience of a from-scratch training (a confirmation's)."""
        self.knowledge = knowledge or None
        self.patience = patience
        self.every_fold = self.knowledge is not None and len(self.knowledge) > 1
        settings = self.knowledge[0].settings if self.knowledge is not None else None
        self.races_epochs = settings is not None and settings.race_epochs
        self.races_one_split = settings is not None and settings.race_epochs and settings.race_one_split
        self.fusion_dim = fusion_dim  # the KB's width: candidates of another width neither use nor feed it
        self._pending: dict[int, int] = {}  # trial -> generation whose KB versions it starts from (-1: none)
        self._trained: dict[int, list[tuple[dict[str, torch.Tensor], float]]] = {}  # trial -> (weights, score)

    def prepare(self, trial: optuna.Trial, genotype: Any) -> str:
        generation = trial_generation(trial)
        attrs = {} if generation is None else as_attrs(generation=generation)  # one write with the KB's
        width = dict(getattr(genotype, "hparams", ())).get("fusion_dim", self.fusion_dim)
        if self.knowledge is None or generation is None or width != self.fusion_dim:
            set_user_attrs_together(trial, attrs)
            self._pending[trial.number] = -1
            return str(genotype)
        if not self.knowledge[0].settings.retrain_repeats:
            earlier = first_trained(trial.study, genotype=str(genotype))  # from any KB version
            if earlier is not None and self._from_scratch(trial, genotype, earlier, attrs):
                set_user_attrs_together(trial, attrs)
                self._pending[trial.number] = -1
                return str(genotype)  # trained from scratch now, or the confirmation's result reused
            if (
                earlier is not None and TrialRecord.of(earlier).cache_key is not None
            ):  # the objective reuses its result: nothing to warm-start
                self._pending[trial.number] = -1
                kb_keys = (keys.KB_VERSION, keys.KB_SHA256, keys.KB_FOLDS)
                attrs.update({k: earlier.user_attrs[k] for k in kb_keys if k in earlier.user_attrs})
                set_user_attrs_together(trial, attrs)
                return str(TrialRecord.of(earlier).cache_key)
        _, pointer = self.knowledge[0].load(generation)
        attrs.update({keys.KB_VERSION: pointer["version"], keys.KB_SHA256: pointer["sha256"]})
        if self.every_fold:
            attrs[keys.KB_FOLDS] = len(self.knowledge)
        set_user_attrs_together(trial, attrs)
        self._pending[trial.number] = generation
        return f"{genotype}@kb{pointer['version']}"

    def _from_scratch(
        self, trial: optuna.Trial, genotype: Any, earlier: optuna.trial.FrozenTrial, attrs: dict[str, Any]
    ) -> bool:
        """Whether ``trial``, a repeat of ``genotype`` first trained warm by ``earlier``, goes by the genotype's
        from-scratch result (`KnowledgeSettings.confirm_repeats`): the one a trial trained already, reused,
        or, under a time budget and none yet, its confirmation, trained now (``attrs`` records it)."""
        if self.knowledge is None or not self.knowledge[0].settings.confirm_repeats:
            return False
        cache_key = TrialRecord.of(earlier).cache_key
        if cache_key is None or cache_key == str(genotype):  # not warm-started: nothing to confirm
            return False
        if first_trained(trial.study, cache_key=str(genotype)) is not None:
            return True
        if self._confirmation_fits(trial.study, earlier):
            attrs[keys.CONFIRMS] = earlier.number
            return True
        return False

    def _confirmation_fits(self, study: optuna.Study, earlier: optuna.trial.FrozenTrial) -> bool:
        """Whether the run has a time budget and a confirmation of ``earlier``'s genotype is predicted to end
        before the search's deadline (`TrialHooks.time_left`); if not, the repeat reuses the warm result."""
        return self.time_left is not None and self.scratch_seconds(study, earlier) <= self.time_left()

    def scratch_seconds(self, study: optuna.Study, earlier: optuna.trial.FrozenTrial) -> float:
        """Predicted seconds of training ``earlier``'s genotype from scratch on every fold: its warm start's
        seconds per epoch times the median epochs of the study's from-scratch trainings scored on every
        fold; before there is one, its folds times (its best epoch, at least the KB's pretraining epochs,
        plus the patience)."""
        warm = TrialRecord.of(earlier)
        if not warm.seconds or not warm.epochs:
            return 0.0
        scratch = [
            float(r.epochs)
            for r in map(TrialRecord.of, study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
            if r.trained and r.fully_scored and r.initial_score is None and r.epochs
        ]
        if scratch:
            epochs = float(np.median(scratch))
        else:
            floor = self.knowledge[0].settings.kb_epochs if self.knowledge is not None else 0
            best = float(np.median(warm.fold_best_epochs)) if warm.fold_best_epochs else float(warm.best_epoch or 1)
            epochs = (warm.folds or 1) * (max(best, floor) + self.patience)
        return warm.seconds / warm.epochs * epochs

    def before_fit(self, trial: optuna.Trial, net: nn.Module, fold: int = 0) -> bool:
        generation = self._pending.get(trial.number, -1)
        if self.knowledge is None or generation < 0:
            return False
        state, _ = self.knowledge[fold].load(generation)  # fold k's KB: built on first use
        warm_start(net, state)  # type: ignore[arg-type]
        return True

    def train_config(self, config: TrainConfig, warm: bool) -> TrainConfig:
        if warm and self.knowledge is not None:
            return self.knowledge[0].settings.warm_config(config)
        return config

    def release(self, trial: optuna.Trial) -> None:
        self._pending.pop(trial.number, None)
        self._trained.pop(trial.number, None)

    def after_fit(self, trial: optuna.Trial, net: nn.Module, result: FitResult, fold: int = 0) -> None:
        generation = self._pending.get(trial.number, -1)
        if self.knowledge is None or generation < 0:
            self.release(trial)
            return
        if not self.every_fold:
            self.release(trial)
            offered = self.knowledge[0].admits(generation, result.best_score)
            kept = self.knowledge[0].keep(net.state_dict()) if offered else {}
            set_attrs_together(trial, user={keys.KB_CONTRIBUTES: offered}, system=kept)
            return
        trained = self._trained.setdefault(trial.number, [])
        trained.append(({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, result.best_score))
        if fold < len(self.knowledge) - 1:
            return
        self.release(trial)
        fitness = float(np.mean([score for _, score in trained]))
        offered = self.knowledge[0].admits(generation, fitness)
        kept: dict[str, Any] = {}
        if offered:
            for kb, (state, _) in zip(self.knowledge, trained, strict=True):
                kept.update(kb.keep(state))
        set_attrs_together(trial, user={keys.KB_CONTRIBUTES: offered}, system=kept)  # one write
