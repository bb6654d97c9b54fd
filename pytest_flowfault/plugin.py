"""The ``pytest11`` entry point: options, ini keys, marker, fixtures, per-test sessions, reports.

Imports neither taskflow nor hypothesis at module level: a suite that has the plugin
installed but does not use it pays nothing for it. A test gets a fault session (every
TaskFlow engine run in the process faulted and recorded) when it uses the ``flowfault``
fixture or marker, or when faults were given on the command line or in the ini file.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flowfault import hookspecs, marker, options
from pytest_flowfault.errors import InvalidMarker, RedisServerError
from pytest_flowfault.settings import Settings, builtin_fault, read_settings
from pytest_flowfault.writer import (
    ReportWriter,
    compensation_problem,
    failure_section,
    junit_properties,
)

if TYPE_CHECKING:
    from pytest_flowfault.fixture import FlowFault
    from pytest_flowfault.jobboard.redis_server import RedisServer
    from pytest_flowfault.plan import Fault, FaultPlan
    from pytest_flowfault.report import Record
    from pytest_flowfault.run import FlowRun  # noqa: F401  (in a StashKey's string)


@dataclass(eq=False)
class _TestState:
    fixture: FlowFault
    stack: ExitStack
    outcome: str = "passed"


_SETTINGS = pytest.StashKey[Settings]()
_STATE = pytest.StashKey[_TestState]()
_VARIANT = pytest.StashKey["FaultPlan"]()  # set while a sweep variant of the item runs
_BASELINE = pytest.StashKey["tuple[FlowRun, ...]"]()  # the runs a sweep explores
_OPEN = pytest.StashKey["list[_TestState]"]()  # on the config: sessions not yet closed
_BROKEN = pytest.StashKey[bool]()  # the plugin failed the item's setup (a bad marker, ...)
_SWEEP_EXC = pytest.StashKey[object]()  # what pytest_flowfault_sweep_exc gave, checked


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", marker.MARKER_HELP)
    settings = read_settings(config)
    config.stash[_SETTINGS] = settings
    config.stash[_OPEN] = []

    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(settings.seed), "flowfault-xdist")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportWriter(config, settings), "flowfault-collector")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[_SETTINGS]
    lines = [f"flowfault: seed={settings.seed}{settings.seed_note}"]
    if settings.reproduce:
        lines.append(f"flowfault: faults in every test: {' '.join(settings.reproduce)}")
    # A header line, not a warning: under -W error a warning here is an INTERNALERROR.
    lines += [f"flowfault: {deprecation}" for deprecation in settings.deprecations]
    return lines


@pytest.hookimpl(trylast=True)
def pytest_flowfault_parse_fault(kind: str, value: str, config: pytest.Config) -> Fault | None:
    """The built-in kinds: ``fail`` and ``fail_revert`` with ``TARGET[:TIMES]``."""
    return builtin_fault(kind, value, config.rootpath)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.flowfault(engines=[...])`` runs the test once per engine."""
    try:
        spec = marker.marker_spec(metafunc.definition.iter_markers("flowfault"))
    except InvalidMarker:
        return  # reported when the test is set up, so that only that test fails
    if spec.engines and "flowfault_engine" in metafunc.fixturenames:
        metafunc.parametrize("flowfault_engine", spec.engines, ids=list(spec.engines))


@pytest.fixture
def flowfault_engine() -> str:
    """The engine ``flowfault.run()`` uses; parametrized by ``flowfault(engines=[...])``."""
    return "serial"


@pytest.fixture
def flowfault(request: pytest.FixtureRequest, flowfault_engine: str) -> FlowFault:
    """Inject faults into TaskFlow engine runs and record them (``pytest_flowfault.FlowFault``).

    Every engine run in the process while the test runs is faulted and recorded, also
    the ones the code under test starts itself; everything is restored at teardown.
    """
    state = request.node.stash.get(_STATE, None) or _start(request.node)
    state.fixture.use(
        engine=flowfault_engine, directory=lambda: request.getfixturevalue("tmp_path")
    )
    return state.fixture


