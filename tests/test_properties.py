"""Property tests for the core invariants: counts match what the injector did, no trace left."""

from __future__ import annotations

import builtins
import fnmatch
import threading
import unittest.mock
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Union

import mock
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pytest_flowfault import (
    Fault,
    FaultPlan,
    FlowRun,
    InjectedFault,
    UnmatchedFault,
    run_flow,
)
from pytest_flowfault import engine as engine_module
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.replay import parse_plan
from pytest_flowfault.run import Event

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "eventletutils module is deprecated", DeprecationWarning)
    import taskflow.engines
    from taskflow import retry, task
    from taskflow.engines.action_engine.engine import ActionEngine
    from taskflow.patterns import graph_flow, linear_flow, unordered_flow

ENGINES = ("serial", "parallel")
WRAPPED = ("execute", "revert", "on_failure")
PATTERNS = {"linear": linear_flow, "graph": graph_flow, "unordered": unordered_flow}
FLOW_SETTINGS = settings(max_examples=40, deadline=None)
VALUE_SETTINGS = settings(max_examples=60, deadline=None)


# --- real tasks that count what their own code did -------------------------------------


class Tally:
    """A thread-safe count of (atom name, action) runs of real atom code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def hit(self, name: str, action: str) -> None:
        with self._lock:
            self._counts[name, action] = self._counts.get((name, action), 0) + 1

    def count(self, name: str, action: str) -> int:
        with self._lock:
            return self._counts.get((name, action), 0)


class CountedTask(task.Task):
    """A trivial task whose real execute and revert count themselves."""

    def __init__(self, name: str, tally: Tally) -> None:
        super().__init__(name=name)
        self.tally = tally

    def execute(self) -> str:
        self.tally.hit(self.name, "execute")
        return self.name

    def revert(self, *args: Any, **kwargs: Any) -> None:
        self.tally.hit(self.name, "revert")


class CountedTimes(retry.Times):
    """``retry.Times`` whose real execute and revert count themselves."""

    def __init__(self, attempts: int, name: str, tally: Tally) -> None:
        super().__init__(attempts=attempts, name=name)
        self.tally = tally

    def execute(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        self.tally.hit(self.name, "execute")
        return super().execute(history, *args, **kwargs)

    def revert(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        self.tally.hit(self.name, "revert")
        return super().revert(history, *args, **kwargs)


# --- flow shapes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A flow to build: pattern, members (task names or nested shapes), retry, graph links."""

    name: str
    pattern: str
    members: tuple[Union[str, Shape], ...]
    retry_attempts: int | None = None
    links: tuple[tuple[int, int], ...] = ()
    #: tasks given their own bound ``execute``/``revert`` as instance attributes up front
    preset: tuple[str, ...] = ()

    def task_names(self) -> list[str]:
        """Every task name in the shape, nested ones included."""
        names: list[str] = []
        for member in self.members:
            names.extend(member.task_names() if isinstance(member, Shape) else [member])
        return names

    def retry_names(self) -> list[str]:
        """Every retry controller name in the shape, nested ones included."""
        names = [f"{self.name}_retry"] if self.retry_attempts is not None else []
        for member in self.members:
            if isinstance(member, Shape):
                names.extend(member.retry_names())
        return names


@dataclass
class Built:
    """A freshly built flow, its atom objects and the tally its atoms count into."""

    flow: Any
    atoms: list[Any]
    tally: Tally


def build(shape: Shape, tally: Tally | None = None, atoms: list[Any] | None = None) -> Built:
    """Build a fresh TaskFlow flow (new atom objects) from ``shape``."""
    tally = Tally() if tally is None else tally
    atoms = [] if atoms is None else atoms
    retry_controller = None
    if shape.retry_attempts is not None:
        retry_controller = CountedTimes(shape.retry_attempts, f"{shape.name}_retry", tally)
        atoms.append(retry_controller)
    flow = PATTERNS[shape.pattern].Flow(shape.name, retry=retry_controller)
    children = []
    for member in shape.members:
        if isinstance(member, Shape):
            children.append(build(member, tally, atoms).flow)
        else:
            atom = CountedTask(member, tally)
            if member in shape.preset:
                setattr(atom, "execute", atom.execute)  # an instance attribute now
                setattr(atom, "revert", atom.revert)
            atoms.append(atom)
            children.append(atom)
    flow.add(*children)
    for before, after in shape.links:
        flow.link(children[before], children[after])
    return Built(flow, atoms, tally)


