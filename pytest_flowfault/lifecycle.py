"""A test's fault session: its ``FlowFault``, with every fault that the command line, the
ini file, the marker, a sweep variant and a replay put in force for it.

Imported by the plugin only once a test needs a session (it imports TaskFlow).
"""

from __future__ import annotations

import zlib

import pytest

from pytest_flowfault import marker
from pytest_flowfault.errors import InvalidMarker
from pytest_flowfault.fixture import FlowFault
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.session import Session
from pytest_flowfault.settings import Settings


def seed_of_test(base: int, nodeid: str) -> int:
    """A test's chaos seed: the session's, plus the CRC32 of the test's node id."""
    return base + zlib.crc32(nodeid.encode())


def start_fixture(item: pytest.Item, settings: Settings, variant: FaultPlan | None) -> FlowFault:
    """``item``'s fixture and session, every fault in force (not intercepting yet); a
    malformed marker fails the test's setup, naming the test."""
    try:
        spec = marker.marker_spec(item.iter_markers("flowfault"))
    except InvalidMarker as problem:
        pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)
    if spec.engines and "flowfault_engine" not in getattr(item, "fixturenames", ()):
        pytest.fail(
            f"{item.nodeid}: @pytest.mark.flowfault(engines=...) needs the test to use the "
            f"flowfault fixture: flowfault.run() is what runs on each engine",
            pytrace=False,
        )
    hook = item.config.hook
    session = Session(
        fast_parallel=settings.fast_parallel,
        virtual_time=settings.virtual_time if spec.virtual_time is None else spec.virtual_time,
        on_injected=lambda run, fault, atom, action, attempt: (
            hook.pytest_flowfault_fault_injected(
                run=run, fault=fault, atom=atom, attempt=attempt, action=action
            )
        ),
        on_finished=lambda run: hook.pytest_flowfault_run_finished(run=run, item=item),
        nothing_to_undo=settings.nothing_to_undo,
    )
    fixture = FlowFault(session, seed=seed_of_test(settings.seed, item.nodeid))
    if not spec.off:
        for fault, origin in settings.faults:
            fixture.put_in_force(fault, origin, expect_match=False)
        if settings.chaos:
            chaos = Fault.chaos("*", rate=settings.chaos, seed=fixture.seed)
            fixture.put_in_force(chaos, "--flowfault-chaos", expect_match=False)
    for fault in spec.faults:
        fixture.put_in_force(fault, "@pytest.mark.flowfault")
    for plan, origin in (
        (variant, "--flowfault-sweep"),
        (settings.replay_for(item.nodeid), "--flowfault-replay"),
    ):
        for fault in plan or ():
            fixture.put_in_force(fault, origin, expect_match=False)
    if spec.chaos:
        chaos = Fault.chaos("*", rate=spec.chaos, seed=fixture.seed)
        fixture.put_in_force(chaos, "@pytest.mark.flowfault(chaos=...)")
    return fixture
