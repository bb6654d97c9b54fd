"""parse_plan: replay text is read by the plan grammar, and nothing in it ever runs."""

from __future__ import annotations

import builtins
import math
import sys
import types
import unittest.mock
from pathlib import Path
from typing import Any

import flowkit
import mock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from taskflow import retry, task

from pytest_flowfault import Fault, FaultPlan, InjectedFault, InvalidFaultPlan
from pytest_flowfault.errors import UnknownAtom
from pytest_flowfault.replay import CONSTRUCTORS, MAX_DEPTH, MAX_LENGTH, parse_plan

FIX = "paste the plan printed on a failing test's reproduce: line"


def refusal(piece: str, where: str, why: str = "is not part of that grammar") -> str:
    """The message for a piece of text outside the grammar."""
    return (
        f"here: only a fault plan is accepted here (FaultPlan(...) or Fault.<kind>(...)), and "
        f"{piece!r} at {where} {why}; {FIX}"
    )


#: Text that would run code, or reach the interpreter's insides, if it were evaluated.
HOSTILE = [
    ("os.system('touch EXECUTED')", refusal("os.system", "column 1")),
    ("__import__('os').system('touch EXECUTED')", refusal("__import__('os').system", "column 1")),
    (
        "().__class__.__base__.__subclasses__()",
        refusal("().__class__.__base__.__subclasses__", "column 1"),
    ),
    ("Fault.fail.__globals__", refusal("Fault.fail.__globals__", "column 1")),
    ("FaultPlan(*[x for x in ()])", refusal("*", "column 11")),
    ("FaultPlan(Fault.fail('a', exc=lambda: 1))", refusal("lambda", "column 31")),
    (
        "FaultPlan(Fault.fail('a', exc=os.system))",
        refusal("os.system", "column 31",
                "is not an exception class (os.system is a builtin_function_or_method)"),
    ),
    (
        "FaultPlan(Fault.fail('a', exc=builtins.print))",
        refusal("builtins.print", "column 31",
                "is not an exception class (builtins.print is a builtin_function_or_method)"),
    ),
    ("FaultPlan(Fault.fail('a', exc=print))", refusal("print", "column 31",
                                                       "is not an exception class")),
    (
        "FaultPlan(Fault.fail('a', exc=ValueError(os.system('touch EXECUTED'))))",
        refusal("os.system", "column 42",
                "is not an exception class (os.system is a builtin_function_or_method)"),
    ),
    (
        "FaultPlan(Fault.fail(f'{os.system(\"touch EXECUTED\")}'))",
        refusal("f'", "column 22", "is an f-string, which runs code"),
    ),
    ("FaultPlan(Fault.fail('a', exc=(e := ValueError)))", refusal(":=", "column 34")),
    ("FaultPlan(Fault.fail('a', **{'exc': ValueError}))", refusal("**", "column 27")),
    ("FaultPlan(Fault.side_effect('a', [x for x in 'ab']))", refusal("for", "column 37")),
    ("FaultPlan(Fault.fail('a', exc=errors[0]))", refusal("errors[0]", "column 31")),
    (
        "FaultPlan(Fault.fail('a', exc=ValueError('x').with_traceback))",
        refusal("ValueError('x').with_traceback", "column 31"),
    ),
    ("FaultPlan(Fault.fail('a', exc=sys.modules))", refusal(
        "sys.modules", "column 31", "is not an exception class (sys.modules is a dict)")),
    ("FaultPlan(Fault.fail('a', exc=Fault.fail))", refusal("Fault.fail", "column 31")),
    ("open('EXECUTED', 'w')", refusal("open", "column 1")),
    ("FaultPlan(Fault.fail('a', exc=1 + 1))", refusal("+", "column 33")),
    ("not " * 10 + "1", refusal("not", "column 1")),
]

DEEP = "FaultPlan(Fault.side_effect('a', " + "[" * 10_000 + "]" * 10_000 + "))"
DEEP_MESSAGE = (
    f"here: the plan is nested more than {MAX_DEPTH} levels deep at column 82, deeper than "
    f"any fault plan; {FIX}"
)


