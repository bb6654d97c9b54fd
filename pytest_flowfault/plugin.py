"""The ``pytest11`` entry point: options, ini keys, marker, fixtures, per-test sessions, reports.

Imports neither taskflow nor hypothesis at module level: a suite that has the plugin
installed but does not use it pays nothing for it. A test gets a fault session (every
TaskFlow engine run in the process faulted and recorded) when it uses the ``flowfault``
fixture or marker, or when faults were given on the command line or in the ini file.
"""

from __future__ import annotations

import argparse
import shlex
import zlib
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flowfault import hookspecs, options
from pytest_flowfault.settings import Settings, read_settings

if TYPE_CHECKING:
    from pytest_flowfault.fixture import FlowFault
    from pytest_flowfault.plan import Fault, FaultPlan
    from pytest_flowfault.run import FlowRun
    from pytest_flowfault.redis_server import RedisServer
    from pytest_flowfault.report import Record

@dataclass
class _TestState:
    fixture: FlowFault
    stack: ExitStack
    outcome: str = "passed"
    notes: list[str] = field(default_factory=list)


_SETTINGS = pytest.StashKey[Settings]()
_STATE = pytest.StashKey[_TestState]()
_VARIANT = pytest.StashKey["FaultPlan"]()  # set while a sweep variant of the item runs
_BASELINE = pytest.StashKey["tuple[FlowRun, ...]"]()  # the runs a sweep explores


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowfault", "fault injection into TaskFlow flows (pytest-flowfault)")
    group.addoption(
        "--flowfault-fail",
        action="append",
        type=_validated(options.target_and_times),
        metavar="TARGET[:TIMES]",
        help="make execute of the atoms TARGET names fail on the first TIMES attempts of "
        "every run (every attempt without :TIMES), in every test. Repeatable. "
        "ini: flowfault_fail",
    )
    group.addoption(
        "--flowfault-fail-revert",
        action="append",
        type=_validated(options.target_and_times),
        metavar="TARGET[:TIMES]",
        help="make revert of the atoms TARGET names fail, in every test. Repeatable. "
        "ini: flowfault_fail_revert",
    )
    group.addoption(
        "--flowfault-fault",
        action="append",
        metavar="KIND:VALUE",
        help="a fault of a kind a plugin adds (pytest_flowfault_parse_fault hook); "
        "fail:TARGET[:TIMES] and fail_revert:TARGET[:TIMES] are built in. Repeatable. "
        "ini: flowfault_fault",
    )
    group.addoption(
        "--flowfault-chaos",
        type=options.rate,
        metavar="RATE",
        help="every execute attempt of every atom fails with probability RATE (0 to 1), "
        "drawn from the seed. ini: flowfault_chaos",
    )
    group.addoption(
        "--flowfault-seed",
        type=options.seed,
        metavar="INT|last",
        help="base seed for chaos (each test adds the CRC32 of its node id); 'last' reuses "
        "the previous run's. ini: flowfault_seed",
    )
    group.addoption(
        "--flowfault-report",
        action="append",
        type=options.report_path,
        metavar="PATH",
        help="write a resilience report to PATH (.json or .html; give twice for both). "
        "ini: flowfault_report",
    )
    group.addoption(
        "--flowfault-strict",
        action="store_true",
        default=None,
        help="fail any test with a recorded run that did not succeed and was not "
        "compensated, even if the test did not check. ini: flowfault_strict",
    )
    group.addoption(
        "--flowfault-virtual-time",
        action="store_true",
        default=None,
        help="skip time.sleep() inside the atoms of every recorded run, moving the run's "
        "virtual clock on instead (tenacity waits, sleeping retry controllers). ini: "
        "flowfault_virtual_time",
    )
    group.addoption(
        "--flowfault-sweep",
        nargs="?",
        const=("transient", "permanent"),
        type=options.sweep_kinds,
        metavar="KINDS",
        help="re-run every passing test that uses the flowfault fixture once per fault point "
        "of its own runs (KINDS: transient,permanent[,revert]; default transient,permanent); "
        "a variant fails unless each run succeeded or was reverted and compensated",
    )
    group.addoption(
        "--flowfault-replay",
        metavar="PLAN|FILE.json",
        help="put a fault plan in force in every test (the FaultPlan(...) code a report "
        "printed), or each test's own plan from a counterexamples file",
    )
    parser.addini("flowfault_fail", "default --flowfault-fail values", type="linelist")
    parser.addini("flowfault_fail_revert", "default --flowfault-fail-revert values", type="linelist")
    parser.addini("flowfault_fault", "default --flowfault-fault values", type="linelist")
    parser.addini("flowfault_chaos", "default --flowfault-chaos rate", type="string")
    parser.addini("flowfault_seed", "default --flowfault-seed", type="string")
    parser.addini("flowfault_report", "default --flowfault-report paths", type="linelist")
    parser.addini("flowfault_strict", "default for --flowfault-strict", type="bool", default=False)
    parser.addini(
        "flowfault_virtual_time", "default for --flowfault-virtual-time", type="bool", default=False
    )
    parser.addini(
        "flowfault_fast_parallel",
        "lend intercepted parallel engines a thread pool that shuts down at once, instead "
        "of TaskFlow's own (~1 s to join per run)",
        type="bool",
        default=True,
    )
    parser.addini(
        "flowfault_redis_server",
        "the redis-server executable the flowfault_redis fixture starts (default: "
        "redis-server on PATH, else the one the [jobboard] extra bundles)",
        type="string",
        default="",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", options.MARKER_HELP)
    settings = read_settings(config)
    config.stash[_SETTINGS] = settings
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(settings.seed), "flowfault-xdist")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(config, settings), "flowfault-collector")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[_SETTINGS]
    lines = [f"flowfault: seed={settings.seed}{settings.seed_note}"]
    if settings.reproduce:
        lines.append(f"flowfault: faults in every test: {' '.join(settings.reproduce)}")
    return lines


