"""`avmnist`: an AV-MNIST-style audio-visual digits set built from MNIST and FSDD, with multi-level views.

Raw material (``data_dir``): ``mnist/t10k-images-idx3-ubyte.gz`` + ``mnist/t10k-labels-idx1-ubyte.gz``
(10,000 images) and ``fsdd/recordings/{digit}_{speaker}_{index}.wav`` (3,000 spoken digits, 8 kHz).
As in the MFAS paper, both modalities are degraded so that neither suffices alone:
- images: 75% of the energy is removed by PCA (fitted on training images): only the leading
  components holding the other 25% are kept (removing the leading ones instead leaves edges a CNN
  still reads at over 90%);
- audio: white noise at ``snr_db`` (default -8 dB) is added, then a 64 x 64 log spectrogram of the
  first second is taken.
Split by recording index, the usual FSDD rule: 0-4 test, 5-9 validation, 10-49 train. Each recording
is paired with ``pairs_per_recording`` distinct images of the same digit from disjoint image pools.
Unimodal backbones (a small image CNN and a small audio CNN) are trained on the training split only;
their layer outputs (conv blocks average-pooled, then the penultimate layer) become the views, so
each modality offers features from several depths. The built set is cached as an `.npz` under
``cache_dir`` (default ``$AUTOMM_CACHE_DIR`` or ``~/.cache/automm``), keyed by its settings.

`load_avmnist_tokens` (the data set ``avmnist-tokens``) gives the same rows, labels and splits as
token views taken from the second conv block of each backbone: ``image/grid`` (the 7 x 7 positions
of its conv map, 32 channels each) and ``audio/frames`` (its 16 time frames, 32 channels each, the
mean over the frequency axis).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automm.core.atomic import atomic_write
from automm.core.device import seed_torch
from automm.core.errors import AutommError
from automm.core.paths import default_cache_dir
from automm.core.progress import step
from automm.data.dataset import MultimodalDataset, Splits

MNIST_FILES = ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
FSDD_DIR = "fsdd/recordings"
WAV = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav")
TOKEN_FEATURES = ("grid", "frames")  # the backbones' token views, stored under "tokens/<modality>/<name>"


def avmnist_present(data_dir: Path) -> bool:
    return all((data_dir / f).is_file() for f in MNIST_FILES) and (data_dir / FSDD_DIR).is_dir()


def read_mnist(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images as (N, 28, 28) float32 in [0, 1] and their (N,) int64 digits."""
    with gzip.open(data_dir / MNIST_FILES[0]) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255.0
    with gzip.open(data_dir / MNIST_FILES[1]) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def _spectrogram(wave: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    from scipy.signal import spectrogram

    x = wave.astype(np.float32)
    x = x / (np.abs(x).max() + 1e-9)
    x = np.pad(x[:8000], (0, max(0, 8000 - len(x))))
    power = float(np.mean(x**2)) + 1e-12
    x = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    _, _, s = spectrogram(x, fs=8000, nperseg=126, noverlap=0)  # 64 frequencies x 63 frames
    s = np.log(s[:64] + 1e-8)
    return np.pad(s, ((0, 0), (0, 64 - s.shape[1])), mode="edge")[:, :64].astype(np.float32)


def _remove_energy(images: np.ndarray, fit_rows: np.ndarray, share: float) -> np.ndarray:
    """Keep only the leading principal components (fitted on ``fit_rows``) that hold ``1 - share`` of
    the energy: the remaining ``share`` (fine detail) is removed, leaving blurred, low-rank digits."""
    flat = images.reshape(len(images), -1)
    mean = flat[fit_rows].mean(axis=0)
    _, s, vt = np.linalg.svd(flat[fit_rows] - mean, full_matrices=False)
    energy = np.cumsum(s**2) / np.sum(s**2)
    lead = vt[: int(np.searchsorted(energy, 1.0 - share)) + 1]
    return ((flat - mean) @ lead.T @ lead + mean).reshape(images.shape).astype(np.float32)


class _ImageCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU())
        self.out = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.block1(x)
        b = self.block2(a)
        c = self.fc(b)
        grid = b.flatten(2).transpose(1, 2)  # (N, 49 positions, 32 channels)
        return {"conv1": a.mean(dim=(2, 3)), "conv2": b.mean(dim=(2, 3)), "fc": c, "grid": grid}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.block2(self.block1(x))))


