"""A throw-away ``redis-server`` on a free loopback port, for jobboard tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

#: How long a starting server may take to accept connections (it needs ~20 ms).
_START_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """``redis-server`` is missing or would not start."""


@dataclass
class RedisServer:
    """A running ``redis-server`` that keeps nothing on disk.

    >>> def test_board(flowfault_redis):                    # doctest: +SKIP
    ...     assert flowfault_redis.url.startswith("redis://127.0.0.1:")
    """

    host: str
    port: int
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


def start_redis_server(executable: str = "redis-server") -> RedisServer:
    """Start ``executable`` on a free port of 127.0.0.1, without persistence; wait until
    it accepts connections."""
    path = shutil.which(executable)
    if path is None:
        raise RedisServerError(
            f"flowfault_redis needs the redis-server binary, and {executable!r} is not an "
            f"executable on PATH; install it (Debian/Ubuntu: apt-get install redis-server, "
            f"macOS: brew install redis) or point the flowfault_redis_server ini option at it"
        )
    last_error = ""
    for _ in range(3):  # another process may take the free port before the server binds it
        port = free_loopback_port()
        process = subprocess.Popen(
            [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = RedisServer("127.0.0.1", port, process)
        if _wait_until_listening(server):
            return server
        process.kill()
        assert process.stderr is not None
        last_error = process.stderr.read().decode(errors="replace").strip()
        server.stop()
    raise RedisServerError(f"{path} did not start on 127.0.0.1: {last_error or 'no output'}")


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