@pytest.hookimpl(trylast=True)
def pytest_flowfault_parse_fault(kind: str, value: str, config: pytest.Config) -> Fault | None:
    """The built-in kinds: ``fail`` and ``fail_revert`` with ``TARGET[:TIMES]``."""
    from pytest_flowfault.plan import Fault

    if kind not in ("fail", "fail_revert"):
        return None
    try:
        target, times = options.target_and_times(value)
    except argparse.ArgumentTypeError as problem:
        raise ValueError(str(problem)) from None
    build = Fault.fail if kind == "fail" else Fault.fail_revert
    return build(target, times=times)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.flowfault(engines=[...])`` runs the test once per engine."""
    try:
        spec = options.marker_spec(metafunc.definition.iter_markers("flowfault"))
    except options.InvalidMarker:
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
    state.fixture.engine = flowfault_engine
    state.fixture.session.directory = lambda: request.getfixturevalue("tmp_path")
    return state.fixture


@pytest.fixture
def flowfault_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port for this test, stopped after it
    (``pytest_flowfault.RedisServer``: ``host``, ``port``, ``url``, ``binary``)."""
    from pytest_flowfault.redis_server import RedisServerError, start_redis_server

    try:
        server = start_redis_server(request.config.getini("flowfault_redis_server"))
    except RedisServerError as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """``--flowfault-sweep``: after a passing test, run it again once per fault point."""
    result = yield
    baseline = item.stash.get(_BASELINE, None)
    if baseline and _VARIANT not in item.stash:
        from pytest_flowfault.explore import fault_points_of

        del item.stash[_BASELINE]
        try:
            for plan in fault_points_of(baseline, item.config.stash[_SETTINGS].sweep):
                item.stash[_VARIANT] = plan
                # pytest's own protocol sets the item up afresh on every call.
                item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            if _VARIANT in item.stash:
                del item.stash[_VARIANT]
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    settings = item.config.stash[_SETTINGS]
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
    ``--flowfault-strict``."""
    result = yield
    state = item.stash.get(_STATE, None)
    if state is not None:
        fixture = state.fixture
        problem = (
            fixture.unmatched_problem()
            or fixture.not_injected_problem()
            or _strict_problem(item, state)
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
            state.stack.close()


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
        runs = record["runs"]
        item.user_properties.extend(
            [
                ("flowfault_runs", len(runs)),
                ("flowfault_faults_injected", sum(run["faults_injected"] for run in runs)),
                ("flowfault_compensated", _compensated_property(runs)),
            ]
        )
    report = yield
    if variant is not None:
        # Renamed where it is logged (_Collector): xdist's worker insists that a report
        # carries its scheduled item's node id.
        report.flowfault_nodeid = nodeid  # type: ignore[attr-defined]
        if state is not None and call.when == "call":
            _judge_variant(report, state, variant)
    if state is not None:
        state.outcome = _outcome(report, state.outcome)
        if report.failed and call.when != "teardown":
            report.sections.append(("flowfault", _failure_section(item, state, variant)))
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


def _judge_variant(report: pytest.TestReport, state: _TestState, variant: FaultPlan) -> None:
    """A sweep variant passes when its flows survived, whatever the test asserted."""
    from pytest_flowfault.explore import verdict

    problems = []
    for number, run in enumerate(state.fixture.runs, start=1):
        problem = verdict(run)
        if problem is not None:
            problems.append(f"run {number} (flow {run.flow_name!r}): {problem}")
    if problems:
        report.outcome = "failed"
        report.longrepr = (
            f"flowfault sweep: not survived under {variant!r}\n" + "\n".join(problems)
        )
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


class _Collector:
    """On the controller: gathers test records (from workers too), writes the reports."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.tests: dict[str, Record] = {}
        self.written: list[Path] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        variant_nodeid = getattr(report, "flowfault_nodeid", None)
        if variant_nodeid is not None:
            report.nodeid = variant_nodeid  # a sweep variant: its own line in every report
        record = getattr(report, "flowfault", None)
        if record is not None:
            self.tests[report.nodeid] = record

    def document(self) -> Record:
        from pytest_flowfault.report import document

        return document(
            list(self.tests.values()),
            seed=self.settings.seed,
            command_line_faults=[repr(fault) for fault, _ in self.settings.faults],
        )

    def counterexamples_path(self) -> Path:
        first = self.config.invocation_params.dir / self.settings.reports[0]
        return first.with_name(f"{first.stem}.counterexamples.json")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.settings.reports:
            return
        from pytest_flowfault import html, report

        document = self.document()
        report.write_counterexamples(self.counterexamples_path(), document)
        for path in self.settings.reports:
            path = self.config.invocation_params.dir / path
            if path.suffix == ".json":
                report.write_json(path, document)
            else:
                html.write_html(path, document)
            self.written.append(path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.tests and not self.settings.armed:
            return
        from pytest_flowfault.report import summary_lines

        terminalreporter.section("flowfault")
        verbose = self.config.get_verbosity() > 0
        for line in summary_lines(self.document(), verbose=verbose):
            terminalreporter.line(line)
        for path in self.written:
            terminalreporter.line(f"report written: {path}")


def _start(item: pytest.Item) -> _TestState:
    """Give ``item`` a fault session, active until its teardown ends."""
    from pytest_flowfault.engine import Session, intercepting
    from pytest_flowfault.fixture import FlowFault

    settings = item.config.stash[_SETTINGS]
    try:
        spec = options.marker_spec(item.iter_markers("flowfault"))
    except options.InvalidMarker as problem:
        pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)
    if spec.engines and "flowfault_engine" not in getattr(item, "fixturenames", ()):
        pytest.fail(
            f"{item.nodeid}: @pytest.mark.flowfault(engines=...) needs the test to use the "
            f"flowfault fixture: flowfault.run() is what runs on each engine",
            pytrace=False,
        )
    virtual_time = settings.virtual_time if spec.virtual_time is None else spec.virtual_time
    session = Session(fast_parallel=settings.fast_parallel, virtual_time=virtual_time)
    fixture = FlowFault(session, seed=_test_seed(settings.seed, item.nodeid))
    if not spec.off:
        for fault, origin in settings.faults:
            fixture._add(fault, origin, check=False)
        if settings.chaos:
            fixture._add(_chaos(settings.chaos, fixture.seed), "--flowfault-chaos", check=False)
    for fault in spec.faults:
        fixture._add(fault, "@pytest.mark.flowfault")
    for plan, origin in (
        (item.stash.get(_VARIANT, None), "--flowfault-sweep"),
        (settings.replay_for(item.nodeid), "--flowfault-replay"),
    ):
        for fault in plan or ():
            fixture._add(fault, origin, check=False)
    if spec.chaos:
        fixture._add(_chaos(spec.chaos, fixture.seed), "@pytest.mark.flowfault(chaos=...)")
    hook = item.config.hook
    session.on_injected = lambda run, fault, atom, action, attempt: (
        hook.pytest_flowfault_fault_injected(
            run=run, fault=fault, atom=atom, attempt=attempt, action=action
        )
    )
    session.on_finished = lambda run: hook.pytest_flowfault_run_finished(run=run, item=item)
    stack = ExitStack()
    stack.callback(session.close)
    stack.enter_context(intercepting(session))
    state = item.stash[_STATE] = _TestState(fixture, stack)
    return state


