"""Writing what the session recorded: the JSON and HTML reports, the counterexamples file,
the terminal summary, and each test's JUnit properties.

Works on the records of :mod:`pytest_flowfault.report` only, which is what travels from
xdist workers to the controller.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flowfault.fixture import FlowFault
    from pytest_flowfault.plan import FaultPlan
    from pytest_flowfault.report import Record
    from pytest_flowfault.run import FlowRun
    from pytest_flowfault.settings import Settings


def junit_properties(runs: list[Record]) -> list[tuple[str, object]]:
    """``flowfault_runs``, ``flowfault_faults_injected`` and ``flowfault_compensated``."""
    verdicts = [run["compensated"] for run in runs if run["compensated"] is not None]
    compensated = "n/a" if not verdicts else "yes" if all(verdicts) else "no"
    return [
        ("flowfault_runs", len(runs)),
        ("flowfault_faults_injected", sum(run["faults_injected"] for run in runs)),
        ("flowfault_compensated", compensated),
    ]


def failure_section(
    nodeid: str, fixture: FlowFault, seed: int, reproduce: Sequence[str],
    variant: FaultPlan | None,
) -> str:
    """A failing test's ``flowfault`` section: faults in force, every run's timeline, and
    one line that reproduces the test."""
    lines = ["faults in force:"]
    lines += [f"  {fault!r}  (from {fixture.origin(fault)})" for fault in fixture.plan]
    if not fixture.plan:
        lines.append("  none")
    for number, run in enumerate(fixture.runs, start=1):
        lines += ["", f"run {number} of {len(fixture.runs)}:", run.timeline()]
    command = ["pytest", shlex.quote(nodeid), f"--flowfault-seed={seed}", *reproduce]
    if variant is not None:
        command.append(shlex.quote(f"--flowfault-replay={variant!r}"))
    lines += ["", "reproduce: " + " ".join(command)]
    return "\n".join(lines)


def compensation_problem(runs: Sequence[FlowRun], check: str) -> str | None:
    """Why ``--flowfault-compensation=CHECK`` fails a test: its runs that failed
    uncompensated (``strict``: as ``assert_compensated(strict=True)``, with the suite's
    ``flowfault_nothing_to_undo``)."""
    from pytest_flowfault.verdict import compensation_problems

    problems = []
    for number, run in enumerate(runs, start=1):
        found = compensation_problems(run, strict=check == "strict")
        if found:
            listed = "\n".join(f"  - {problem}" for problem in found)
            problems.append(
                f"run {number} (flow {run.flow_name!r}) ended {run.state} and was not "
                f"compensated:\n{listed}\n\n{run.timeline()}"
            )
    if not problems:
        return None
    return f"--flowfault-compensation={check}: " + "\n\n".join(problems)


def os_reason(problem: OSError, path: Path) -> str:
    """What the OS said, and about which file when it is not ``path`` itself."""
    reason = problem.strerror or str(problem)
    if problem.filename is not None and Path(problem.filename) != path:
        reason += f" ({problem.filename})"
    return reason


class ReportWriter:
    """On the controller: gathers each test's record (from xdist workers too) and writes
    the reports, the counterexamples file and the terminal summary."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.tests: dict[str, Record] = {}
        self.written: list[Path] = []
        self.failed: list[tuple[Path, str]] = []  # files that could not be written, and why

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
        writes: list[tuple[Path, Callable[[Path, Record], None]]] = [
            (self.counterexamples_path(), report.write_counterexamples)
        ]
        for path in self.settings.reports:
            writing = report.write_json if path.suffix == ".json" else html.write_html
            writes.append((self.config.invocation_params.dir / path, writing))
        for path, write in writes:
            try:
                write(path, document)
            except OSError as problem:
                # Checked when the session started; this is a path that changed since (or
                # a full disk): say so, write the other files, and fail the session.
                self.failed.append((path, os_reason(problem, path)))
            else:
                if write is not report.write_counterexamples:
                    self.written.append(path)
        if self.failed and session.exitstatus in (
            pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED
        ):
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

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
        for path, reason in self.failed:
            terminalreporter.line(f"ERROR: could not write {path}: {reason}", red=True)
