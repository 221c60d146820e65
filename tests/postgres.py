"""A throwaway PostgreSQL server for the tests: Debian's postgresql package, a cluster in a temporary
folder, reached through a unix socket only, stopped and deleted afterwards.

If the server programs are missing and this runs as root with apt-get, the package is installed
first (as `.ci/run` does); otherwise the tests that need it are skipped with the reason (under
``CI=true`` they fail: `tests.real_components`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

INSTALL_TRIED = "AUTOMM_POSTGRES_INSTALL_TRIED"
DATABASE = "automm_test"
USER = "automm"


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _install() -> None:
    """apt-get install postgresql, once per machine and session (`.ci/run` has tried already)."""
    if os.environ.get(INSTALL_TRIED) or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    os.environ[INSTALL_TRIED] = "1"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True, timeout=300)


def server_programs() -> tuple[str, str] | str:
    """(initdb, pg_ctl), or why there are none."""
    if _bin("initdb") is None:
        _install()
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        return "PostgreSQL's server programs (Debian package postgresql) are not installed"
    with contextlib.suppress(ImportError):
        import psycopg  # noqa: F401

        return initdb, pg_ctl
    return "the PostgreSQL driver psycopg is not installed (pip install 'automm[postgres]')"


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a cluster; yield its SQLAlchemy URL (``postgresql+psycopg``, unix socket)."""
    programs = server_programs()
    if isinstance(programs, str):
        raise RuntimeError(programs)
    initdb, pg_ctl = programs
    root = Path(tempfile.mkdtemp(prefix="automm-pg-"))
    os.chmod(root, 0o755)
    data, socket = root / "data", root / "socket"
    socket.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to the postgres user
        shutil.chown(socket, "postgres")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", USER, "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-k {socket} -c listen_addresses='' -c fsync=off -c max_connections=200"
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )
        try:
            import psycopg

            with psycopg.connect(f"host={socket} user={USER} dbname=postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
            yield f"postgresql+psycopg://{USER}@/{DATABASE}?host={socket}"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server of ``url``; its URL."""
    import psycopg

    host = url.split("host=", 1)[1]
    with psycopg.connect(f"host={host} user={USER} dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.replace(f"/{DATABASE}?", f"/{name}?")


def server_version(url: str) -> str:
    """The running server's version, as it reports it (e.g. 'PostgreSQL 15.8')."""
    import psycopg

    host = url.split("host=", 1)[1]
    with psycopg.connect(f"host={host} user={USER} dbname=postgres") as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL (version unknown)"
