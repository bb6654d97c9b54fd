"""``FlowFault``: the test-scoped facade the ``flowfault`` fixture yields."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_flowfault.engine import Session
from pytest_flowfault.errors import UnmatchedFault
from pytest_flowfault.plan import ExceptionSpec, Fault, FaultPlan, unmatched_message
from pytest_flowfault.record import FlowRun


class FlowFault:
    """Faults for every TaskFlow engine run of one test, and the record of those runs.

    >>> def test_flaky_api_recovers(flowfault):                      # doctest: +SKIP
    ...     flowfault.fail("create_instance", times=2)
    ...     run = flowfault.run(boot_flow(retry=Times(3)), store=STORE)
    ...     run.assert_succeeded()
    ...     run.assert_attempts("create_instance", 3)

    While the test runs, flows that the code under test runs itself (through
    ``taskflow.engines.run``, ``load(...).run()``, conductors, …) get the same faults
    and are recorded in :attr:`runs`; they raise their errors as usual.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._origins: dict[Fault, str] = {}

    @property
    def plan(self) -> FaultPlan:
        """The faults in force, in the order they were added."""
        return self._session.plan

    @property
    def runs(self) -> tuple[FlowRun, ...]:
        """Every engine run recorded while the test ran, in the order they started."""
        return self._session.runs

    def fail(
        self, target: str, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Make ``execute`` of the atoms ``target`` names raise on its first ``times`` attempts.

        ``times=None`` (the default) fails every attempt. ``exc`` is an exception class or
        instance; the default is :class:`~pytest_flowfault.InjectedFault`.
        """
        return self._add(Fault.fail(target, times=times, exc=exc), "flowfault.fail()")

    def fail_revert(
        self, target: str, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Make ``revert`` of the atoms ``target`` names raise (every time by default)."""
        return self._add(
            Fault.fail_revert(target, times=times, exc=exc), "flowfault.fail_revert()"
        )

    def side_effect(self, target: str, effects: Iterable[object] | ExceptionSpec) -> Fault:
        """Decide each ``execute`` attempt from a mock-style ``side_effect`` sequence.

        Exceptions are raised, ``mock.DEFAULT`` runs the real code, other values are
        returned as the task's result; attempts past the end run the real code.
        """
        return self._add(Fault.side_effect(target, effects), "flowfault.side_effect()")

    def add(self, faults: Fault | FaultPlan) -> None:
        """Put a ready-made :class:`Fault` or :class:`FaultPlan` in force."""
        if isinstance(faults, Fault):
            faults = FaultPlan(faults)
        if not isinstance(faults, FaultPlan):
            raise TypeError(
                f"flowfault.add() takes a Fault or a FaultPlan, got {type(faults).__name__}"
            )
        for fault in faults:
            self._add(fault, "flowfault.add()")

    def run(
        self,
        flow: Any,
        *,
        plan: FaultPlan | None = None,
        store: dict[str, Any] | None = None,
        engine: str = "serial",
        **engine_options: Any,
    ) -> FlowRun:
        """Run ``flow`` on the real TaskFlow engine with the faults in force.

        ``plan`` adds faults for this run only. The flow's failure is returned in the
        :class:`FlowRun`, never raised; errors that keep the flow from starting
        (``MissingDependencies``, duplicate atom names) are raised unchanged.
        Parallel runs borrow a worker pool the fixture owns, unless ``executor=`` is given.
        """
        if plan is not None and not isinstance(plan, FaultPlan):
            raise TypeError(
                f"flowfault.run(plan=...) takes a FaultPlan, got {type(plan).__name__}; "
                f"wrap faults as FaultPlan(Fault.fail(...), ...)"
            )
        run = self._session.run(flow, extra=plan, store=store, engine=engine, **engine_options)
        if plan is not None:
            atom_names = [atom.name for atom in run.atoms]
            problem = unmatched_message(plan, atom_names, lambda _: "flowfault.run(plan=...)")
            if problem is not None:
                raise UnmatchedFault(problem)
        return run

    def unmatched_problem(self) -> str | None:
        """Say which faults in force targeted no atom of any run so far, or None."""
        return unmatched_message(self.plan, self._session.atoms_seen, self._origins.get)

    def _add(self, fault: Fault, api: str) -> Fault:
        caller = sys._getframe(2)
        path = Path(caller.f_code.co_filename)
        if path.is_relative_to(Path.cwd()):
            path = path.relative_to(Path.cwd())
        self._origins.setdefault(fault, f"{api} at {path}:{caller.f_lineno}")
        self._session.plan += fault
        return fault
