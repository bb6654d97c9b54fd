"""Fault and FaultPlan: pure, validated values."""

from __future__ import annotations

import unittest.mock

import mock
import pytest

from pytest_flowfault import Fault, FaultPlan, InjectedFault, InvalidFaultPlan
from pytest_flowfault.targets import target_matches, unmatched_message

NAMESPACE = {"Fault": Fault, "FaultPlan": FaultPlan, "mock": mock, "InjectedFault": InjectedFault}


class TestFail:
    def test_fails_the_first_times_attempts_then_runs_real_code(self) -> None:
        """times=2 injects into attempts 1 and 2 and leaves attempt 3 alone."""
        fault = Fault.fail("create_instance", times=2)
        outcomes = [fault.injection("create_instance", attempt) for attempt in (1, 2, 3)]
        assert [InjectedFault, InjectedFault, type(None)] == [
            type(outcome.error) if outcome else type(None) for outcome in outcomes
        ]

    def test_times_none_fails_every_attempt(self) -> None:
        """Without times, attempt 1000 still fails."""
        injection = Fault.fail("x").injection("x", 1000)
        assert injection is not None and isinstance(injection.error, InjectedFault)

    def test_default_error_names_atom_action_and_attempt(self) -> None:
        """The default InjectedFault says where it was injected."""
        injection = Fault.fail("create_instance").injection("boot.create_instance", 2)
        assert injection is not None
        assert "flowfault injected a fault into 'boot.create_instance' (execute attempt 2)" == str(
            injection.error
        )

    def test_exception_class_is_instantiated_with_the_injection_message(self) -> None:
        """exc=RuntimeError raises a RuntimeError that still says it was injected."""
        injection = Fault.fail("a", exc=RuntimeError).injection("a", 1)
        assert injection is not None and type(injection.error) is RuntimeError
        assert "flowfault injected a fault into 'a' (execute attempt 1)" == str(injection.error)

    def test_exception_instance_is_copied_for_each_attempt(self) -> None:
        """Each attempt raises a fresh copy, so parallel attempts never share a traceback."""
        error = RuntimeError("The API is down")
        fault = Fault.fail("a", exc=error)
        first, second = fault.injection("a", 1), fault.injection("a", 2)
        assert first is not None and second is not None
        assert first.error is not second.error and first.error is not error
        assert ("The API is down",) == first.error.args == second.error.args  # type: ignore[union-attr]

    def test_fail_revert_acts_on_revert(self) -> None:
        """fail_revert targets the revert method, fail the execute method."""
        assert ("revert", "execute") == (Fault.fail_revert("a").action, Fault.fail("a").action)


class TestSideEffect:
    def test_sequence_decides_each_attempt(self) -> None:
        """Exceptions raise, DEFAULT runs real code, values return, past the end runs real."""
        fault = Fault.side_effect(
            "a", [ValueError("boom"), mock.DEFAULT, {"id": 7}, unittest.mock.DEFAULT]
        )
        first, second, third, fourth, fifth = (fault.injection("a", n) for n in range(1, 6))
        assert first is not None and repr(first.error) == "ValueError('boom')"
        assert third is not None and third.error is None and {"id": 7} == third.value
        assert (None, None, None) == (second, fourth, fifth)

    def test_exception_class_in_sequence_is_instantiated(self) -> None:
        """A class in the sequence raises an instance of it."""
        injection = Fault.side_effect("a", [KeyError]).injection("a", 1)
        assert injection is not None and type(injection.error) is KeyError

    def test_single_exception_fails_every_attempt_like_mock(self) -> None:
        """side_effect=exc (not a list) raises on every call, as mock does."""
        assert Fault.fail("a", exc=OSError) == Fault.side_effect("a", OSError)

    def test_string_is_rejected(self) -> None:
        """A string is iterable but is never what the user meant."""
        with pytest.raises(InvalidFaultPlan) as raised:
            Fault.side_effect("a", "boom")
        assert (
            "side_effect for 'a' must be a sequence of outcomes (exceptions, return values or "
            "mock.DEFAULT) or one exception, got 'boom'" == str(raised.value)
        )