@st.composite
def flow_details(draw: st.DrawFn, name: str, members: tuple[Union[str, Shape], ...]) -> Shape:
    """A flow of ``members``: its pattern, retry controller, graph links and preset tasks."""
    pattern = draw(st.sampled_from(sorted(PATTERNS)))
    retry_attempts = draw(st.none() | st.integers(1, 3))
    pairs = [(i, j) for i in range(len(members)) for j in range(i + 1, len(members))]
    links: tuple[tuple[int, int], ...] = ()
    if pattern == "graph" and pairs:
        links = tuple(sorted(draw(st.sets(st.sampled_from(pairs)))))
    own_tasks = [member for member in members if isinstance(member, str)]
    preset = tuple(sorted(draw(st.sets(st.sampled_from(own_tasks))))) if own_tasks else ()
    return Shape(name, pattern, members, retry_attempts, links, preset)


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    """A linear/graph/unordered flow of 1-8 tasks, some in one level of subflows."""
    count = draw(st.integers(1, 8))
    names = [f"t{index}" for index in range(count)]
    slots = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    order: list[Union[str, int]] = []
    grouped: dict[int, list[str]] = {}
    for task_name, slot in zip(names, slots):
        if slot == 0:
            order.append(task_name)
        else:
            if slot not in grouped:
                grouped[slot] = []
                order.append(slot)
            grouped[slot].append(task_name)
    members: list[Union[str, Shape]] = []
    for item in order:
        if isinstance(item, str):
            members.append(item)
        else:
            members.append(draw(flow_details(f"sub{item}", tuple(grouped[item]))))
    return draw(flow_details("outer", tuple(members)))


EXCEPTION_SPECS = st.sampled_from(
    [ValueError, RuntimeError, KeyError, InjectedFault, ValueError("bad"), OSError(5, "io")]
)
RETURN_VALUES = st.none() | st.integers(-3, 3) | st.text(max_size=3)
EFFECTS = st.lists(
    EXCEPTION_SPECS | st.just(mock.DEFAULT) | RETURN_VALUES, min_size=1, max_size=4
)


def faults_for(names: list[str]) -> st.SearchStrategy[Fault]:
    """Faults of every kind whose targets are among ``names``."""
    targets = st.sampled_from(names)
    options = st.none() | EXCEPTION_SPECS
    return st.one_of(
        st.builds(Fault.fail, targets, times=st.sampled_from([None, 1, 2]), exc=options),
        st.builds(Fault.fail_revert, targets, times=st.sampled_from([None, 1, 2]), exc=options),
        st.builds(Fault.side_effect, targets, EFFECTS),
    )


@st.composite
def shapes_and_plans(draw: st.DrawFn) -> tuple[Shape, FaultPlan]:
    """A flow shape and a fault plan over its task names."""
    shape = draw(shapes())
    faults = draw(st.lists(faults_for(shape.task_names()), min_size=1, max_size=4))
    return shape, FaultPlan(*faults)


# --- independent views of a run ----------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    """A worker pool for parallel engines that this module owns and shuts down."""
    executor = ThreadPoolExecutor(8, thread_name_prefix="properties")
    yield executor
    executor.shutdown(wait=True)


def engine_options(engine: str, pool: ThreadPoolExecutor) -> dict[str, Any]:
    """The engine options for ``engine``: our own pool for the parallel engine."""
    return {"executor": pool} if engine == "parallel" else {}


def call_ends(run: FlowRun) -> list[Event]:
    """The events that ended an execute or revert call, in order."""
    return [event for event in run.events if event.is_call_end]


def injected_count(run: FlowRun, name: str, action: str) -> int:
    """How many calls of ``action`` on ``name`` the run says were injected."""
    return sum(1 for event in call_ends(run) if event.kind == action and event.name == name
               and event.injected)


