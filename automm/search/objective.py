"""The objective: Optuna trial -> genotype -> network -> trained on each fold -> mean validation score.

Generic over search methods: the method supplies the space, the network and `TrialHooks`
(warm starts, weight sharing); `automm.search.folds` the folds and the racing rule. Only train and
validation rows become tensors here: the test split is never seen during search or model selection.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from automm.core import keys
from automm.core.device import default_device, on_device, seed_torch
from automm.core.metrics import probabilities
from automm.data.dataset import MultimodalDataset
from automm.engine.fold_data import FoldData
from automm.engine.training import FitResult, TensorData, count_parameters, fit, predict_logits
from automm.methods.base import SearchMethod, TrialHooks
from automm.methods.hyperparams import resolve
from automm.search.folds import goes_on, goes_on_at_epoch, rungs, warm_peers
from automm.settings import SearchConfig
from automm.store import artifacts, fold_networks, optuna_internals
from automm.store.liveness import LivenessMark, needs_own_mark, retry
from automm.store.trial_record import TrialRecord, as_attrs, first_trained, held_attrs, record


def genotype_seed(seed: int, genotype: Any) -> int:
    """A seed fixed by the study seed and the architecture, so one genotype trains identically."""
    return zlib.crc32(f"{seed}:{genotype}".encode())


class FusionObjective:
    """Callable objective for ``optuna.Study.optimize`` (maximise the validation score).

    A candidate is scored on the folds of `automm.search.folds` (one split, or K raced folds): its value
    is the mean of its fold scores. The method's hooks (warm starts, weight sharing) act on the
    first fold only, or on every fold when they keep what they share apart per fold
    (`TrialHooks.every_fold`: KS-NAS's per-fold KBs); either way what fold k's network starts from was
    trained on fold k's training rows only, so no fold is scored by a network that saw its rows,
    directly or through shared weights.
    With ``minimize_params`` it returns (score, parameter count), the second minimised.
    ``on_genotype(trial, genotype)`` runs first in each trial (e.g. to attach a diagram).
    With an ``artifact_store``, a candidate scored on every fold keeps its out-of-fold
    probabilities there (``automm:predictions``) for ensemble selection and, with K > 1 folds, if it
    is among the best ``config.ensemble_size`` and the method delivers them (`SearchMethod.keeps_fold_networks`),
    its fold networks (`automm.store.fold_networks`).
    """

    def __init__(
        self,
        dataset: MultimodalDataset,
        method: SearchMethod,
        space: Any,
        config: SearchConfig,
        *,
        seed: int = 0,
        device: torch.device | None = None,
        minimize_params: bool = False,
        on_genotype: Callable[[optuna.Trial, Any], object] | None = None,
        artifact_store: Any = None,
        fold_data: FoldData | None = None,
        lock_dir: Any = None,
    ) -> None:
        """``fold_data``: the study's folds and their tensors, shared with the rest of the study
        (default: made here from ``config.folds`` and ``seed``); ``lock_dir``: the study lock
        (`automm.store.artifacts.study_lock`), held while kept fold networks are pruned."""
        self.dataset = dataset
        self.method = method
        self.space = space
        self.config = config
        self.train_config = config.train_config()
        self.seed = seed
        self.device = device or default_device()
        self.minimize_params = minimize_params
        self.on_genotype = on_genotype
        self.artifact_store = artifact_store
        self.lock_dir = lock_dir
        self.hooks: TrialHooks = TrialHooks()
        self.entered: set[int] = set()  # trials this process's objective started (`retry_interrupted`)
        self.shared_folds = fold_data or FoldData(dataset, config.folds, seed, self.device)
        self.folds = self.shared_folds.folds
        self.n_folds = len(self.folds)
        self.rungs = rungs(self.n_folds)
        self.epoch_rungs = set(rungs(self.train_config.max_epochs))  # epochs 1, 3, 7, ...
        self.train_data, self.val_data = self.fold_data(0)

    def fold_data(self, k: int) -> tuple[TensorData, TensorData]:
        """Fold ``k``'s training and validation tensors, standardised on its training rows."""
        return self.shared_folds.tensors(k)

    def build(self, genotype: Any, fold: int = 0) -> nn.Module:
        """A freshly initialised network (seeded by the genotype and fold) on the objective's device."""
        seed_torch(fold_seed(self.seed, genotype, fold))
        ds = self.dataset
        space, inner, config = resolve(self.space, genotype, self.config)
        net = self.method.build_net(space, inner, ds.view_dims, ds.n_classes, config)
        return on_device(net, self.device)

    def train(
        self, net: nn.Module, genotype: Any, trial: optuna.Trial | None = None, *, warm: bool = False, fold: int = 0
    ) -> FitResult:
        """Train to convergence on fold ``fold``'s training rows; report each epoch of fold 0 to
        ``trial`` for pruning.

        A ``warm`` net is scored before training (epoch 0), and the method's hooks may change
        the training settings (e.g. a shorter patience for warm starts). A warm start on fold 0 of a
        method that races epochs (`TrialHooks.races_epochs`, with K > 1 folds, or on one split too with
        `TrialHooks.races_one_split`) stops after an epoch rung where it is not in the top of earlier
        warm starts (`goes_on_at_epoch`); the epoch is then the result's ``stopped_at``.
        """
        races = self.hooks.races_epochs and (self.n_folds > 1 or self.hooks.races_one_split)
        race = trial is not None and warm and fold == 0 and races
        best = -np.inf
        peers: list[TrialRecord] | None = None  # read at the first epoch rung, kept for the others
        # Optuna takes no intermediate values with 2 objectives; without a pruner nothing reads them before
        # the trial ends, so they are written together once the fold is trained (one storage transaction)
        reports = trial is not None and not self.minimize_params and fold == 0
        live = reports and _prunes(trial)
        curve: dict[int, float] = {}

        def report(epoch: int, score: float) -> bool:
            nonlocal best, peers
            best = max(best, score)
            if race and epoch in self.epoch_rungs:
                peers = warm_peers(trial.study, trial.number) if peers is None else peers
                if not goes_on_at_epoch(trial.study, trial.number, best, epoch, peers):
                    return True
            if not live:
                if reports:
                    curve[epoch] = score
                return False
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with score {score:.4f}")
            return False

        train, val = self.fold_data(fold)
        settings = resolve(self.space, genotype, self.config)[2].train_config()
        try:
            return fit(
                net,
                train,
                val,
                self.dataset.task,
                self.hooks.train_config(settings, warm),
                seed=fold_seed(self.seed, genotype, fold),
                on_epoch=report,
                score_initial=warm,
            )
        finally:
            if curve:
                optuna_internals.report_together(trial, curve)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        """Score the trial's candidate; a journal trial carries liveness marks meanwhile, and a trial
        stopped by Ctrl-C is retried (a WAITING copy) before the interrupt goes on (`automm.store.liveness`).
        The finished trials it reads (racing peers, earlier results) are those finished when it was asked
        (`optuna_internals.finished_trials_read_once`: Optuna's ask has just read them)."""
        self.entered.add(trial.number)
        own_mark = needs_own_mark(optuna_internals.storage_of(trial.study))
        with (
            LivenessMark(trial) if own_mark else contextlib.nullcontext(),
            optuna_internals.finished_trials_read_once(trial.study, synced=True),
        ):
            try:
                return self._score(trial)
            except KeyboardInterrupt:
                frozen = optuna_internals.frozen(trial)
                if TrialRecord.of(frozen).genotype is not None:  # its candidate is known in full
                    retry(trial.study, frozen)
                raise

    def _score(self, trial: optuna.Trial) -> float | tuple[float, float]:
        started = time.perf_counter()
        # parameters, genotype, diagram, note and KB attributes in one transaction, written before any training
        # (what a Ctrl-C retry reads)
        with optuna_internals.writes_held(trial):
            proposal = self.space.suggest(trial)
            genotype = self.hooks.derive(trial, proposal, *self.fold_data(0))
            # the seconds of a method's own search in the trial (BM-NAS); none when the proposal is the candidate
            searched = 0.0 if genotype is proposal else time.perf_counter() - started
            record(trial, genotype=str(genotype), folds=self.n_folds)
            if self.on_genotype is not None:
                self.on_genotype(trial, genotype)
            cache_key = self.hooks.prepare(trial, genotype)  # written with the results (only completed ones match)

        earlier = first_trained(trial.study, cache_key=cache_key)
        if earlier is not None and earlier.values is not None:  # same architecture, same start: same result
            mine = as_attrs(cache_key=cache_key, duplicate_of=earlier.number, seconds=round(searched, 4))
            user = {**held_attrs(earlier, _REPEATED), **mine}
            system = {k: earlier.system_attrs[k] for k in (keys.PREDICTIONS,) if k in earlier.system_attrs}
            optuna_internals.set_attrs_together(trial, user=user, system=system)
            self.hooks.release(trial)
            return tuple(earlier.values) if self.minimize_params else earlier.values[0]  # type: ignore[return-value]

        # nothing a peer reads before the trial completes: its attributes, curve, KB offers and kept networks'
        # pointers are written in one transaction when it ends (error or not; a trial that dies half-way is
        # failed, not partly scored)
        with optuna_internals.writes_held(trial):
            scores: list[float] = []
            best_epochs: list[int] = []
            epochs, seconds, n_params = 0, 0.0, 0
            predictions: list[tuple[np.ndarray, np.ndarray]] = []
            states: list[dict[str, torch.Tensor]] = []  # the trained fold networks, for delivery
            raced: dict[str, Any] = {}  # how racing stopped it, if it did
            for k, fold in enumerate(self.folds):
                net = self.build(genotype, k)
                hooked = k == 0 or self.hooks.every_fold
                warm = self.hooks.before_fit(trial, net, fold=k) if hooked else False
                if k == 0:
                    n_params = count_parameters(net)
                    record(trial, n_params=n_params)  # a pruned trial ends in fold 0: it keeps its size
                result = self.train(net, genotype, trial, warm=warm, fold=k)
                if k == 0:  # what racing peers read once the trial is complete (`TrialRecord.best_by_epoch`)
                    curve = [round(s, 5) for s in result.curve]
                    first = dict(best_epoch=result.best_epoch, val_curve=curve)
                    if result.initial_score is not None:
                        first["initial_score"] = round(result.initial_score, 5)
                    record(trial, **first)
                if hooked:
                    self.hooks.after_fit(trial, net, result, fold=k)
                scores.append(result.best_score)
                best_epochs.append(result.best_epoch)
                epochs += result.epochs
                seconds += result.seconds
                predictions.append(
                    (fold.val, probabilities(predict_logits(net, self.fold_data(k)[1]), self.dataset.task))
                )
                if self.n_folds > 1 and self.artifact_store is not None and self.method.keeps_fold_networks:
                    states.append({name: t.detach().cpu() for name, t in net.state_dict().items()})
                if result.stopped_at is not None:  # raced out inside fold 0 by its early curve
                    raced = dict(raced_out=True, raced_at_epoch=result.stopped_at)
                    self.hooks.release(trial)
                    break
                if k + 1 < self.n_folds and (k + 1) in self.rungs and not goes_on(trial.study, trial.number, scores):
                    raced = dict(raced_out=True)
                    self.hooks.release(trial)  # its remaining folds are not trained
                    break
            if not raced:
                if self.artifact_store is not None:
                    self._keep_predictions(trial, predictions)
                if states:
                    fold_networks.keep(
                        trial,
                        self.artifact_store,
                        states,
                        float(np.mean(scores)),
                        self.config.ensemble_size,
                        self.lock_dir,
                    )
            record(
                trial,
                **raced,
                cache_key=cache_key,
                fold_scores=[round(s, 6) for s in scores],
                fold_best_epochs=best_epochs,
                epochs=epochs,
                seconds=round(seconds + searched, 4),
            )
        value = float(np.mean(scores))
        if self.minimize_params:
            return value, float(n_params)
        return value

    def _keep_predictions(self, trial: optuna.Trial, predictions: list[tuple[np.ndarray, np.ndarray]]) -> None:
        pointer = artifacts.put_weights(self.artifact_store, fold_networks.out_of_fold_state(predictions), "oof")
        optuna_internals.set_attrs_together(trial, system={keys.PREDICTIONS: pointer})


_REPEATED = ("n_params", "epochs", "best_epoch", "fold_scores", "fold_best_epochs", "raced_out", "raced_at_epoch")


def _prunes(trial: optuna.Trial) -> bool:
    """Whether the study's pruner reads a trial's intermediate values while it runs (it may end it)."""
    return not isinstance(trial.study.pruner, optuna.pruners.NopPruner)


def fold_seed(seed: int, genotype: Any, fold: int) -> int:
    """The training seed of ``genotype`` on ``fold`` (fold 0: `genotype_seed`, as with one split)."""
    return genotype_seed(seed if fold == 0 else seed + 7919 * fold, genotype)
