"""The plugin's own hooks. Implement them in a ``conftest.py`` or a plugin.

They are registered in ``pytest_addhooks``; pytest calls every implementation, except for
``firstresult`` hooks, where the first non-None answer wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_flowfault.plan import Fault
    from pytest_flowfault.run import FlowRun, RunInfo
    from pytest_flowfault.values import Action


@pytest.hookspec
def pytest_flowfault_fault_injected(
    run: RunInfo, fault: Fault, atom: str, attempt: int, action: Action
) -> None:
    """A fault fired: ``atom``'s ``action`` (``execute`` or ``revert``) attempt ``attempt``
    is about to raise (or return) what ``fault`` says, in the run of ``run.flow_name``.
    A crash after a task reports the task's ``execute`` attempt that just succeeded.

    Called on the thread that runs the atom, which is a worker thread on the parallel
    engine: implementations must be thread-safe and quick.

    .. code-block:: python

        def pytest_flowfault_fault_injected(run, fault, atom, attempt, action):
            metrics.count("injected", flow=run.flow_name, atom=atom)
    """


@pytest.hookspec
def pytest_flowfault_run_finished(run: FlowRun, item: pytest.Item | None) -> None:
    """A recorded engine run ended; ``run`` is its immutable record.

    ``item`` is the test that was running (None outside a test).

    .. code-block:: python

        def pytest_flowfault_run_finished(run, item):
            if run.state == "FAILURE":
                print(run.timeline())
    """


@pytest.hookspec(firstresult=True)
def pytest_flowfault_parse_fault(kind: str, value: str, config: pytest.Config) -> Fault | None:
    """Turn a fault written on the command line or in an ini file into a :class:`Fault`.

    ``--flowfault-fault=KIND:VALUE`` is handed over as (KIND, VALUE), and
    ``--flowfault-fail=VALUE`` as ``("fail", VALUE)``. Return None for kinds you do not
    handle. Raise ``ValueError`` with a message to reject a malformed VALUE: it becomes a
    usage error naming the option.

    .. code-block:: python

        def pytest_flowfault_parse_fault(kind, value, config):
            if kind == "timeout":  # --flowfault-fault=timeout:create_instance
                return Fault.fail(value, exc=TimeoutError("injected timeout"))
    """


@pytest.hookspec(firstresult=True)
def pytest_flowfault_sweep_exc(item: pytest.Item) -> object:
    """What ``--flowfault-sweep``'s transient and permanent faults raise in ``item``'s
    variants, as ``sweep(exc=...)`` takes it: an exception class or instance, or a mapping
    ``{target: exception}`` (targets are atom names, patterns or task classes; tasks no
    entry names get ``InjectedFault``). Return None to keep ``InjectedFault``.

    .. code-block:: python

        def pytest_flowfault_sweep_exc(item):
            return {ComputeCreate: ComputeWaitTimeoutException(), "*": RuntimeError("down")}
    """