def _chaos(rate: float, seed: int) -> Fault:
    from pytest_flowfault.plan import Fault

    return Fault.chaos("*", rate=rate, seed=seed)


def _test_seed(base: int, nodeid: str) -> int:
    return base + zlib.crc32(nodeid.encode())


def _strict_problem(item: pytest.Item, state: _TestState) -> str | None:
    if not item.config.stash[_SETTINGS].strict:
        return None
    from pytest_flowfault.assertions import compensation_problems

    problems = []
    for number, run in enumerate(state.fixture.runs, start=1):
        found = [] if run.succeeded else compensation_problems(run)
        if found:
            listed = "\n".join(f"  - {problem}" for problem in found)
            problems.append(
                f"run {number} (flow {run.flow_name!r}) ended {run.state} and was not "
                f"compensated:\n{listed}\n\n{run.timeline()}"
            )
    if not problems:
        return None
    return "--flowfault-strict: " + "\n\n".join(problems)


def _record(
    item: pytest.Item, state: _TestState, nodeid: str, variant: FaultPlan | None
) -> Record:
    from pytest_flowfault.report import record_of_test

    fixture = state.fixture
    return record_of_test(
        nodeid=nodeid,
        test=item.nodeid,
        variant=repr(variant) if variant is not None else None,
        outcome=state.outcome,
        seed=fixture.seed,
        faults=[repr(fault) for fault in fixture.plan],
        matched_faults=[repr(fault) for fault in fixture.matched_faults()],
        runs=fixture.runs,
    )


