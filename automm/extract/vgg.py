"""VGG19 (torchvision's layout, our definition) for paper-faithful MM-IMDB poster features.

The weights are torchvision's ImageNet file ``vgg19-dcbb9e9d.pth``: given as a path, found in the
torch hub cache (``$TORCH_HOME/hub/checkpoints``), or downloaded there on first use. It is read
with ``torch.load(weights_only=True)`` (tensors only, no code). Inputs are RGB in [0, 1] at
224 x 224 with the ImageNet mean/std. Levels: max-pooled conv blocks 3-5 (average-pooled to
vectors) and the fc6/fc7 activations (fc7 is the classic 4096-d MM-IMDB feature).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from automm.extract.pooling import pool_map

WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILE}"
CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
LEVELS: dict[str, int] = {"pool3": 256, "pool4": 512, "pool5": 512, "fc6": 4096, "fc7": 4096}
DEFAULT_LEVELS = ("pool4", "pool5", "fc7")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class VGG19(nn.Module):
    """VGG19 with torchvision's parameter names (``features.N``, ``classifier.N``)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward_levels(
        self, images: torch.Tensor, levels: tuple[str, ...] = DEFAULT_LEVELS, grid: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Features {level: (B, width)} of RGB images in [0, 1], shape (B, 3, H, W); eval mode expected. With
        ``grid`` G the pooling levels are G x G token grids, (B, G*G, width) (`pool_map`); fc6/fc7 stay vectors."""
        unknown = set(levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown VGG19 level(s) {sorted(unknown)}; known: {list(LEVELS)}")
        out: dict[str, torch.Tensor] = {}
        x = (images - self.mean) / self.std
        pools = 0
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pools += 1
                if f"pool{pools}" in levels:
                    out[f"pool{pools}"] = pool_map(x, grid)
        if "fc6" in levels or "fc7" in levels:
            h = F.relu(self.classifier[0](torch.flatten(self.avgpool(x), 1)))
            out["fc6"] = h
            out["fc7"] = F.relu(self.classifier[3](h))
        return {name: out[name] for name in levels}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier[6](self.forward_levels(images, ("fc7",))["fc7"])
