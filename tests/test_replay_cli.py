"""--flowfault-replay and boolean ini keys as a user's command line meets them: usage errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_flowfault import plugin

FIX = "paste the plan printed on a failing test's reproduce: line"
SHAPE = (
    '{"schema": "pytest-flowfault-counterexamples", "version": 1, "seed": INT, '
    '"tests": {"NODE_ID": ["FaultPlan(...)", ...], ...}}'
)
FILE_FIX = (
    f"; a counterexamples file looks like {SHAPE}; give the .counterexamples.json that "
    f"--flowfault-report=PATH.json writes next to its report, or one plan as FaultPlan(...) "
    f"code"
)
SUITE = "def test_one():\n    pass\n"


def grammar_error(origin: str, piece: str, column: int, why: str) -> str:
    """The usage error for a piece of replay text outside the plan grammar."""
    return (
        f"ERROR: {origin}: only a fault plan is accepted here (FaultPlan(...) or "
        f"Fault.<kind>(...)), and {piece!r} at column {column} {why}; {FIX}"
    )


OUTSIDE = "is not part of that grammar"
NOT_AN_EXCEPTION = "is not an exception class ({} is a builtin_function_or_method)"
#: (text, offending piece, its column, why) for text that must never run.
HOSTILE = [
    ("os.system('touch EXECUTED')", "os.system", 1, OUTSIDE),
    ("__import__('os').system('touch EXECUTED')", "__import__('os').system", 1, OUTSIDE),
    ("().__class__.__base__.__subclasses__()", "().__class__.__base__.__subclasses__", 1,
     OUTSIDE),
    ("Fault.fail.__globals__", "Fault.fail.__globals__", 1, OUTSIDE),
    ("FaultPlan(*[x for x in ()])", "*", 11, OUTSIDE),
    ("FaultPlan(Fault.fail('a', exc=lambda: open('EXECUTED', 'w')))", "lambda", 31, OUTSIDE),
    ("FaultPlan(Fault.fail('a', exc=os.system))", "os.system", 31,
     NOT_AN_EXCEPTION.format("os.system")),
    ("FaultPlan(Fault.fail('a', exc=builtins.print))", "builtins.print", 31,
     NOT_AN_EXCEPTION.format("builtins.print")),
]
HOSTILE_IDS = ["os-system", "dunder-import", "subclasses", "globals", "starred", "lambda",
               "exc-os-system", "exc-print"]
DEEP = "FaultPlan(" + "[" * 5000 + "]" * 5000 + ")"
DEEP_ERROR = (
    "the plan is nested more than 50 levels deep at column 60, deeper than any fault plan; "
    + FIX
)


def usage_error(result: pytest.RunResult, line: str) -> None:
    """pytest stopped with a usage error whose message is exactly ``line``."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert line in result.stderr.lines
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()


class TestReplayCodeIsNeverRun:
    @pytest.mark.parametrize(("text", "piece", "column", "why"), HOSTILE, ids=HOSTILE_IDS)
    def test_hostile_option_is_a_usage_error_and_runs_nothing(
        self, pytester: pytest.Pytester, text: str, piece: str, column: int, why: str
    ) -> None:
        """--flowfault-replay=CODE outside the grammar stops pytest; no file is created."""
        pytester.makepyfile(SUITE)
        result = pytester.runpytest(f"--flowfault-replay={text}")
        shown = repr(text) if len(text) <= 60 else repr(text[:57]) + "..."
        usage_error(result, grammar_error(f"--flowfault-replay={shown}", piece, column, why))
        assert not (pytester.path / "EXECUTED").exists()

    @pytest.mark.parametrize(("text", "piece", "column", "why"), HOSTILE, ids=HOSTILE_IDS)
    def test_hostile_counterexamples_file_is_a_usage_error_and_runs_nothing(
        self, pytester: pytest.Pytester, text: str, piece: str, column: int, why: str
    ) -> None:
        """A counterexamples file holding such text names the file and the test."""
        pytester.makepyfile(SUITE)
        (pytester.path / "c.json").write_text(
            json.dumps({"tests": {"test_suite.py::test_one": [text]}})
        )
        result = pytester.runpytest("--flowfault-replay=c.json")
        origin = "--flowfault-replay=c.json, test 'test_suite.py::test_one'"
        usage_error(result, grammar_error(origin, piece, column, why))
        assert not (pytester.path / "EXECUTED").exists()

    def test_huge_nested_plan_fails_cleanly(self, pytester: pytest.Pytester) -> None:
        """Deep nesting is refused before parsing, on the command line and in a file."""
        shown = repr(DEEP[:57]) + "..."
        usage_error(
            pytester.runpytest(f"--flowfault-replay={DEEP}"),
            f"ERROR: --flowfault-replay={shown}: {DEEP_ERROR}",
        )
        (pytester.path / "deep.json").write_text(json.dumps({"tests": {"t.py::t": [DEEP]}}))
        usage_error(
            pytester.runpytest("--flowfault-replay=deep.json"),
            f"ERROR: --flowfault-replay=deep.json, test 't.py::t': {DEEP_ERROR}",
        )

    def test_exception_class_of_the_project_is_imported_by_its_dotted_name(
        self, pytester: pytest.Pytester
    ) -> None:
        """exc=package.module.Class replays the project's own exception class."""
        pytester.syspathinsert()
        pytester.makepyfile(
            quota="class QuotaExceeded(Exception):\n    pass\n",
            test_suite="def test_plan(flowfault):\n    print('PLAN', flowfault.plan)\n",
        )
        result = pytester.runpytest(
            "-s", "--flowfault-replay=Fault.fail('attach', exc=quota.QuotaExceeded('full'))"
        )
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            ["*PLAN FaultPlan(Fault.fail('attach', exc=quota.QuotaExceeded('full')))*"]
        )


