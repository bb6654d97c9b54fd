"""``FlowFault``: the test-scoped facade the ``flowfault`` fixture yields."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flowfault.arguments import call, check_plan, check_positive_int, check_store
from pytest_flowfault.errors import UnmatchedFault
from pytest_flowfault.explore import sweep
from pytest_flowfault.plan import (
    Fault,
    FaultPlan,
    check_rate,
    crash_point,
)
from pytest_flowfault.points import ExceptionChoice
from pytest_flowfault.run import FlowRun
from pytest_flowfault.session import Session
from pytest_flowfault.targets import Target, not_injected_message, unmatched_message
from pytest_flowfault.values import ExceptionSpec
from pytest_flowfault.variants import SweepReport
from pytest_flowfault.verdict import nothing_to_undo_targets

if TYPE_CHECKING:
    from pytest_flowfault.jobboard.board import JobBoard
    from pytest_flowfault.jobboard.redis_server import RedisServer


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

    def __init__(self, session: Session, *, seed: int = 0, engine: str = "serial") -> None:
        self._session = session
        self._seed = seed
        #: The engine :meth:`run` uses when none is given (``engines=`` in the marker sets it).
        self.engine = engine
        self._origins: dict[Fault, str] = {}
        self._checked: list[Fault] = []

    @property
    def seed(self) -> int:
        """This test's seed: the session seed plus the CRC32 of the test's node id."""
        return self._seed

    @property
    def session(self) -> Session:
        """The engine session behind this fixture (faults in force, recorded runs)."""
        return self._session

    @property
    def plan(self) -> FaultPlan:
        """The faults in force, in the order they were added."""
        return self._session.plan

    @property
    def runs(self) -> tuple[FlowRun, ...]:
        """Every engine run recorded while the test ran, in the order they started."""
        return self._session.runs

    def fail(
        self, target: Target, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Make ``execute`` of the atoms ``target`` names raise on its first ``times`` attempts.

        ``target`` is an atom name, an ``fnmatch`` pattern, or a task class (every instance
        of it, subclasses included). ``times=None`` (the default) fails every attempt.
        ``exc`` is an exception class or instance; the default is
        :class:`~pytest_flowfault.InjectedFault`.

        >>> flowfault.fail(CertComputeCreate, times=1)      # doctest: +SKIP
        """
        return self.put_in_force(Fault.fail(target, times=times, exc=exc), _caller("flowfault.fail()"))

    def fail_revert(
        self, target: Target, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Make ``revert`` of the atoms ``target`` names raise (every time by default)."""
        return self.put_in_force(
            Fault.fail_revert(target, times=times, exc=exc), _caller("flowfault.fail_revert()")
        )

    def side_effect(self, target: Target, effects: Iterable[object] | ExceptionSpec) -> Fault:
        """Decide each ``execute`` attempt from a mock-style ``side_effect`` sequence.

        Exceptions are raised, ``mock.DEFAULT`` runs the real code, other values are
        returned as the task's result; attempts past the end run the real code.
        """
        return self.put_in_force(Fault.side_effect(target, effects), _caller("flowfault.side_effect()"))

    def chaos(self, rate: float, *, tasks: Target = "*", revert_rate: float = 0.0) -> None:
        """Fail each ``execute`` attempt of the atoms ``tasks`` names with probability ``rate``.

        Draws come from this test's :attr:`seed`, the flow name, the atom name and the
        attempt only, so a run is reproducible on any engine and under xdist.
        ``revert_rate`` does the same to reverts.
        """
        origin = _caller("flowfault.chaos()")
        # Check every argument before any fault is in force: a refused revert_rate must
        # not leave the execute chaos behind.
        check_rate(rate, f"flowfault.chaos(rate={rate!r})")
        check_rate(revert_rate, f"flowfault.chaos(revert_rate={revert_rate!r})")
        faults = [Fault.chaos(tasks, rate=rate, seed=self._seed)]
        if revert_rate:
            faults.append(Fault.chaos_revert(tasks, rate=revert_rate, seed=self._seed))
        for fault in faults:
            self.put_in_force(fault, origin)

    def virtual_time(self, enabled: bool = True) -> None:
        """Skip sleeps inside atoms for the rest of the test.

        In every run (``execute``, ``revert``, a retry controller's ``on_failure``, on any
        engine thread, conductors included) ``time.sleep(s)`` returns at once and moves
        that run's virtual clock on by ``s``; ``time.monotonic()``, ``time.time()`` and
        ``time.perf_counter()`` (and their ``_ns`` forms) read real time plus that offset.
        Code outside atoms sees real time. ``run.sleeps(atom)`` lists what was skipped.

        >>> flowfault.virtual_time()                                  # doctest: +SKIP
        >>> run = flowfault.run(flow)   # tenacity's 5 s waits take no time  # doctest: +SKIP
        """
        if not isinstance(enabled, bool):
            raise TypeError(f"flowfault.virtual_time(enabled={enabled!r}): give True or False")
        self._session.virtual_time = enabled

    def crash(self, *, after: Target | None = None, during: Target | None = None) -> Fault:
        """Make the engine die after ``after`` completed (its result saved), or inside
        ``during``'s execute. The run ends CRASHED, its storage as a SIGKILL leaves it;
        :meth:`resume` continues it. Runs the code under test starts raise ``FlowCrash``.
        """
        crash = crash_point(after, during, "flowfault.crash()", keywords=("after", "during"))
        return self.put_in_force(crash, _caller("flowfault.crash()"))

    def resume(self, run: FlowRun, *, flow: Any = None, **engine_options: Any) -> FlowRun:
        """Continue a CRASHED (or suspended) run from its persistence backend.

        ``flow`` is the next release: a flow, or a function that builds one with no
        arguments, which resumes the saved state instead of the run's own flow.

        >>> flowfault.crash(after="create_instance")                      # doctest: +SKIP
        >>> crashed = flowfault.run(boot_flow(), store=STORE, backend="sqlite")  # doctest: +SKIP
        >>> flowfault.resume(crashed).assert_executed_once("create_instance")    # doctest: +SKIP
        >>> flowfault.resume(crashed, flow=boot_v2.boot_flow).assert_upgrade_safe()  # doctest: +SKIP
        """
        return self._session.resume(run, flow=flow, api="flowfault.resume()", **engine_options)

    def run_in_subprocess(
        self,
        factory: str,
        *,
        crash_after: Target | None = None,
        crash_during: Target | None = None,
        backend: Any = "sqlite",
        store: Mapping[str, Any] | None = None,
    ) -> FlowRun:
        """Run ``factory`` (``"pkg.module:make_flow"``) in a child process that is SIGKILLed
        after (or during) a task; return the CRASHED run, rebuilt from its backend, which
        :meth:`resume` continues in this process.
        """
        __tracebackhide__ = True
        from pytest_flowfault.persist import backend_conf
        from pytest_flowfault.process import run_in_subprocess

        api = "flowfault.run_in_subprocess()"
        crash = crash_point(crash_after, crash_during, "run_in_subprocess()")
        check_store(store, api)
        return run_in_subprocess(
            factory,
            backend_conf(backend, self._session.directory, api),
            crash,
            store=None if store is None else dict(store),
        )

    def jobboard(
        self,
        redis_server: RedisServer,
        *,
        backend: Any = "sqlite",
        expire_dead_claims: bool = True,
    ) -> JobBoard:
        """A TaskFlow Redis jobboard on ``redis_server`` (the ``flowfault_redis`` fixture),
        its conductors sharing ``backend`` (``"sqlite"`` in the test's ``tmp_path`` by
        default); their engine runs get the faults in force and are recorded in :attr:`runs`.

        A live conductor's claim never runs out. A conductor the plugin kills loses its
        claim when it dies, as an expiring claim would; ``expire_dead_claims=False``
        keeps it instead, as TaskFlow's default claims (no expiry) do in production.
        """
        from pytest_flowfault.jobboard.board import JobBoard

        return JobBoard(
            self._session, redis_server, backend, expire_dead_claims=expire_dead_claims
        )

    def workers(self, count: int = 2, *, redis: RedisServer) -> None:
        """Send the test's worker-based runs to ``count`` worker processes (child Pythons
        running TaskFlow's ``Worker``) on kombu's Redis transport on ``redis`` (the
        ``flowfault_redis`` fixture), instead of in-process workers; they start with the
        first such run and stop at teardown. A ``crash(during=...)`` SIGKILLs the one
        that takes the task.

        >>> flowfault.workers(2, redis=flowfault_redis)                        # doctest: +SKIP
        >>> flowfault.crash(during="create_instance")                          # doctest: +SKIP
        >>> run = flowfault.run(flow, engine="worker-based")  # retried on the other one  # doctest: +SKIP
        """
        from pytest_flowfault.jobboard.redis_server import RedisServer

        check_positive_int(count, "flowfault.workers()", "count", "the number of worker processes")
        if not isinstance(redis, RedisServer):
            raise TypeError(
                f"{call('flowfault.workers()', 'redis', redis)}: give the RedisServer that "
                f"the flowfault_redis fixture yields"
            )
        self._session.workers.use_processes(count, redis.url)

    def add(self, faults: Fault | FaultPlan) -> None:
        """Put a ready-made :class:`Fault` or :class:`FaultPlan` in force."""
        if isinstance(faults, Fault):
            faults = FaultPlan(faults)
        if not isinstance(faults, FaultPlan):
            raise TypeError(
                f"flowfault.add() takes a Fault or a FaultPlan, got {type(faults).__name__}"
            )
        origin = _caller("flowfault.add()")
        for fault in faults:
            self.put_in_force(fault, origin)

    def run(
        self,
        flow: Any,
        *,
        plan: FaultPlan | Fault | None = None,
        store: Mapping[str, Any] | None = None,
        engine: str | None = None,
        **engine_options: Any,
    ) -> FlowRun:
        """Run ``flow`` on the real TaskFlow engine with the faults in force.

        ``engine`` defaults to :attr:`engine` (``"serial"`` unless the test is
        parametrized with ``@pytest.mark.flowfault(engines=[...])``). ``backend=`` persists
        the run: ``"memory"``, ``"dir"`` or ``"sqlite"`` (in the test's ``tmp_path``), a
        TaskFlow backend conf, or a URL.

        ``plan`` (a :class:`FaultPlan`, or one :class:`Fault`) adds faults for this run
        only. The flow's failure is returned in the
        :class:`FlowRun`, never raised; errors that keep the flow from starting
        (``MissingDependencies``, duplicate atom names) are raised unchanged.
        Parallel runs borrow a worker pool the fixture owns, unless ``executor=`` is given.
        """
        plan = check_plan(plan, "flowfault.run()")
        run = self._session.run(
            flow,
            extra=plan,
            store=store,
            engine=self.engine if engine is None else engine,
            api="flowfault.run()",
            **engine_options,
        )
        if plan is not None:
            atoms = {atom.name: atom.kind for atom in run.atoms}
            problem = unmatched_message(
                plan, atoms, lambda _: "flowfault.run(plan=...)", self._session.classes_seen
            )
            if problem is not None:
                raise UnmatchedFault(problem)
        return run

    def sweep(
        self,
        make_flow: Callable[[], Any],
        *,
        store: Mapping[str, Any] | None = None,
        engine: str | None = None,
        kinds: Iterable[str] = ("transient", "permanent"),
        max_faults: int = 1,
        check: Callable[[FlowRun], object] | None = None,
        strict: bool = False,
        nothing_to_undo: Iterable[str | type] = (),
        exc: ExceptionChoice = None,
        setup: Callable[[], object] | None = None,
        repeat: int = 1,
        upgrade_to: Callable[[], Any] | None = None,
        upgrade_faults: bool = False,
        **engine_options: Any,
    ) -> SweepReport:
        """Run ``make_flow()`` without faults, then once per fault point; see
        :func:`pytest_flowfault.sweep`. The sweep's runs are its own: they get neither the
        faults in force nor a place in :attr:`runs`. With ``strict=True`` the suite's
        ``flowfault_nothing_to_undo`` is added to ``nothing_to_undo``.

        >>> report = flowfault.sweep(lambda: boot_flow(retry=Times(3)), store=STORE)  # doctest: +SKIP
        >>> report.assert_resilient()                                                # doctest: +SKIP
        """
        if strict and self._session.nothing_to_undo:
            nothing_to_undo = (
                *nothing_to_undo_targets(nothing_to_undo, strict), *self._session.nothing_to_undo
            )
        return sweep(
            make_flow,
            store=store,
            engine=self.engine if engine is None else engine,
            api="flowfault.sweep()",
            directory=self._session.directory,
            virtual_time=self._session.virtual_time,
            kinds=kinds,
            max_faults=max_faults,
            check=check,
            strict=strict,
            nothing_to_undo=nothing_to_undo,
            exc=exc,
            setup=setup,
            repeat=repeat,
            upgrade_to=upgrade_to,
            upgrade_faults=upgrade_faults,
            **engine_options,
        )

    def unmatched_problem(self) -> str | None:
        """Say which of the test's own faults targeted no atom of any run so far, or None.

        Command-line faults apply to every test and are not expected to match in each.
        """
        session = self._session
        return unmatched_message(
            FaultPlan(*self._checked), session.atoms_seen, self._origins.get, session.classes_seen
        )

    def not_injected_problem(self) -> str | None:
        """Say which of the test's own faults matched atoms they could never fire on
        (tasks run by remote workers), or None. Command-line faults are only counted."""
        return not_injected_message(FaultPlan(*self._checked), self.runs, self._origins.get)

    def matched_faults(self) -> tuple[Fault, ...]:
        """The faults in force whose target named an atom of some run so far."""
        session = self._session
        unmatched = set(self.plan.unmatched(session.atoms_seen, session.classes_seen))
        return tuple(fault for fault in self.plan if fault not in unmatched)

    def origin(self, fault: Fault) -> str | None:
        """Where a fault in force was put in force (a call site, a marker, an option)."""
        return self._origins.get(fault)

    def put_in_force(self, fault: Fault, origin: str, *, expect_match: bool = True) -> Fault:
        """Put ``fault`` in force, saying where it came from (a call site, a marker, an
        option). ``expect_match=False`` is for faults that apply to every test (command
        line, ini, replay, sweep variants): they are not expected to match in each."""
        self._origins.setdefault(fault, origin)
        if expect_match:
            self._checked.append(fault)
        self._session.plan += fault
        return fault

    def use(self, *, engine: str, directory: Callable[[], Path]) -> None:
        """The engine :meth:`run` uses when none is given, and where "dir" and "sqlite"
        backends live (the ``flowfault`` fixture gives the test's ``tmp_path``)."""
        self.engine = engine
        self._session.directory = directory


def _caller(api: str) -> str:
    """``api`` and the file:line of the test code that called it."""
    caller = sys._getframe(2)
    path = Path(caller.f_code.co_filename)
    if path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return f"{api} at {path}:{caller.f_lineno}"
