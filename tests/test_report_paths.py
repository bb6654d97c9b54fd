"""Report paths that cannot be written, and tests the plugin could not set up: every
problem is a message, never a traceback, and every test is in the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SUITE = "def test_one():\n    pass\n"


def usage_error(result: pytest.RunResult, line: str) -> None:
    """pytest stopped with a usage error whose message is exactly ``line``."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert line in result.stderr.lines
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def no_traceback(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output


class TestCheckedWhenTheSessionStarts:
    def test_a_parent_that_is_a_file(self, pytester: pytest.Pytester) -> None:
        """--flowfault-report=a_file/r.json stops pytest before any test runs."""
        pytester.makepyfile(SUITE)
        (pytester.path / "a_file").write_text("")
        usage_error(
            pytester.runpytest("--flowfault-report=a_file/r.json"),
            f"ERROR: --flowfault-report='a_file/r.json': {pytester.path / 'a_file'} is a "
            f"file, not a directory, so nothing can be created in it",
        )

    def test_a_file_further_up(self, pytester: pytest.Pytester) -> None:
        """The first ancestor that exists is the one that is named."""
        pytester.makepyfile(SUITE)
        (pytester.path / "a_file").write_text("")
        usage_error(
            pytester.runpytest("--flowfault-report=a_file/deeper/r.html"),
            f"ERROR: --flowfault-report='a_file/deeper/r.html': {pytester.path / 'a_file'} "
            f"is a file, not a directory, so nothing can be created in it",
        )

    def test_a_directory(self, pytester: pytest.Pytester) -> None:
        """A directory named like a report is not a report."""
        pytester.makepyfile(SUITE)
        (pytester.path / "out.json").mkdir()
        path = pytester.path / "out.json"
        usage_error(
            pytester.runpytest("--flowfault-report=out.json"),
            f"ERROR: --flowfault-report='out.json': {path} is a directory; name a file in it, "
            f"e.g. {path / 'report.json'}",
        )

    def test_the_ini_key_is_named(self, pytester: pytest.Pytester) -> None:
        """The same check for flowfault_report names the ini key."""
        pytester.makepyfile(SUITE)
        (pytester.path / "a_file").write_text("")
        pytester.makeini("[pytest]\nflowfault_report = a_file/r.json\n")
        usage_error(
            pytester.runpytest(),
            f"ERROR: ini key flowfault_report='a_file/r.json': {pytester.path / 'a_file'} is "
            f"a file, not a directory, so nothing can be created in it",
        )

    def test_the_second_report_is_checked_too(self, pytester: pytest.Pytester) -> None:
        """Every report path is checked, not only the first."""
        pytester.makepyfile(SUITE)
        (pytester.path / "r.html").mkdir()
        result = pytester.runpytest("--flowfault-report=r.json", "--flowfault-report=r.html")
        usage_error(
            result,
            f"ERROR: --flowfault-report='r.html': {pytester.path / 'r.html'} is a directory; "
            f"name a file in it, e.g. {pytester.path / 'r.html' / 'report.json'}",
        )
        assert not (pytester.path / "r.json").exists()

    def test_the_counterexamples_file(self, pytester: pytest.Pytester) -> None:
        """The counterexamples file next to the first report must be writable as well."""
        pytester.makepyfile(SUITE)
        (pytester.path / "r.counterexamples.json").mkdir()
        path = pytester.path / "r.counterexamples.json"
        usage_error(
            pytester.runpytest("--flowfault-report=r.json"),
            f"ERROR: --flowfault-report='r.json': the counterexamples file written next to "
            f"it cannot be: {path} is a directory; name a file in it, e.g. "
            f"{path / 'report.json'}",
        )

    @pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere"
    )
    def test_a_directory_that_cannot_be_written(self, pytester: pytest.Pytester) -> None:
        """A read-only directory is found before the tests run, and nothing is created."""
        pytester.makepyfile(SUITE)
        locked = pytester.path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            usage_error(
                pytester.runpytest("--flowfault-report=locked/new/r.json"),
                f"ERROR: --flowfault-report='locked/new/r.json': the directory {locked} "
                f"cannot be written (permission denied)",
            )
        finally:
            locked.chmod(0o700)

    def test_missing_directories_are_fine(self, pytester: pytest.Pytester) -> None:
        """Directories that do not exist yet are created when the report is written."""
        pytester.makepyfile(SUITE)
        result = pytester.runpytest("--flowfault-report=new/deeper/r.json")
        assert result.ret == pytest.ExitCode.OK
        assert (pytester.path / "new" / "deeper" / "r.json").is_file()


BLOCKING_SUITE = """
import os

def test_blocks_the_paths():
    # The paths were fine when the session started; now they are directories.
    for path in {paths!r}:
        os.mkdir(path)
"""