@pytest.fixture
def flowfault_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port for this test, stopped after it
    (``pytest_flowfault.RedisServer``: ``host``, ``port``, ``url``, ``binary``)."""
    from pytest_flowfault.jobboard.redis_server import start_redis_server

    try:
        server = start_redis_server(request.config.getini("flowfault_redis_server"))
    except RedisServerError as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield server
    finally:
        state = request.node.stash.get(_STATE, None)
        if state is not None:  # its worker processes stop cleanly only while it runs
            state.fixture.session.workers.stop_on(server.url)
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """``--flowfault-sweep``: after a passing test, run it again once per fault point.

    The item's session is closed here at the latest: a ``KeyboardInterrupt`` skips the
    teardown, and TaskFlow must not stay patched for the rest of the process.
    """
    try:
        result = yield
    finally:
        state = item.stash.get(_STATE, None)
        if state is not None:
            del item.stash[_STATE]
            _close(item.config, state)
    baseline = item.stash.get(_BASELINE, None)
    if baseline and _VARIANT not in item.stash:
        from pytest_flowfault.explore import fault_points_of

        del item.stash[_BASELINE]
        exc = item.stash.get(_SWEEP_EXC, None)
        try:
            for plan in fault_points_of(baseline, item.config.stash[_SETTINGS].sweep, exc):
                item.stash[_VARIANT] = plan
                # pytest's own protocol sets the item up afresh on every call.
                item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            if _VARIANT in item.stash:
                del item.stash[_VARIANT]
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _close_all(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _close_all(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    settings = item.config.stash[_SETTINGS]
    if settings.sweep and _VARIANT not in item.stash:
        _check_sweep_exc(item)
    if (
        settings.armed
        or _VARIANT in item.stash
        or "flowfault" in getattr(item, "fixturenames", ())
        or item.get_closest_marker("flowfault") is not None
    ):
        _start(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a passing test: faults that never matched or could not fire, and
    ``--flowfault-compensation``."""
    result = yield
    state = item.stash.get(_STATE, None)
    if state is not None:
        fixture = state.fixture
        check = item.config.stash[_SETTINGS].compensation
        problem = (
            fixture.unmatched_problem()
            or fixture.not_injected_problem()
            or (compensation_problem(fixture.runs, check) if check else None)
        )
        if problem is not None:
            pytest.fail(problem, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        state = item.stash.get(_STATE, None)
        if state is not None:
            _close(item.config, state)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    state = item.stash.get(_STATE, None)
    variant = item.stash.get(_VARIANT, None)
    nodeid = item.nodeid if variant is None else f"{item.nodeid}[flowfault-sweep {variant!r}]"
    record = None
    if state is not None and call.when == "teardown":
        record = _record(item, state, nodeid, variant)
        item.user_properties.extend(junit_properties(record["runs"]))
    report = yield
    if state is None and call.when == "teardown" and item.stash.get(_BROKEN, False):
        # No session was made, but the test is in every report, as an error.
        del item.stash[_BROKEN]
        report.flowfault = _record(item, None, nodeid, variant)  # type: ignore[attr-defined]
    if variant is not None:
        # Renamed where it is logged (ReportWriter): xdist's worker insists that a report
        # carries its scheduled item's node id.
        report.flowfault_nodeid = nodeid  # type: ignore[attr-defined]
        if state is not None and call.when == "call":
            strict = item.config.stash[_SETTINGS].compensation == "strict"
            _judge_variant(report, state, variant, strict)
    if state is not None:
        state.outcome = _outcome(report, state.outcome)
        if report.failed and call.when != "teardown":
            settings = item.config.stash[_SETTINGS]
            section = failure_section(
                item.nodeid, state.fixture, settings.seed, settings.reproduce, variant
            )
            report.sections.append(("flowfault", section))
        if record is not None:
            record["outcome"] = state.outcome
            # A plain attribute of builtins: xdist ships it to the controller with the report.
            report.flowfault = record  # type: ignore[attr-defined]
            del item.stash[_STATE]
            if (
                item.config.stash[_SETTINGS].sweep
                and variant is None
                and state.outcome == "passed"
                and "flowfault" in getattr(item, "fixturenames", ())
            ):
                item.stash[_BASELINE] = state.fixture.runs
    return report


def _check_sweep_exc(item: pytest.Item) -> None:
    """Ask ``pytest_flowfault_sweep_exc`` before the test runs: a bad answer fails its setup."""
    from pytest_flowfault.arguments import check_sweep_exc

    exc = item.config.hook.pytest_flowfault_sweep_exc(item=item)
    try:
        check_sweep_exc(exc, "pytest_flowfault_sweep_exc()")
    except TypeError as problem:
        pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)
    item.stash[_SWEEP_EXC] = exc


