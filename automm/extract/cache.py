"""On-disk cache of extracted features, keyed by input content and extractor.

Layout: ``<root>/features/<backbone key>/shard-<hash>.safetensors``. Each shard holds one
(n, width) tensor per level and, in its metadata, the n item keys (sha256 of the image file's
bytes or of the text), so renamed or duplicated inputs are not extracted twice. Shards are
written atomically (temp file, then rename): an interrupted extraction keeps every finished
batch, and the next run extracts only what is missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from automm.core.atomic import atomic_write
from automm.core.errors import AutommError


def text_key(text: str) -> str:
    return hashlib.sha256(b"text\0" + text.encode("utf-8")).hexdigest()[:32]


def file_key(path: Path) -> str:
    digest = hashlib.sha256(b"file\0")
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise AutommError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return digest.hexdigest()[:32]


class FeatureCache:
    """Features of one extractor: ``lookup`` what is cached, ``store`` a finished batch."""

    def __init__(self, root: Path, backbone_key: str, levels: tuple[str, ...]) -> None:
        self.folder = Path(root) / "features" / backbone_key
        self.levels = levels
        self._rows: dict[str, tuple[Path, int]] = {}
        self._shards: dict[Path, dict[str, np.ndarray]] = {}
        if self.folder.is_dir():
            for shard in sorted(self.folder.glob("shard-*.safetensors")):
                self._index(shard)

    def _index(self, shard: Path) -> None:
        from safetensors import safe_open

        try:
            with safe_open(str(shard), framework="numpy") as f:
                keys = json.loads((f.metadata() or {}).get("keys", "[]"))
        except (SafetensorError, OSError, ValueError):
            shard.unlink(missing_ok=True)  # a damaged shard is dropped and its items extracted again
            return
        for row, key in enumerate(keys):
            self._rows.setdefault(key, (shard, row))

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The distinct keys not cached yet, in first-seen order."""
        return [k for k in dict.fromkeys(keys) if k not in self._rows]

    def store(self, keys: list[str], features: dict[str, np.ndarray]) -> None:
        """Write one batch (rows aligned with ``keys``) as a new shard."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]
        path = self.folder / f"shard-{name}.safetensors"
        tensors = {lv: np.ascontiguousarray(features[lv], dtype=np.float32) for lv in self.levels}
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"keys": json.dumps(keys)}))
        self._shards[path] = tensors
        for row, key in enumerate(keys):
            self._rows[key] = (path, row)

    def gather(self, keys: list[str]) -> dict[str, np.ndarray]:
        """``{level: (len(keys), width)}`` for cached keys (in the given order)."""
        absent = [k for k in keys if k not in self._rows]
        if absent:
            raise KeyError(f"{len(absent)} item(s) not in the feature cache")
        out: dict[str, list[np.ndarray]] = {lv: [] for lv in self.levels}
        for key in keys:
            shard, row = self._rows[key]
            if shard not in self._shards:
                self._shards[shard] = load_file(str(shard))
            for lv in self.levels:
                out[lv].append(self._shards[shard][lv][row])
        return {lv: np.stack(rows).astype(np.float32) for lv, rows in out.items()}
