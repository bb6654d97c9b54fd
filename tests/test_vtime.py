"""Virtual time: sleeps inside atoms return at once and move the run's clock; nothing else."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_flowfault import vtime

DAY = 86_400.0


def skipped_log() -> tuple[list[tuple[str, float]], vtime.VirtualClock]:
    log: list[tuple[str, float]] = []
    return log, vtime.VirtualClock(lambda atom, seconds: log.append((atom, seconds)))


class TestInsideAnAtom:
    def test_a_day_long_sleep_returns_and_moves_every_clock_on(self) -> None:
        """A real sleep of a day would hang the test: returning is the proof."""
        log, clock = skipped_log()
        with vtime.installed(), vtime.in_atom(clock, "compute-wait"):
            before = (time.monotonic(), time.time(), time.perf_counter(), time.monotonic_ns())
            time.sleep(DAY)
            time.sleep(1)
            after = (time.monotonic(), time.time(), time.perf_counter(), time.monotonic_ns())
        assert [("compute-wait", DAY), ("compute-wait", 1.0)] == log
        assert DAY + 1 == clock.offset
        for start, end in zip(before[:3], after[:3]):
            assert DAY + 1 <= end - start < DAY + 60
        assert (DAY + 1) * 1e9 <= after[3] - before[3]

    def test_a_deadline_loop_ends_when_it_would_in_real_time(self) -> None:
        """The shape of tenacity's stop_after_delay: poll every 5 s for at most 30 s."""
        log, clock = skipped_log()
        with vtime.installed(), vtime.in_atom(clock, "poll"):
            deadline = time.monotonic() + 30
            polls = 0
            while time.monotonic() < deadline:
                polls += 1
                time.sleep(5)
        assert 6 == polls
        assert [5.0] * 6 == [seconds for _, seconds in log]

    @pytest.mark.parametrize(("value", "error"), [(-1, ValueError), ("5", TypeError)])
    def test_values_time_sleep_refuses_raise_its_own_error(
        self, value: object, error: type[Exception]
    ) -> None:
        _, clock = skipped_log()
        with vtime.installed(), vtime.in_atom(clock, "a"):
            with pytest.raises(error):
                time.sleep(value)  # type: ignore[arg-type]
        assert 0 == clock.offset


class TestOutsideAtoms:
    def test_other_threads_see_real_time_while_an_atom_sleeps(self) -> None:
        _, clock = skipped_log()
        seen: list[float] = []
        inside_done = threading.Event()

        def outside() -> None:
            inside_done.wait(timeout=60)
            seen.append(time.monotonic() - vtime.real_monotonic())

        with vtime.installed():
            other = threading.Thread(target=outside)
            other.start()
            with vtime.in_atom(clock, "a"):
                time.sleep(DAY)
                inside = time.monotonic() - vtime.real_monotonic()
            inside_done.set()
            other.join()
            after = time.monotonic() - vtime.real_monotonic()
        assert DAY - 1 < inside < DAY + 60
        assert [0.0] == [round(value) for value in seen]
        assert 0 == round(after)

    def test_the_real_functions_come_back_when_the_last_user_ends(self) -> None:
        real = time.sleep, time.monotonic, time.perf_counter_ns
        with vtime.installed():
            with vtime.installed():
                assert time.sleep is not real[0]
            assert time.sleep is not real[0]
        assert real == (time.sleep, time.monotonic, time.perf_counter_ns)

    def test_restored_after_an_interrupt(self) -> None:
        real = time.sleep
        with pytest.raises(KeyboardInterrupt):
            with vtime.installed():
                raise KeyboardInterrupt
        assert real is time.sleep

    def test_nested_atoms_restore_the_outer_one(self) -> None:
        log_outer, outer = skipped_log()
        log_inner, inner = skipped_log()
        with vtime.installed(), vtime.in_atom(outer, "outer"):
            with vtime.in_atom(inner, "inner"):
                time.sleep(2)
            time.sleep(3)
        assert ([("outer", 3.0)], [("inner", 2.0)]) == (log_outer, log_inner)

    def test_the_virtual_functions_look_like_the_real_ones(self) -> None:
        with vtime.installed():
            assert ("sleep", time.sleep.__doc__) == (time.sleep.__name__, vtime.real_sleep.__doc__)
