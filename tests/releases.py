"""Two releases of a small deploy flow (network, server, dns), importable by name, so that a
child process or a conductor can build either. Release 1 is what crashed; the others are
candidate releases 2 that resume what it saved."""

from __future__ import annotations

from typing import Any

from flowkit import Log
from taskflow import task
from taskflow.patterns import linear_flow

#: What the real code of these tasks did, in this process.
LOG = Log()


class Create(task.Task):
    """Creates a resource named after the task. Release 1's result is the resource's id;
    ``shape="dict"`` returns ``{"id": ...}`` instead."""

    def __init__(
        self, name: str, *, version: tuple[int, int] = (1, 0), shape: str = "id", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.version = version
        self.shape = shape

    def execute(self, **kwargs: Any) -> Any:
        LOG.add(self.name, "execute")
        made = f"{self.name}-1"
        return {"id": made} if self.shape == "dict" else made

    def revert(self, result: Any, **kwargs: Any) -> None:
        LOG.add(self.name, f"revert {result!r}")


def release_1() -> Any:
    """network -> server -> dns, every task at version 1.0."""
    return linear_flow.Flow("deploy").add(
        Create("network", provides="network"),
        Create("server", requires=["network"], provides="server"),
        Create("dns", requires=["server"]),
    )


def careful_release_2() -> Any:
    """The same atoms; ``server`` at 1.1 (a minor change)."""
    return linear_flow.Flow("deploy").add(
        Create("network", provides="network"),
        Create("server", version=(1, 1), requires=["network"], provides="server"),
        Create("dns", requires=["server"]),
    )


def careless_release_2() -> Any:
    """``network`` renamed ``net`` (the same class), ``server`` at 2.0 with a dict result,
    ``dns`` removed."""
    return linear_flow.Flow("deploy").add(
        Create("net", provides="network"),
        Create("server", version=(2, 0), shape="dict", requires=["network"], provides="server"),
    )


def dropped_producer_release_2() -> Any:
    """``network`` removed, though ``server`` still requires what it provided."""
    return linear_flow.Flow("deploy").add(
        Create("server", requires=["network"], provides="server"),
        Create("dns", requires=["server"]),
    )
