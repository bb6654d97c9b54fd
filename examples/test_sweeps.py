"""Every single fault the boot flows can meet, explored: the plugin's sweeps.

Run with ``python -m pytest examples/``.
"""

from __future__ import annotations

from typing import Any

import pytest
from boot import (
    STORE,
    Cloud,
    boot_flow,
    boot_graph_flow,
    boot_with_network_flow,
    buggy_boot_flow,
)
from taskflow.retry import Times

from pytest_flowfault import FlowFault, FlowRun


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_boot_survives_every_single_fault(flowfault: FlowFault, engine: str) -> None:
    """With Times(3) every transient fault is retried away and every permanent one undone."""
    report = flowfault.sweep(
        lambda: boot_graph_flow(Cloud(), retry=Times(3)), store=STORE, engine=engine
    )
    report.assert_resilient()
    assert 7 == report.runs  # baseline + 3 tasks x (transient, permanent)


def test_boot_survives_every_pair_of_faults(flowfault: FlowFault) -> None:
    """Two faults at once, pruned to the pairs where both can still strike."""
    clouds: list[Cloud] = []

    def make_flow() -> Any:
        clouds.append(Cloud())
        return boot_flow(clouds[-1], retry=Times(5))

    def nothing_left_behind(run: FlowRun) -> None:
        if not run.succeeded:
            assert [] == clouds[-1].leftovers()

    report = flowfault.sweep(make_flow, store=STORE, max_faults=2, check=nothing_left_behind)
    report.assert_resilient()
    assert report.runs < report.naive  # pruning saved runs


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="real bug: the buggy revert crashes when create_instance fails permanently, and "
    "the volume is never reverted; the sweep finds the one fault that exposes it",
)
def test_sweep_finds_the_buggy_revert(flowfault: FlowFault) -> None:
    flowfault.sweep(lambda: buggy_boot_flow(Cloud()), store=STORE).assert_resilient()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="real bug: ReserveIp has no revert, so a failure after it leaks the address; "
    "TaskFlow calls that 'reverted', strict compensation does not",
)
def test_strict_sweep_finds_the_forgotten_revert(flowfault: FlowFault) -> None:
    report = flowfault.sweep(lambda: boot_with_network_flow(Cloud()), store=STORE, strict=True)
    report.assert_resilient()