class TestValidation:
    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (
                lambda: Fault.fail("a", times=0),
                "times must be at least 1 (or None for every attempt), got 0",
            ),
            (
                lambda: Fault.fail("a", times=-1),
                "times must be at least 1 (or None for every attempt), got -1",
            ),
            (
                lambda: Fault.fail("a", times="2"),  # type: ignore[arg-type]
                "times must be a whole number of attempts (or None for every attempt), "
                "got str '2'",
            ),
            (
                lambda: Fault.fail("a", times=True),
                "times must be a whole number of attempts (or None for every attempt), "
                "got bool True",
            ),
            (
                lambda: Fault.fail(""),
                "a fault target must not be empty; name an atom, e.g. 'create_instance', "
                "or use '*' for every atom",
            ),
            (
                lambda: Fault.fail(3),  # type: ignore[arg-type]
                "a fault target must be an atom name, an fnmatch pattern (str) or a TaskFlow "
                "atom class, got int 3",
            ),
            (
                lambda: Fault.fail("a", exc="boom"),  # type: ignore[arg-type]
                "exc must be an exception class or instance, e.g. RuntimeError or "
                "RuntimeError('API down'), got str 'boom'",
            ),
            (
                lambda: Fault.fail("a", exc=KeyboardInterrupt),  # type: ignore[arg-type]
                "exc=KeyboardInterrupt is a BaseException: it would escape TaskFlow's error "
                "handling instead of failing the atom; use an Exception subclass",
            ),
            (
                lambda: Fault("explode", "a"),  # type: ignore[arg-type]
                "unknown fault kind 'explode'; use one of fail, fail_revert, side_effect, chaos, "
                "chaos_revert, crash_after, crash_during",
            ),
            (
                lambda: FaultPlan(Fault.fail("a"), "b"),  # type: ignore[arg-type]
                "FaultPlan takes Fault values, but argument 2 is 'b'; build one with "
                "Fault.fail(...), Fault.fail_revert(...) or Fault.side_effect(...)",
            ),
        ],
    )
    def test_bad_values_say_what_is_wrong(self, build, message) -> None:  # type: ignore[no-untyped-def]
        """Every invalid argument raises InvalidFaultPlan (a ValueError) with a clear message."""
        with pytest.raises(InvalidFaultPlan) as raised:
            build()
        assert message == str(raised.value)
        assert isinstance(raised.value, ValueError)


class TestFaultPlan:
    def test_repr_is_code_that_rebuilds_the_plan(self) -> None:
        """A failing plan can be pasted back into a test."""
        plan = FaultPlan(
            Fault.fail("create_instance", times=2, exc=RuntimeError("The API is down")),
            Fault.fail_revert("create_volume", exc=InjectedFault),
            Fault.side_effect("attach", [ValueError, mock.DEFAULT, {"id": 1}]),
        )
        expected = (
            "FaultPlan(Fault.fail('create_instance', times=2, exc=RuntimeError('The API is "
            "down')), Fault.fail_revert('create_volume', exc=InjectedFault), "
            "Fault.side_effect('attach', [ValueError, mock.DEFAULT, {'id': 1}]))"
        )
        assert expected == repr(plan)
        rebuilt = eval(repr(plan), NAMESPACE)
        assert plan == rebuilt and hash(plan) == hash(rebuilt)

    def test_exception_instances_compare_by_type_and_args(self) -> None:
        """Two plans written the same way are equal, even with exception instances."""
        assert FaultPlan(Fault.fail("a", exc=OSError("x"))) == FaultPlan(
            Fault.fail("a", exc=OSError("x"))
        )
        assert FaultPlan(Fault.fail("a", exc=OSError("x"))) != FaultPlan(
            Fault.fail("a", exc=OSError("y"))
        )

    def test_adding_plans_and_faults_keeps_order(self) -> None:
        """+ concatenates; the first fault in the plan wins when several act."""
        plan = FaultPlan(Fault.fail("a")) + Fault.fail("b") + FaultPlan(Fault.fail("c"))
        assert ["a", "b", "c"] == [fault.target for fault in plan]

    def test_for_atom_selects_by_target_and_action(self) -> None:
        """Only faults acting on that method of that atom are returned."""
        plan = FaultPlan(Fault.fail("create_*"), Fault.fail_revert("create_volume"))
        assert (Fault.fail("create_*"),) == plan.for_atom("create_volume", "execute")
        assert (Fault.fail_revert("create_volume"),) == plan.for_atom("create_volume", "revert")
        assert () == plan.for_atom("attach", "execute")