def _judge_variant(
    report: pytest.TestReport, state: _TestState, variant: FaultPlan, strict: bool
) -> None:
    """A sweep variant passes when its flows survived, whatever the test asserted."""
    from pytest_flowfault.variants import problem_of_sweep_variant

    problem = problem_of_sweep_variant(state.fixture.runs, strict=strict)
    if problem is not None:
        report.outcome = "failed"
        report.longrepr = f"flowfault sweep: not survived under {variant!r}\n{problem}"
    elif report.outcome != "skipped":
        # The test's own assertions may well fail under an injected fault; what the sweep
        # judges is whether the flows succeeded or cleaned up after themselves.
        report.outcome = "passed"
        report.longrepr = None


class _XdistHooks:
    """Hands the session seed to xdist workers, so that every worker draws the same chaos."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["flowfault_seed"] = self.seed


def _close(config: pytest.Config, state: _TestState) -> None:
    """End a test's session: TaskFlow and ``time`` as they were (idempotent)."""
    still_open = config.stash.get(_OPEN, [])
    if state in still_open:
        still_open.remove(state)
    state.stack.close()


def _close_all(config: pytest.Config) -> None:
    """End every session still open (a test interrupted before its teardown)."""
    still_open = config.stash.get(_OPEN, [])
    while still_open:
        _close(config, still_open[-1])


def _start(item: pytest.Item) -> _TestState:
    """Give ``item`` a fault session, active until its teardown ends; if the plugin
    fails the setup instead (a malformed marker), the item is still reported."""
    from pytest_flowfault.engine import intercepting
    from pytest_flowfault.lifecycle import start_fixture

    try:
        fixture = start_fixture(
            item, item.config.stash[_SETTINGS], item.stash.get(_VARIANT, None)
        )
    except (Exception, pytest.fail.Exception):
        item.stash[_BROKEN] = True
        raise
    stack = ExitStack()
    stack.callback(fixture.session.close)
    state = item.stash[_STATE] = _TestState(fixture, stack)
    item.config.stash[_OPEN].append(state)
    stack.enter_context(intercepting(fixture.session))
    return state


def _record(
    item: pytest.Item, state: _TestState | None, nodeid: str, variant: FaultPlan | None
) -> Record:
    """The test's record; without a state, that of a test the plugin could not set up."""
    from pytest_flowfault.lifecycle import seed_of_test
    from pytest_flowfault.report import record_of_test

    fixture = state.fixture if state is not None else None
    return record_of_test(
        nodeid=nodeid,
        test=item.nodeid,
        variant=repr(variant) if variant is not None else None,
        outcome=state.outcome if state is not None else "error",
        seed=(
            fixture.seed if fixture is not None
            else seed_of_test(item.config.stash[_SETTINGS].seed, item.nodeid)
        ),
        faults=[repr(fault) for fault in fixture.plan] if fixture is not None else [],
        matched_faults=(
            [repr(fault) for fault in fixture.matched_faults()] if fixture is not None else []
        ),
        runs=fixture.runs if fixture is not None else (),
    )


def _outcome(report: pytest.TestReport, previous: str) -> str:
    if report.when != "call":
        return "error" if report.failed else previous
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome
