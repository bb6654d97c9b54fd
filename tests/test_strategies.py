"""fault_plans: a Hypothesis strategy that draws fault plans over a flow's tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowkit import Log, Step
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from taskflow import retry
from taskflow.patterns import linear_flow, unordered_flow

from pytest_flowfault import Fault, FaultPlan
from pytest_flowfault.strategies import fault_plans

ROOT = Path(__file__).parent.parent
NAMES = ["a", "b", "c", "d"]
KINDS = ("transient", "permanent", "revert")
#: ``find`` without the example database, so that each search starts afresh.
FIND_SETTINGS = settings(database=None, derandomize=True, deadline=None)


def kind_of(fault: Fault) -> str:
    """The sweep kind a fault drawn by fault_plans stands for."""
    if fault.kind == "fail_revert":
        return "revert"
    return "permanent" if fault.times is None else "transient"


def capacity(names: list[str], kinds: tuple[str, ...], max_times: int) -> int:
    """How many distinct faults fault_plans can draw (its lists hold no duplicates)."""
    per_name = {"transient": max_times, "permanent": 1, "revert": 1}
    return len(names) * sum(per_name[kind] for kind in kinds)


def nested_flow() -> linear_flow.Flow:
    """Tasks a, b, c; retry controllers around the whole flow and around the inner one."""
    log = Log()
    inner = unordered_flow.Flow("inner", retry=retry.Times(2, name="inner_retry")).add(
        Step("b", log), Step("c", log)
    )
    return linear_flow.Flow("outer", retry=retry.Times(3, name="outer_retry")).add(
        Step("a", log), inner
    )


class TestFaultPlansDraws:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_plans_keep_to_every_argument(self, data: st.DataObject) -> None:
        """Each plan has min_faults..max_faults distinct faults, on the names, of the kinds."""
        names = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True))
        kinds = tuple(data.draw(st.lists(st.sampled_from(KINDS), min_size=1, unique=True)))
        max_times = data.draw(st.integers(1, 4))
        min_faults = data.draw(st.integers(0, min(2, capacity(names, kinds, max_times))))
        max_faults = data.draw(st.integers(min_faults, 4))
        plan = data.draw(
            fault_plans(
                names,
                min_faults=min_faults,
                max_faults=max_faults,
                kinds=kinds,
                max_times=max_times,
            )
        )
        assert isinstance(plan, FaultPlan)
        assert min_faults <= len(plan) <= max_faults
        assert len(plan) == len(set(plan))
        for fault in plan:
            assert fault.target in names
            assert kind_of(fault) in kinds
            assert fault.times is None or 1 <= fault.times <= max_times
            assert fault.exc is None

    @settings(max_examples=30, deadline=None)
    @given(plan=fault_plans(nested_flow(), max_faults=3))
    def test_a_flow_gives_its_task_names_and_never_a_retry_name(self, plan: FaultPlan) -> None:
        """From a flow, faults target its tasks (nested ones too), not its retry controllers."""
        assert {fault.target for fault in plan} <= {"a", "b", "c"}

    @pytest.mark.parametrize("name", ["a", "b", "c"])
    def test_every_task_of_a_nested_flow_can_be_drawn(self, name: str) -> None:
        """The task inside the nested flow is as reachable as the outer one."""
        found = find(
            fault_plans(nested_flow()),
            lambda plan: any(fault.target == name for fault in plan),
            settings=FIND_SETTINGS,
        )
        assert [name] == [fault.target for fault in found]


class TestFaultPlansShrinking:
    def test_a_plan_touching_b_shrinks_to_one_transient_fault_on_b(self) -> None:
        """One fault, of the first kind (transient), striking once: Fault.fail('b', times=1)."""
        found = find(
            fault_plans(["a", "b", "c"], max_faults=3),
            lambda plan: any(fault.target == "b" for fault in plan),
            settings=FIND_SETTINGS,
        )
        assert "FaultPlan(Fault.fail('b', times=1))" == repr(found)

    @pytest.mark.parametrize("name", ["a", "b", "c"])
    def test_the_minimal_kind_does_not_depend_on_the_name(self, name: str) -> None:
        """Whichever name the property needs, its fault shrinks to the first kind."""
        found = find(
            fault_plans(["a", "b", "c"]),
            lambda plan: any(fault.target == name for fault in plan),
            settings=FIND_SETTINGS,
        )
        assert FaultPlan(Fault.fail(name, times=1)) == found

    def test_with_two_kinds_the_first_kind_wins(self) -> None:
        """With kinds=("transient", "permanent") a fault on c shrinks to a transient one."""
        found = find(
            fault_plans(["a", "b", "c"], kinds=("transient", "permanent")),
            lambda plan: any(fault.target == "c" for fault in plan),
            settings=FIND_SETTINGS,
        )
        assert FaultPlan(Fault.fail("c", times=1)) == found

    def test_kinds_order_decides_the_minimal_kind(self) -> None:
        """With revert listed first, the minimal plan is a revert fault on the first name."""
        found = find(
            fault_plans(["a", "b", "c"], kinds=("revert", "transient")),
            lambda plan: True,
            settings=FIND_SETTINGS,
        )
        assert FaultPlan(Fault.fail_revert("a")) == found

    def test_times_shrink_to_the_smallest_that_still_fails(self) -> None:
        """A property needing a fault that strikes twice finds times=2, not 3."""
        found = find(
            fault_plans(["a", "b", "c"], max_times=3),
            lambda plan: any((fault.times or 0) >= 2 for fault in plan),
            settings=FIND_SETTINGS,
        )
        assert FaultPlan(Fault.fail("a", times=2)) == found

    def test_min_faults_zero_shrinks_to_the_empty_plan(self) -> None:
        """min_faults=0 allows, and shrinks to, a plan without faults."""
        found = find(fault_plans(["a"], min_faults=0), lambda plan: True, settings=FIND_SETTINGS)
        assert FaultPlan() == found


USER_TESTS = """
from hypothesis import given, settings
from boot import STORE, Cloud, boot_flow, buggy_boot_flow