class TestCounterexamplesFileShape:
    @pytest.mark.parametrize(
        ("content", "problem"),
        [
            ('{"tests": []}', 'has "tests": a JSON array, not an object'),
            ('{"tests": null}', 'has "tests": a JSON null, not an object'),
            ("[]", "holds a JSON array, not an object"),
            ("3", "holds a JSON number, not an object"),
            ('"FaultPlan()"', "holds a JSON string, not an object"),
            ("{}", 'has no "tests" key'),
            ('{"seed": 1}', 'has no "tests" key'),
            ('{"tests": {"t.py::t": []}}',
             'maps test "t.py::t" to [], not to a non-empty list of plans (strings)'),
            ('{"tests": {"t.py::t": "FaultPlan()"}}',
             'maps test "t.py::t" to "FaultPlan()", not to a non-empty list of plans (strings)'),
            ('{"tests": {"t.py::t": [3]}}',
             'maps test "t.py::t" to [3], not to a non-empty list of plans (strings)'),
            ('{"tests": {"t.py::t": [{"plan": "FaultPlan()"}]}}',
             'maps test "t.py::t" to [{"plan": "FaultPlan()"}], not to a non-empty list of '
             "plans (strings)"),
            ('{"schema": "pytest-flowfault-report", "tests": []}',
             "has schema 'pytest-flowfault-report', not 'pytest-flowfault-counterexamples'"),
            ('{"version": 2, "tests": {}}', "has version 2; this plugin reads version 1"),
            ('{"tests": ', "is not JSON (Expecting value: line 1 column 11 (char 10))"),
            ("", "is not JSON (Expecting value: line 1 column 1 (char 0))"),
        ],
        ids=["tests-list", "tests-null", "list", "number", "string", "empty", "no-tests",
             "no-plan", "plan-not-in-a-list", "plan-number", "plan-object", "report-file",
             "version", "invalid-json", "empty-file"],
    )
    def test_wrong_shapes_are_usage_errors(
        self, pytester: pytest.Pytester, content: str, problem: str
    ) -> None:
        """Each file that is not a counterexamples file says how it differs, and the fix."""
        (pytester.path / "c.json").write_text(content)
        usage_error(
            pytester.runpytest("--flowfault-replay=c.json"),
            f"ERROR: --flowfault-replay=c.json: the file {problem}{FILE_FIX}",
        )

    @pytest.mark.parametrize(
        ("write", "problem"),
        [
            (lambda path: path.write_bytes(b'{"tests": {"\xff": []}}'),
             "is not UTF-8 text (byte 0xff at offset 12)"),
            (lambda path: None, "cannot be read (No such file or directory)"),
            (lambda path: path.mkdir(), "cannot be read (Is a directory)"),
        ],
        ids=["not-utf8", "missing", "directory"],
    )
    def test_unreadable_files_are_usage_errors(
        self, pytester: pytest.Pytester, write: Any, problem: str
    ) -> None:
        """A file that cannot be read as text is a usage error too."""
        write(pytester.path / "c.json")
        usage_error(
            pytester.runpytest("--flowfault-replay=c.json"),
            f"ERROR: --flowfault-replay=c.json: the file {problem}{FILE_FIX}",
        )

    def test_hand_written_file_without_schema_replays(self, pytester: pytest.Pytester) -> None:
        """"schema", "version" and "seed" may be left out of a file written by hand."""
        pytester.makepyfile(
            test_suite="def test_plan(flowfault):\n    print('PLAN', flowfault.plan)\n"
        )
        (pytester.path / "c.json").write_text(
            json.dumps({"tests": {"test_suite.py::test_plan": ["FaultPlan(Fault.fail('a'))"]}})
        )
        result = pytester.runpytest("-s", "--flowfault-replay=c.json")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*PLAN FaultPlan(Fault.fail('a'))*"])


