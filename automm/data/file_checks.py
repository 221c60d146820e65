"""Checks on a user's data path before a reader opens it: one clear line for every kind of bad path."""

from __future__ import annotations

import errno
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from automm.core.errors import AutommError


def checked_path(path: str | Path, folder: bool = False) -> Path:
    """``path`` if it is an existing regular file (``folder``: a folder), else `AutommError` saying
    what it is instead: missing, a symlink loop, unreadable, a FIFO or device, a folder or a file."""
    path = Path(path).expanduser()
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AutommError(f"{shown(path)}: a loop of symbolic links") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise AutommError(f"{shown(path)}: no such {'folder' if folder else 'file or folder'}") from None
        raise AutommError(f"{shown(path)}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        if not folder:
            raise AutommError(f"{shown(path)}: a folder, not a file")
        return path
    if folder and stat.S_ISREG(mode):
        raise AutommError(f"{shown(path)}: a file, not a folder")
    if not stat.S_ISREG(mode):
        raise AutommError(f"{shown(path)}: not a regular file (a FIFO, socket or device)")
    if not os.access(path, os.R_OK):
        raise AutommError(f"{shown(path)}: no permission to read it")
    return path


def shown(path: Path) -> str:
    """The path as text that prints anywhere (undecodable bytes of a file name escaped)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def npy_fits(header_source: object, available: int, where: str) -> None:
    """Refuse a .npy whose header declares more data than ``available`` bytes (a corrupt or hostile
    shape would otherwise allocate it). ``header_source``: a binary file positioned at the start."""
    try:
        version = np.lib.format.read_magic(header_source)  # type: ignore[arg-type]
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(header_source)  # type: ignore[arg-type]
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise AutommError(f"{where}: not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise AutommError(f"{where}: holds Python objects; automm never unpickles, store numbers or strings")
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if needed > available:
        raise AutommError(f"{where}: declares shape {shape} ({needed:,} bytes) but holds {available:,} bytes")


def npz_members_fit(path: Path) -> None:
    """`npy_fits` for every member of a .npz (a zip archive), whose CRC-32 checksums must hold, so a
    damaged archive is refused rather than read with changed values; a file that is no zip is refused."""
    if not zipfile.is_zipfile(path):
        raise AutommError(f"{shown(path)}: not a .npz file (not a zip archive of .npy arrays)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise AutommError(f"{shown(path)}: {damaged} is damaged (its checksum does not match)")
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    npy_fits(member, info.file_size, f"{shown(path)}: {info.filename}")
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as exc:
        raise AutommError(f"{shown(path)}: a damaged .npz archive ({exc})") from None
