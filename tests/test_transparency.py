"""The injector's wrappers are transparent: code that inspects its own methods behaves
as on bare TaskFlow (tenacity's statistics, ``__wrapped__``, signatures, attributes)."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import pytest
import taskflow.engines
import tenacity
from oslo_utils import reflection
from taskflow import retry, task
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import Fault, FaultPlan, run_flow

ENGINES = ["serial", "parallel"]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def rebinding_retry(**options: Any) -> Decorator:
    """tenacity 8.5-9.1's layout: every call rebinds ``wrapped_f.statistics`` to a new dict.

    Copied from tenacity 9.1.2's ``BaseRetrying.wraps``; 9.2 clears one dict instead.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        retrying = tenacity.Retrying(**options)

        @functools.wraps(f)
        def wrapped_f(*args: Any, **kwargs: Any) -> Any:
            copy = retrying.copy()
            wrapped_f.statistics = copy.statistics  # type: ignore[attr-defined]
            return copy(f, *args, **kwargs)

        wrapped_f.retry = retrying  # type: ignore[attr-defined]
        wrapped_f.statistics = {}  # type: ignore[attr-defined]
        return wrapped_f

    return decorate


def old_retry(**options: Any) -> Decorator:
    """tenacity < 8.5's layout: statistics live on ``wrapped_f.retry`` only (8.2.3's ``wraps``)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        retrying = tenacity.Retrying(**options)

        @functools.wraps(f)
        def wrapped_f(*args: Any, **kwargs: Any) -> Any:
            return retrying(f, *args, **kwargs)

        wrapped_f.retry = retrying  # type: ignore[attr-defined]
        wrapped_f.retry_with = lambda **changes: old_retry(**{**options, **changes})(f)  # type: ignore[attr-defined]
        return wrapped_f

    return decorate


def logged(f: Callable[..., Any]) -> Callable[..., Any]:
    """A plain ``functools.wraps`` decorator, as services put around their methods."""

    @functools.wraps(f)
    def logging_call(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return logging_call


class counted:  # noqa: N801 (a decorator, named like one)
    """A class-based method decorator: a callable object that binds like a function."""

    def __init__(self, f: Callable[..., Any]) -> None:
        functools.update_wrapper(self, f)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]

    def __get__(self, owner: object, owner_type: type | None = None) -> Any:
        return self if owner is None else types.MethodType(self, owner)


NAMES = ("__name__", "__qualname__", "__module__", "__doc__")


def observe(method: Any, owner: object) -> dict[str, object]:
    """What code can see of one of its own methods, from inside the call."""
    try:
        method.flowfault_probe = 1
        write = "accepted"
    except AttributeError as error:
        write = str(error)
    return {
        "names": [getattr(method, name, None) for name in NAMES],
        "wrapped": getattr(method, "__wrapped__", None),
        "signature": str(inspect.signature(method)),
        "attributes": sorted(vars(method)),
        "is method": inspect.ismethod(method),
        "self": getattr(method, "__self__", None) is owner,
        "callable name": reflection.get_callable_name(method),
        "callable args": reflection.get_callable_args(method),
        "repr": repr(method),
        "write": write,
    }


# tenacity layouts: (decorator, where a call reads its own statistics)
LAYOUTS: dict[str, tuple[Callable[..., Decorator], Callable[[Any], dict[str, Any]]]] = {
    "tenacity": (tenacity.retry, lambda method: method.statistics),
    "tenacity 8.5-9.1": (rebinding_retry, lambda method: method.statistics),
    "tenacity < 8.5": (old_retry, lambda method: method.retry.statistics),
}
RETRYING = {"stop": tenacity.stop_after_attempt(3), "wait": tenacity.wait_none(), "reraise": True}


def tenacity_task(layout: str, name: str, *, real_failures: int = 0) -> task.Task:
    """A task like Octavia's ComputeDelete: its tenacity-decorated execute fails its first
    ``real_failures`` calls and returns the attempt number tenacity counted."""
    decorate, statistics = LAYOUTS[layout]

    class Flaky(task.Task):
        default_provides = "attempt_number"

        def __init__(self) -> None:
            super().__init__(name)
            self.calls = 0

        @decorate(**RETRYING)
        def execute(self) -> int:
            """Delete the server, counting tenacity's attempts."""
            self.calls += 1
            if self.calls <= real_failures:
                raise ConnectionError(f"call {self.calls} failed")
            attempt: int = statistics(self.execute).get("attempt_number", 1)
            return attempt

    return Flaky()