class TestParsePlan:
    def test_reads_every_piece_of_the_grammar(self) -> None:
        """Literals, containers, non-finite floats, DEFAULT, exception classes and instances."""
        text = (
            "FaultPlan(Fault.fail('create_instance', times=2, exc=RuntimeError('The API is "
            "down')), Fault.fail_revert('create_volume', exc=InjectedFault), "
            "Fault.side_effect('attach', [ValueError, mock.DEFAULT, unittest.mock.DEFAULT, "
            "DEFAULT, {'id': 1, 'ok': (True, None)}, {b'x'}, -3, -1.5, 2j, float('inf'), "
            "-inf, nan, float('nan'), OSError(2, 'gone'), set(), frozenset({1})]), "
            "Fault.chaos('create_*', rate=0.25, seed=-99), Fault.chaos_revert(rate=1, seed=2), "
            "Fault.crash_after('a'), Fault.crash_during('b'))"
        )
        expected = FaultPlan(
            Fault.fail("create_instance", times=2, exc=RuntimeError("The API is down")),
            Fault.fail_revert("create_volume", exc=InjectedFault),
            Fault.side_effect("attach", [
                ValueError, mock.DEFAULT, unittest.mock.DEFAULT, unittest.mock.DEFAULT,
                {"id": 1, "ok": (True, None)}, {b"x"}, -3, -1.5, 2j, math.inf, -math.inf,
                math.nan, math.nan, OSError(2, "gone"), set(), frozenset({1}),
            ]),
            Fault.chaos("create_*", rate=0.25, seed=-99),
            Fault.chaos_revert(rate=1, seed=2),
            Fault.crash_after("a"),
            Fault.crash_during("b"),
        )
        assert expected == parse_plan(text, origin="here")

    def test_one_fault_is_a_plan_of_one_and_whitespace_is_ignored(self) -> None:
        """Fault.fail(...) alone is the plan FaultPlan(Fault.fail(...)), over several lines."""
        text = "\n  Fault.fail(\n    'attach',  # the last task\n    times=1,\n  )\n"
        assert FaultPlan(Fault.fail("attach", times=1)) == parse_plan(text, origin="here")

    def test_constructors_are_plan_py_s_fault_kinds(self) -> None:
        """Every fault kind of plan.py is a constructor, and nothing else is."""
        assert (
            "fail", "fail_revert", "side_effect", "chaos", "chaos_revert", "crash_after",
            "crash_during",
        ) == CONSTRUCTORS

    def test_dotted_exception_classes_resolve_through_modules(self) -> None:
        """A package.module.Class name resolves to that class, if it is an exception class."""
        plan = parse_plan(
            "FaultPlan(Fault.fail('a', exc=pytest_flowfault.errors.UnknownAtom), "
            "Fault.fail('b', exc=builtins.KeyError('k')), Fault.fail('c', exc=os.error))",
            origin="here",
        )
        assert FaultPlan(
            Fault.fail("a", exc=UnknownAtom), Fault.fail("b", exc=KeyError("k")),
            Fault.fail("c", exc=OSError),
        ) == plan

    def test_a_module_not_imported_yet_is_imported(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An exception class of the user's own code is found, its module imported for it."""
        (tmp_path / "replay_app").mkdir()
        (tmp_path / "replay_app" / "__init__.py").write_text("")
        (tmp_path / "replay_app" / "errors.py").write_text(
            "class Quota(Exception):\n    class Exceeded(Exception):\n        pass\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            plan = parse_plan(
                "Fault.fail('a', exc=replay_app.errors.Quota.Exceeded('over'))",
                origin="here",
                importable_from=[tmp_path],
            )
            (fault,) = plan
            assert sys.modules["replay_app.errors"].Quota.Exceeded is type(fault.exc)
            assert ("over",) == fault.exc.args  # type: ignore[union-attr]
        finally:
            for name in ("replay_app.errors", "replay_app"):
                sys.modules.pop(name, None)

    def test_a_module_that_is_not_the_projects_is_never_imported(self, tmp_path: Path) -> None:
        """Importing runs a module's code: text from elsewhere may not choose which."""
        assert "antigravity" not in sys.modules  # the standard library's: it opens a browser
        with pytest.raises(InvalidFaultPlan) as refused:
            parse_plan("Fault.fail('a', exc=antigravity.Fly)", origin="here",
                       importable_from=[tmp_path])
        assert (
            f"here: only a fault plan is accepted here (FaultPlan(...) or Fault.<kind>(...)), "
            f"and 'antigravity.Fly' at column 21 names module 'antigravity', which is not "
            f"imported yet and is not the project's own (under {tmp_path.resolve()}): no "
            f"other module is imported for a name, since importing runs its code; import it "
            f"in a conftest.py to name its classes; paste the plan printed on a failing "
            f"test's reproduce: line"
        ) == str(refused.value)
        assert "antigravity" not in sys.modules

    def test_lookups_never_run_module_getattr_or_properties(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Names are looked up in __dict__: no __getattr__, property, descriptor or metaclass
        code runs."""
        calls: list[str] = []
        module = types.ModuleType("replay_trap")

        def module_getattr(name: str) -> type[Exception]:
            calls.append(name)
            return ValueError

        class Holder:
            @property
            def error(self) -> type[Exception]:
                calls.append("property")
                return ValueError

        class Spying(type):
            def __getattribute__(cls, name: str) -> Any:
                calls.append(f"metaclass {name}")
                return super().__getattribute__(name)

        class Guarded(metaclass=Spying):
            class Error(Exception):
                pass

        module.__getattr__ = module_getattr  # type: ignore[method-assign]
        module.Holder = Holder  # type: ignore[attr-defined]
        module.Guarded = Guarded  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "replay_trap", module)
        expected = FaultPlan(Fault.fail("a", exc=vars(Guarded)["Error"]))  # vars() is spied on
        calls.clear()
        assert expected == parse_plan(
            "Fault.fail('a', exc=replay_trap.Guarded.Error)", origin="here"
        )
        for text, message in [
            ("Fault.fail('a', exc=replay_trap.Error)", refusal(
                "replay_trap.Error", "column 21",
                "names nothing: replay_trap has no attribute 'Error'")),
            ("Fault.fail('a', exc=replay_trap.Holder.error)", refusal(
                "replay_trap.Holder.error", "column 21",
                "is not an exception class (replay_trap.Holder.error is a property)")),
        ]:
            with pytest.raises(InvalidFaultPlan) as raised:
                parse_plan(text, origin="here")
            assert message == str(raised.value)
        assert [] == calls

    @pytest.mark.parametrize(("text", "message"), HOSTILE)
    def test_hostile_text_is_refused_and_never_runs(
        self, text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Code outside the grammar is named with its column, and nothing is executed."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(InvalidFaultPlan) as raised:
            parse_plan(text, origin="here")
        assert message == str(raised.value)
        assert [] == list(tmp_path.iterdir())

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (DEEP, DEEP_MESSAGE),
            ("-" * 20_000 + "1", refusal("-", "column 2")),
            (
                "Fault.fail('a', exc=" + "a." * 20_000 + "b)",
                f"here: the plan is nested more than {MAX_DEPTH} levels deep at column 122, "
                f"deeper than any fault plan; {FIX}",
            ),
            (
                "FaultPlan(" * 60_000,
                f"here: the text is 600000 characters long, more than any fault plan "
                f"({MAX_LENGTH}); {FIX}",
            ),
            (
                "Fault.fail('a', times=" + "9" * 5000 + ")",
                refusal("9" * 57 + "...", "column 23",
                        "is a number longer than any fault plan holds"),
            ),
        ],
        ids=["brackets", "unary-minus", "attribute-chain", "length", "huge-int"],
    )
    def test_huge_or_deep_text_fails_cleanly(self, text: str, message: str) -> None:
        """Deep nesting and huge text are refused before parsing: no RecursionError."""
        with pytest.raises(InvalidFaultPlan) as raised:
            parse_plan(text, origin="here")
        assert message == str(raised.value)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "FaultPlan(Fault.fail(",
                f"here: this is not a fault plan: '(' was never closed at column 21; {FIX}",
            ),
            (
                "FaultPlan(Fault.fail('a', times=0))",
                "here: \"Fault.fail('a', times=0)\" at column 11 is not a valid fault plan: "
                f"times must be at least 1 (or None for every attempt), got 0; correct it, "
                f"or {FIX}",
            ),
            (
                "FaultPlan(Fault.fail('a', tims=2))",
                "here: \"Fault.fail('a', tims=2)\" at column 11 is not a valid fault plan: "
                "Fault.fail() got an unexpected keyword argument 'tims'; correct it, or "
                f"{FIX}",
            ),
            (
                "FaultPlan(Fault.explode('a'))",
                refusal("Fault.explode", "column 11",
                        "is not a constructor of Fault (those are Fault.fail, "
                        "Fault.fail_revert, Fault.side_effect, Fault.chaos, "
                        "Fault.chaos_revert, Fault.crash_after, Fault.crash_during)"),
            ),
            ("FaultPlan('a')", refusal(
                "'a'", "column 11", "is not a fault: FaultPlan takes Fault.<kind>(...) values")),
            ("3", refusal("3", "column 1")),
            ("Fault.fail('a', exc=QuotaExceeded)", refusal(
                "QuotaExceeded", "column 21",
                "is not a builtin exception; write an exception class by its dotted name, "
                "e.g. package.module.QuotaExceeded")),
            ("Fault.fail('a', exc=no_such_module.Error)", refusal(
                "no_such_module.Error", "column 21",
                "names nothing: there is no module 'no_such_module'")),
            (
                "FaultPlan(Fault.fail('é', exc=nope))",
                refusal("nope", "column 31"),
            ),
            (
                "FaultPlan(Fault.fail('a'),\n          Fault.fail(b))",
                refusal("b", "line 2, column 22"),
            ),
            (
                "Fault.side_effect('a', [{[1]: 2}])",
                "here: '{[1]: 2}' at column 25 is not a valid fault plan: unhashable type: "
                f"'list'; correct it, or {FIX}",
            ),
        ],
        ids=["syntax", "times", "keyword", "kind", "not-a-fault", "number", "bare-class",
             "no-module", "unicode-column", "second-line", "unhashable"],
    )
    def test_mistakes_say_what_where_and_how_to_fix(self, text: str, message: str) -> None:
        """Typos and invalid values are reported with the piece, its column and a fix."""
        with pytest.raises(InvalidFaultPlan) as raised:
            parse_plan(text, origin="here")
        assert message == str(raised.value)


# --- round trip --------------------------------------------------------------------------

BUILTIN_EXCEPTIONS = sorted(
    (value for value in vars(builtins).values()
     if isinstance(value, type) and issubclass(value, Exception)
     and not issubclass(value, (getattr(builtins, "BaseExceptionGroup", UnicodeError), UnicodeError))),
    key=lambda cls: cls.__name__,
)
# NaN only where plans compare it by repr or by its own key: inside a tuple, NaN != NaN.
FINITE = st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.binary(max_size=3) \
    | st.floats(allow_nan=False)
SCALARS = FINITE | st.just(math.nan)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.tuples(FINITE, FINITE)
    | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    | st.sets(st.integers(), max_size=3)
    | st.frozensets(st.integers(), max_size=2),
    max_leaves=6,
)


def _exception(cls: type[Exception], args: list[object]) -> Exception | None:
    try:
        return cls(*args)
    except Exception:  # builtins with required argument types
        return None


EXCEPTIONS = (
    st.sampled_from([*BUILTIN_EXCEPTIONS, InjectedFault, UnknownAtom])
    | st.builds(_exception, st.sampled_from(BUILTIN_EXCEPTIONS),
                st.lists(SCALARS, max_size=2)).filter(lambda error: error is not None)
    | st.builds(InjectedFault, st.text(max_size=6), st.sampled_from(["execute", "revert"]),
                st.integers(1, 9))
)
#: Names and patterns, and atom classes (written back as their dotted paths).
TARGETS = st.text(min_size=1, max_size=10).filter(str.strip) | st.sampled_from(
    [flowkit.Step, flowkit.Hold, flowkit.Plain, task.Task, task.FunctorTask, retry.Times]
)
TIMES = st.none() | st.integers(1, 5)
FAULTS = st.one_of(
    st.builds(Fault.fail, TARGETS, times=TIMES, exc=st.none() | EXCEPTIONS),
    st.builds(Fault.fail_revert, TARGETS, times=TIMES, exc=st.none() | EXCEPTIONS),
    st.builds(Fault.side_effect, TARGETS,
              st.lists(EXCEPTIONS | st.just(mock.DEFAULT) | VALUES, max_size=4)),
    st.builds(Fault.chaos, TARGETS, rate=st.floats(0, 1), seed=st.integers(),
              exc=st.none() | EXCEPTIONS),
    st.builds(Fault.chaos_revert, TARGETS, rate=st.floats(0, 1), seed=st.integers()),
    st.builds(Fault.crash_after, TARGETS),
    st.builds(Fault.crash_during, TARGETS),
)


class TestRoundTrip:
    @settings(max_examples=150, deadline=None)
    @given(faults=st.lists(FAULTS, max_size=4))
    def test_parse_plan_of_repr_is_the_plan(self, faults: list[Fault]) -> None:
        """For every plan, parse_plan(repr(plan)) is an equal plan, with an equal hash."""
        plan = FaultPlan(*faults)
        parsed = parse_plan(repr(plan), origin="here")
        assert (plan, hash(plan)) == (parsed, hash(parsed))

    @settings(max_examples=50, deadline=None)
    @given(fault=FAULTS)
    def test_one_fault_s_repr_is_a_plan_of_it(self, fault: Fault) -> None:
        """parse_plan(repr(fault)) is FaultPlan(fault)."""
        assert FaultPlan(fault) == parse_plan(repr(fault), origin="here")
