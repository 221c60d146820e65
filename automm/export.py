"""Deliver a trained fusion network: export to a folder, load it back verified, predict on new features.

An export folder holds
- ``genotype.json``: method, genotype, view names and widths, task, class names, threshold, provenance;
- ``model.safetensors``: the network's weights;
- ``preprocessing.safetensors``: per-view ``mean/<view>`` and ``scale/<view>`` of standardisation;
- ``model.torchscript.pt``: a traced module taking raw (unstandardised) view tensors to logits,
  for serving without automm (``torch.jit.load``);
- ``manifest.json``: the sha256 of every file above.
The folder is written whole (staged beside the target, then renamed) and an existing export
is replaced only with ``overwrite``. `load_model` verifies every checksum and the format
version, reads only the JSON and the safetensors files (nothing is unpickled), and turns any
malformed export into one `AutommError` line. The manifest guards against corruption and
accidental edits, not against someone who rewrites it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from automm.artifacts import sha256
from automm.data.preprocess import Standardizer
from automm.errors import AutommError
from automm.files import staged_folder
from automm.methods import network_from_export
from automm.metrics import predict_labels

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
FILES = ("genotype.json", "model.safetensors", "preprocessing.safetensors", "model.torchscript.pt")
TASKS = ("multiclass", "multilabel")


class _ServingModule(nn.Module):
    """Standardise raw views, then run the fusion net (what the TorchScript file contains)."""

    def __init__(self, net: nn.Module, standardizer: Standardizer) -> None:
        super().__init__()
        self.net = net
        self.views = list(net.view_order)
        for i, v in enumerate(self.views):
            self.register_buffer(f"mean_{i}", torch.from_numpy(standardizer.mean[v]))
            self.register_buffer(f"scale_{i}", torch.from_numpy(standardizer.scale[v]))

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        scaled = {
            v: (views[v] - getattr(self, f"mean_{i}")) / getattr(self, f"scale_{i}") for i, v in enumerate(self.views)
        }
        return self.net(scaled)


def export_model(
    net: nn.Module,
    standardizer: Standardizer,
    out_dir: str | Path,
    *,
    task: str,
    class_names: list[str],
    view_dims: dict[str, int],
    threshold: float,
    info: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``net`` (a method's network with ``genotype`` and ``view_order``) and its preprocessing.

    ``info`` must hold what `automm.methods.network_from_export` needs to rebuild the network
    (``space`` and its widths, see `SearchMethod.export_info`). Refuses a non-empty ``out_dir``
    unless ``overwrite``; the folder is replaced whole or left as it was.
    """
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise AutommError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise AutommError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace it")
    net = net.cpu().eval()
    views = list(net.view_order)
    meta = {
        "format_version": FORMAT_VERSION,
        **info,
        "genotype": str(net.genotype),
        "views": views,
        "view_dims": {v: int(view_dims[v]) for v in views},
        "task": task,
        "class_names": list(class_names),
        "threshold": threshold,
    }
    with staged_folder(out) as stage:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(stage / "model.safetensors"))
        stats = {f"mean/{v}": torch.from_numpy(standardizer.mean[v]) for v in views}
        stats |= {f"scale/{v}": torch.from_numpy(standardizer.scale[v]) for v in views}
        save_file(stats, str(stage / "preprocessing.safetensors"))
        serving = _ServingModule(net, standardizer).eval()
        example = {v: torch.zeros(2, view_dims[v]) for v in views}
        with warnings.catch_warnings():  # TorchScript is deprecated in torch >= 2.10 but still loads everywhere
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.trace(serving, (example,), strict=False).save(str(stage / "model.torchscript.pt"))
        (stage / "genotype.json").write_text(json.dumps(meta, indent=2))
        manifest = {"format_version": FORMAT_VERSION, "sha256": {f: sha256((stage / f).read_bytes()) for f in FILES}}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out


