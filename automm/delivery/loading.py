"""Loading an export folder back, verified: `load_model` and the `FusionModel` it returns.

`load_model` checks every file against ``manifest.json``'s sha256 and the format version, reads only the
JSON and the safetensors files (nothing is unpickled), and turns any malformed export into one
`AutommError` line. It reads formats 2 (one network), 3 (with a TorchScript file, no longer written) and
4 (with ``model.onnx``). The folder's layout is in `automm.delivery.export`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from automm.core.errors import AutommError
from automm.core.metrics import predict_labels
from automm.data.tokens import mask_key, pool_tokens
from automm.delivery.networks import network_from_export
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


def members_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
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
        members = members_of(meta)
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
