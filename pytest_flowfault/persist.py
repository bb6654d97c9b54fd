"""Persistence backends for runs that must survive a crash: choosing, creating, reloading."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pytest_flowfault.arguments import call
from pytest_flowfault.errors import MissingExtra

#: What ``backend=`` may be: a name, a TaskFlow backend conf, or a connection URL.
BackendSpec = Any


def open_backend(spec: BackendSpec, directory: Callable[[], Path], api: str = "open_backend()") -> Any:
    """A TaskFlow persistence backend with its tables created (see :func:`backend_conf`)."""
    from taskflow.persistence import backends

    conf = backend_conf(spec, directory, api)
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


def backend_conf(
    spec: BackendSpec, directory: Callable[[], Path], api: str = "backend_conf()"
) -> dict[str, Any]:
    """The TaskFlow backend conf for ``spec``.

    ``"memory"``; ``"dir"`` and ``"sqlite"`` in ``directory()`` (the test's ``tmp_path``);
    a conf dict (``{"connection": ...}``); or a URL such as ``postgresql://...``.
    """
    check_backend(spec, api)
    if spec == "memory":
        conf: dict[str, Any] = {"connection": "memory"}
    elif spec == "dir":
        # A dir:// URI loses its path in TaskFlow; the conf form keeps it.
        conf = {"connection": "dir", "path": str(directory() / "flowfault-dir")}
    elif spec == "sqlite":
        conf = {"connection": f"sqlite:///{directory() / 'flowfault.db'}"}
    elif isinstance(spec, dict):
        conf = dict(spec)
    else:
        conf = {"connection": spec}
    return conf


_BACKEND_FORMS = (
    "use 'memory', 'dir', 'sqlite', a TaskFlow backend conf ({'connection': ...}) or a URL "
    "such as 'postgresql://user@host/db'"
)


def check_backend(spec: BackendSpec, api: str) -> None:
    """Raise ``ValueError`` unless ``spec`` names a backend TaskFlow has, without opening
    (or creating) anything."""
    if spec in ("memory", "dir", "sqlite"):
        return
    if isinstance(spec, dict):
        connection = spec.get("connection")
        if not isinstance(connection, str) or not connection:
            raise ValueError(
                f"{call(api, 'backend', spec)}: a TaskFlow backend conf needs a 'connection' "
                f"(a backend name or URL), e.g. {{'connection': 'sqlite:///flows.db'}}"
            )
    elif isinstance(spec, str) and "://" in spec:
        connection = spec
    else:
        raise ValueError(f"{call(api, 'backend', spec)}: {_BACKEND_FORMS}")
    # TaskFlow's backends.fetch looks the URL's scheme (before any "+dialect") up among
    # its "taskflow.persistence" entry points, and raises NotFound deep inside stevedore.
    name = connection.split("://", 1)[0].split("+", 1)[0]
    if name not in backend_names():
        raise ValueError(
            f"{call(api, 'backend', spec)}: TaskFlow has no persistence backend {name!r}; "
            f"the ones installed are {', '.join(backend_names())} ({_BACKEND_FORMS})"
        )


@functools.cache
def backend_names() -> tuple[str, ...]:
    """The persistence backends TaskFlow registers (``taskflow.persistence`` entry points)."""
    return tuple(sorted(entry.name for entry in entry_points(group="taskflow.persistence")))


def reload_flow_detail(backend: Any, flow_uuid: str) -> Any:
    """The flow detail exactly as the backend saved it."""
    with contextlib.closing(backend.get_connection()) as connection:
        return connection.get_flow_details(flow_uuid)
