"""The knowledge base (KB): supernet weights shared by all individuals of a KS-NAS search.

- `pretrain_supernet` initialises a `Supernet` by gradient training: each batch trains a
  randomly sampled subnet whose modules are the supernet's own (weights shared).
- `KnowledgeBase` keeps KB versions in the study's Optuna artifact store as safetensors, with
  a pointer ``{version, artifact_id, sha256, ...}`` per version in the study's system
  attributes, so every worker and a resumed study find the same KB. Version g initialises
  generation g. Version 0 is the pretrained supernet; version g+1 is version g merged with the
  mean weights of generation g's selected individuals (fair selection).
- Under K-fold selection there is one KB per fold (``fold``): fold k's KB is pretrained on fold
  k's training rows and merged only from networks trained on fold k's training rows, so a warm
  start of fold k never carries knowledge of the rows that score it. Fold 0's KB keeps the keys of
  the single KB of earlier studies.
- Whichever worker first needs a version builds it while holding the study lock; the others
  wait and then read its pointer, so each version is built once and never replaced.
- Trained weights waiting for the update also live in the artifact store (one file per
  trial, pointer in the trial's system attributes) and are deleted one generation after use.
- The store stays bounded: KB versions and waiting weights are kept at rest in
  ``KnowledgeSettings.stored_dtype`` (float16 by default; merges and warm starts compute in float32), and
  building version v deletes every older version but v-1 that no trial of the delivery pool
  (`automm.store.trial_record.delivery_pool`) started from. A trial can only leave that pool, never
  re-enter it, so a pruned version is never needed again; its pointer stays, marked ``pruned``.
Nothing is ever unpickled: safetensors only, checked against the recorded sha256.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.core.device import seed_torch
from automm.core.errors import AutommError
from automm.core.progress import step
from automm.engine.optimiser import adam
from automm.engine.training import TensorData, TrainConfig, assign_weights, loss_function, train_epoch
from automm.methods.ksnas.model import FusionNet, Supernet
from automm.methods.ksnas.sampler import trial_generation
from automm.methods.ksnas.settings import KnowledgeSettings
from automm.methods.ksnas.space import SearchSpace
from automm.store.artifacts import (
    WEIGHT_MIMETYPE,
    State,
    get_weights,
    put_weights,
    remove_artifact,
    study_lock,
    write_weights,
)
from automm.store.optuna_internals import (
    artifact_listing,
    set_study_system_attr,
    set_study_system_attrs_together,
    study_system_attrs_starting,
)
from automm.store.trial_record import delivery_pool

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)  # every state a trial ends in

PRETRAINING = "pretraining the knowledge base (supernet)"


@dataclass(frozen=True)
class PretrainReport:
    epochs: int
    batches: int
    seconds: float


def pretrain_supernet(
    supernet: Supernet,
    space: SearchSpace,
    train: TensorData,
    task: str,
    config: TrainConfig,
    *,
    epochs: int,
    seed: int,
    patience: int | None = None,
) -> PretrainReport:
    """Train ``supernet`` for up to ``epochs`` epochs, one randomly sampled subnet per batch.

    With ``patience``, a seeded `HOLDOUT_SHARE` of ``train``'s rows is held out (never trained on)
    and pretraining stops once the mean holdout loss of `PROBE_SUBNETS` fixed random subnets has not
    improved for ``patience`` epochs; the best epoch's weights are kept. Only ``train``'s rows are
    used, so the stopping point knows nothing of the rows that score the warm starts. Below
    `MIN_HOLDOUT` holdout rows it trains all ``epochs`` on every row.
    """
    start = time.perf_counter()
    seed_torch(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    holdout, probes = None, []
    n_holdout = round(HOLDOUT_SHARE * len(train))
    if patience is not None and n_holdout >= MIN_HOLDOUT and epochs > 0:
        order = torch.from_numpy(np.random.default_rng(seed + 1).permutation(len(train)))
        holdout, train = train.subset(order[:n_holdout]), train.subset(order[n_holdout:])
        probe_rng = np.random.default_rng(seed + 2)
        probes = [space.random_genotype(probe_rng) for _ in range(PROBE_SUBNETS)]
    optimiser = adam(supernet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    criterion = loss_function(task)
    supernet.train()
    batches, trained = 0, 0
    best_loss, best_epoch, best_state = float("inf"), 0, None
    step(PRETRAINING, 0, epochs, "epochs")
    for epoch in range(1, epochs + 1):
        batches += train_epoch(
            lambda: supernet.subnet(space.random_genotype(rng)),
            train,
            optimiser,
            criterion,
            config.batch_size,
            generator,
        )
        trained = epoch
        step(PRETRAINING, epoch, epochs, "epochs")
        if holdout is None:
            continue
        loss = _holdout_loss(supernet, probes, holdout, criterion)
        supernet.train()
        if loss < best_loss:
            best_loss, best_epoch = loss, epoch
            best_state = {k: v.detach().clone() for k, v in supernet.state_dict().items()}
        elif epoch - best_epoch >= patience:  # type: ignore[operator]
            break
    if best_state is not None:
        supernet.load_state_dict(best_state)
    if trained < epochs:  # stopped early: the step is over all the same
        step(PRETRAINING, epochs, epochs, "epochs")
    return PretrainReport(trained, batches, time.perf_counter() - start)


HOLDOUT_SHARE = 0.1  # of the KB's training rows, held out to decide when pretraining stops
MIN_HOLDOUT = 20  # fewer holdout rows than this: no early stop (too noisy to stop on)
PROBE_SUBNETS = 4  # fixed random subnets whose mean holdout loss decides


@torch.no_grad()
def _holdout_loss(supernet: Supernet, probes: list[Any], holdout: TensorData, criterion: torch.nn.Module) -> float:
    """Mean loss on ``holdout`` of the subnets ``probes`` (genotypes), in eval mode."""
    supernet.eval()
    losses = []
    for genotype in probes:
        net = supernet.subnet(genotype)
        logits = torch.cat([net(holdout.batch(slice(i, i + 4096))) for i in range(0, len(holdout), 4096)])
        losses.append(float(criterion(logits, holdout.labels)))
    return float(np.mean(losses))


def warm_start(net: FusionNet, kb: State) -> None:
    """Copy the KB's weights into ``net`` by layer name."""
    assign_weights(net.state_dict(), kb, "the knowledge base")


