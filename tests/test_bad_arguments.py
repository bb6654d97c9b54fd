"""Every bad argument to the public API gets an error naming the call, the argument, the
value and the fix, raised before anything runs or opens, never a traceback from deep
inside TaskFlow or the standard library."""

from __future__ import annotations

from typing import Any

import pytest
from flowkit import Log, Step
from taskflow.patterns import linear_flow

from pytest_flowfault import (
    Fault,
    FaultPlan,
    FlowFault,
    FlowRun,
    InvalidFaultPlan,
    JobBoard,
    RedisServer,
    run_flow,
    sweep,
)
from pytest_flowfault.session import Session
from pytest_flowfault.strategies import fault_plans

FLOWS = "linear_flow.Flow, graph_flow.Flow, unordered_flow.Flow"
BACKENDS = "dir, file, memory, mysql, postgresql, sqlite, zookeeper"
BACKEND_FORMS = (
    "use 'memory', 'dir', 'sqlite', a TaskFlow backend conf ({'connection': ...}) or a URL "
    "such as 'postgresql://user@host/db'"
)
STORE_FIX = (
    "give a mapping of the names the flow requires to their values, e.g. {'image': 'cirros'}"
)


def one_step(log: Log) -> Any:
    return linear_flow.Flow("f").add(Step("a", log))