class _AudioCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 64), nn.ReLU())
        self.out = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.block1(x)
        b = self.block2(a)
        c = self.block3(b)
        d = self.fc(c)
        frames = b.mean(dim=2).transpose(1, 2)  # (N, 16 time frames, 32 channels): frequency averaged
        views = {"conv1": a.mean(dim=(2, 3)), "conv2": b.mean(dim=(2, 3)), "conv3": c.mean(dim=(2, 3)), "fc": d}
        return {**views, "frames": frames}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.block3(self.block2(self.block1(x)))))


def _train_backbone(
    net: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    epochs: int,
    seed: int,
    on_epoch: Callable[[], None] = lambda: None,
) -> nn.Module:
    seed_torch(seed)
    generator = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x[:, None]), torch.from_numpy(y)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(epochs):
        order = torch.from_numpy(train)[torch.randperm(len(train), generator=generator)]
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            optimiser.step()
        on_epoch()
    return net.eval()


@torch.no_grad()
def _features(net: nn.Module, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    xt = torch.from_numpy(x[:, None])
    parts: dict[str, list[np.ndarray]] = {}
    logits = []
    for i in range(0, len(xt), 512):
        for k, v in net.features(xt[i : i + 512]).items():
            parts.setdefault(k, []).append(v.numpy())
        logits.append(net(xt[i : i + 512]).numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}, np.concatenate(logits).argmax(1)


def load_avmnist(data_dir: str | Path, seed: int = 0, **kwargs: Any) -> MultimodalDataset:
    """The audio-visual set described in the module docstring (see `build_avmnist` for options)."""
    return build_avmnist(data_dir, seed, **kwargs)[0]


def load_avmnist_tokens(data_dir: str | Path, seed: int = 0, **kwargs: Any) -> MultimodalDataset:
    """The same set with token views only: ``image/grid`` (N, 49, 32) and ``audio/frames`` (N, 16, 32)."""
    return build_avmnist(data_dir, seed, tokens=True, **kwargs)[0]


def build_avmnist(
    data_dir: str | Path,
    seed: int = 0,
    *,
    pairs_per_recording: int = 3,
    backbone_epochs: int = 8,
    energy_removed: float = 0.75,
    snr_db: float = -8.0,
    max_recordings: int | None = None,
    cache_dir: str | Path | None = None,
    tokens: bool = False,
) -> tuple[MultimodalDataset, dict[str, Any]]:
    """Build (or read from the cache) the set; also return the build info (backbone test accuracies).
    ``tokens``: its token views instead of its vector views (one cache holds both)."""
    data_dir = Path(data_dir).expanduser()
    if not avmnist_present(data_dir):
        raise AutommError(
            f"avmnist: expected {', '.join(MNIST_FILES)} and {FSDD_DIR}/*.wav in {data_dir} "
            "(MNIST test set and the Free Spoken Digit Dataset)"
        )
    wavs = sorted(p for p in (data_dir / FSDD_DIR).iterdir() if WAV.fullmatch(p.name))
    if max_recordings is not None:  # the first indices of each split per digit and speaker, for quick runs
        keep = max(1, round(50 * max_recordings / max(len(wavs), 1)))
        per_split = {
            "test": (0, max(1, keep // 10)),
            "val": (5, max(1, keep // 10)),
            "train": (10, max(1, keep * 8 // 10)),
        }
        wanted = {start + i for start, n in per_split.values() for i in range(n)}
        wavs = [w for w in wavs if int(WAV.fullmatch(w.name).group(3)) in wanted]  # type: ignore[union-attr]
    settings = {
        "seed": seed,
        "pairs": pairs_per_recording,
        "epochs": backbone_epochs,
        "energy": energy_removed,
        "snr": snr_db,
        "recordings": [w.name for w in wavs],
        "version": 3,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = cache / f"avmnist-{key}.npz"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        arrays = _build(data_dir, wavs, seed, pairs_per_recording, backbone_epochs, energy_removed, snr_db)
        # atomic: an interrupted build leaves no half-written cache
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    prefix = "tokens/" if tokens else "views/"
    with np.load(path, allow_pickle=False) as archive:  # only the views asked for
        arrays = {k: archive[k] for k in archive.files if k.startswith(prefix) or "/" not in k}
    info = json.loads(str(arrays["info"]))
    views = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
    dataset = MultimodalDataset(
        name="avmnist-tokens" if tokens else "avmnist",
        views=views,
        labels=arrays["labels"],
        task="multiclass",
        splits=Splits(arrays["train"], arrays["val"], arrays["test"]),
        fixed_validation=True,  # recording-disjoint: random folds would put one recording on both sides
        class_names=[str(d) for d in range(10)],
        description=(
            f"AV-MNIST-style from {data_dir}: backbone test accuracy image {info['image_test_accuracy']:.3f}, "
            f"audio {info['audio_test_accuracy']:.3f} (cache {path})"
        ),
    )
    return dataset, {**info, "cache": str(path)}


BUILDING = "building the avmnist cache (once)"


def _build(
    data_dir: Path, wavs: list[Path], seed: int, pairs: int, epochs: int, energy: float, snr_db: float
) -> dict[str, np.ndarray]:
    from scipy.io import wavfile

    total, done = 2 * epochs + 2, [0]

    def advance() -> None:
        done[0] += 1
        step(BUILDING, done[0], total, "stages")

    step(BUILDING, 0, total, "stages")
    rng = np.random.default_rng(seed)
    images, image_labels = read_mnist(data_dir)
    digits, parts, specs = [], [], []
    for w in wavs:
        digit, _, index = WAV.fullmatch(w.name).groups()  # type: ignore[union-attr]
        _, wave = wavfile.read(w)
        digits.append(int(digit))
        parts.append("test" if int(index) < 5 else "val" if int(index) < 10 else "train")
        specs.append(_spectrogram(wave, rng, snr_db))
    # disjoint image pools per split, in proportion to the recordings
    order = rng.permutation(len(images))
    shares = {p: parts.count(p) / len(parts) for p in ("train", "val", "test")}
    cut1 = int(shares["train"] * len(order))
    cut2 = cut1 + int(shares["val"] * len(order))
    pools = {"train": order[:cut1], "val": order[cut1:cut2], "test": order[cut2:]}
    rows_image, rows_audio, labels, split_of = [], [], [], []
    for i, (digit, part) in enumerate(zip(digits, parts, strict=True)):
        candidates = pools[part][image_labels[pools[part]] == digit]
        for img in rng.choice(candidates, size=min(pairs, len(candidates)), replace=False):
            rows_image.append(img)
            rows_audio.append(i)
            labels.append(digit)
            split_of.append(part)
    labels_arr = np.asarray(labels, dtype=np.int64)
    split_arr = np.asarray(split_of)
    idx = {p: np.flatnonzero(split_arr == p) for p in ("train", "val", "test")}
    train_images = np.unique(np.asarray(rows_image)[idx["train"]])
    degraded = _remove_energy(images, train_images, energy)[np.asarray(rows_image)]
    spec = np.stack(specs)[np.asarray(rows_audio)]
    mu, sd = spec[idx["train"]].mean(), spec[idx["train"]].std() + 1e-6
    spec = (spec - mu) / sd
    advance()  # recordings read, pairs drawn
    image_net = _train_backbone(_ImageCNN(), degraded, labels_arr, idx["train"], epochs, seed, advance)
    audio_net = _train_backbone(_AudioCNN(), spec, labels_arr, idx["train"], epochs, seed + 1, advance)
    image_feats, image_pred = _features(image_net, degraded)
    audio_feats, audio_pred = _features(audio_net, spec)
    advance()
    test = idx["test"]
    info = {
        "image_test_accuracy": float((image_pred[test] == labels_arr[test]).mean()),
        "audio_test_accuracy": float((audio_pred[test] == labels_arr[test]).mean()),
    }
    arrays: dict[str, np.ndarray] = {}
    for modality, feats in (("image", image_feats), ("audio", audio_feats)):
        for k, v in feats.items():
            arrays[f"{'tokens' if k in TOKEN_FEATURES else 'views'}/{modality}/{k}"] = v
    arrays |= {"labels": labels_arr, **idx, "info": np.asarray(json.dumps(info))}
    return arrays