def merge_states(kb: State, contributions: list[State], rate: float = 1.0) -> State:
    """New KB: each layer some contributor has becomes ``(1-rate)*kb + rate*mean(contributors)``,
    computed in float32 whatever the dtypes at rest (the result is float32).

    All contributors started from ``kb`` (same generation), so their mean is a valid update,
    as in federated averaging; layers no contributor used are kept.
    """
    out = for_compute(kb)
    for name in kb:
        tensors = [c[name].to(out[name].dtype) for c in contributions if name in c]
        if tensors:
            mean = torch.stack(tensors).mean(dim=0)
            out[name] = (1.0 - rate) * out[name] + rate * mean
    return out


def at_rest(state: State, dtype: str) -> State:
    """``state`` with its floating-point tensors in ``dtype`` (``"float16"`` or ``"float32"``) for storing."""
    target = getattr(torch, dtype)
    return {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}


def for_compute(state: State) -> State:
    """``state`` with its floating-point tensors in float32 (a copy)."""
    return {k: v.float() if v.is_floating_point() else v.clone() for k, v in state.items()}


def pointer_key(fold: int, version: int) -> str:
    return f"{keys.KB_POINTER}{version}" if fold == 0 else f"{keys.KB_FOLD_POINTER}{fold}:{version}"


