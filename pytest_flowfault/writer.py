"""Writing what the session recorded: the JSON and HTML reports, the counterexamples file,
the terminal summary, and each test's JUnit properties.

Works on the records of :mod:`pytest_flowfault.report` only, which is what travels from
xdist workers to the controller.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flowfault.report import Record
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


class ReportWriter:
    """On the controller: gathers each test's record (from xdist workers too) and writes
    the reports, the counterexamples file and the terminal summary."""

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