class TestTargetMatches:
    @pytest.mark.parametrize(
        ("target", "name", "expected"),
        [
            ("create_instance", "create_instance", True),
            ("create_instance", "boot.tasks.create_instance", True),
            ("create_*", "boot.tasks.create_volume", True),
            ("boot.*", "boot.tasks.create_volume", True),
            ("create_instance", "create_instance_2", False),
            ("tasks", "boot.tasks.create_volume", False),
            ("Create_Instance", "create_instance", False),
        ],
    )
    def test_exact_last_component_or_pattern(self, target: str, name: str, expected: bool) -> None:
        """Targets match the full name or its last dotted component, as names or patterns."""
        assert expected == target_matches(target, name)


class TestUnmatchedMessage:
    def test_names_the_fault_where_it_came_from_and_the_closest_atom(self) -> None:
        """A typo gets the atoms that exist and a suggestion."""
        plan = FaultPlan(Fault.fail("create_instanse"), Fault.fail("attach"))
        message = unmatched_message(
            plan, ["create_volume", "create_instance", "attach"], lambda fault: "the test"
        )
        assert (
            "Fault.fail('create_instanse') (from the test) targets 'create_instanse', which "
            "names no atom of any flow run; did you mean 'create_instance'?\n"
            "atoms seen: create_volume, create_instance, attach" == message
        )

    def test_says_when_no_flow_ran(self) -> None:
        """Faults set up in a test that never ran a flow are reported too."""
        message = unmatched_message(FaultPlan(Fault.fail("a")), [], lambda fault: None)
        assert (
            "Fault.fail('a') targets 'a', which names no atom of any flow run\n"
            "atoms seen: none (no flow ran)" == message
        )

    def test_none_when_every_fault_matched(self) -> None:
        """No message when nothing is wrong."""
        assert None is unmatched_message(FaultPlan(Fault.fail("a*")), ["ab"], lambda f: None)


class TestValueSemantics:
    def test_injected_fault_class_as_exc_names_the_atom(self) -> None:
        """exc=InjectedFault (as repr prints it) builds the same error as the default."""
        injection = Fault.fail("a", exc=InjectedFault).injection("boot.a", 2)
        assert injection is not None
        assert "flowfault injected a fault into 'boot.a' (execute attempt 2)" == str(
            injection.error
        )

    def test_exception_class_that_cannot_be_built_is_rejected_up_front(self) -> None:
        """A class needing other arguments is refused when the plan is written."""

        class NeedsTwo(Exception):
            def __init__(self, a: int, b: int) -> None:
                super().__init__(a, b)

        with pytest.raises(InvalidFaultPlan, match="cannot be created from a message"):
            Fault.fail("a", exc=NeedsTwo)
        with pytest.raises(InvalidFaultPlan, match="a side_effect item=.*NeedsTwo cannot"):
            Fault.side_effect("a", [NeedsTwo])

    def test_both_default_sentinels_are_equal(self) -> None:
        """mock.DEFAULT and unittest.mock.DEFAULT both mean 'run the real code'."""
        plan = FaultPlan(Fault.side_effect("a", [unittest.mock.DEFAULT]))
        assert FaultPlan(Fault.side_effect("a", [mock.DEFAULT])) == plan
        assert eval(repr(plan), NAMESPACE) == plan

    def test_unusual_values_still_round_trip_and_hash(self) -> None:
        """Infinity, NaN and unhashable exception arguments keep plans usable values."""
        plan = FaultPlan(
            Fault.side_effect("a", [float("inf"), float("nan"), RuntimeError([1])])
        )
        rebuilt = eval(repr(plan), NAMESPACE)
        assert plan == rebuilt and hash(plan) == hash(rebuilt)


