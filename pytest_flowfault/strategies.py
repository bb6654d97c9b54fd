"""Hypothesis strategies for fault plans.

>>> from hypothesis import given
>>> from pytest_flowfault import run_flow
>>> from pytest_flowfault.strategies import fault_plans
>>> @given(plan=fault_plans(["create_volume", "create_instance", "attach"]))  # doctest: +SKIP
... def test_boot_is_always_cleaned_up(plan):
...     run = run_flow(boot_flow(), plan=plan, store=STORE)
...     if not run.succeeded:
...         run.assert_compensated()

Use :func:`pytest_flowfault.run_flow` inside ``@given``, not the ``flowfault`` fixture: a
function-scoped fixture would be shared by every example (Hypothesis refuses that).
A failing example is printed as ``plan=FaultPlan(...)``, code that replays it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from pytest_flowfault.arguments import FLOW_CLASSES, call, flow_problem
from pytest_flowfault.catalog import PLAN_SWEEP_KINDS
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.targets import Target, is_atom_class


def fault_plans(
    flow_or_atom_names: Any,
    *,
    min_faults: int = 1,
    max_faults: int = 2,
    kinds: Iterable[str] = PLAN_SWEEP_KINDS,
    max_times: int = 3,
) -> st.SearchStrategy[FaultPlan]:
    """Fault plans over the tasks of a flow (or over the given targets: atom names,
    patterns, or task classes, each of whose instances a fault then hits).

    ``transient`` faults fail the first 1 to ``max_times`` attempts, ``permanent`` ones
    every attempt, ``revert`` ones the revert. Plans shrink toward fewer faults, smaller
    ``times`` and earlier kinds in ``kinds``.
    """
    names = _names(flow_or_atom_names)
    if isinstance(kinds, str) or not isinstance(kinds, Iterable):
        raise ValueError(f"kinds={kinds!r}: use a tuple of {', '.join(PLAN_SWEEP_KINDS)}")
    chosen = tuple(kinds)
    if not chosen or any(kind not in PLAN_SWEEP_KINDS for kind in chosen):
        raise ValueError(f"kinds={kinds!r}: use a tuple of {', '.join(PLAN_SWEEP_KINDS)}")
    for argument, value, least in (
        ("min_faults", min_faults, 0), ("max_faults", max_faults, 0), ("max_times", max_times, 1)
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{argument}={value!r}: use a whole number >= {least}")
    if max_faults < min_faults or max_times < 1:
        raise ValueError(
            f"need 0 <= min_faults <= max_faults and max_times >= 1, got min_faults="
            f"{min_faults}, max_faults={max_faults}, max_times={max_times}"
        )
    # Plans hold distinct faults: a transient fault per times, one permanent, one revert.
    per_task = {"transient": max_times, "permanent": 1, "revert": 1}
    most = len(set(names)) * sum(per_task[kind] for kind in set(chosen))
    if min_faults > most:
        raise ValueError(
            f"fault_plans(min_faults={min_faults}): only {most} distinct faults exist over "
            f"{len(set(names))} task{'' if len(set(names)) == 1 else 's'} with kinds="
            f"{chosen!r} and max_times={max_times}; use min_faults <= {most}"
        )
    # Every fault draws a kind, a target and a times, used or not: then each shrinks on its
    # own, toward the first kind, the first name and times=1.
    faults = st.builds(_fault, st.sampled_from(chosen), st.sampled_from(names),
                       st.integers(1, max_times))
    return st.lists(faults, min_size=min_faults, max_size=max_faults, unique=True).map(
        lambda chosen_faults: FaultPlan(*chosen_faults)
    )


def _fault(kind: str, name: Target, times: int) -> Fault:
    if kind == "transient":
        return Fault.fail(name, times=times)
    if kind == "permanent":
        return Fault.fail(name)
    return Fault.fail_revert(name)


def _names(flow_or_atom_names: Any) -> list[Target]:
    if isinstance(flow_or_atom_names, str):
        raise TypeError(
            f"fault_plans() takes a flow or a list of atom names, got the string "
            f"{flow_or_atom_names!r}; write [{flow_or_atom_names!r}]"
        )
    from pytest_flowfault.engine import task_names  # imports taskflow, warning filtered

    names: list[Target]
    if flow_problem(flow_or_atom_names) is None:
        names = list(task_names(flow_or_atom_names))
    elif not isinstance(flow_or_atom_names, Iterable):
        raise TypeError(
            f"{call('fault_plans()', 'flow_or_atom_names', flow_or_atom_names)}: give a "
            f"TaskFlow flow ({FLOW_CLASSES}), a task, or a list of task names, not "
            f"{type(flow_or_atom_names).__name__}"
        )
    else:
        names = list(flow_or_atom_names)
        if not all(isinstance(name, str) or is_atom_class(name) for name in names):
            raise TypeError(
                f"fault_plans() needs atom names (str) or task classes, got {names!r}"
            )
    if not names:
        raise ValueError("fault_plans() needs at least one task to put faults on")
    return names
