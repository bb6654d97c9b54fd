"""Fuzzing what users type: any text for any ``--flowfault-*`` option or ``flowfault_*``
ini key is a clean run or a usage error naming where it came from; never a traceback.

The options and keys are listed from the plugin's own declarations, so a new one is fuzzed
as soon as it exists. pytest runs in process on a two-test suite, examples are drawn the
same way on every run (``derandomize=True``), and nothing is saved between runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_flowfault import plugin
from pytest_flowfault.errors import InvalidFaultPlan
from pytest_flowfault.plan import FaultPlan
from pytest_flowfault.replay import parse_plan

SUITE = """
from taskflow import task
from taskflow.patterns import linear_flow


class Step(task.Task):
    def execute(self):
        return 1


def test_flow(flowfault):
    flowfault.run(linear_flow.Flow("fuzz").add(Step("step"), Step("other")))


def test_plain():
    pass
"""

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Declarations:
    """Stands in for pytest.Parser to list the plugin's options and ini keys."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.ini: dict[str, str | None] = {}

    def getgroup(self, *args: object, **kwargs: object) -> _Declarations:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options[names[0]] = kwargs

    def addini(self, name: str, help: str, type: str | None = None, **kwargs: object) -> None:
        self.ini[name] = type


def _declarations() -> _Declarations:
    found = _Declarations()
    plugin.pytest_addoption(found)  # type: ignore[arg-type]
    return found


DECLARED = _declarations()
#: The options that take a value; the flags are fuzzed through their ini keys.
VALUE_OPTIONS = [
    name for name, kwargs in DECLARED.options.items() if kwargs.get("action") != "store_true"
]
INI_KEYS = list(DECLARED.ini)

# Text a user might type, or mistype.
UNICODE = st.sampled_from(
    ["\u0661\u0662", "\uff11", "\u00b2", "\u00bd", "\u00a0", "\x00", "\u2028", "\U0001f4a5",
     "e\u0301", "\ufeff"]
)
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["0", "1", "-1", "1e-400", "1e400", "nan", "inf", "-0", "0x10", "1_0",
                     " 2 ", "9" * 5000, "last", "Last"]),
)
PIECES = st.one_of(
    st.text(alphabet="ab*?[]!^_-.:, \t\u00e9", max_size=12), NUMBERS, UNICODE, st.just("")
)
#: class:DOTTED.PATH targets: the suite's own task class, other classes, nothing, garbage.
CLASSES = st.sampled_from(
    ["class:", "class:test_suite.Step", "class:test_suite", "class:test_suite.nope",
     "class:os.path", "class:builtins.int", "class:nosuch.Task", "class:a..b", "class:.x",
     "class:test_suite.__class__", "class:antigravity.Fly", "CLASS:test_suite.Step"]
)
TARGETS = st.tuples(
    st.one_of(PIECES, CLASSES), st.one_of(st.just(""), NUMBERS.map(lambda n: ":" + n))
).map("".join)
COLONS = st.lists(PIECES, max_size=4).map(":".join)
VALUES = st.one_of(st.text(), TARGETS, NUMBERS, COLONS, UNICODE, st.just(""))
KINDS = st.sampled_from(["fail", "fail_revert", "chaos", "crash_after", "", "FAIL", " fail"])
FAULTS = st.one_of(VALUES, st.tuples(KINDS, VALUES).map(":".join))
SWEEPS = st.one_of(
    VALUES,
    st.lists(st.sampled_from(["transient", "permanent", "revert", "", " ", "Revert", "x"]))
    .map(",".join),
)
EXCEPTIONS = st.sampled_from(
    ["ValueError", "RuntimeError('x')", "nosuch.Error", "os.path", "json.JSONDecodeError",
     "builtins.KeyError()", "", "1"]
)
PLANS = st.one_of(
    VALUES,
    st.builds(
        "FaultPlan(Fault.{}({!r}{}{}))".format,
        st.sampled_from(["fail", "fail_revert", "crash_after", "chaos", "nope"]),
        PIECES,
        st.one_of(st.just(""), NUMBERS.map(", times={}".format)),
        st.one_of(st.just(""), EXCEPTIONS.map(", exc={}".format)),
    ),
    VALUES.map(lambda text: text + ".json"),
)
# Report paths stay inside the test's directory: a fuzzer must not write anywhere else.
_COMPONENT = st.text(alphabet="ab._- \u00e9\x00", min_size=1, max_size=5).filter(
    lambda part: part not in (".", "..")
)
REPORTS = st.one_of(
    VALUES,
    st.tuples(VALUES, st.sampled_from([".json", ".html"])).map("".join),
    st.tuples(
        st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join),
        st.sampled_from([".json", ".html", ".JSON", "", ".txt", ".counterexamples.json"]),
    ).map("".join),
    st.sampled_from(["a" * 300 + ".json", "x.json/r.json", "x.json", "./r.html"]),
)
COMPENSATIONS = st.one_of(
    VALUES, st.sampled_from(["basic", "strict", "Strict", " strict", "basic,strict", "off"])
)
BOOLEANS = st.one_of(VALUES, st.sampled_from(["true", "False", "on", "0", "y", "maybe", " "]))

