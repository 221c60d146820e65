"""Deliver a trained fusion network, or an ensemble of them: export to a folder, load it back verified, predict.

An export folder holds
- ``genotype.json``: method, the members (genotype, views, weight, weights file), the union of
  their view names and widths, task, class names, threshold, provenance;
- ``model.safetensors`` (first member), ``model_1.safetensors``, ...: each member's weights (a member
  recorded with ``bagged: K`` is K networks of its genotype whose probabilities are averaged);
- ``preprocessing.safetensors``: per-view ``mean/<view>`` and ``scale/<view>`` of standardisation
  (per channel for a token view);
- ``model.onnx`` (with the ``onnx`` extra, `automm.delivery.onnx_export`): raw (unstandardised) views
  in, ``logits`` and ``probabilities`` out, for serving with ONNX Runtime alone; written only after
  ONNX Runtime's probabilities matched the export's own on sample rows (``serving`` in
  ``genotype.json`` lists it). A model that reads token views (``token_lengths``) takes each as
  (N, L, d) with its (N, L) bool padding mask ``<view>_mask``;
- ``manifest.json``: the sha256 of every file above.
Format 3 exports held a TorchScript file (``model.torchscript.pt``) instead of ``model.onnx``;
TorchScript is deprecated in PyTorch, so format 4 dropped it (format 3 folders still load).
The folder is written whole (staged beside the target, then renamed) and an existing export
is replaced only with ``overwrite``. `load_model` verifies every checksum and the format
version, reads only the JSON and the safetensors files (nothing is unpickled), and turns any
malformed export into one `AutommError` line (`automm.delivery.loading`). It also reads format 2 (one
network). The manifest guards against corruption and accidental edits, not against someone who rewrites it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from automm.core.atomic import staged_folder
from automm.core.errors import AutommError, option
from automm.core.log import logger
from automm.data.preprocess import Standardizer
from automm.data.tokens import mask_key
from automm.delivery.loading import (
    FILES,
    FORMAT_VERSION,
    MANIFEST,
    READABLE_FORMATS,
    FusionModel,
    load_model,
    member_file,
    members_of,
)
from automm.delivery.onnx_export import EXTRA, ONNX_FILE, onnx_available, verify_onnx, write_onnx
from automm.engine.bagged import combine
from automm.store.artifacts import sha256

__all__ = [  # the loading side re-exported: `automm.delivery.export` stays the one place to import from
    "FILES",
    "FORMAT_VERSION",
    "MANIFEST",
    "READABLE_FORMATS",
    "ExportedModel",
    "FusionModel",
    "export_model",
    "load_model",
    "member_file",
]


class _ServingModule(nn.Module):
    """Standardise raw views, run every member, combine (what ``model.onnx`` computes)."""

    def __init__(
        self,
        nets: list[nn.Module],
        weights: list[float],
        standardizer: Standardizer,
        task: str,
        token_views: set[str],
    ) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.weights = [float(w) for w in weights]
        self.multiclass = task == "multiclass"
        self.views = sorted({v for net in nets for v in net.view_order})
        self.token_views = sorted(token_views & set(self.views))
        for i, v in enumerate(self.views):
            self.register_buffer(f"mean_{i}", torch.from_numpy(standardizer.mean[v]))
            self.register_buffer(f"scale_{i}", torch.from_numpy(standardizer.scale[v]))

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        scaled = {
            v: (views[v] - getattr(self, f"mean_{i}")) / getattr(self, f"scale_{i}") for i, v in enumerate(self.views)
        }
        for v in self.token_views:  # padding is 0 after standardisation, as in training
            mask = views[mask_key(v)]
            scaled[v] = scaled[v] * mask.unsqueeze(-1).to(scaled[v].dtype)
            scaled[mask_key(v)] = mask
        return combine([net(scaled) for net in self.nets], self.weights, self.multiclass)


@dataclass(frozen=True)
class ExportedModel:
    """An export folder and the ``genotype.json`` metadata written into it."""

    path: Path
    meta: dict[str, Any]

    @property
    def members(self) -> list[dict[str, Any]]:
        return members_of(self.meta)


def export_model(
    nets: nn.Module | list[nn.Module],
    standardizer: Standardizer,
    out_dir: str | Path,
    *,
    task: str,
    class_names: list[str],
    view_dims: dict[str, int],
    threshold: float,
    info: dict[str, Any],
    weights: list[float] | None = None,
    member_info: list[dict[str, Any]] | None = None,
    token_lengths: dict[str, int] | None = None,
    overwrite: bool = False,
    onnx: bool | None = None,
) -> ExportedModel:
    """Write ``nets`` (one network or ensemble members: a method's networks with ``genotype`` and
    ``view_order``), their ``weights`` (default equal) and the preprocessing. ``token_lengths``: the
    token views the networks read as tokens, with the token count L of the training data.

    ``info`` must hold what `automm.delivery.networks.network_from_export` needs to rebuild a network
    (``space`` and its widths, see `SearchMethod.export_info`); ``member_info`` the same per member,
    where members differ (searched training settings such as the fusion width). Refuses a non-empty ``out_dir``
    unless ``overwrite``; the folder is replaced whole or left as it was. ``onnx``: write ``model.onnx``
    (True: or fail; None: when the ``onnx`` extra is installed; False: never); it is verified before the
    folder is put in place. Returns the folder and the metadata written (so a caller need not read
    ``genotype.json`` back).
    """
    if onnx and not onnx_available():
        raise AutommError(f"writing {ONNX_FILE} needs ONNX: {EXTRA}")
    with_onnx = onnx_available() if onnx is None else onnx
    if onnx is None and not with_onnx:
        logger.warning(f"{ONNX_FILE} not written (serving without automm needs it): {EXTRA}")
    members = [nets] if isinstance(nets, nn.Module) else list(nets)
    if not members:
        raise AutommError("an export needs at least one network")
    weights = [1.0 / len(members)] * len(members) if weights is None else [float(w) for w in weights]
    if len(weights) != len(members) or min(weights) <= 0:
        raise AutommError("an ensemble needs one positive weight per member")
    weights = [w / sum(weights) for w in weights]
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise AutommError(f"{out} exists and is not a folder; choose another {option('out')}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise AutommError(f"{out} is not empty; pass {option('overwrite', 'True')} to replace it")
    members = [net.cpu().eval() for net in members]
    views = sorted({v for net in members for v in net.view_order})
    tokens = {v: int(n) for v, n in (token_lengths or {}).items() if v in views}
    meta = {
        "format_version": FORMAT_VERSION,
        **info,
        "genotype": str(members[0].genotype),
        "members": [
            {
                **((member_info or [{}] * len(members))[i]),
                "genotype": str(net.genotype),
                "views": list(net.view_order),
                "weight": w,
                "file": member_file(i),
            }
            for i, (net, w) in enumerate(zip(members, weights, strict=True))
        ],
        "views": views,
        "view_dims": {v: int(view_dims[v]) for v in views},
        **({"token_lengths": tokens} if tokens else {}),
        "task": task,
        "class_names": list(class_names),
        "threshold": threshold,
        "serving": [ONNX_FILE] if with_onnx else [],
    }
    with staged_folder(out) as stage:
        files = list(FILES)
        for i, net in enumerate(members):
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(stage / member_file(i)))
            files.append(member_file(i))
        stats = {f"mean/{v}": torch.from_numpy(standardizer.mean[v]) for v in views}
        stats |= {f"scale/{v}": torch.from_numpy(standardizer.scale[v]) for v in views}
        save_file(stats, str(stage / "preprocessing.safetensors"))
        (stage / "genotype.json").write_text(json.dumps(meta, indent=2))
        if with_onnx:
            serving = _ServingModule(members, weights, standardizer, task, set(tokens)).eval()
            write_onnx(
                serving,
                stage / ONNX_FILE,
                views=views,
                view_dims=meta["view_dims"],
                token_lengths=tokens,
                multiclass=task == "multiclass",
            )
            files.append(ONNX_FILE)
        manifest = {"format_version": FORMAT_VERSION, "sha256": {f: sha256((stage / f).read_bytes()) for f in files}}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if with_onnx:  # the folder as a user will load it, against ONNX Runtime on the same rows
            verify_onnx(stage / ONNX_FILE, load_model(stage))
    return ExportedModel(out, meta)
