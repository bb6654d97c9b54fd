"""A throw-away PostgreSQL server for the tests that prove ``backend=<URL>`` works on it.

The server programs come from, in order: ``initdb``/``pg_ctl`` on ``PATH``, Debian's
``/usr/lib/postgresql/<version>/bin``, the PostgreSQL that the ``pgserver`` wheel bundles
(in the ``[test]`` extra). ``FLOWFAULT_TEST_POSTGRES=bundled`` skips the first two, so a
machine that has a system PostgreSQL can still prove the bundled one works.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flowfault.jobboard.redis_server import free_loopback_port

INSTALL_HINT = (
    "the PostgreSQL tests need a PostgreSQL server: pip install pgserver (in the [test] "
    "extra; wheels for CPython <= 3.12 on Linux x86_64, macOS and Windows) or your "
    "system's package (Debian/Ubuntu: apt-get install postgresql)"
)


@dataclass(frozen=True)
class PostgresBinaries:
    """Where initdb and pg_ctl are, and where they came from."""

    bin_dir: Path
    source: str


def find_postgres() -> PostgresBinaries | None:
    """The server programs to use, or None when there are none on this machine."""
    bundled_only = os.environ.get("FLOWFAULT_TEST_POSTGRES") == "bundled"
    if not bundled_only:
        initdb = shutil.which("initdb")
        if initdb and shutil.which("pg_ctl"):
            return PostgresBinaries(Path(initdb).resolve().parent, "PATH")
        # Debian keeps the server programs off PATH.
        debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if debian:
            return PostgresBinaries(Path(debian[-1]).parent, "Debian's postgresql package")
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations)), "pginstall", "bin")
        if (bundled / "initdb").exists():
            return PostgresBinaries(bundled, "bundled by the pgserver wheel")
    if bundled_only:
        raise RuntimeError(
            f"FLOWFAULT_TEST_POSTGRES=bundled, but pgserver is not installed; {INSTALL_HINT}"
        )
    return None


@contextmanager
def postgres_server(binaries: PostgresBinaries) -> Iterator[str]:
    """Start PostgreSQL with its data in a fresh temporary directory; yield a SQLAlchemy
    URL for it; stop it and remove the data."""
    with tempfile.TemporaryDirectory(prefix="flowfault-pg-") as name:
        with _running(binaries.bin_dir, Path(name)) as url:
            yield url


@contextmanager
def _running(bin_dir: Path, directory: Path) -> Iterator[str]:
    user = _server_user()
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
        if not _reachable_by_all(bin_dir):
            bin_dir = _copy_installation(bin_dir, directory)
    as_user: dict[str, Any] = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    data, port = directory / "data", free_loopback_port()
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "flowfault", "--no-sync"],
        check=True, capture_output=True, **as_user,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = bin_dir / "pg_ctl"
    subprocess.run(
        [str(pg_ctl), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"],
        check=True, capture_output=True, **as_user,
    )
    try:
        yield f"postgresql+psycopg2://flowfault@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
            **as_user,
        )


def _server_user() -> pwd.struct_passwd | None:
    """initdb and postgres refuse to run as root: as root, run them as an unprivileged
    user (Debian's ``postgres`` if there is one, else ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' user")


def _reachable_by_all(path: Path) -> bool:
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [path, *path.parents])


def _copy_installation(bin_dir: Path, directory: Path) -> Path:
    """Copy a bundled installation where another user can run it (a venv under /root is
    not). Its layout is kept: the programs find their libraries relative to themselves
    (``$ORIGIN/../../../pgserver.libs``)."""
    install = bin_dir.parent
    target = directory / "install"
    libs = install.parent.parent / "pgserver.libs"
    if libs.exists():
        shutil.copytree(libs, target / "pgserver.libs")
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, target / "pgserver" / "pginstall" / part, symlinks=True)
    for folder in [target, *target.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    return target / "pgserver" / "pginstall" / "bin"