def _outcome(report: pytest.TestReport, previous: str) -> str:
    if report.when != "call":
        return "error" if report.failed else previous
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def _compensated_property(runs: list[Record]) -> str:
    verdicts = [run["compensated"] for run in runs if run["compensated"] is not None]
    if not verdicts:
        return "n/a"
    return "yes" if all(verdicts) else "no"


def _failure_section(item: pytest.Item, state: _TestState, variant: FaultPlan | None) -> str:
    """Faults in force, every run's timeline, and one line that reproduces the test."""
    fixture = state.fixture
    settings = item.config.stash[_SETTINGS]
    lines = ["faults in force:"]
    lines += [f"  {fault!r}  (from {fixture.origin(fault)})" for fault in fixture.plan]
    if not fixture.plan:
        lines.append("  none")
    for number, run in enumerate(fixture.runs, start=1):
        lines += ["", f"run {number} of {len(fixture.runs)}:", run.timeline()]
    reproduce = ["pytest", shlex.quote(item.nodeid), f"--flowfault-seed={settings.seed}"]
    reproduce += settings.reproduce
    if variant is not None:
        reproduce.append(shlex.quote(f"--flowfault-replay={variant!r}"))
    lines += ["", "reproduce: " + " ".join(reproduce)]
    return "\n".join(lines)


def _validated(parse: Any) -> Any:
    """An argparse type that checks a value with ``parse`` but keeps the text as written."""

    def check(value: str) -> str:
        parse(value)
        return value

    check.__name__ = parse.__name__
    return check
