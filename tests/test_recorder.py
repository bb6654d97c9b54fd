"""The recorder: the engine's write side, safe from many threads at once."""

from __future__ import annotations

import threading

from pytest_flowfault import FaultPlan
from pytest_flowfault.recorder import Recorder
from pytest_flowfault.run import AtomInfo, FlowRun

THREADS, EVENTS = 8, 250


def finish(recorder: Recorder, state: str = "SUCCESS") -> FlowRun:
    """Freeze ``recorder`` into a run of flow ``f`` with one task ``a``."""
    return recorder.finish(
        flow_name="f", engine="serial", state=state, error=None, results={"a": 1},
        plan=FaultPlan(), atoms=(AtomInfo("a", "task", True),), dependencies=(),
    )


def hammer(recorder: Recorder) -> None:
    """THREADS threads, released together, each adding EVENTS execute events of its own atom."""
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> None:
        barrier.wait()
        for attempt in range(1, EVENTS + 1):
            recorder.add("execute", f"t{n}", "start", attempt=attempt)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class TestAdd:
    def test_many_threads_lose_and_duplicate_nothing(self) -> None:
        """Every event of every thread is recorded once, numbered 0..N-1 in list order."""
        recorder = Recorder()
        hammer(recorder)
        run = finish(recorder)
        assert list(range(THREADS * EVENTS)) == [event.seq for event in run.events]

    def test_each_thread_keeps_its_own_order(self) -> None:
        """Within one thread, events keep the order they were added in (a total order)."""
        recorder = Recorder()
        hammer(recorder)
        run = finish(recorder)
        expected = {f"t{n}": list(range(1, EVENTS + 1)) for n in range(THREADS)}
        actual: dict[str, list[int | None]] = {}
        for event in run.events:
            actual.setdefault(event.name, []).append(event.attempt)
        assert expected == actual

    def test_times_never_go_backwards(self) -> None:
        """Sequence order and time order agree: ``at`` is taken under the same lock."""
        recorder = Recorder()
        hammer(recorder)
        times = [event.at for event in finish(recorder).events]
        assert sorted(times) == times


class TestCount:
    def test_counts_per_kind_atom_and_what(self) -> None:
        """count() sees what every thread added, and only the matching events."""
        recorder = Recorder()
        hammer(recorder)
        recorder.add("execute", "t0", "ok", attempt=1)
        assert (EVENTS, 1, 0) == (
            recorder.count("execute", "t0", "start"),
            recorder.count("execute", "t0", "ok"),
            recorder.count("revert", "t0", "start"),
        )


class TestNotifierCallbacks:
    def test_flow_and_atom_states_become_events(self) -> None:
        """State notifications are flow/task/retry events with their old state and error."""
        recorder = Recorder()
        error = ValueError("x")

        class Failure:
            exception = error

        recorder.on_flow_state("RUNNING", {"flow_name": "f", "old_state": "PENDING"})
        recorder.on_atom_state("FAILURE", {"task_name": "a", "old_state": "RUNNING",
                                           "result": Failure()})
        recorder.on_atom_state("RETRYING", {"retry_name": "r", "old_state": "RUNNING"})
        recorder.on_sleep("a", 2.5)
        events = finish(recorder, "FAILURE").events
        assert [
            ("flow", "f", "RUNNING", "PENDING", None, None),
            ("task", "a", "FAILURE", "RUNNING", error, None),
            ("retry", "r", "RETRYING", "RUNNING", None, None),
            ("sleep", "a", "skipped", None, None, 2.5),
        ] == [(e.kind, e.name, e.what, e.old_state, e.error, e.seconds) for e in events]
        assert recorder.started

    def test_a_broken_notification_is_kept_as_a_recorder_error(self) -> None:
        """TaskFlow would only log a callback's exception; the recorder keeps it on the run."""
        recorder = Recorder()
        recorder.on_flow_state("RUNNING", {})
        recorder.on_atom_state("RUNNING", {})
        run = finish(recorder)
        assert ((), ("flow state RUNNING: KeyError('flow_name')",
                     "atom state RUNNING: KeyError('task_name')")) == (
            run.events, run.recorder_errors
        )


class TestFinish:
    def test_the_run_is_a_snapshot(self) -> None:
        """Events added after finish() do not reach the run; its mappings are read-only."""
        recorder = Recorder()
        recorder.add("flow", "f", "RUNNING")
        run = finish(recorder)
        recorder.add("flow", "f", "SUCCESS")
        assert (1, "mappingproxy") == (len(run.events), type(run.results).__name__)