def weights_key(fold: int) -> str:
    """The trial system attribute holding a trial's fold-``fold`` weights waiting for the next KB version."""
    return keys.TRIAL_WEIGHTS if fold == 0 else f"{keys.TRIAL_WEIGHTS}:fold{fold}"


def kb_versions(study: optuna.Study, fold: int = 0) -> list[dict[str, Any]]:
    """Fold ``fold``'s recorded KB versions' pointers, oldest first (reads the storage only)."""
    prefix = keys.KB_POINTER if fold == 0 else f"{keys.KB_FOLD_POINTER}{fold}:"
    found = list(study_system_attrs_starting(study, prefix).values())
    return sorted(found, key=lambda p: p["version"])


@dataclass(frozen=True)
class KnowledgeBuilder:
    """What building new KB versions needs (reading existing ones needs none of it)."""

    make_supernet: Callable[[], Supernet]
    pretrain: Callable[[Supernet], PretrainReport]
    population_size: int
    parents_of: Callable[[int], list[FrozenTrial]]  # a generation's parent population (from the sampler)


class KnowledgeBase:
    """KB versions of one study, kept in ``artifact_store`` (see module docstring).

    ``lock_dir`` is the folder all workers share (the artifact folder); ``builder`` is needed
    only to build versions nobody has built yet.
    """

    def __init__(
        self,
        study: optuna.Study,
        artifact_store: Any,
        settings: KnowledgeSettings | None = None,
        *,
        lock_dir: str | Path | None = None,
        builder: KnowledgeBuilder | None = None,
        fold: int = 0,
    ) -> None:
        self.fold = fold
        self.study = study
        self.store = artifact_store
        self.settings = settings or KnowledgeSettings()
        self.lock_dir = lock_dir
        self.builder = builder
        self._cache: dict[int, tuple[State, dict[str, Any]]] = {}
        self._thresholds: dict[int, float | None] = {}  # a generation's parents are fixed once it begins

    def pointer(self, version: int) -> dict[str, Any] | None:
        key = pointer_key(self.fold, version)
        return study_system_attrs_starting(self.study, key).get(key)

    def versions(self) -> list[dict[str, Any]]:
        return kb_versions(self.study, self.fold)

    def available(self, version: int) -> bool:
        """Whether version ``version`` is built and not pruned."""
        pointer = self.pointer(version)
        return pointer is not None and not pointer.get("pruned")

    def load(self, version: int) -> tuple[State, dict[str, Any]]:
        """KB version ``version`` (built first if nobody has; float32) and its pointer."""
        if version in self._cache:
            return self._cache[version]
        pointer = self.pointer(version)
        if pointer is None:
            if self.builder is None:
                raise AutommError(
                    f"knowledge base {self._name(version)} was never built in study {self.study.study_name!r}"
                )
            with study_lock(self.lock_dir):
                pointer = self.pointer(version) or self._build(version)
        if pointer.get("pruned"):
            raise AutommError(
                f"knowledge base {self._name(version)} of study {self.study.study_name!r} was pruned: "
                "no trial the delivery may draw from started from it"
            )
        state = for_compute(get_weights(self.store, pointer, f"knowledge base {self._name(version)}"))
        self._cache[version] = (state, pointer)
        for old in [v for v in self._cache if v < version - 1]:  # memory: two versions per fold at most
            del self._cache[old]
        return state, pointer

    def _name(self, version: int) -> str:
        return f"v{version}" if self.fold == 0 else f"v{version} of fold {self.fold}"

    def _build(self, version: int) -> dict[str, Any]:
        """Build and record ``version`` (the caller holds the study lock)."""
        assert self.builder is not None
        if version == 0:
            supernet = self.builder.make_supernet()
            report = self.builder.pretrain(supernet)
            state: State = supernet.state_dict()
            info = {"pretrain_epochs": report.epochs, "pretrain_seconds": round(report.seconds, 3), "contributors": []}
        else:
            previous, _ = self.load(version - 1)
            chosen = self.contributors(version - 1)
            contributions = [
                get_weights(self.store, t.system_attrs[weights_key(self.fold)], f"weights of trial {t.number}")
                for t in chosen
            ]
            state = merge_states(previous, contributions, self.settings.merge_rate)
            info = {"contributors": [t.number for t in chosen]}
        name = f"kb_v{version}.safetensors" if self.fold == 0 else f"kb_fold{self.fold}_v{version}.safetensors"
        stored = write_weights(self.store, at_rest(state, self.settings.stored_dtype))
        pointer = {"version": version, **stored, **info, "dtype": self.settings.stored_dtype}
        listing = artifact_listing(stored["artifact_id"], name, WEIGHT_MIMETYPE)  # shown in optuna-dashboard
        set_study_system_attrs_together(self.study, {**listing, pointer_key(self.fold, version): pointer})
        self._drop_weights(version - 2)
        if self.settings.prune_versions:
            self._prune(version)
        return pointer

    def _prune(self, newest: int) -> list[int]:
        """Delete the versions older than ``newest - 1`` that no trial of the delivery pool started from
        (the caller holds the study lock); return them. Their pointers stay, marked ``pruned``."""
        # the pool is made of completed trials: a read of finished trials, which a trial's objective answers
        # from the read of its ask (`optuna_internals.finished_trials_read_once`)
        pool = delivery_pool(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        needed = {int(t.user_attrs[keys.KB_VERSION]) for t in pool if keys.KB_VERSION in t.user_attrs}
        pruned = []
        for pointer in self.versions():
            version = int(pointer["version"])
            if version >= newest - 1 or version in needed or pointer.get("pruned"):
                continue
            remove_artifact(self.store, pointer["artifact_id"])
            set_study_system_attr(self.study, pointer_key(self.fold, version), {**pointer, "pruned": True})
            self._cache.pop(version, None)
            pruned.append(version)
        return pruned

    def contributors(self, generation: int) -> list[FrozenTrial]:
        """Generation ``generation``'s individuals whose weights go into the next KB version.

        The generation's first N completed trials (by number) that stored weights; with fair
        selection, only individuals that beat the worst parent (`admits`) stored theirs (`keep`).
        """
        assert self.builder is not None
        members = [
            t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if trial_generation(t) == generation
        ]
        members = sorted(members, key=lambda t: t.number)[: self.builder.population_size]
        return [t for t in members if weights_key(self.fold) in t.system_attrs]

    def threshold(self, generation: int) -> float | None:
        """Fitness an individual of ``generation`` must beat to contribute (None: all do)."""
        if not self.settings.fair_selection or generation == 0 or self.builder is None:
            return None
        if generation not in self._thresholds:
            values = [t.values[0] for t in self.builder.parents_of(generation) if t.values]  # the score
            self._thresholds[generation] = min(values) if values else None
        return self._thresholds[generation]

    def admits(self, generation: int, fitness: float) -> bool:
        """Whether fair selection lets an individual of ``generation`` with ``fitness`` contribute."""
        bar = self.threshold(generation)
        return bar is None or fitness > bar

    def keep(self, state: State) -> dict[str, Any]:
        """Store trained weights waiting for the next merge: the trial system attribute (key -> pointer)
        that lets `contributors` find them; the caller writes it into the trial."""
        return {weights_key(self.fold): put_weights(self.store, at_rest(state, self.settings.stored_dtype), "weights")}

    def _drop_weights(self, generation: int) -> None:
        """Delete the waiting weights of ``generation`` (used by an earlier KB version)."""
        if generation < 0:
            return
        # a trial's weights are written as it ends (completed, failed or pruned): finished trials only
        for t in self.study.get_trials(deepcopy=False, states=_FINISHED):
            pointer = t.system_attrs.get(weights_key(self.fold))
            if pointer and trial_generation(t) == generation:
                remove_artifact(self.store, pointer["artifact_id"])