class TestFailingWhenTheReportsAreWritten:
    def test_the_other_reports_are_written_and_the_session_fails(
        self, pytester: pytest.Pytester
    ) -> None:
        """A report that cannot be written is an error line naming it and the OS's reason;
        the others are written; the exit status is USAGE_ERROR although every test passed."""
        pytester.makepyfile(BLOCKING_SUITE.format(paths=["out.json"]))
        result = pytester.runpytest(
            "--flowfault-report=r.json", "--flowfault-report=out.json",
            "--flowfault-report=r.html",
        )
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stdout.fnmatch_lines(
            [
                f"report written: {pytester.path / 'r.json'}",
                f"report written: {pytester.path / 'r.html'}",
                f"ERROR: could not write {pytester.path / 'out.json'}: Is a directory",
            ]
        )
        no_traceback(result)
        assert json.loads((pytester.path / "r.json").read_text())["summary"]["tests"] == 1
        assert (pytester.path / "r.counterexamples.json").is_file()

    def test_the_counterexamples_file(self, pytester: pytest.Pytester) -> None:
        """The counterexamples file failing does not stop the report."""
        pytester.makepyfile(BLOCKING_SUITE.format(paths=["r.counterexamples.json"]))
        result = pytester.runpytest("--flowfault-report=r.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stdout.fnmatch_lines(
            [
                f"report written: {pytester.path / 'r.json'}",
                f"ERROR: could not write {pytester.path / 'r.counterexamples.json'}: Is a "
                f"directory",
            ]
        )
        no_traceback(result)

    def test_a_parent_that_became_a_file(self, pytester: pytest.Pytester) -> None:
        """The OS's reason names the file that is in the way."""
        pytester.makepyfile(
            "from pathlib import Path\n\ndef test_one():\n    Path('sub').write_text('')\n"
        )
        result = pytester.runpytest("--flowfault-report=sub/r.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stdout.fnmatch_lines(
            [f"ERROR: could not write {pytester.path / 'sub' / 'r.json'}: File exists "
             f"({pytester.path / 'sub'})"]
        )
        no_traceback(result)

    def test_failed_tests_keep_their_exit_status(self, pytester: pytest.Pytester) -> None:
        """A failing session stays TESTS_FAILED: the report problem is listed, not hidden."""
        pytester.makepyfile(
            BLOCKING_SUITE.format(paths=["r.json"]) + "\n\ndef test_fails():\n    assert False\n"
        )
        result = pytester.runpytest("--flowfault-report=r.json")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(
            [f"ERROR: could not write {pytester.path / 'r.json'}: Is a directory"]
        )


class TestEveryTestIsInTheReport:
    def test_a_malformed_marker_is_an_error_in_the_report(self, boot: pytest.Pytester) -> None:
        """A test the plugin failed in setup is counted and listed with outcome "error"."""
        boot.makepyfile(
            test_suite="""
            import pytest
            import service

            def test_boot():
                service.boot_server()

            def test_boot_again(flowfault):
                service.boot_server()

            @pytest.mark.flowfault(fail=3)
            def test_malformed(flowfault):
                service.boot_server()

            def test_plain():
                pass
            """
        )
        result = boot.runpytest("--flowfault-report=r.json")
        result.assert_outcomes(passed=3, errors=1)
        result.stdout.fnmatch_lines(["2 flow runs in 4 tests, *"])
        report = json.loads((boot.path / "r.json").read_text())
        outcomes = {test["nodeid"]: test["outcome"] for test in report["tests"]}
        assert {
            "test_suite.py::test_boot": "passed",
            "test_suite.py::test_boot_again": "passed",
            "test_suite.py::test_malformed": "error",
            "test_suite.py::test_plain": "passed",
        } == outcomes
        malformed = next(t for t in report["tests"] if t["nodeid"].endswith("malformed"))
        assert ([], []) == (malformed["runs"], malformed["faults"])

    def test_engines_without_the_fixture_is_in_the_report(self, boot: pytest.Pytester) -> None:
        """The other setup error of the plugin, engines=... without the fixture, too."""
        boot.makepyfile(
            test_suite="""
            import pytest

            @pytest.mark.flowfault(engines=["serial"])
            def test_no_fixture():
                pass
            """
        )
        result = boot.runpytest("--flowfault-report=r.json")
        result.assert_outcomes(errors=1)
        report = json.loads(Path(boot.path / "r.json").read_text())
        assert [("test_suite.py::test_no_fixture", "error")] == [
            (test["nodeid"], test["outcome"]) for test in report["tests"]
        ]


class TestNamesNoFileCanHave:
    def test_a_nul_byte_from_the_ini_file(self, pytester: pytest.Pytester) -> None:
        """A NUL byte (TOML's \\u0000) is refused at once, not when the report is written
        (found by tests/test_fuzz_cli.py: a traceback at the end of the session)."""
        pytester.makepyfile(SUITE)
        (pytester.path / "pyproject.toml").write_text(
            '[tool.pytest.ini_options]\nflowfault_report = "r\\u0000.json"\n'
        )
        usage_error(
            pytester.runpytest(),
            "ERROR: ini key flowfault_report: 'r\\x00.json' holds a NUL byte, which no file "
            "name can",
        )

    def test_a_nul_byte_on_the_command_line(self, pytester: pytest.Pytester) -> None:
        """pytest.main([...]) can pass one where a shell cannot."""
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_inprocess("--flowfault-report=r\0.json")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            ["*argument --flowfault-report: 'r\\x00.json' holds a NUL byte, which no file name can"]
        )
        no_traceback(result)