class _AddiniRecorder:
    """Stands in for pytest.Parser to list the plugin's ini keys of type bool."""

    def __init__(self) -> None:
        self.booleans: list[str] = []

    def getgroup(self, *args: object, **kwargs: object) -> _AddiniRecorder:
        return self

    def addoption(self, *args: object, **kwargs: object) -> None:
        pass

    def addini(self, name: str, help: str, type: str | None = None, **kwargs: object) -> None:
        if type == "bool":
            self.booleans.append(name)


def _boolean_ini_keys() -> list[str]:
    recorder = _AddiniRecorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    return recorder.booleans


BOOLEAN_INI_KEYS = _boolean_ini_keys()
TRUTH = "true, false, yes, no, on, off, 1, 0, y, n, t, f"


class TestBooleanIniKeys:
    def test_the_plugin_has_boolean_keys(self) -> None:
        """The keys below are found from the plugin's own declarations."""
        assert [
            "flowfault_strict", "flowfault_virtual_time", "flowfault_fast_parallel"
        ] == BOOLEAN_INI_KEYS

    @pytest.mark.parametrize("key", BOOLEAN_INI_KEYS)
    @pytest.mark.parametrize("value", ["maybe", "2", "Enabled"])
    def test_bad_value_names_the_key_the_value_and_what_is_accepted(
        self, pytester: pytest.Pytester, key: str, value: str
    ) -> None:
        """A value pytest cannot read as a boolean is a usage error naming the key."""
        pytester.makepyfile(SUITE)
        pytester.makeini(f"[pytest]\n{key} = {value}\n")
        usage_error(
            pytester.runpytest(),
            f"ERROR: ini key {key}: {value.lower()!r} is not a boolean; write one of "
            f"{TRUTH} (in any case), e.g. {key} = true",
        )

    @pytest.mark.parametrize("key", BOOLEAN_INI_KEYS)
    def test_bad_value_is_reported_even_when_an_option_is_given(
        self, pytester: pytest.Pytester, key: str
    ) -> None:
        """--flowfault-strict does not hide a broken flowfault_strict line."""
        pytester.makepyfile(SUITE)
        pytester.makeini(f"[pytest]\n{key} = maybe\n")
        usage_error(
            pytester.runpytest("--flowfault-strict"),
            f"ERROR: ini key {key}: 'maybe' is not a boolean; write one of {TRUTH} (in any "
            f"case), e.g. {key} = true",
        )

    @pytest.mark.skipif(pytest.version_tuple < (9,), reason="[tool.pytest] is pytest 9's")
    @pytest.mark.parametrize("key", BOOLEAN_INI_KEYS)
    @pytest.mark.parametrize(("value", "shown"), [('"maybe"', "'maybe'"), ("3", "3")])
    def test_bad_toml_value_names_the_key_the_value_and_what_is_accepted(
        self, pytester: pytest.Pytester, key: str, value: str, shown: str
    ) -> None:
        """In a native [tool.pytest] table only TOML booleans are accepted, and it says so."""
        pytester.makepyfile(SUITE)
        pytester.makepyprojecttoml(f"[tool.pytest]\n{key} = {value}\n")
        usage_error(
            pytester.runpytest(),
            f"ERROR: ini key {key}: {shown} is not a boolean; write true or false (a TOML "
            f"boolean, without quotes), e.g. {key} = true",
        )

    @pytest.mark.parametrize("key", BOOLEAN_INI_KEYS)
    @pytest.mark.parametrize("value", ["yes", "Off", "1"])
    def test_good_values_are_accepted(
        self, pytester: pytest.Pytester, key: str, value: str
    ) -> None:
        """Every spelling pytest accepts still works."""
        pytester.makepyfile(SUITE)
        pytester.makeini(f"[pytest]\n{key} = {value}\n")
        pytester.runpytest().assert_outcomes(passed=1)