def state_changes(run: FlowRun, name: str, state: str) -> int:
    """How many times the engine's notifier said atom ``name`` entered ``state``."""
    return sum(1 for event in run.events if event.kind in ("task", "retry")
               and event.name == name and event.what == state)


def error_signature(error: BaseException | None) -> tuple[type, tuple[Any, ...]] | None:
    return None if error is None else (type(error), error.args)


def planned_outcome(
    plan: FaultPlan, action: str, name: str, attempt: int | None
) -> tuple[Any, ...]:
    """What ``plan`` says happens to this call, recomputed from its faults directly."""
    for fault in plan.faults:
        fault_action = "revert" if fault.kind == "fail_revert" else "execute"
        if fault_action != action or fault.target != name:
            continue
        injection = fault.injection(name, attempt) if attempt is not None else None
        if injection is None:
            continue
        if injection.error is not None:
            return (True, "raised", error_signature(injection.error))
        return (True, "returned", None)
    return (False,)


def recorded_outcome(event: Event) -> tuple[Any, ...]:
    """What the recorder says happened to a call, in the shape of :func:`planned_outcome`."""
    if not event.injected:
        return (False,)
    return (True, event.what, error_signature(event.error))


def snapshot(atoms: list[Any]) -> dict[str, dict[str, Any]]:
    """The wrapped methods each atom holds in its instance ``__dict__``."""
    return {atom.name: {key: vars(atom)[key] for key in WRAPPED if key in vars(atom)}
            for atom in atoms}


class CountingRecorder(Recorder):
    """A Recorder that counts every event it is handed, and lists every instance."""

    made: list[CountingRecorder] = []

    def __init__(self) -> None:
        super().__init__()
        self.added = 0
        CountingRecorder.made.append(self)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.added += 1
        super().add(*args, **kwargs)


# --- the properties ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
class TestRecordedAttempts:
    @FLOW_SETTINGS
    @given(case=shapes_and_plans())
    def test_attempts_are_real_runs_plus_injected_outcomes(
        self, engine: str, pool: ThreadPoolExecutor, case: tuple[Shape, FaultPlan]
    ) -> None:
        """Per atom, recorded execute/revert calls = real code runs + injected outcomes."""
        shape, plan = case
        built = build(shape)
        run = run_flow(built.flow, plan=plan, engine=engine, **engine_options(engine, pool))
        event(f"{engine}: {run.state}")
        names = shape.task_names() + shape.retry_names()
        expected = {
            name: (
                built.tally.count(name, "execute") + injected_count(run, name, "execute"),
                built.tally.count(name, "revert") + injected_count(run, name, "revert"),
            )
            for name in names
        }
        actual = {name: (run.attempts(name), run.reverts(name)) for name in names}
        assert expected == actual
        assert () == run.recorder_errors

    @FLOW_SETTINGS
    @given(case=shapes_and_plans())
    def test_attempts_match_the_engines_own_state_changes(
        self, engine: str, pool: ThreadPoolExecutor, case: tuple[Shape, FaultPlan]
    ) -> None:
        """Per atom, recorded execute/revert calls = the engine's RUNNING/REVERTING changes."""
        shape, plan = case
        run = run_flow(build(shape).flow, plan=plan, engine=engine, **engine_options(engine, pool))
        names = shape.task_names() + shape.retry_names()
        expected = {name: (state_changes(run, name, "RUNNING"),
                           state_changes(run, name, "REVERTING")) for name in names}
        actual = {name: (run.attempts(name), run.reverts(name)) for name in names}
        assert expected == actual

    @FLOW_SETTINGS
    @given(case=shapes_and_plans())
    def test_every_injection_is_what_the_plan_says(
        self, engine: str, pool: ThreadPoolExecutor, case: tuple[Shape, FaultPlan]
    ) -> None:
        """Each recorded call is injected exactly when, and as, the plan's faults say."""
        shape, plan = case
        run = run_flow(build(shape).flow, plan=plan, engine=engine, **engine_options(engine, pool))
        ends = call_ends(run)
        expected = [(e.kind, e.name, e.attempt, *planned_outcome(plan, e.kind, e.name, e.attempt))
                    for e in ends]
        actual = [(e.kind, e.name, e.attempt, *recorded_outcome(e)) for e in ends]
        assert expected == actual

    @FLOW_SETTINGS
    @given(case=shapes_and_plans())
    def test_every_call_ends_once_and_attempts_are_numbered_one_to_n(
        self, engine: str, pool: ThreadPoolExecutor, case: tuple[Shape, FaultPlan]
    ) -> None:
        """Each started call ends exactly once; an atom's calls are numbered 1 … n."""
        shape, plan = case
        run = run_flow(build(shape).flow, plan=plan, engine=engine, **engine_options(engine, pool))
        calls = [e for e in run.events if e.kind in ("execute", "revert")]
        started = sorted((e.kind, e.name, e.attempt) for e in calls if e.what == "start")
        ended = sorted((e.kind, e.name, e.attempt) for e in calls if e.is_call_end)
        assert started == ended
        numbers: dict[tuple[str, str], list[int | None]] = {}
        for end in call_ends(run):
            numbers.setdefault((end.kind, end.name), []).append(end.attempt)
        expected = {key: list(range(1, len(found) + 1)) for key, found in numbers.items()}
        actual = {key: sorted(found, key=lambda number: number or 0)
                  for key, found in numbers.items()}
        assert expected == actual