class TestRunFlow:
    @pytest.mark.parametrize(("flow", "shown", "kind"), [(42, "42", "int"), (None, "None", "NoneType")])
    def test_not_a_flow(self, flow: object, shown: str, kind: str) -> None:
        """Something TaskFlow cannot compile is refused before TaskFlow's compiler sees it."""
        with pytest.raises(TypeError) as raised:
            run_flow(flow)
        assert (
            f"run_flow(flow={shown}): give a TaskFlow flow ({FLOWS}) or a task, not {kind}"
        ) == str(raised.value)

    def test_a_list_of_tasks(self, log: Log) -> None:
        """A list of tasks is refused with the flow to put them in."""
        with pytest.raises(TypeError) as raised:
            run_flow([Step("a", log), Step("b", log)])
        assert (
            f'run_flow(flow=[<flowkit.Step "a==1.0">, <flowkit.Step "b==1.0">]): give a '
            f"TaskFlow flow ({FLOWS}) or a task, not list; add them to a flow: "
            f"linear_flow.Flow('name').add(*tasks)"
        ) == str(raised.value)

    def test_a_task_class(self) -> None:
        """A task class (not an instance) is refused with the call that creates one."""
        with pytest.raises(TypeError) as raised:
            run_flow(Step)
        assert (
            f"run_flow(flow=<class 'flowkit.Step'>): give a TaskFlow flow ({FLOWS}) or a task, "
            f"not the class Step; create one: Step(...)"
        ) == str(raised.value)

    def test_a_flow_factory(self, log: Log) -> None:
        """A function that builds the flow is refused with the call that builds it."""

        def boot_flow() -> Any:
            return one_step(log)

        with pytest.raises(TypeError) as raised:
            run_flow(boot_flow)
        assert str(raised.value).endswith(
            f"give a TaskFlow flow ({FLOWS}) or a task, not the function boot_flow; call it "
            f"to build the flow: boot_flow()"
        )

    def test_a_task_alone_still_runs(self, log: Log) -> None:
        """TaskFlow compiles a lone task: it keeps working."""
        run_flow(Step("solo", log)).assert_succeeded()

    @pytest.mark.parametrize(("store", "shown", "kind"), [(5, "5", "int"), ([("a", 1)], "[('a', 1)]", "list")])
    def test_store_not_a_mapping(self, log: Log, store: object, shown: str, kind: str) -> None:
        """store is a mapping of names to values."""
        with pytest.raises(TypeError) as raised:
            run_flow(one_step(log), store=store)  # type: ignore[arg-type]
        assert f"run_flow(store={shown}): {STORE_FIX}, not {kind}" == str(raised.value)

    def test_plan_a_list_of_faults(self, log: Log) -> None:
        """A list of faults is refused with the wrapping to write."""
        with pytest.raises(TypeError) as raised:
            run_flow(one_step(log), plan=[Fault.fail("a")])  # type: ignore[arg-type]
        assert (
            "run_flow(plan=[Fault.fail('a')]): give a FaultPlan or a single Fault, not list; "
            "wrap them: FaultPlan(*faults)"
        ) == str(raised.value)

    def test_plan_a_string(self, log: Log) -> None:
        """A plan that is not a collection of faults says how to build one."""
        with pytest.raises(TypeError) as raised:
            run_flow(one_step(log), plan="a")  # type: ignore[arg-type]
        assert (
            "run_flow(plan='a'): give a FaultPlan or a single Fault, not str; build one: "
            "FaultPlan(Fault.fail(...), ...)"
        ) == str(raised.value)

    def test_plan_a_single_fault_is_a_plan_of_one(self, log: Log) -> None:
        """One Fault is accepted, as flowfault.add() accepts it."""
        run = run_flow(one_step(log), plan=Fault.fail("a"))
        assert FaultPlan(Fault.fail("a")) == run.plan
        assert "REVERTED" == run.state

    @pytest.mark.parametrize(
        ("backend", "name"),
        [("nosuch://host/db", "nosuch"), ({"connection": "redis://x"}, "redis"), ("mongodb+srv://h", "mongodb")],
    )
    def test_backend_with_an_unknown_scheme(self, log: Log, backend: object, name: str) -> None:
        """An unknown URL scheme names the backends TaskFlow has (its entry points)."""
        with pytest.raises(ValueError) as raised:
            run_flow(one_step(log), backend=backend)
        assert (
            f"run_flow(backend={backend!r}): TaskFlow has no persistence backend {name!r}; the "
            f"ones installed are {BACKENDS} ({BACKEND_FORMS})"
        ) == str(raised.value)

    def test_backend_conf_without_connection(self, log: Log) -> None:
        """A conf dict needs its 'connection'."""
        with pytest.raises(ValueError) as raised:
            run_flow(one_step(log), backend={"path": "x"})
        assert (
            "run_flow(backend={'path': 'x'}): a TaskFlow backend conf needs a 'connection' (a "
            "backend name or URL), e.g. {'connection': 'sqlite:///flows.db'}"
        ) == str(raised.value)

    def test_backend_not_a_name(self, log: Log) -> None:
        """A value that is no backend spec at all lists the forms there are."""
        with pytest.raises(ValueError) as raised:
            run_flow(one_step(log), backend=42)
        assert f"run_flow(backend=42): {BACKEND_FORMS}" == str(raised.value)

    def test_max_workers_zero(self, log: Log) -> None:
        """A parallel engine needs at least one worker."""
        with pytest.raises(ValueError) as raised:
            run_flow(one_step(log), engine="parallel", max_workers=0)
        assert (
            "run_flow(max_workers=0): give the number of worker threads of the parallel "
            "engine, a whole number >= 1"
        ) == str(raised.value)

    @pytest.mark.parametrize(("workers", "kind"), [("x", "str"), (2.5, "float"), (True, "bool")])
    def test_max_workers_not_an_int(self, log: Log, workers: object, kind: str) -> None:
        """max_workers is a whole number."""
        with pytest.raises(TypeError) as raised:
            run_flow(one_step(log), engine="parallel", max_workers=workers)
        assert (
            f"run_flow(max_workers={workers!r}): give the number of worker threads of the "
            f"parallel engine, a whole number >= 1, not {kind}"
        ) == str(raised.value)

    def test_virtual_time_not_a_bool(self, log: Log) -> None:
        """virtual_time is True or False."""
        with pytest.raises(TypeError) as raised:
            run_flow(one_step(log), virtual_time="yes")  # type: ignore[arg-type]
        assert (
            "run_flow(virtual_time='yes'): give True (skip sleeps inside atoms) or False, not str"
        ) == str(raised.value)


class TestFlowFaultRun:
    def test_not_a_flow(self) -> None:
        """The fixture's run names itself in the message."""
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).run(42)
        assert (
            f"flowfault.run(flow=42): give a TaskFlow flow ({FLOWS}) or a task, not int"
        ) == str(raised.value)

    def test_plan_a_list(self, log: Log) -> None:
        """plan= is checked as run_flow checks it."""
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).run(one_step(log), plan=[Fault.fail("a")])  # type: ignore[arg-type]
        assert (
            "flowfault.run(plan=[Fault.fail('a')]): give a FaultPlan or a single Fault, not "
            "list; wrap them: FaultPlan(*faults)"
        ) == str(raised.value)

    def test_store_not_a_mapping(self, log: Log) -> None:
        """store= is checked as run_flow checks it."""
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).run(one_step(log), store=5)  # type: ignore[arg-type]
        assert f"flowfault.run(store=5): {STORE_FIX}, not int" == str(raised.value)