class TestChaos:
    def test_same_seed_same_decisions_different_seed_different_ones(self) -> None:
        """Chaos is a pure function of (seed, flow, atom, attempt)."""

        def fired(seed: int) -> list[bool]:
            fault = Fault.chaos(rate=0.5, seed=seed)
            return [
                fault.injection(f"task{n}", attempt, "flow") is not None
                for n in range(20)
                for attempt in (1, 2, 3)
            ]

        assert fired(7) == fired(7)
        assert fired(7) != fired(8)

    def test_rate_is_roughly_the_share_of_failed_attempts(self) -> None:
        """Over 2000 attempts a rate of 0.2 fails about a fifth of them."""
        fault = Fault.chaos(rate=0.2, seed=1)
        failed = sum(fault.injection("a", attempt, "f") is not None for attempt in range(1, 2001))
        assert 340 <= failed <= 460

    def test_rate_zero_and_one(self) -> None:
        """0 never fails and 1 always fails."""
        never, always = Fault.chaos(rate=0, seed=3), Fault.chaos(rate=1, seed=3)
        assert all(never.injection("a", n, "f") is None for n in range(1, 100))
        assert all(always.injection("a", n, "f") is not None for n in range(1, 100))

    def test_flow_name_is_part_of_the_draw(self) -> None:
        """The same atom in two differently named flows gets independent draws."""
        fault = Fault.chaos(rate=0.5, seed=11)
        draws = {
            flow: [fault.injection("a", n, flow) is not None for n in range(1, 40)]
            for flow in ("boot", "resize")
        }
        assert draws["boot"] != draws["resize"]

    def test_repr_round_trips(self) -> None:
        """Chaos faults replay from their repr like any other fault."""
        plan = FaultPlan(Fault.chaos("create_*", rate=0.25, seed=99), Fault.chaos_revert(rate=1, seed=2))
        assert (
            "FaultPlan(Fault.chaos('create_*', rate=0.25, seed=99), "
            "Fault.chaos_revert('*', rate=1, seed=2))" == repr(plan)
        )
        assert eval(repr(plan), NAMESPACE) == plan

    @pytest.mark.parametrize("rate", [-0.1, 1.5, "0.2", True])
    def test_bad_rate(self, rate: object) -> None:
        """A rate outside [0, 1] or of the wrong type is refused."""
        with pytest.raises(InvalidFaultPlan) as raised:
            Fault.chaos(rate=rate, seed=1)  # type: ignore[arg-type]
        assert f"a chaos rate is a probability from 0 to 1, e.g. 0.2, got {rate!r}" == str(
            raised.value
        )


class TestRetryTargets:
    def test_patterns_reach_tasks_only(self) -> None:
        """'*' means every task: a retry controller is only ever named exactly."""
        assert target_matches("*", "create_instance", "task")
        assert not target_matches("*", "boot_retry", "retry")
        assert not target_matches("boot_*", "boot_retry", "retry")
        assert target_matches("boot_retry", "boot_retry", "retry")

    def test_unmatched_knows_the_kinds(self) -> None:
        """A pattern that only fits a retry's name matches nothing."""
        plan = FaultPlan(Fault.fail("*_retry"), Fault.fail("boot_retry"))
        assert (Fault.fail("*_retry"),) == plan.unmatched({"boot_retry": "retry"})


class TestValueEquality:
    def test_equal_sets_make_equal_faults_whatever_their_order(self) -> None:
        """{5, -3} and {-3, 5} print in different orders but are one value (seen by a
        Hypothesis round trip through replay)."""
        first, second = Fault.side_effect("a", [{5, -3}]), Fault.side_effect("a", [{-3, 5}])
        assert (first, hash(first)) == (second, hash(second))

    def test_nested_containers_compare_by_value(self) -> None:
        assert Fault.side_effect("a", [[1, {2: {3}}]]) == Fault.side_effect("a", [[1, {2: {3}}]])
        assert Fault.side_effect("a", [[1, 2]]) != Fault.side_effect("a", [(1, 2)])
