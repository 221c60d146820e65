"""The knowledge base (KB): supernet weights shared by all individuals of a KS-NAS search.

- `Supernet` holds a layer for every role any genotype of the space can use: one alignment
  layer per view, the parametric part of each fusion node by position and operator
  (``fusion.n<j>_concat``), and the head. Its state-dict names are `FusionNet`'s.
- `pretrain_supernet` initialises it by gradient training: each batch trains a randomly
  sampled subnet whose modules are the supernet's own (weights shared).
- `KnowledgeBase` keeps KB versions in the study's Optuna artifact store as safetensors, with
  a pointer ``{artifact_id, sha256, ...}`` per version in the study's system attributes, so
  every worker and a resumed study find the same KB. Version g initialises generation g.
  Version 0 is the pretrained supernet; version g+1 is version g merged with the mean
  weights of generation g's selected individuals (fair selection). Whichever worker first
  needs a version builds it; the build is deterministic and the first pointer written wins.
- Trained weights waiting for the update also live in the artifact store (one file per
  trial, pointer in the trial's system attributes) and are deleted one generation after use.
- `LayerBank` is MFAS's weight sharing, kept the same way: fusion layers by index and shape.
Nothing is ever unpickled: safetensors only, checked against the recorded sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from automm.errors import AutommError
from automm.model import FusionNet, align_layer, fusion_name
from automm.ops import make_op
from automm.space import OPS, Genotype, SearchSpace
from automm.training import TensorData, TrainConfig, loss_function

State = dict[str, torch.Tensor]
KB_ATTR = "automm:kb:"  # + version -> pointer dict (study system attr)
WEIGHTS_ATTR = "automm:weights"  # trial system attr -> pointer dict
WEIGHT_MIMETYPE = "application/octet-stream"


class Supernet(nn.Module):
    """Every layer any genotype over ``view_dims`` with up to ``max_views`` views can use."""

    def __init__(
        self, view_dims: dict[str, int], n_outputs: int, fusion_dim: int, max_views: int, dropout: float
    ) -> None:
        super().__init__()
        self.align = nn.ModuleDict({v: align_layer(d, fusion_dim, dropout) for v, d in view_dims.items()})
        self.fusion = nn.ModuleDict(
            {fusion_name(j, op): make_op(op, fusion_dim) for j in range(max(max_views - 1, 0)) for op in OPS}
        )
        self.head = nn.Linear(fusion_dim, n_outputs)

    def subnet(self, genotype: Genotype) -> FusionNet:
        """A `FusionNet` whose modules are this supernet's (training it trains the supernet)."""
        return FusionNet(genotype, self.align, self.fusion, self.head)


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
) -> PretrainReport:
    """Train ``supernet`` for ``epochs`` epochs, one randomly sampled subnet per batch."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimiser = torch.optim.Adam(supernet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    criterion = loss_function(task)
    supernet.train()
    batches = 0
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator).to(train.labels.device)
        for i in range(0, len(train), config.batch_size):
            idx = order[i : i + config.batch_size]
            net = supernet.subnet(space.random_genotype(rng))
            optimiser.zero_grad(set_to_none=True)
            loss = criterion(net({v: train.views[v][idx] for v in net.view_order}), train.labels[idx])
            loss.backward()
            optimiser.step()
            batches += 1
    return PretrainReport(epochs, batches, time.perf_counter() - start)


def warm_start(net: FusionNet, kb: State) -> None:
    """Copy the KB's weights into ``net`` by layer name."""
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in kb]
    if missing:
        raise AutommError(f"the knowledge base has no layer {missing[0]!r}; was it built for another search space?")
    net.load_state_dict({k: kb[k].to(wanted[k].device) for k in wanted})


def merge_states(kb: State, contributions: list[State], rate: float = 1.0) -> State:
    """New KB: each layer some contributor has becomes ``(1-rate)*kb + rate*mean(contributors)``.

    All contributors started from ``kb`` (same generation), so their mean is a valid update,
    as in federated averaging; layers no contributor used are kept.
    """
    out = {k: v.clone() for k, v in kb.items()}
    for name in kb:
        tensors = [c[name].to(kb[name].dtype) for c in contributions if name in c]
        if tensors:
            mean = torch.stack(tensors).mean(dim=0)
            out[name] = (1.0 - rate) * kb[name] + rate * mean
    return out


def state_to_bytes(state: State) -> bytes:
    return save_safetensors({k: v.detach().cpu().contiguous() for k, v in state.items()})


