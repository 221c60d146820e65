"""Weights in the study's artifact store, and the lock its workers share.

- Weights are safetensors bytes, addressed by a *pointer* ``{artifact_id, sha256, bytes}`` kept
  in Optuna's storage; `get_weights` checks the sha256 before parsing and never unpickles.
- Every artifact name is unique (a UUID), so two studies sharing an artifact folder (the same
  study name in two storages, say) never overwrite or delete each other's files.
- `study_lock` serialises the read-modify-write steps of parallel workers on one study
  (knowledge-base versions, MFAS's layer bank and proposals, surrogate evidence): whoever takes
  the lock first decides, and later workers read that decision.
- Pointers live in system attributes, which only `automm.store.optuna_internals` touches.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import optuna
import torch
from optuna.artifacts import upload_artifact
from safetensors import SafetensorError
from safetensors.numpy import save as save_numpy
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from automm.core.errors import AutommError

State = dict[str, torch.Tensor]
WEIGHT_MIMETYPE = "application/octet-stream"
LOCK_FILE = ".automm.lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: one worker per study
    fcntl = None  # type: ignore[assignment]


# -- safetensors bytes ---------------------------------------------------------------------------
# dtypes numpy holds: their safetensors bytes are written from numpy arrays (the same bytes, about 2.5x
# faster: no search for tensors sharing storage, which automm's states never have); others (bfloat16) by torch
_NUMPY_DTYPES = frozenset(
    {
        torch.float16,
        torch.float32,
        torch.float64,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    }
)


def state_to_bytes(state: State) -> bytes:
    """``state`` as safetensors bytes (tensors on the CPU, contiguous; no metadata)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if all(t.dtype in _NUMPY_DTYPES for t in tensors.values()):
        return save_numpy({k: t.numpy() for k, t in tensors.items()})
    return save_safetensors(tensors)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_from_bytes(data: bytes, expected_sha256: str, what: str) -> State:
    """Parse safetensors bytes after checking their sha256; never unpickles."""
    digest = sha256(data)
    if digest != expected_sha256:
        raise AutommError(
            f"{what} is corrupted or was modified (sha256 {digest[:12]} != recorded {expected_sha256[:12]})"
        )
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError) as exc:  # pragma: no cover - hash already matched
        raise AutommError(f"{what} is not a valid safetensors file ({exc})") from exc


# -- the artifact store --------------------------------------------------------------------------
def read_artifact(store: Any, artifact_id: str) -> bytes:
    """The bytes of an artifact; `AutommError` if the store lacks it."""
    try:
        with store.open_reader(artifact_id) as reader:
            return reader.read()
    except Exception as exc:  # artifact stores raise their own not-found types
        raise AutommError(f"artifact {artifact_id} is missing from the artifact store ({exc})") from exc


def put_weights(store: Any, state: State, kind: str) -> dict[str, Any]:
    """Write ``state`` under a new unique name; return its pointer."""
    data = state_to_bytes(state)
    artifact_id = f"automm-{kind}-{uuid.uuid4().hex}.safetensors"
    store.write(artifact_id, io.BytesIO(data))
    return {"artifact_id": artifact_id, "sha256": sha256(data), "bytes": len(data)}


def upload_bytes(store: Any, data: bytes, owner: optuna.Study | optuna.Trial, filename: str, mimetype: str) -> str:
    """Register ``data`` as an artifact of ``owner`` named ``filename`` (listed in optuna-dashboard); its id."""
    with tempfile.TemporaryDirectory() as tmp:  # upload_artifact takes a file path
        path = Path(tmp) / filename
        path.write_bytes(data)
        return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=owner, mimetype=mimetype)


def write_bytes(store: Any, data: bytes) -> str:
    """Write ``data`` under a new artifact id (a UUID, as `upload_bytes` gives) and return the id; the
    caller lists it on its owner (`optuna_internals.artifact_listing`) with its other attributes."""
    artifact_id = str(uuid.uuid4())
    store.write(artifact_id, io.BytesIO(data))
    return artifact_id


