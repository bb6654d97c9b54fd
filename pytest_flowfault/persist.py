"""Persistence backends for runs that must survive a crash: choosing, creating, reloading."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_flowfault.errors import MissingExtra

#: What ``backend=`` may be: a name, a TaskFlow backend conf, or a connection URL.
BackendSpec = Any


def open_backend(spec: BackendSpec, directory: Callable[[], Path]) -> Any:
    """A TaskFlow persistence backend with its tables created (see :func:`backend_conf`)."""
    from taskflow.persistence import backends

    conf = backend_conf(spec, directory)
    try:
        backend = backends.fetch(conf)
        with contextlib.closing(backend.get_connection()) as connection:
            connection.upgrade()
    except ImportError as missing:
        raise MissingExtra(
            f"backend={spec!r} needs SQLAlchemy and alembic ({missing}); install them with "
            f"pip install 'pytest-flowfault[persistence]'"
        ) from None
    return backend


def backend_conf(spec: BackendSpec, directory: Callable[[], Path]) -> dict[str, Any]:
    """The TaskFlow backend conf for ``spec``.

    ``"memory"``; ``"dir"`` and ``"sqlite"`` in ``directory()`` (the test's ``tmp_path``);
    a conf dict (``{"connection": ...}``); or a URL such as ``postgresql://...``.
    """
    if spec == "memory":
        conf: dict[str, Any] = {"connection": "memory"}
    elif spec == "dir":
        # A dir:// URI loses its path in TaskFlow; the conf form keeps it.
        conf = {"connection": "dir", "path": str(directory() / "flowfault-dir")}
    elif spec == "sqlite":
        conf = {"connection": f"sqlite:///{directory() / 'flowfault.db'}"}
    elif isinstance(spec, dict):
        conf = dict(spec)
    elif isinstance(spec, str) and "://" in spec:
        conf = {"connection": spec}
    else:
        raise ValueError(
            f"backend={spec!r}: use 'memory', 'dir', 'sqlite', a TaskFlow backend conf "
            f"({{'connection': ...}}) or a URL such as 'postgresql://user@host/db'"
        )
    return conf


def reload_flow_detail(backend: Any, flow_uuid: str) -> Any:
    """The flow detail exactly as the backend saved it."""
    with contextlib.closing(backend.get_connection()) as connection:
        return connection.get_flow_details(flow_uuid)
