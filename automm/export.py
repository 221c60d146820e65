"""Deliver a trained fusion network: export to a directory, load it back, predict on new features.

An export directory holds
- ``genotype.json``: genotype, view names and widths, task, class names, threshold, FD, provenance;
- ``model.safetensors``: the network's weights;
- ``preprocessing.safetensors``: per-view ``mean/<view>`` and ``scale/<view>`` of standardisation;
- ``model.torchscript.pt``: a traced module taking raw (unstandardised) view tensors to logits,
  for serving without automm (``torch.jit.load``).
`load_model` reads only the JSON and the safetensors files: nothing is unpickled.
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

from automm.data.preprocess import Standardizer
from automm.errors import AutommError
from automm.metrics import predict_labels
from automm.model import FusionNet, build_fusion_net
from automm.space import Genotype
from automm.space_mfas import MFASGenotype, MFASNet

FORMAT_VERSION = 1
FILES = ("genotype.json", "model.safetensors", "preprocessing.safetensors", "model.torchscript.pt")


class _ServingModule(nn.Module):
    """Standardise raw views, then run the fusion net (what the TorchScript file contains)."""

    def __init__(self, net: FusionNet, standardizer: Standardizer) -> None:
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
    net: FusionNet,
    standardizer: Standardizer,
    out_dir: str | Path,
    *,
    task: str,
    class_names: list[str],
    view_dims: dict[str, int],
    fusion_dim: int,
    dropout: float,
    threshold: float,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write ``net`` and its preprocessing to ``out_dir`` (created; existing export files replaced)."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    genotype = net.genotype
    meta = {
        "format_version": FORMAT_VERSION,
        "genotype": str(genotype),
        "views": list(genotype.views),
        "view_dims": {v: int(view_dims[v]) for v in genotype.views},
        "task": task,
        "class_names": list(class_names),
        "fusion_dim": fusion_dim,
        "dropout": dropout,
        "threshold": threshold,
        **(info or {}),
    }
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "model.safetensors"))
    stats = {f"mean/{v}": torch.from_numpy(standardizer.mean[v]) for v in genotype.views}
    stats |= {f"scale/{v}": torch.from_numpy(standardizer.scale[v]) for v in genotype.views}
    save_file(stats, str(out / "preprocessing.safetensors"))
    serving = _ServingModule(net, standardizer).eval()
    example = {v: torch.zeros(2, view_dims[v]) for v in genotype.views}
    with warnings.catch_warnings():  # TorchScript is deprecated in torch >= 2.10 but still loads everywhere
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(serving, (example,), strict=False)
        traced.save(str(out / "model.torchscript.pt"))
    (out / "genotype.json").write_text(json.dumps(meta, indent=2))
    return out


@dataclass
class FusionModel:
    """A loaded export: standardises raw view arrays and predicts."""

    net: FusionNet
    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def genotype(self) -> Genotype:
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


def load_model(path: str | Path) -> FusionModel:
    """Load an export directory written by `export_model` (safetensors and JSON only)."""
    path = Path(path).expanduser()
    missing = [f for f in FILES[:3] if not (path / f).is_file()]
    if missing:
        raise AutommError(f"{path}: not an automm export (missing {', '.join(missing)})")
    try:
        meta = json.loads((path / "genotype.json").read_text())
        n_out = len(meta["class_names"])
        if meta.get("space", "ksnas") == "mfas":
            genotype = MFASGenotype.from_string(meta["genotype"])
            net = MFASNet(genotype, meta["view_dims"], n_out, meta["hidden"], meta["dropout"])
        else:
            genotype = Genotype.from_string(meta["genotype"])
            net = build_fusion_net(genotype, meta["view_dims"], n_out, meta["fusion_dim"], meta["dropout"])
        net.load_state_dict(load_file(str(path / "model.safetensors")))
        stats = load_file(str(path / "preprocessing.safetensors"))
    except (KeyError, ValueError, RuntimeError, OSError, SafetensorError) as exc:
        raise AutommError(f"{path}: corrupted automm export ({exc})") from exc
    mean = {v: stats[f"mean/{v}"].numpy() for v in genotype.views}
    scale = {v: stats[f"scale/{v}"].numpy() for v in genotype.views}
    return FusionModel(net.eval(), mean, scale, meta)