def write_weights(store: Any, state: State) -> dict[str, Any]:
    """Like `upload_weights`, without listing it on an owner: the caller writes the listing
    (`optuna_internals.artifact_listing`) with its other attributes."""
    data = state_to_bytes(state)
    return {"artifact_id": write_bytes(store, data), "sha256": sha256(data), "bytes": len(data)}


def upload_weights(store: Any, state: State, owner: optuna.Study | optuna.Trial, filename: str) -> dict[str, Any]:
    """Like `put_weights`, but registered as an artifact of ``owner`` (listed in optuna-dashboard)."""
    data = state_to_bytes(state)
    artifact_id = upload_bytes(store, data, owner, filename, WEIGHT_MIMETYPE)
    return {"artifact_id": artifact_id, "sha256": sha256(data), "bytes": len(data)}


def get_weights(store: Any, pointer: dict[str, Any], what: str) -> State:
    return state_from_bytes(read_artifact(store, pointer["artifact_id"]), pointer["sha256"], what)


def remove_artifact(store: Any, artifact_id: str) -> None:
    """Delete an artifact; one already gone (removed by another worker) is fine."""
    with contextlib.suppress(Exception):
        store.remove(artifact_id)


# -- one writer at a time ------------------------------------------------------------------------
_THREAD_LOCKS: dict[Any, threading.RLock] = {}
_DEPTH: dict[Any, int] = {}
_HANDLES: dict[Path, Any] = {}
_GUARD = threading.Lock()


class SharedLock(Protocol):
    """A lock every worker of a study can take, wherever it runs (e.g. `automm.store.artifact_stores.AdvisoryLock`)."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


@contextlib.contextmanager
def study_lock(where: str | Path | SharedLock | None) -> Iterator[None]:
    """Hold the study's exclusive lock: ``where`` is the artifact folder (a file lock on
    ``folder/.automm.lock``) or a `SharedLock` (workers on several machines that share no folder).

    The lock orders the study's processes and the threads of one process (an `RLock`); it is
    re-entrant within a thread. ``None`` (no shared folder) locks nothing. Blocks until free; a
    dead process's lock is released by the operating system (or the database).
    """
    if where is None:
        yield
        return
    if isinstance(where, (str, Path)):
        key: Any = _lock_file(str(where))
        take, give = _file_lock(key)
    else:
        key, take, give = id(where), where.acquire, where.release
    with _GUARD:
        rlock = _THREAD_LOCKS.setdefault(key, threading.RLock())
    with rlock:
        if _DEPTH.get(key, 0) == 0:
            take()
        _DEPTH[key] = _DEPTH.get(key, 0) + 1
        try:
            yield
        finally:
            _DEPTH[key] -= 1
            if _DEPTH[key] == 0:
                give()


@contextlib.contextmanager
def creation_lock(where: str | Path | SharedLock | None, needed: bool) -> Iterator[None]:
    """The study lock (``needed``: the study is not yet described) held while a study is created and
    described, so that a worker opening it at the same moment waits and then sees it whole. A folder
    made only to hold the lock is removed again if the block raises (a refused run leaves nothing)."""
    if not needed or where is None:
        yield
        return
    folder = Path(where) if isinstance(where, (str, Path)) else None
    made = folder is not None and not folder.exists()
    try:
        with study_lock(where):
            yield
    except BaseException:
        if made and folder is not None and {p.name for p in folder.iterdir()} <= {LOCK_FILE}:
            (folder / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@functools.lru_cache(maxsize=64)
def _lock_file(folder: str) -> Path:
    """The lock file of the artifact folder ``folder``, resolved once a process (one lock, however spelled)."""
    return (Path(folder) / LOCK_FILE).resolve()


def _file_lock(path: Path) -> tuple[Any, Any]:
    """(take, give) of an exclusive lock on the file ``path``."""

    def take() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - closed by give()
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        _HANDLES[path] = handle

    def give() -> None:
        handle = _HANDLES.pop(path)
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    return take, give
