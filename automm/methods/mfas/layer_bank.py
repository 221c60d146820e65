"""`LayerBank`: MFAS weight sharing. A fusion layer inherits the weights of the last trained
architecture whose layer at the same index has the same input width.

Each trial's fusion-layer weights are one safetensors artifact; the study's system attribute
maps ``"<layer index>:<input width>"`` to the latest artifact holding that layer. An offer
updates that map under the study lock (read, update, write: no worker's update is lost), and
files no key points to any more are deleted, so the store holds at most one file per key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from torch import nn

from automm.core import keys
from automm.core.errors import AutommError
from automm.store.artifacts import get_weights, put_weights, remove_artifact, study_lock
from automm.store.optuna_internals import set_study_system_attr, study_system_attrs


class LayerBank:
    """Shared MFAS fusion layers of one study (see module docstring)."""

    def __init__(self, study: optuna.Study, artifact_store: Any, lock_dir: str | Path | None = None) -> None:
        self.study = study
        self.store = artifact_store
        self.lock_dir = lock_dir

    @staticmethod
    def keys(net: nn.Module) -> dict[str, int]:
        """Bank key -> layer index for every fusion layer of an MFAS net."""
        return {f"{i}:{block[0].in_features}": i for i, block in enumerate(net.layers)}

    def bank(self) -> dict[str, dict[str, Any]]:
        return dict(study_system_attrs(self.study).get(keys.LAYER_BANK, {}))

    def warm_start(self, net: nn.Module) -> int:
        """Load every layer the bank holds into ``net``; return how many were inherited."""
        bank, loaded, inherited = self.bank(), {}, 0
        state = net.state_dict()
        for key, i in self.keys(net).items():
            pointer = bank.get(key)
            if pointer is None:
                continue
            if pointer["artifact_id"] not in loaded:
                try:
                    loaded[pointer["artifact_id"]] = get_weights(self.store, pointer, f"shared layer {key}")
                except AutommError as exc:
                    if "missing" not in str(exc):
                        raise  # a modified file is an error; a file replaced meanwhile is not
                    continue
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
        pointer = {**put_weights(self.store, layers, "layers"), "trial": trial.number}
        with study_lock(self.lock_dir):
            bank = self.bank()
            before = {p["artifact_id"] for p in bank.values()}
            bank.update({key: pointer for key in self.keys(net)})
            set_study_system_attr(self.study, keys.LAYER_BANK, bank)
            stale = before - {p["artifact_id"] for p in bank.values()}
            for artifact_id in stale:
                remove_artifact(self.store, artifact_id)