@dataclass
class FusionModel:
    """A loaded export: standardises raw view arrays and predicts."""

    net: nn.Module
    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def genotype(self) -> Any:
        return self.net.genotype

    def _inputs(self, views: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {}
        n = None
        for v, width in self.meta["view_dims"].items():
            if v not in views:
                raise AutommError(f"the model needs view {v!r}; got {', '.join(views) or 'none'}")
            arr = np.asarray(views[v], dtype=np.float32)
            if arr.ndim != 2 or arr.shape[1] != width:
                raise AutommError(f"view {v!r} must be (N, {width}), got {arr.shape}")
            if n is not None and arr.shape[0] != n:
                raise AutommError(f"view {v!r} has {arr.shape[0]} rows, other views {n}")
            if not np.isfinite(arr).all():
                raise AutommError(f"view {v!r} has NaN or inf values")
            n = arr.shape[0]
            out[v] = torch.from_numpy((arr - self.mean[v]) / self.scale[v])
        return out

    @torch.no_grad()
    def predict_logits(self, views: dict[str, np.ndarray]) -> np.ndarray:
        self.net.eval()
        return self.net(self._inputs(views)).numpy()

    def predict_proba(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Softmax probabilities (multiclass) or per-label sigmoid probabilities (multilabel)."""
        logits = torch.from_numpy(self.predict_logits(views))
        if self.meta["task"] == "multiclass":
            return torch.softmax(logits, dim=1).numpy()
        return torch.sigmoid(logits).numpy()

    def predict(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Class indices (multiclass) or a 0/1 matrix at the exported threshold (multilabel)."""
        return predict_labels(self.predict_logits(views), self.meta["task"], self.meta["threshold"])


def _verify(path: Path) -> None:
    """Check the manifest: every file present, every sha256 as recorded, the format known."""
    if not path.is_dir():
        raise AutommError(f"{path}: no such export folder")
    if not (path / MANIFEST).is_file():
        raise AutommError(f"{path}: not an automm export of format {FORMAT_VERSION} (no {MANIFEST}); export it again")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        version, recorded = manifest["format_version"], manifest["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AutommError(f"{path}: {MANIFEST} is damaged ({exc})") from exc
    if version != FORMAT_VERSION:
        raise AutommError(f"{path}: export format {version!r}; this automm reads format {FORMAT_VERSION}")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise AutommError(f"{path}: not an automm export (missing {', '.join(missing)})")
    for name in FILES:
        if recorded.get(name) != sha256((path / name).read_bytes()):
            raise AutommError(f"{path}: {name} is corrupted or was modified (its sha256 is not the recorded one)")


def _check_meta(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict):
        raise AutommError(f"{path}: genotype.json must hold an object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise AutommError(f"{path}: export format {meta.get('format_version')!r}; this automm reads {FORMAT_VERSION}")
    if meta.get("task") not in TASKS:
        raise AutommError(f"{path}: unknown task {meta.get('task')!r} in genotype.json")
    names, dims = meta.get("class_names"), meta.get("view_dims")
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
        raise AutommError(f"{path}: genotype.json needs distinct class names")
    if not isinstance(dims, dict) or not all(isinstance(d, int) and d > 0 for d in dims.values()):
        raise AutommError(f"{path}: genotype.json needs positive integer view widths")
    threshold = meta.get("threshold")
    if not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise AutommError(f"{path}: threshold must lie in (0, 1), got {threshold!r}")


def load_model(path: str | Path) -> FusionModel:
    """Load and verify an export folder written by `export_model` (safetensors and JSON only)."""
    path = Path(path).expanduser()
    _verify(path)
    try:
        meta = json.loads((path / "genotype.json").read_text())
        _check_meta(path, meta)
        net = network_from_export(meta)
        if list(net.view_order) != list(meta["view_dims"]) or sorted(net.view_order) != sorted(meta.get("views", [])):
            raise AutommError(f"{path}: the genotype's views do not match the recorded views")
        net.load_state_dict(load_file(str(path / "model.safetensors")))
        stats = load_file(str(path / "preprocessing.safetensors"))
        mean = {v: stats[f"mean/{v}"].numpy() for v in net.view_order}
        scale = {v: stats[f"scale/{v}"].numpy() for v in net.view_order}
    except AutommError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, OSError, SafetensorError) as exc:
        detail = " ".join(str(exc).split())  # one line: torch's messages span several
        raise AutommError(f"{path}: corrupted automm export ({type(exc).__name__}: {detail[:300]})") from exc
    for v in net.view_order:
        width = meta["view_dims"][v]
        if mean[v].shape != (width,) or scale[v].shape != (width,) or not (scale[v] > 0).all():
            raise AutommError(f"{path}: preprocessing of view {v!r} is malformed")
    if not all(torch.isfinite(p).all() for p in net.state_dict().values()):
        raise AutommError(f"{path}: the model's weights hold NaN or inf values")
    return FusionModel(net.eval(), mean, scale, meta)