@pytest.mark.parametrize("engine", ENGINES)
class TestRestore:
    @FLOW_SETTINGS
    @given(case=shapes_and_plans(), typo=st.booleans())
    def test_run_leaves_no_trace_on_the_atoms_or_the_engine(
        self, engine: str, pool: ThreadPoolExecutor, case: tuple[Shape, FaultPlan], typo: bool
    ) -> None:
        """After run_flow, atoms hold only their own methods and a plain rerun is untouched."""
        shape, plan = case
        if typo:
            plan += Fault.fail("no_such_atom")
        built = build(shape)
        before = snapshot(built.atoms)
        run_iter_before = vars(ActionEngine)["run_iter"]
        CountingRecorder.made.clear()
        with unittest.mock.patch.object(engine_module, "Recorder", CountingRecorder):
            if typo:
                with pytest.raises(UnmatchedFault):
                    run_flow(built.flow, plan=plan, engine=engine, **engine_options(engine, pool))
            else:
                run = run_flow(built.flow, plan=plan, engine=engine,
                               **engine_options(engine, pool))
                event(f"{engine}: {run.state}")
        assert before == snapshot(built.atoms)
        assert run_iter_before is vars(ActionEngine)["run_iter"]

        names = shape.task_names() + shape.retry_names()
        counts_before = {name: (built.tally.count(name, "execute"),
                                built.tally.count(name, "revert")) for name in names}
        recorded_before = [recorder.added for recorder in CountingRecorder.made]
        taskflow.engines.run(built.flow, engine=engine, **engine_options(engine, pool))
        expected = {name: (count[0] + 1, count[1]) for name, count in counts_before.items()}
        actual = {name: (built.tally.count(name, "execute"), built.tally.count(name, "revert"))
                  for name in names}
        assert expected == actual
        assert recorded_before == [recorder.added for recorder in CountingRecorder.made]


# --- FaultPlan values --------------------------------------------------------------------

BUILTIN_EXCEPTIONS = sorted(
    (
        value
        for value in vars(builtins).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and not issubclass(value, getattr(builtins, "BaseExceptionGroup", ()))
        and (value is UnicodeError or not issubclass(value, UnicodeError))
    ),
    key=lambda cls: cls.__name__,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.binary(max_size=4)
)
SIMPLE_VALUES = SCALARS | st.tuples(SCALARS, SCALARS) | st.lists(SCALARS, max_size=3)


def _exception(cls: type[Exception], args: list[Any]) -> Exception | None:
    try:
        return cls(*args)
    except Exception:  # builtins with required argument types, e.g. SyntaxError details
        return None


