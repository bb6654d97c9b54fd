"""The exceptions pytest-flowfault raises, each subclassing the builtin it resembles,
and :func:`describe_error`, how every report spells an error. Imports nothing of the package."""

from __future__ import annotations


class FlowFaultError(Exception):
    """The root of every error pytest-flowfault raises (except :class:`FlowCrash`, which must
    pass ``except Exception``); each one also subclasses the builtin it resembles."""


class InjectedFault(FlowFaultError, RuntimeError):
    """The default exception an injected fault raises inside an atom.

    >>> str(InjectedFault("create_instance", "execute", 2))
    "flowfault injected a fault into 'create_instance' (execute attempt 2)"
    """

    def __init__(self, atom: str, action: str, attempt: int) -> None:
        super().__init__(atom, action, attempt)
        self.atom = atom
        self.action = action
        self.attempt = attempt

    def __str__(self) -> str:
        return (
            f"flowfault injected a fault into {self.atom!r} "
            f"({self.action} attempt {self.attempt})"
        )


class InvalidFaultPlan(FlowFaultError, ValueError):
    """A fault or fault plan was built from values that cannot describe a fault."""


class UnknownAtom(FlowFaultError, LookupError):
    """An assertion or query named an atom that is not part of the run."""


class UnmatchedFault(FlowFaultError, AssertionError):
    """A fault targeted no atom of any flow run during the test (usually a typo)."""


class FaultNotInjected(UnmatchedFault):
    """A fault matched atoms that it could never fire on (e.g. tasks run by remote workers)."""


class FlowCrash(BaseException):
    """A crash fault fired: the engine "dies" here, its storage left as a SIGKILL leaves it.

    A ``BaseException``, so that it passes every ``except Exception`` in TaskFlow: the
    flow stays RUNNING in storage, completed atoms SUCCESS, the crashed one RUNNING.
    """

    def __init__(self, atom: str, when: str) -> None:
        super().__init__(atom, when)
        self.atom = atom
        self.when = when

    def __str__(self) -> str:
        return f"flowfault crashed the engine {self.when} {self.atom!r}"


class MissingExtra(FlowFaultError, ImportError):
    """A feature needs packages that are not installed; the message names the extra."""


def describe_error(error: BaseException) -> str:
    """``repr`` of an error, or its text where the repr says nothing.

    TaskFlow's ``WrappedFailure`` (several failures at once) has no args, so its repr is
    an empty ``WrappedFailure()``; its text lists the failures.
    """
    text = str(error)
    return repr(error) if error.args or not text else f"{type(error).__name__}({text!r})"


class SweepError(FlowFaultError, RuntimeError):
    """The sweep could not start: its baseline run (no faults) did not succeed."""


class AtomInUse(FlowFaultError, RuntimeError):
    """The same atom object is already being run by another engine under flowfault."""


class InvalidMarker(FlowFaultError, ValueError):
    """``@pytest.mark.flowfault`` was given arguments it cannot use."""


class RedisServerError(FlowFaultError, RuntimeError):
    """``redis-server`` is missing or would not start."""


class UpgradeError(FlowFaultError, RuntimeError):
    """A new release cannot take over a flow's saved state: the job's saved factory path
    no longer imports, or the new flow requires names that only a removed atom provided."""


class WorkerTaskError(FlowFaultError, TypeError):
    """A task cannot run on TaskFlow's workers: they build it from an importable class
    path with ``name=`` alone (``taskflow/engines/worker_based/endpoint.py``)."""