class TestResume:
    @pytest.mark.parametrize(("run", "shown", "kind"), [("not a run", "'not a run'", "str"), (None, "None", "NoneType")])
    def test_not_a_run(self, run: object, shown: str, kind: str) -> None:
        """Only a FlowRun can be resumed."""
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).resume(run)  # type: ignore[arg-type]
        assert (
            f"flowfault.resume(run={shown}): give the FlowRun that flowfault.run() or "
            f"run_flow() returned (a CRASHED or SUSPENDED one), not {kind}"
        ) == str(raised.value)

    def test_unknown_engine(self, log: Log) -> None:
        """resume checks the engine name as run does, before any engine is loaded."""
        flowfault = FlowFault(Session())
        flowfault.crash(after="a")
        crashed = flowfault.run(one_step(log), backend="memory")
        assert "CRASHED" == crashed.state
        with pytest.raises(ValueError) as raised:
            flowfault.resume(crashed, engine="turbo")
        assert (
            "flowfault.resume(engine='turbo'): not a TaskFlow engine; use one of default, "
            "parallel, serial, worker-based, workers"
        ) == str(raised.value)


class TestSweep:
    @pytest.mark.parametrize(("made", "shown", "kind"), [(None, "None", "NoneType"), (42, "42", "int")])
    def test_factory_returning_no_flow(self, made: object, shown: str, kind: str) -> None:
        """make_flow() must return a flow; the error says what it returned."""
        with pytest.raises(TypeError) as raised:
            sweep(lambda: made)
        assert (
            f"sweep(): make_flow() returned {shown}; it must return a TaskFlow flow ({FLOWS}) "
            f"or a task, not {kind}"
        ) == str(raised.value)

    @pytest.mark.parametrize(
        ("arguments", "error", "message"),
        [
            (
                {"check": "nope"},
                TypeError,
                "sweep(check='nope'): give a function that takes each variant's FlowRun and "
                "raises AssertionError when the run is wrong (or None), not str",
            ),
            (
                {"strict": "yes"},
                TypeError,
                "sweep(strict='yes'): give True (forgotten reverts fail, as in "
                "assert_compensated) or False, not str",
            ),
            (
                {"kinds": 5},
                ValueError,
                "sweep(kinds=5): use a tuple of transient, permanent, revert, crash, upgrade, e.g. "
                "('transient', 'permanent')",
            ),
            ({"store": 5}, TypeError, f"sweep(store=5): {STORE_FIX}, not int"),
            (
                {"engine": "turbo"},
                ValueError,
                "sweep(engine='turbo'): not a TaskFlow engine; use one of default, parallel, "
                "serial, worker-based, workers",
            ),
            (
                {"backend": "nosuch://x"},
                ValueError,
                f"sweep(backend='nosuch://x'): TaskFlow has no persistence backend 'nosuch'; "
                f"the ones installed are {BACKENDS} ({BACKEND_FORMS})",
            ),
            (
                {"max_workers": 0},
                ValueError,
                "sweep(max_workers=0): give the number of worker threads of the parallel "
                "engine, a whole number >= 1",
            ),
            (
                {"virtual_time": 1},
                TypeError,
                "sweep(virtual_time=1): give True (skip sleeps inside atoms) or False, not int",
            ),
            *(
                (
                    {"repeat": value},
                    ValueError,
                    f"sweep(repeat={value!r}): give how many times to run each variant, a "
                    f"whole number >= 1 (e.g. repeat=20 on the parallel engine)",
                )
                for value in (0, "3", True, 2.0)
            ),
            (
                {"setup": 42},
                TypeError,
                "sweep(): setup= takes a function of no arguments, called before every run, "
                "got 42",
            ),
            (
                {"exc": "timeout"},
                TypeError,
                "sweep(): exc must be an exception class or instance, e.g. RuntimeError or "
                "RuntimeError('API down'), got str 'timeout' (exc= takes an exception class "
                "or instance, or a mapping {target: exception})",
            ),
            (
                {"exc": {"create": "timeout"}},
                TypeError,
                "sweep(): exc['create'] must be an exception class or instance, e.g. "
                "RuntimeError or RuntimeError('API down'), got str 'timeout' (exc= takes an "
                "exception class or instance, or a mapping {target: exception})",
            ),
            (
                {"exc": {3: ValueError}},
                TypeError,
                "sweep(exc={3: <class 'ValueError'>}): a key must be a task name, a pattern or "
                "a task class, got int 3",
            ),
            (
                {"exc": KeyboardInterrupt},
                TypeError,
                "sweep(): exc=KeyboardInterrupt is a BaseException: it would escape TaskFlow's "
                "error handling instead of failing the atom; use an Exception subclass (exc= "
                "takes an exception class or instance, or a mapping {target: exception})",
            ),
            (
                {"nothing_to_undo": ["lookup"]},
                TypeError,
                "nothing_to_undo only matters with strict=True: without it, a task with no "
                "revert of its own is not a problem anyway",
            ),
            (
                {"nothing_to_undo": [3], "strict": True},
                TypeError,
                "nothing_to_undo: give atom names, patterns or task classes (or their dotted "
                "paths), got int 3",
            ),
        ],
    )
    def test_every_argument_is_checked_before_any_run(
        self, log: Log, arguments: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        """A bad argument fails the sweep before its baseline runs."""
        with pytest.raises(error) as raised:
            sweep(lambda: one_step(log), **arguments)
        assert message == str(raised.value)
        assert [] == log.entries  # nothing ran

    def test_the_fixture_names_itself(self, log: Log) -> None:
        """flowfault.sweep() names itself in the message."""
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).sweep(lambda: one_step(log), check="nope")  # type: ignore[arg-type]
        assert str(raised.value).startswith("flowfault.sweep(check='nope'): give a function")


