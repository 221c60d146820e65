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
malformed export into one `AutommError` line. It also reads format 2 (one network). The manifest
guards against corruption and accidental edits, not against someone who rewrites it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from automm.core.atomic import staged_folder
from automm.core.errors import AutommError, option
from automm.core.log import logger
from automm.core.metrics import predict_labels
from automm.data.preprocess import Standardizer
from automm.data.tokens import mask_key, pool_tokens
from automm.delivery.networks import network_from_export
from automm.delivery.onnx_export import EXTRA, ONNX_FILE, onnx_available, verify_onnx, write_onnx
from automm.delivery.words import delivery_words
from automm.engine.bagged import combine
from automm.store.artifacts import sha256

FORMAT_VERSION = 4
READABLE_FORMATS = (2, 3, 4)
MANIFEST = "manifest.json"
FILES = ("genotype.json", "preprocessing.safetensors")  # besides the members' weights and model.onnx
TASKS = ("multiclass", "multilabel")


def member_file(i: int) -> str:
    return "model.safetensors" if i == 0 else f"model_{i}.safetensors"


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
        return _members(self.meta)


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


@dataclass
class FusionModel:
    """A loaded export: standardises raw view arrays and predicts with its network or ensemble."""

    nets: list[nn.Module]
    weights: list[float]
    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def net(self) -> nn.Module:
        """The first (highest-weight) member."""
        return self.nets[0]

    @property
    def genotype(self) -> Any:
        return self.nets[0].genotype

    @property
    def genotypes(self) -> list[Any]:
        return [net.genotype for net in self.nets]

    @property
    def views(self) -> dict[str, int]:
        """The views `predict` needs, by name, with their widths (columns)."""
        return dict(self.meta["view_dims"])

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def test_metrics(self) -> dict[str, float]:
        """The scores on the study's test rows when it was exported (empty if not recorded)."""
        return dict(self.meta.get("test_metrics") or {})

    def __repr__(self) -> str:
        members = delivery_words(self.meta.get("members") or [{"genotype": g} for g in self.genotypes])
        views = ", ".join(f"{v}[{d}]" for v, d in self.views.items())
        metric = self.meta.get("metric")
        score = f", test {metric} {self.test_metrics[metric]:.4f}" if metric in self.test_metrics else ""
        return f"FusionModel({self.task}, {len(self.class_names)} classes, views {views}{score}; {members})"

    @property
    def token_views(self) -> dict[str, int]:
        """The views the model reads as tokens (N, L, d), with the token count L it was trained with."""
        return dict(self.meta.get("token_lengths") or {})

    def _inputs(self, views: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Standardised tensors of the views the model reads. A token view (N, L, d) with its padding
        mask ``views["<view>_mask"]`` (N, L) (absent: no padding): kept as tokens, padding 0, where the
        model reads tokens; else mean-pooled over its real tokens, as the search saw it."""
        out = {}
        n = None
        tokens = self.token_views
        for v, width in self.meta["view_dims"].items():
            if v not in views:
                raise AutommError(f"the model needs view {v!r}; got {', '.join(views) or 'none'}")
            arr = np.asarray(views[v], dtype=np.float32)
            mask = None
            if arr.ndim == 3 and arr.shape[2] == width:
                mask = np.ones(arr.shape[:2], bool) if views.get(mask_key(v)) is None else views[mask_key(v)]
                if np.shape(mask) != arr.shape[:2]:
                    raise AutommError(f"the mask of view {v!r} must be {arr.shape[:2]}, got {np.shape(mask)}")
                mask = np.asarray(mask, dtype=bool)
                if not mask.any(axis=1).all():
                    raise AutommError(f"view {v!r} has rows without any real token in its mask")
                if v not in tokens:
                    arr, mask = pool_tokens(arr, mask), None
                arr = np.where(mask[:, :, None], arr, np.float32(0)) if mask is not None else arr
            shape = f"(N, L, {width})" if v in tokens else f"(N, {width})"
            if arr.ndim != (3 if v in tokens else 2) or arr.shape[-1] != width:
                raise AutommError(f"view {v!r} must be {shape}, got {arr.shape}")
            if n is not None and arr.shape[0] != n:
                raise AutommError(f"view {v!r} has {arr.shape[0]} rows, other views {n}")
            if not np.isfinite(arr).all():
                raise AutommError(f"view {v!r} has NaN or inf values")
            n = arr.shape[0]
            scaled = (arr - self.mean[v]) / self.scale[v]
            if mask is not None:
                scaled = np.where(mask[:, :, None], scaled, np.float32(0))
                out[mask_key(v)] = torch.from_numpy(mask)
            out[v] = torch.from_numpy(scaled.astype(np.float32))
        return out

    @torch.no_grad()
    def predict_logits(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Logits of one network; for an ensemble, scores whose softmax (sigmoid) is `predict_proba`."""
        inputs = self._inputs(views)
        outs = []
        for net in self.nets:
            net.eval()
            outs.append(net(inputs))
        return combine(outs, self.weights, self.meta["task"] == "multiclass").numpy()

    def predict_proba(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Softmax probabilities (multiclass) or per-label sigmoid probabilities (multilabel);
        for an ensemble, the weighted mean of its members'."""
        logits = torch.from_numpy(self.predict_logits(views))
        if self.meta["task"] == "multiclass":
            return torch.softmax(logits, dim=1).numpy()
        return torch.sigmoid(logits).numpy()

    def predict(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Class indices (multiclass) or a 0/1 matrix at the exported threshold (multilabel)."""
        return predict_labels(self.predict_logits(views), self.meta["task"], self.meta["threshold"])


def _members(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The members recorded in ``meta`` (format 2: its one network)."""
    if meta.get("format_version") == 2:
        return [{"genotype": meta.get("genotype"), "weight": 1.0, "file": "model.safetensors"}]
    members = meta.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
        raise AutommError("genotype.json needs a list of members")
    return members


def _verify(path: Path) -> None:
    """Check the manifest: every file present, every sha256 as recorded, the format known."""
    if not path.is_dir():
        raise AutommError(f"{path}: no such export folder")
    if not (path / MANIFEST).is_file():
        raise AutommError(f"{path}: not an automm export of format {FORMAT_VERSION} (no {MANIFEST}); export it again")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        version, recorded = manifest["format_version"], manifest["sha256"]
        if not isinstance(recorded, dict):
            raise TypeError("sha256 must map file names to digests")
    except (ValueError, KeyError, TypeError) as exc:
        raise AutommError(f"{path}: {MANIFEST} is damaged ({exc})") from exc
    if version not in READABLE_FORMATS:
        raise AutommError(f"{path}: export format {version!r}; this automm reads format {FORMAT_VERSION}")
    required = [*FILES, "model.safetensors"]  # format 2 and 3's TorchScript file: checked where recorded
    missing = [f for f in required if not (path / f).is_file()] + [f for f in recorded if not (path / f).is_file()]
    if missing:
        raise AutommError(f"{path}: not an automm export (missing {', '.join(dict.fromkeys(missing))})")
    unrecorded = [f for f in required if f not in recorded]
    if unrecorded:
        raise AutommError(f"{path}: {MANIFEST} does not record {', '.join(unrecorded)}")
    for name, digest in recorded.items():
        if Path(name).name != name or digest != sha256((path / name).read_bytes()):
            raise AutommError(f"{path}: {name} is corrupted or was modified (its sha256 is not the recorded one)")


def _check_meta(path: Path, meta: Any, version: int) -> None:
    if not isinstance(meta, dict):
        raise AutommError(f"{path}: genotype.json must hold an object")
    if meta.get("format_version") != version:
        raise AutommError(f"{path}: export format {meta.get('format_version')!r}; this automm reads {FORMAT_VERSION}")
    if meta.get("task") not in TASKS:
        raise AutommError(f"{path}: unknown task {meta.get('task')!r} in genotype.json")
    names, dims = meta.get("class_names"), meta.get("view_dims")
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
        raise AutommError(f"{path}: genotype.json needs distinct class names")
    if not isinstance(dims, dict) or not all(isinstance(d, int) and d > 0 for d in dims.values()):
        raise AutommError(f"{path}: genotype.json needs positive integer view widths")
    tokens = meta.get("token_lengths", {})
    if not isinstance(tokens, dict) or not all(v in dims and isinstance(n, int) and n > 0 for v, n in tokens.items()):
        raise AutommError(f"{path}: token_lengths must give recorded views positive integer token counts")
    threshold = meta.get("threshold")
    if not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise AutommError(f"{path}: threshold must lie in (0, 1), got {threshold!r}")


def _load_member(path: Path, meta: dict[str, Any], member: dict[str, Any], recorded: dict[str, str]) -> nn.Module:
    name = member.get("file")
    if not isinstance(name, str) or name not in recorded:
        raise AutommError(f"{path}: member weights {name!r} are not recorded in {MANIFEST}")
    net = network_from_export({**meta, **member})
    if not set(net.view_order) <= set(meta["view_dims"]):
        raise AutommError(f"{path}: the genotype's views do not match the recorded views")
    net.load_state_dict(load_file(str(path / name)))
    return net


def load_model(path: str | Path) -> FusionModel:
    """Load and verify an export folder written by `export_model` (safetensors and JSON only)."""
    path = Path(path).expanduser()
    _verify(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        meta = json.loads((path / "genotype.json").read_text())
        _check_meta(path, meta, manifest["format_version"])
        members = _members(meta)
        serving = meta.get("serving", [])
        if not isinstance(serving, list) or any(f not in manifest["sha256"] for f in serving):
            raise AutommError(f"{path}: genotype.json names serving files {MANIFEST} does not record")
        if meta.get("genotype") != members[0].get("genotype"):
            raise AutommError(f"{path}: genotype.json's genotype and its first member's disagree")
        nets = [_load_member(path, meta, m, manifest["sha256"]) for m in members]
        weights = [float(m.get("weight")) for m in members]
        if min(weights) <= 0 or abs(sum(weights) - 1) > 1e-6:
            raise AutommError(f"{path}: member weights must be positive and sum to 1, got {weights}")
        used = sorted({v for net in nets for v in net.view_order})
        if used != sorted(meta["view_dims"]) or used != sorted(meta.get("views", [])):
            raise AutommError(f"{path}: the genotype's views do not match the recorded views")
        stats = load_file(str(path / "preprocessing.safetensors"))
        mean = {v: stats[f"mean/{v}"].numpy() for v in used}
        scale = {v: stats[f"scale/{v}"].numpy() for v in used}
    except AutommError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, OSError, SafetensorError) as exc:
        detail = " ".join(str(exc).split())  # one line: torch's messages span several
        raise AutommError(f"{path}: corrupted automm export ({type(exc).__name__}: {detail[:300]})") from exc
    for v in used:
        width = meta["view_dims"][v]
        if mean[v].shape != (width,) or scale[v].shape != (width,) or not (scale[v] > 0).all():
            raise AutommError(f"{path}: preprocessing of view {v!r} is malformed")
    for net in nets:
        if not all(torch.isfinite(p).all() for p in net.state_dict().values()):
            raise AutommError(f"{path}: the model's weights hold NaN or inf values")
    return FusionModel([net.eval() for net in nets], weights, mean, scale, meta)
