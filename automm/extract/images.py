"""Reading image files into the tensors the image backbones take (Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automm.core.errors import AutommError
from automm.extract.requirements import require

RESIZE = 256  # shorter side before the centre crop
CROP = 224


def load_image(path: Path, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """RGB (3, crop, crop) float32 in [0, 1]: shorter side resized to ``resize`` (bilinear), centre crop."""
    image_module = require("PIL.Image", "Pillow")
    try:
        with image_module.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = resize / min(w, h)
            img = img.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), image_module.BILINEAR)
            w, h = img.size
            left, top = (w - crop) // 2, (h - crop) // 2
            pixels = np.array(img.crop((left, top, left + crop, top + crop)), dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise AutommError(f"{path}: cannot read the image ({exc})") from exc
    return pixels.transpose(2, 0, 1) / 255.0