EXCEPTION_CLASSES = st.sampled_from([*BUILTIN_EXCEPTIONS, InjectedFault])
EXCEPTION_INSTANCES = st.builds(
    _exception, st.sampled_from(BUILTIN_EXCEPTIONS), st.lists(SCALARS, max_size=2)
).filter(lambda error: error is not None) | st.builds(
    InjectedFault, st.text(max_size=8), st.sampled_from(["execute", "revert"]), st.integers(1, 9)
)
ANY_EXCEPTION = EXCEPTION_CLASSES | EXCEPTION_INSTANCES
#: Names and patterns, and atom classes (a plan's repr writes their dotted paths).
TARGETS = st.text(min_size=1, max_size=12).filter(str.strip) | st.sampled_from(
    [task.Task, task.FunctorTask, retry.Times, retry.ForEach]
)
ANY_FAULT = st.one_of(
    st.builds(Fault.fail, TARGETS, times=st.none() | st.integers(1, 5),
              exc=st.none() | ANY_EXCEPTION),
    st.builds(Fault.fail_revert, TARGETS, times=st.none() | st.integers(1, 5),
              exc=st.none() | ANY_EXCEPTION),
    st.builds(Fault.side_effect, TARGETS,
              st.lists(ANY_EXCEPTION | st.just(mock.DEFAULT) | SIMPLE_VALUES, max_size=4)),
    st.builds(Fault.side_effect, TARGETS, ANY_EXCEPTION),
)
NAMESPACE = {
    "Fault": Fault,
    "FaultPlan": FaultPlan,
    "mock": mock,
    "InjectedFault": InjectedFault,
    "taskflow": taskflow,
    "__builtins__": builtins,
}


class TestFaultPlanRepr:
    @VALUE_SETTINGS
    @given(faults=st.lists(ANY_FAULT, max_size=4))
    def test_repr_rebuilds_an_equal_plan_with_an_equal_hash(self, faults: list[Fault]) -> None:
        """eval(repr(plan)) and parse_plan(repr(plan)) are plans equal to it, same hash."""
        plan = FaultPlan(*faults)
        rebuilt = eval(repr(plan), dict(NAMESPACE))
        parsed = parse_plan(repr(plan), origin="test")
        assert (plan, hash(plan)) == (rebuilt, hash(rebuilt)) == (parsed, hash(parsed))


# --- target matching ---------------------------------------------------------------------

IDENTIFIER_CHARS = "abcXY_09-"
COMPONENTS = st.text(IDENTIFIER_CHARS, min_size=1, max_size=6)
DOTTED_NAMES = st.lists(COMPONENTS, min_size=1, max_size=4).map(".".join)
PATTERN_CHARS = IDENTIFIER_CHARS + ".*?[]!"
RANDOM_PATTERNS = st.text(PATTERN_CHARS, min_size=1, max_size=10)


@st.composite
def names_and_patterns(draw: st.DrawFn) -> tuple[str, str]:
    """A dotted name and a pattern: random, or the name (or its tail) with wildcards."""
    name = draw(DOTTED_NAMES)
    if draw(st.booleans()):
        return name, draw(RANDOM_PATTERNS)
    source = draw(st.sampled_from([name, name.rpartition(".")[2]]))
    chars = [
        draw(st.sampled_from([char, "?", "*", f"[{char}]", f"[!{char}]"])) for char in source
    ]
    return name, "".join(chars)


class TestTargetMatching:
    @VALUE_SETTINGS
    @given(name=DOTTED_NAMES)
    def test_last_component_and_full_name_match(self, name: str) -> None:
        """A fault on the full name or on its last dotted component matches the atom."""
        last = name.rpartition(".")[2]
        assert (True, True) == (Fault.fail(last).matches(name), Fault.fail(name).matches(name))

    @VALUE_SETTINGS
    @given(case=names_and_patterns())
    def test_pattern_matches_iff_fnmatch_matches_full_name_or_last_component(
        self, case: tuple[str, str]
    ) -> None:
        """A pattern matches exactly when fnmatchcase matches the full name or its tail."""
        name, pattern = case
        expected = fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(
            name.rpartition(".")[2], pattern
        )
        event(f"matches: {expected}")
        assert expected == Fault.fail(pattern).matches(name)