class Introspecting(task.Task):
    """A task whose execute and revert look at themselves while they run."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        super().__init__(name)
        self.fail = fail
        self.seen: dict[str, dict[str, object]] = {}
        self.revert_calls: list[int] = []

    @logged
    def execute(self, value: int, scale: int = 2) -> int:
        """Scale the value."""
        self.seen["execute"] = observe(self.execute, self)
        if self.fail:
            raise RuntimeError("execute failed")
        return value * scale

    @counted
    def revert(self, value: int, **kwargs: Any) -> None:
        """Nothing to undo."""
        self.seen["revert"] = observe(self.revert, self)
        self.revert_calls.append(self.revert.calls)  # counted by the class-wide decorator


class CallableExecute:
    """A callable object stored on the task instance as its execute (never bound)."""

    __name__ = "callable_execute"

    def __init__(self, owner: task.Task) -> None:
        self.owner = owner
        self.calls = 0

    def __call__(self, value: int) -> int:
        self.owner.execute.calls += 1  # a write through the task's attribute
        self.owner.seen = observe(self.owner.execute, self.owner)
        return value + self.owner.execute.calls


class ObjectTask(task.Task):
    """A task whose execute is a callable object set before TaskFlow reads its signature."""

    def __init__(self, name: str) -> None:
        self.execute = CallableExecute(self)  # type: ignore[method-assign]
        super().__init__(name, provides="total")
        self.seen: dict[str, object] = {}

    def execute(self, value: int) -> int:
        """Shadowed on every instance (and makes the class concrete for Task's ABC)."""
        raise NotImplementedError


class CheckedTimes(retry.Times):
    """A retry controller with a decorated on_failure that looks at itself."""

    def __init__(self, attempts: int, name: str) -> None:
        super().__init__(attempts, name=name)
        self.seen: list[dict[str, object]] = []

    @logged
    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        """Retry as Times does."""
        self.seen.append(observe(self.on_failure, self))
        return super().on_failure(history, *args, **kwargs)


class FailsOnce(task.Task):
    """A task whose real code fails on its first call only."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls = 0

    def execute(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("first call fails")


def bare(flow: Any, **options: Any) -> Any:
    """Run ``flow`` on TaskFlow without the plugin; return the flow's results (or error)."""
    try:
        return taskflow.engines.run(flow, **options)
    except Exception as error:
        return error


@pytest.mark.parametrize("layout", list(LAYOUTS))
class TestTenacity:
    def test_task_reads_its_statistics_without_faults(self, layout: str) -> None:
        """Two real failures inside tenacity: the task sees attempt 3, as on bare TaskFlow."""
        expected = bare(linear_flow.Flow("f").add(tenacity_task(layout, "delete", real_failures=2)))
        flaky = tenacity_task(layout, "delete", real_failures=2)
        run = run_flow(linear_flow.Flow("f").add(flaky))
        run.assert_succeeded()
        assert {"attempt_number": 3} == expected
        assert expected == dict(run.results)
        run.assert_attempts("delete", 1)  # tenacity's retries are inside one atom attempt
        assert 3 == flaky.calls

    @pytest.mark.parametrize("engine", ENGINES)
    def test_injected_fault_fires_outside_tenacity(self, layout: str, engine: str) -> None:
        """An injected fault raises from the wrapper, around tenacity: tenacity never sees
        it, TaskFlow's retry re-runs the atom, and tenacity starts counting afresh."""
        flaky = tenacity_task(layout, "delete")
        flow = linear_flow.Flow("f", retry=retry.Times(2, name="again")).add(flaky)
        run = run_flow(flow, plan=FaultPlan(Fault.fail("delete", times=1)), engine=engine)
        run.assert_succeeded()
        run.assert_attempts("delete", 2)  # attempt 1 injected, attempt 2 real
        assert 1 == flaky.calls
        assert {"attempt_number": 1} == dict(run.results)

    def test_injected_fault_and_real_failures_are_counted_apart(self, layout: str) -> None:
        """Injected on the atom's attempt 1, then one real failure that tenacity retries:
        two atom attempts, two real calls, tenacity's count is 2."""
        flaky = tenacity_task(layout, "delete", real_failures=1)
        flow = linear_flow.Flow("f", retry=retry.Times(2, name="again")).add(flaky)
        run = run_flow(flow, plan=FaultPlan(Fault.fail("delete", times=1)))
        run.assert_succeeded()
        run.assert_attempts("delete", 2)
        assert 2 == flaky.calls
        assert {"attempt_number": 2} == dict(run.results)

    def test_tenacity_attributes_are_the_originals(self, layout: str) -> None:
        """``retry`` and ``__dict__`` read through the wrapper are tenacity's own objects."""
        flaky = tenacity_task(layout, "delete")
        seen: list[bool] = []
        original = type(flaky).execute

        def execute_checking() -> None:
            seen.append(flaky.execute.retry is original.retry)
            seen.append(flaky.execute.__dict__ is original.__dict__)
            seen.append(flaky.execute.__wrapped__ is original.__wrapped__)

        check = task.FunctorTask(execute_checking, name="check")
        run_flow(linear_flow.Flow("f").add(flaky, check), plan=FaultPlan())
        assert [True, True, True] == seen


class TestFixture:
    def test_tenacity_task_under_the_fixture(self, pytester: pytest.Pytester) -> None:
        """The issue's reproduction: with and without a fault, no AttributeError, no waits."""
        pytester.makeini(
            """
            [pytest]
            filterwarnings =
                error
                ignore:eventletutils module is deprecated:DeprecationWarning
            """
        )
        pytester.makepyfile(
            """
            import tenacity
            from taskflow import retry, task
            from taskflow.patterns import linear_flow

            class ComputeDelete(task.Task):
                default_provides = "attempt"

                @tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)
                def execute(self):
                    return self.execute.statistics.get("attempt_number", 1)

            def test_no_fault(flowfault):
                run = flowfault.run(linear_flow.Flow("f").add(ComputeDelete("delete")))
                run.assert_succeeded()
                assert {"attempt": 1} == dict(run.results)

            def test_fault(flowfault):
                flowfault.fail("delete", times=1)
                flow = linear_flow.Flow("f", retry=retry.Times(2)).add(ComputeDelete("delete"))
                run = flowfault.run(flow)
                run.assert_succeeded()
                run.assert_attempts("delete", 2)
                assert {"attempt": 1} == dict(run.results)
            """
        )
        pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.parametrize("engine", ENGINES)
class TestWhatCodeSees:
    def test_decorated_execute_and_revert_see_themselves_as_on_bare_taskflow(
        self, engine: str
    ) -> None:
        """Names, docs, ``__wrapped__``, signature, attributes, refused writes: all equal."""
        bare_task = Introspecting("scale", fail=True)
        bare(linear_flow.Flow("f").add(bare_task), store={"value": 3}, engine=engine)
        wrapped_task = Introspecting("scale", fail=True)
        run = run_flow(linear_flow.Flow("f").add(wrapped_task), store={"value": 3}, engine=engine)
        run.assert_failed(RuntimeError)
        assert "(value: 'int', scale: 'int' = 2) -> 'int'" == wrapped_task.seen["execute"]["signature"]
        assert "(value: 'int', **kwargs: 'Any') -> 'None'" == wrapped_task.seen["revert"]["signature"]
        assert [bare_task.revert_calls[0] + 1] == wrapped_task.revert_calls
        assert bare_task.seen == wrapped_task.seen

    def test_callable_object_execute(self, engine: str) -> None:
        """A callable object as execute: its attributes read and written through the task."""
        bare_task = ObjectTask("add")
        expected = bare(linear_flow.Flow("f").add(bare_task), store={"value": 3}, engine=engine)
        wrapped_task = ObjectTask("add")
        callable_execute = wrapped_task.execute
        flow = linear_flow.Flow("f").add(wrapped_task)
        run = run_flow(flow, store={"value": 3}, engine=engine)
        run.assert_succeeded()
        assert {"value": 3, "total": 4} == expected
        assert expected == dict(run.results)
        assert "(value: 'int') -> 'int'" == wrapped_task.seen["signature"]
        assert "accepted" == wrapped_task.seen["write"]
        # Only type() sees the wrapper: the repr names the object's address, and oslo's
        # get_callable_name names type(obj) for callable objects (bound methods are fine).
        differ = {"repr", "callable name"}
        assert {k: v for k, v in bare_task.seen.items() if k not in differ} == {
            k: v for k, v in wrapped_task.seen.items() if k not in differ
        }
        assert 1 == callable_execute.calls  # type: ignore[attr-defined]
        assert callable_execute is vars(wrapped_task)["execute"]  # restored, not removed

    def test_decorated_retry_on_failure(self, engine: str) -> None:
        """A ``functools.wraps``-decorated on_failure sees itself as on bare TaskFlow."""
        bare_retry = CheckedTimes(2, "again")
        bare(linear_flow.Flow("f", retry=bare_retry).add(FailsOnce("once")), engine=engine)
        wrapped_retry = CheckedTimes(2, "again")
        flow = linear_flow.Flow("f", retry=wrapped_retry).add(FailsOnce("once"))
        run = run_flow(flow, engine=engine)
        run.assert_succeeded()
        assert ("RETRY",) == run.decisions("again")
        assert "(history: 'Any', *args: 'Any', **kwargs: 'Any') -> 'Any'" == wrapped_retry.seen[0]["signature"]
        assert bare_retry.seen == wrapped_retry.seen


class TestRestore:
    def test_atoms_are_left_exactly_as_before(self) -> None:
        """After a faulted run every atom has the same instance attributes as before."""
        atoms = [
            tenacity_task("tenacity", "delete"),
            Introspecting("scale"),
            ObjectTask("add"),
            FailsOnce("once"),
        ]
        controller = CheckedTimes(3, "again")
        before = [dict(vars(atom)) for atom in [*atoms, controller]]
        flow = linear_flow.Flow("f", retry=controller).add(
            unordered_flow.Flow("u").add(*atoms[:3]), atoms[3]
        )
        run_flow(flow, plan=FaultPlan(Fault.fail("delete", times=1)), store={"value": 1})
        after = [vars(atom) for atom in [*atoms, controller]]
        assert [sorted(state) for state in before] == [sorted(state) for state in after]
        assert before[2]["execute"] is after[2]["execute"]
        assert all("execute" not in state for state in after[:2] + after[3:])
