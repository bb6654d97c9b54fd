"""The injector: every fault kind fires from it, and leaving it leaves no trace."""

from __future__ import annotations

from typing import Any

import pytest
import taskflow.engines
from flowkit import Log, Step
from taskflow.patterns import linear_flow

from pytest_flowfault import Fault, FaultPlan, FlowCrash, InjectedFault
from pytest_flowfault.errors import AtomInUse
from pytest_flowfault.inject import Injector
from pytest_flowfault.recorder import Recorder


def compiled(log: Log) -> tuple[Any, list[tuple[Any, str]]]:
    engine = taskflow.engines.load(
        linear_flow.Flow("f").add(Step("a", log, provides="a"), Step("b", log, provides="b"))
    )
    engine.compile()
    graph = engine.compilation.execution_graph
    return engine, [(node, data["kind"]) for node, data in graph.nodes(data=True)
                    if data["kind"] in ("task", "retry")]


class TestInjector:
    def test_a_fail_fault_raises_from_the_atoms_execute(self, log: Log) -> None:
        engine, atoms = compiled(log)
        with Injector(engine, atoms, FaultPlan(Fault.fail("a", times=1)), Recorder()):
            a = dict(atoms)
            first = next(atom for atom in a if atom.name == "a")
            with pytest.raises(InjectedFault) as fired:
                first.execute()
            assert "a" == first.execute()
        assert "flowfault injected a fault into 'a' (execute attempt 1)" == str(fired.value)
        assert [("a", "execute")] == log.entries

    def test_leaving_restores_every_atom_exactly(self, log: Log) -> None:
        engine, atoms = compiled(log)
        before = [dict(vars(atom)) for atom, _ in atoms]
        with Injector(engine, atoms, FaultPlan(Fault.fail("*")), Recorder()):
            assert all("execute" in vars(atom) for atom, _ in atoms)
        assert before == [dict(vars(atom)) for atom, _ in atoms]

    def test_an_atom_two_engines_share_is_refused(self, log: Log) -> None:
        engine, atoms = compiled(log)
        with Injector(engine, atoms, FaultPlan(), Recorder()):
            with pytest.raises(AtomInUse, match="'a' is already being run by another engine"):
                Injector(engine, atoms, FaultPlan(), Recorder()).__enter__()
        assert all("execute" not in vars(atom) for atom, _ in atoms)

    def test_crash_after_listens_only_while_in_force(self, log: Log) -> None:
        """The listener fires on the engine's own notification, and is gone afterwards."""
        engine, atoms = compiled(log)
        recorder = Recorder()
        with Injector(engine, atoms, FaultPlan(Fault.crash_after("a")), recorder):
            with pytest.raises(FlowCrash, match="crashed the engine after 'a'"):
                engine.atom_notifier.notify("SUCCESS", {"task_name": "a"})
            engine.atom_notifier.notify("SUCCESS", {"task_name": "b"})  # not a target
        engine.atom_notifier.notify("SUCCESS", {"task_name": "a"})  # no longer in force
        assert [("task", "a", "CRASH")] == [
            (event.kind, event.name, event.what) for event in recorder.finish(
                flow_name="f", engine="serial", state="CRASHED", error=None, results={},
                plan=FaultPlan(), atoms=(), dependencies=(),
            ).events
        ]