OPTION_VALUES = {
    "--flowfault-fail": TARGETS,
    "--flowfault-fail-revert": TARGETS,
    "--flowfault-fault": FAULTS,
    "--flowfault-chaos": NUMBERS,
    "--flowfault-seed": NUMBERS,
    "--flowfault-report": REPORTS,
    "--flowfault-sweep": SWEEPS,
    "--flowfault-replay": PLANS,
    "--flowfault-compensation": COMPENSATIONS,
}
INI_VALUES = {
    "flowfault_fail": TARGETS,
    "flowfault_fail_revert": TARGETS,
    "flowfault_fault": FAULTS,
    "flowfault_chaos": NUMBERS,
    "flowfault_seed": NUMBERS,
    "flowfault_report": REPORTS,
    "flowfault_compensation": COMPENSATIONS,
    "flowfault_nothing_to_undo": TARGETS,
}


def stays_inside(text: str) -> bool:
    """A report path that cannot leave the test's directory."""
    path = Path(text)
    return not path.is_absolute() and ".." not in path.parts and not text.startswith("~")


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's, DEL aside)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


OUR_FRAME = re.compile(r"pytest_flowfault[/\\]\w+\.py\"?[:,] ")


def clean_or_usage_error(result: pytest.RunResult, *names: str) -> None:
    """A run that finished (tests passed or failed), or a usage error naming ``names``."""
    output = result.stdout.str() + "\n" + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback (most recent call last)" not in output
    assert not OUR_FRAME.search(output), output
    if result.ret == pytest.ExitCode.USAGE_ERROR:
        assert any(name in result.stderr.str() for name in names), result.stderr.str()
    else:
        assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-q", *arguments)


class TestTheDeclarations:
    def test_every_option_and_ini_key_is_fuzzed(self) -> None:
        """Each option that takes a value and each ini key has its strategy below (or the
        generic ones): a new option cannot be left out by accident."""
        assert sorted(OPTION_VALUES) == sorted(VALUE_OPTIONS)
        assert {"--flowfault-strict", "--flowfault-virtual-time"} == (
            set(DECLARED.options) - set(VALUE_OPTIONS)
        )
        assert {"flowfault_strict", "flowfault_virtual_time", "flowfault_fast_parallel",
                "flowfault_redis_server", *INI_VALUES} == set(INI_KEYS)


class TestOptions:
    @pytest.mark.parametrize("option", VALUE_OPTIONS)
    @FUZZ
    @given(data=st.data())
    def test_any_value(self, suite: pytest.Pytester, option: str, data: st.DataObject) -> None:
        """--flowfault-X=TEXT runs, or stops with a usage error naming --flowfault-X."""
        value = data.draw(OPTION_VALUES[option], label="value")
        if option == "--flowfault-report":
            assume(stays_inside(value))
        clean_or_usage_error(run(suite, f"{option}={value}"), option)


class TestCombinations:
    @FUZZ
    @given(
        chosen=st.lists(
            st.sampled_from(VALUE_OPTIONS + ["--flowfault-strict", "--flowfault-virtual-time"]),
            min_size=2, max_size=4, unique=True,
        ),
        data=st.data(),
    )
    def test_several_options_together(
        self, suite: pytest.Pytester, chosen: list[str], data: st.DataObject
    ) -> None:
        """Options that are fine alone stay fine together (chaos with any seed, a sweep
        with a replayed plan, ...), or the usage error names one of them."""
        arguments = []
        for option in chosen:
            if option not in OPTION_VALUES:
                arguments.append(option)
                continue
            value = data.draw(OPTION_VALUES[option], label=option)
            if option == "--flowfault-report":
                assume(stays_inside(value))
            arguments.append(f"{option}={value}")
        clean_or_usage_error(run(suite, *arguments), *chosen)


class TestIniKeys:
    @pytest.mark.parametrize("key", INI_KEYS)
    @FUZZ
    @given(data=st.data())
    def test_any_value(self, suite: pytest.Pytester, key: str, data: st.DataObject) -> None:
        """flowfault_x = "TEXT" runs, or stops with a usage error naming the key."""
        strategy = INI_VALUES.get(key, BOOLEANS if DECLARED.ini[key] == "bool" else VALUES)
        value = data.draw(strategy, label="value")
        if key == "flowfault_report":
            assume(all(stays_inside(line.strip()) for line in value.splitlines()))
        # Written as is: pytester's makepyprojecttoml splits lines on U+0085 too.
        (suite.path / "pyproject.toml").write_text(
            f"[tool.pytest.ini_options]\n{key} = {toml_string(value)}\n", encoding="utf-8"
        )
        clean_or_usage_error(run(suite), key)


class TestParsePlan:
    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(text=st.one_of(st.text(), PLANS, st.text(alphabet="FaultPln(.)'\",=[]{}:*0123")))
    def test_a_plan_or_invalid_fault_plan(self, text: str) -> None:
        """Any text is a plan, or InvalidFaultPlan (a ValueError); nothing else escapes."""
        try:
            plan = parse_plan(text, origin="fuzz")
        except InvalidFaultPlan as problem:
            assert str(problem).startswith("fuzz: ")
        else:
            assert isinstance(plan, FaultPlan)