class TestFaultPlans:
    @pytest.mark.parametrize(("value", "shown", "kind"), [(42, "42", "int"), (None, "None", "NoneType")])
    def test_neither_a_flow_nor_names(self, value: object, shown: str, kind: str) -> None:
        """A value that is no flow and no list of names is refused, saying what is."""
        with pytest.raises(TypeError) as raised:
            fault_plans(value)
        assert (
            f"fault_plans(flow_or_atom_names={shown}): give a TaskFlow flow ({FLOWS}), a task, "
            f"or a list of task names, not {kind}"
        ) == str(raised.value)

    def test_a_task_alone(self, log: Log) -> None:
        """A lone task is accepted, as TaskFlow compiles it."""
        fault_plans(Step("a", log))

    def test_min_faults_above_what_exists(self) -> None:
        """One task has 5 distinct faults (3 transient, 1 permanent, 1 revert): 6 is refused."""
        with pytest.raises(ValueError) as raised:
            fault_plans(["a"], min_faults=6, max_faults=6)
        assert (
            "fault_plans(min_faults=6): only 5 distinct faults exist over 1 task with "
            "kinds=('transient', 'permanent', 'revert') and max_times=3; use min_faults <= 5"
        ) == str(raised.value)

    def test_min_faults_at_what_exists(self) -> None:
        """Exactly as many faults as exist is accepted."""
        fault_plans(["a", "a", "b"], min_faults=4, max_faults=4, kinds=("permanent", "revert"))


class TestSideEffect:
    @pytest.mark.parametrize(
        ("effect", "shown"),
        [(KeyboardInterrupt("stop"), "KeyboardInterrupt('stop')"), (KeyboardInterrupt, "KeyboardInterrupt")],
    )
    def test_base_exception_in_the_sequence(self, effect: object, shown: str) -> None:
        """A BaseException, class or instance, is refused with the same message."""
        with pytest.raises(InvalidFaultPlan) as raised:
            FlowFault(Session()).side_effect("a", [effect])
        assert (
            f"a side_effect item={shown} is a BaseException: it would escape TaskFlow's error "
            f"handling instead of failing the atom; use an Exception subclass"
        ) == str(raised.value)

    def test_base_exception_alone(self) -> None:
        """A lone BaseException is refused for being one, not for being no sequence."""
        with pytest.raises(InvalidFaultPlan) as raised:
            Fault.side_effect("a", KeyboardInterrupt("stop"))  # type: ignore[arg-type]
        assert (
            "side_effect=KeyboardInterrupt('stop') is a BaseException: it would escape "
            "TaskFlow's error handling instead of failing the atom; use an Exception subclass"
        ) == str(raised.value)


class TestChaos:
    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"rate": 1.0, "revert_rate": 2}, "flowfault.chaos(revert_rate=2)"),
            ({"rate": 1.0, "revert_rate": None}, "flowfault.chaos(revert_rate=None)"),
            ({"rate": 2, "revert_rate": 0.5}, "flowfault.chaos(rate=2)"),
        ],
    )
    def test_a_refused_rate_puts_no_fault_in_force(
        self, arguments: dict[str, Any], message: str
    ) -> None:
        """Both rates are checked before any fault is in force."""
        flowfault = FlowFault(Session())
        with pytest.raises(InvalidFaultPlan) as raised:
            flowfault.chaos(**arguments)
        value = message.split("=", 1)[1].rstrip(")")
        assert (
            f"{message}: a chaos rate is a probability from 0 to 1, e.g. 0.2, got {value}"
        ) == str(raised.value)
        assert FaultPlan() == flowfault.plan