from pytest_flowfault import run_flow
from pytest_flowfault.strategies import fault_plans

BOOT_TASKS = ["create_volume", "create_instance", "attach_volume_to_instance"]


@settings(max_examples=30, deadline=None)
@given(plan=fault_plans(BOOT_TASKS, kinds=("transient", "permanent")))
def test_boot_is_always_cleaned_up(plan):
    cloud = Cloud()
    run = run_flow(boot_flow(cloud), plan=plan, store=STORE)
    if not run.succeeded:
        run.assert_compensated()
        assert [] == cloud.leftovers()


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(plan=fault_plans(["create_volume", "create_instance"]))
def test_buggy_boot_is_always_cleaned_up(plan):
    run = run_flow(buggy_boot_flow(Cloud()), plan=plan, store=STORE)
    if not run.succeeded:
        run.assert_compensated()
"""


class TestFaultPlansInUserTests:
    def test_property_over_run_flow_passes_without_health_check_errors(
        self, boot_example: pytest.Pytester
    ) -> None:
        """@given(plan=fault_plans(...)) with run_flow inside is a plain, passing property."""
        boot_example.makepyfile(test_boot=USER_TESTS)
        result = boot_example.runpytest("-k", "not buggy")
        result.assert_outcomes(passed=1, deselected=1)
        result.stdout.no_fnmatch_line("*HealthCheck*")

    def test_falsifying_example_is_a_plan_that_replays(self, boot_example: pytest.Pytester) -> None:
        """A leaking revert is reported by Hypothesis as plan=FaultPlan(...) code."""
        boot_example.makepyfile(test_boot=USER_TESTS)
        result = boot_example.runpytest("-k", "buggy")
        result.assert_outcomes(failed=1, deselected=1)
        # Older Hypothesis versions say "Falsifying example", newer ones "Failing test case".
        result.stdout.re_match_lines(
            [
                r".*(Falsifying example|Failing test case): "
                r"test_buggy_boot_is_always_cleaned_up\($",
                r".*    plan=FaultPlan\(Fault\.fail\('create_instance', times=1\)\),$",
                r".*\)$",
            ]
        )
        result.stdout.fnmatch_lines(
            ["E * flow 'buggy-boot' ended FAILURE and was not compensated:"]
        )


class TestFaultPlansBadInput:
    def test_a_string_instead_of_a_list(self) -> None:
        """A lone atom name is refused, with the list to write instead."""
        with pytest.raises(TypeError) as raised:
            fault_plans("create_instance")
        assert (
            "fault_plans() takes a flow or a list of atom names, got the string "
            "'create_instance'; write ['create_instance']"
        ) == str(raised.value)

    def test_names_that_are_not_strings(self) -> None:
        """Atom names must be strings."""
        with pytest.raises(TypeError) as raised:
            fault_plans(["a", 1])
        assert (
            "fault_plans() needs atom names (str) or task classes, got ['a', 1]"
            == str(raised.value)
        )

    def test_no_names(self) -> None:
        """An empty list of names gives nothing to put faults on."""
        with pytest.raises(ValueError) as raised:
            fault_plans([])
        assert "fault_plans() needs at least one task to put faults on" == str(raised.value)

    def test_a_flow_without_tasks(self) -> None:
        """An empty flow is refused like an empty list."""
        with pytest.raises(ValueError) as raised:
            fault_plans(linear_flow.Flow("empty"))
        assert "fault_plans() needs at least one task to put faults on" == str(raised.value)

    @pytest.mark.parametrize(
        ("kinds", "shown"),
        [
            (("sometimes",), "('sometimes',)"),
            (("transient", "flaky"), "('transient', 'flaky')"),
            ("transient", "'transient'"),
            ((), "()"),
        ],
    )
    def test_unknown_or_malformed_kinds(self, kinds: object, shown: str) -> None:
        """kinds must be a non-empty tuple of known kinds, not a bare string."""
        with pytest.raises(ValueError) as raised:
            fault_plans(["a"], kinds=kinds)  # type: ignore[arg-type]
        assert f"kinds={shown}: use a tuple of transient, permanent, revert" == str(raised.value)

    def test_min_faults_above_max_faults(self) -> None:
        """min_faults may not exceed max_faults."""
        with pytest.raises(ValueError) as raised:
            fault_plans(["a"], min_faults=3, max_faults=2)
        assert (
            "need 0 <= min_faults <= max_faults and max_times >= 1, got min_faults=3, "
            "max_faults=2, max_times=3"
        ) == str(raised.value)

    def test_max_times_zero(self) -> None:
        """A transient fault strikes at least once."""
        with pytest.raises(ValueError) as raised:
            fault_plans(["a"], max_times=0)
        assert "max_times=0: use a whole number >= 1" == str(raised.value)

    @pytest.mark.parametrize(
        ("argument", "value"),
        [("max_times", 1.5), ("max_times", True), ("max_times", "2"), ("min_faults", -1),
         ("max_faults", None)],
    )
    def test_counts_that_are_not_whole_numbers(self, argument: str, value: object) -> None:
        """Counts must be ints (bool refused): faults >= 0, times >= 1."""
        with pytest.raises(ValueError) as raised:
            fault_plans(["a"], **{argument: value})  # type: ignore[arg-type]
        least = 1 if argument == "max_times" else 0
        assert f"{argument}={value!r}: use a whole number >= {least}" == str(raised.value)
