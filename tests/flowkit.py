"""Small real TaskFlow tasks for the tests: they log what their real code did."""

from __future__ import annotations

import threading
from typing import Any

from taskflow import task


class Log:
    """A thread-safe list of (task name, action) pairs, in the order the code ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[str, str]] = []

    def add(self, name: str, action: str) -> None:
        with self._lock:
            self.entries.append((name, action))

    def count(self, name: str, action: str) -> int:
        with self._lock:
            return self.entries.count((name, action))


class Step(task.Task):
    """A task whose execute returns its own name and whose revert logs itself."""

    def __init__(self, name: str, log: Log, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.log = log

    def execute(self, **kwargs: Any) -> str:
        self.log.add(self.name, "execute")
        return self.name

    def revert(self, **kwargs: Any) -> None:
        self.log.add(self.name, "revert")


class NoRevertStep(task.Task):
    """A task that creates something and forgets to undo it (TaskFlow's no-op revert)."""

    def execute(self) -> str:
        return self.name


class Boom(task.Task):
    """A task whose real code always fails."""

    def execute(self) -> None:
        raise ValueError(f"{self.name} is broken")


class Plain(task.Task):
    """A task whose result is its own name (for flows built in another process)."""

    def execute(self) -> str:
        return self.name


def five_steps() -> Any:
    """A flow factory a child process can import by name: flowkit:five_steps."""
    from taskflow.patterns import linear_flow

    return linear_flow.Flow("five").add(*(Plain(f"s{i}", provides=f"s{i}") for i in range(5)))


#: What the real code of :func:`logged_steps` flows did, in this process.
STEPS_LOG = Log()


def logged_steps() -> Any:
    """A factory conductors can import by name: five Steps logging to STEPS_LOG."""
    from taskflow.patterns import linear_flow

    return linear_flow.Flow("logged").add(
        *(Step(f"s{i}", STEPS_LOG, provides=f"s{i}") for i in range(5))
    )


#: Set by :class:`Hold` when it starts; :class:`Hold` returns once RELEASE is set.
HOLDING = threading.Event()
RELEASE = threading.Event()


class Hold(Step):
    """A step that waits, mid-flow, until the test releases it (no clock involved: the
    timeout only keeps a broken test from hanging)."""

    def execute(self, **kwargs: Any) -> str:
        HOLDING.set()
        if not RELEASE.wait(timeout=120):
            raise RuntimeError("the test never released the held step")
        return super().execute(**kwargs)


def held_steps() -> Any:
    """A factory conductors can import by name: s0, a held step, s2 (logged to STEPS_LOG)."""
    from taskflow.patterns import linear_flow

    return linear_flow.Flow("held").add(
        Step("s0", STEPS_LOG), Hold("hold", STEPS_LOG), Step("s2", STEPS_LOG)
    )


class Nap(Step):
    """A step that sleeps an hour (which only virtual time makes bearable)."""

    def execute(self, **kwargs: Any) -> str:
        import time

        time.sleep(3600)
        return super().execute(**kwargs)


def napping_steps() -> Any:
    """A factory conductors can import by name: s0, an hour's nap, s2."""
    from taskflow.patterns import linear_flow

    return linear_flow.Flow("napping").add(
        Step("s0", STEPS_LOG), Nap("nap", STEPS_LOG), Step("s2", STEPS_LOG)
    )


def create_volume() -> str:
    return "vol-1"


def create_instance() -> str:
    return "inst-1"


def functor_steps() -> Any:
    """A factory of FunctorTasks, whose names are their functions' dotted paths
    (``flowkit.create_volume``): a target may name them by the last component."""
    from taskflow.patterns import linear_flow

    return linear_flow.Flow("functors").add(
        task.FunctorTask(create_volume, provides="volume"),
        task.FunctorTask(create_instance, provides="instance"),
    )