class TestJobboard:
    def test_not_a_redis_server(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A non-server is refused before any backend is opened."""
        import pytest_flowfault.jobboard.board as board

        opened: list[object] = []
        monkeypatch.setattr(board, "open_backend", lambda *arguments: opened.append(arguments))
        with pytest.raises(TypeError) as raised:
            FlowFault(Session()).jobboard("not a server")  # type: ignore[arg-type]
        assert (
            "flowfault.jobboard(redis_server='not a server'): give the RedisServer that the "
            "flowfault_redis fixture yields, not str"
        ) == str(raised.value)
        assert [] == opened


class TestResumeWithFlow:
    """flowfault.resume(run, flow=...): the next release, a flow or a zero-argument factory."""

    @pytest.fixture
    def crashed(self, log: Log) -> tuple[FlowFault, FlowRun]:
        flowfault = FlowFault(Session())
        flowfault.crash(after="a")
        run = flowfault.run(one_step(log), backend="memory")
        assert "CRASHED" == run.state
        return flowfault, run

    WANTED = "give a TaskFlow flow of the new release, or a function that builds it with no arguments"

    @pytest.mark.parametrize(
        ("flow", "shown", "what"),
        [(42, "42", "int"), ("boot_flow", "'boot_flow'", "str"),
         (Step, "<class 'flowkit.Step'>", "the class Step")],
    )
    def test_neither_a_flow_nor_a_factory(
        self, crashed: tuple[FlowFault, FlowRun], flow: object, shown: str, what: str
    ) -> None:
        flowfault, run = crashed
        with pytest.raises(TypeError) as raised:
            flowfault.resume(run, flow=flow)
        assert f"flowfault.resume(flow={shown}): {self.WANTED}, not {what}" == str(raised.value)

    def test_a_factory_that_needs_arguments(self, crashed: tuple[FlowFault, FlowRun]) -> None:
        flowfault, run = crashed

        def release_2(cloud: object) -> Any:
            raise AssertionError("never called")

        with pytest.raises(TypeError) as raised:
            flowfault.resume(run, flow=release_2)
        assert str(raised.value).startswith("flowfault.resume(flow=<function ")
        assert str(raised.value).endswith(
            f"{self.WANTED}; the function release_2 needs arguments (wrap it: lambda: "
            f"release_2(...))"
        )

    def test_a_factory_that_returns_no_flow(self, crashed: tuple[FlowFault, FlowRun]) -> None:
        flowfault, run = crashed
        with pytest.raises(TypeError) as raised:
            flowfault.resume(run, flow=lambda: None)
        assert (
            f"flowfault.resume(): flow() returned None; it must return a TaskFlow flow "
            f"({FLOWS}) or a task, not NoneType"
        ) == str(raised.value)

    def test_a_flow_and_a_factory_both_resume(
        self, crashed: tuple[FlowFault, FlowRun], log: Log
    ) -> None:
        flowfault, run = crashed
        flowfault.resume(run, flow=lambda: one_step(log)).assert_resumed()


class TestRunConductorFactory:
    """board.run_conductor(factory=...): the release the conductor runs, checked before it
    connects."""

    @pytest.fixture
    def board(self, flowfault_redis: RedisServer) -> JobBoard:
        return FlowFault(Session()).jobboard(flowfault_redis, backend="memory")

    @pytest.mark.parametrize(("factory", "shown", "kind"), [(42, "42", "int"), ([one_step], None, "list")])
    def test_not_a_factory(self, board: JobBoard, factory: object, shown: str | None,
                           kind: str) -> None:
        with pytest.raises(TypeError) as raised:
            board.run_conductor(factory=factory)  # type: ignore[arg-type]
        message = str(raised.value)
        if shown is not None:
            assert message.startswith(f"board.run_conductor(factory={shown}): ")
        assert message.endswith(
            f"give the next release's flow factory (a function, or 'package.module:function'), "
            f"or a mapping from the factory paths saved with the jobs to such factories, not "
            f"{kind}"
        )

    def test_a_mapping_keyed_by_something_else(self, board: JobBoard) -> None:
        with pytest.raises(TypeError) as raised:
            board.run_conductor(factory={1: one_step})  # type: ignore[dict-item]
        assert str(raised.value).endswith(
            ": the keys are the factory paths saved with the jobs ('package.module.function'), "
            "not int"
        )

    def test_a_path_that_does_not_import(self, board: JobBoard) -> None:
        with pytest.raises(ValueError) as raised:
            board.run_conductor(factory="flowkit:nope")
        assert (
            "board.run_conductor(): factory='flowkit:nope' cannot be imported: module "
            "'flowkit' has no attribute 'nope'"
        ) == str(raised.value)