def state_from_bytes(data: bytes, expected_sha256: str, what: str) -> State:
    """Parse safetensors bytes after checking their sha256; never unpickles."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise AutommError(
            f"{what} is corrupted or was modified (sha256 {digest[:12]} != recorded {expected_sha256[:12]})"
        )
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError) as exc:  # pragma: no cover - hash already matched
        raise AutommError(f"{what} is not a valid safetensors file ({exc})") from exc


def read_artifact(store: Any, artifact_id: str) -> bytes:
    """The bytes of an artifact; `AutommError` if the store lacks it."""
    try:
        with store.open_reader(artifact_id) as reader:
            return reader.read()
    except Exception as exc:  # artifact stores raise their own not-found types
        raise AutommError(f"artifact {artifact_id} is missing from the artifact store ({exc})") from exc


@dataclass(frozen=True)
class KnowledgeSettings:
    """How the KB is built and updated."""

    kb_epochs: int = 20  # supernet pretraining epochs (0: version 0 is the random initialisation)
    fair_selection: bool = True  # False: every trained individual contributes
    merge_rate: float = 1.0  # 1.0 replaces each used layer by the contributors' mean
    warm_patience: int | None = 3  # early-stopping patience of warm-started individuals (None: as cold)

    def __post_init__(self) -> None:
        if self.kb_epochs < 0:
            raise AutommError(f"kb_epochs must be at least 0, got {self.kb_epochs}")
        if self.warm_patience is not None and self.warm_patience < 1:
            raise AutommError(f"warm_patience must be at least 1, got {self.warm_patience}")
        if not 0.0 < self.merge_rate <= 1.0:
            raise AutommError(f"merge_rate must lie in (0, 1], got {self.merge_rate}")


class KnowledgeBase:
    """KB versions for one study, stored in ``artifact_store`` (see module docstring).

    ``parents_of(generation)`` returns the parent population of a generation (from the
    sampler); ``generation_of(trial)`` a trial's generation; ``population_size`` is N.
    """

    def __init__(
        self,
        study: optuna.Study,
        artifact_store: Any,
        *,
        make_supernet: Callable[[], Supernet],
        pretrain: Callable[[Supernet], PretrainReport],
        settings: KnowledgeSettings,
        population_size: int,
        generation_of: Callable[[FrozenTrial], int | None],
        parents_of: Callable[[int], list[FrozenTrial]],
    ) -> None:
        self.study = study
        self.store = artifact_store
        self.make_supernet = make_supernet
        self.pretrain = pretrain
        self.settings = settings
        self.population_size = population_size
        self.generation_of = generation_of
        self.parents_of = parents_of
        self._cache: dict[int, tuple[State, dict[str, Any]]] = {}

    # -- pointers ----------------------------------------------------------------------------
    def _system_attrs(self) -> dict[str, Any]:
        return self.study._storage.get_study_system_attrs(self.study._study_id)

    def pointer(self, version: int) -> dict[str, Any] | None:
        return self._system_attrs().get(f"{KB_ATTR}{version}")

    def versions(self) -> list[dict[str, Any]]:
        """All recorded KB versions' pointers, oldest first."""
        attrs = self._system_attrs()
        found = [v for k, v in attrs.items() if k.startswith(KB_ATTR)]
        return sorted(found, key=lambda p: p["version"])

    # -- reading -----------------------------------------------------------------------------
    def load(self, version: int) -> tuple[State, dict[str, Any]]:
        """KB version ``version`` (building it first if nobody has) and its pointer."""
        if version in self._cache:
            return self._cache[version]
        pointer = self.pointer(version)
        if pointer is None:
            pointer = self._build(version)
        state = state_from_bytes(
            read_artifact(self.store, pointer["artifact_id"]), pointer["sha256"], f"knowledge base v{version}"
        )
        self._cache[version] = (state, pointer)
        return state, pointer

    # -- building ----------------------------------------------------------------------------
    def _commit(self, version: int, state: State, info: dict[str, Any]) -> dict[str, Any]:
        """Upload a version; the first pointer recorded for ``version`` wins."""
        data = state_to_bytes(state)
        sha = hashlib.sha256(data).hexdigest()
        existing = self.pointer(version)
        if existing is not None:
            return existing
        with tempfile.TemporaryDirectory() as tmp:  # upload_artifact takes a file path
            path = f"{tmp}/kb_v{version}.safetensors"
            with open(path, "wb") as f:
                f.write(data)
            artifact_id = upload_artifact(
                artifact_store=self.store, file_path=path, study_or_trial=self.study, mimetype=WEIGHT_MIMETYPE
            )
        pointer = {"version": version, "artifact_id": artifact_id, "sha256": sha, "bytes": len(data), **info}
        if self.pointer(version) is None:
            self.study._storage.set_study_system_attr(self.study._study_id, f"{KB_ATTR}{version}", pointer)
        winner = self.pointer(version)
        assert winner is not None
        return winner

    def _build(self, version: int) -> dict[str, Any]:
        if version == 0:
            supernet = self.make_supernet()
            report = self.pretrain(supernet)
            info = {"pretrain_epochs": report.epochs, "pretrain_seconds": round(report.seconds, 3), "contributors": []}
            return self._commit(0, supernet.state_dict(), info)
        previous, _ = self.load(version - 1)
        chosen = self.contributors(version - 1)
        contributions = [self._trial_weights(t) for t in chosen]
        merged = merge_states(previous, contributions, self.settings.merge_rate)
        pointer = self._commit(version, merged, {"contributors": [t.number for t in chosen]})
        self._drop_weights(version - 2)
        return pointer

    def contributors(self, generation: int) -> list[FrozenTrial]:
        """Generation ``generation``'s individuals whose weights go into the next KB version.

        The generation's first N completed trials (by number) that stored weights; with fair
        selection, `offer` only stores weights of individuals that beat the worst parent.
        """
        members = [
            t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if self.generation_of(t) == generation
        ]
        members = sorted(members, key=lambda t: t.number)[: self.population_size]
        return [t for t in members if WEIGHTS_ATTR in t.system_attrs]

    def threshold(self, generation: int) -> float | None:
        """Fitness an individual of ``generation`` must beat to contribute (None: all do)."""
        if not self.settings.fair_selection or generation == 0:
            return None
        values = [t.values[0] for t in self.parents_of(generation) if t.values]  # the score, first objective
        return min(values) if values else None

    # -- trained weights waiting for the update ----------------------------------------------
    def offer(self, trial: optuna.Trial, generation: int, net: FusionNet, fitness: float) -> bool:
        """Store ``net``'s trained weights if fair selection admits them; return whether it did."""
        bar = self.threshold(generation)
        if bar is not None and not fitness > bar:
            return False
        data = state_to_bytes(net.state_dict())
        artifact_id = f"automm-weights-trial-{trial._trial_id}.safetensors"
        self.store.write(artifact_id, io.BytesIO(data))
        pointer = {"artifact_id": artifact_id, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        self.study._storage.set_trial_system_attr(trial._trial_id, WEIGHTS_ATTR, pointer)
        return True

    def _trial_weights(self, trial: FrozenTrial) -> State:
        pointer = trial.system_attrs[WEIGHTS_ATTR]
        data = read_artifact(self.store, pointer["artifact_id"])
        return state_from_bytes(data, pointer["sha256"], f"weights of trial {trial.number}")

    def _drop_weights(self, generation: int) -> None:
        """Delete the waiting weights of ``generation`` (used by an earlier KB version)."""
        if generation < 0:
            return
        for t in self.study.get_trials(deepcopy=False):
            pointer = t.system_attrs.get(WEIGHTS_ATTR)
            if pointer and self.generation_of(t) == generation:
                with contextlib.suppress(Exception):  # already removed by another worker
                    self.store.remove(pointer["artifact_id"])


BANK_ATTR = "automm:layer_bank"  # study system attr: {"<layer>:<in_width>": pointer}


class LayerBank:
    """MFAS weight sharing: a layer's weights are inherited from the last trained architecture
    whose layer at the same index has the same shape.

    Each trial's fusion-layer weights are one safetensors artifact; the study's system attribute
    maps ``"<layer index>:<input width>"`` to the latest artifact holding that layer, and files
    no key points to any more are deleted (so the store holds at most one file per key).
    """

    def __init__(self, study: optuna.Study, artifact_store: Any) -> None:
        self.study = study
        self.store = artifact_store

    @staticmethod
    def keys(net: nn.Module) -> dict[str, int]:
        """Bank key -> layer index for every fusion layer of an MFAS net."""
        return {f"{i}:{block[0].in_features}": i for i, block in enumerate(net.layers)}

    def _bank(self) -> dict[str, dict[str, Any]]:
        return dict(self.study._storage.get_study_system_attrs(self.study._study_id).get(BANK_ATTR, {}))

    def warm_start(self, net: nn.Module) -> int:
        """Load every layer the bank holds into ``net``; return how many were inherited."""
        bank, loaded, inherited = self._bank(), {}, 0
        state = net.state_dict()
        for key, i in self.keys(net).items():
            pointer = bank.get(key)
            if pointer is None:
                continue
            if pointer["artifact_id"] not in loaded:
                try:
                    data = read_artifact(self.store, pointer["artifact_id"])
                except AutommError:  # replaced and deleted by another worker meanwhile
                    continue
                loaded[pointer["artifact_id"]] = state_from_bytes(data, pointer["sha256"], f"shared layer {key}")
            source = loaded[pointer["artifact_id"]]
            for part in ("weight", "bias"):
                state[f"layers.{i}.0.{part}"] = source[f"{key}.{part}"]
            inherited += 1
        net.load_state_dict(state)
        return inherited

    def offer(self, trial: optuna.Trial, net: nn.Module) -> None:
        """Make ``net``'s trained fusion layers the latest of their keys."""
        state = net.state_dict()
        layers = {
            f"{key}.{part}": state[f"layers.{i}.0.{part}"]
            for key, i in self.keys(net).items()
            for part in ("weight", "bias")
        }
        data = state_to_bytes(layers)
        artifact_id = f"automm-layers-trial-{trial._trial_id}.safetensors"
        self.store.write(artifact_id, io.BytesIO(data))
        pointer = {"artifact_id": artifact_id, "sha256": hashlib.sha256(data).hexdigest(), "trial": trial.number}
        bank = self._bank()
        before = {p["artifact_id"] for p in bank.values()}
        bank.update({key: pointer for key in self.keys(net)})
        self.study._storage.set_study_system_attr(self.study._study_id, BANK_ATTR, bank)
        for stale in before - {p["artifact_id"] for p in bank.values()}:
            with contextlib.suppress(Exception):
                self.store.remove(stale)
