"""A throw-away PostgreSQL server for the tests that prove ``backend=<URL>`` works on it."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_flowfault.redis_server import free_loopback_port


def _postgres_bin(program: str) -> str | None:
    # Debian keeps the server programs off PATH, in /usr/lib/postgresql/<version>/bin.
    found = shutil.which(program)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))
    return candidates[-1] if candidates else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL with its data in a fresh temporary directory; yield a SQLAlchemy
    URL for it; stop it and remove the data.

    initdb refuses to run as root, so as root the server runs as the ``postgres`` user
    that Debian's package creates (hence a directory under /tmp, which it can reach).
    """
    with tempfile.TemporaryDirectory(prefix="flowfault-pg-") as name:
        with _running(Path(name)) as url:
            yield url


@contextmanager
def _running(directory: Path) -> Iterator[str]:
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError(
            "the PostgreSQL tests need the server (initdb, pg_ctl): apt-get install postgresql"
        )
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = directory / "data", free_loopback_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "flowfault", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w",
         "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://flowfault@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
