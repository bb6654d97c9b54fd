"""Virtual time inside atoms: ``time.sleep`` returns at once and moves the run's clock on.

While a run with virtual time is going, the ``time`` module's ``sleep`` and clocks are
replaced by functions that ask where the calling thread is. Inside an atom of such a run
(:func:`in_atom`), ``sleep(s)`` returns at once and adds ``s`` to that run's
:class:`VirtualClock`, and ``monotonic``, ``time``, ``perf_counter`` (and their ``_ns``
forms) read the real clock plus the run's offset, so tenacity's ``stop_after_delay`` and
hand-written deadline loops end when they would in real time. Everywhere else (TaskFlow's
engine, pytest, other threads) they are the real functions.

Code that bound a function before the run (``from time import sleep``) keeps the real one,
and ``threading.Event.wait(timeout)`` / ``Condition.wait(timeout)`` wait for real: they
are waits for another thread, which virtual time cannot skip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The real functions, taken when this module is first imported.
real_sleep = time.sleep
real_monotonic = time.monotonic
real_perf_counter = time.perf_counter
_REAL = {
    name: getattr(time, name)
    for name in (
        "sleep", "monotonic", "monotonic_ns", "time", "time_ns", "perf_counter",
        "perf_counter_ns",
    )
}

SleepListener = Callable[[str, float], None]


class VirtualClock:
    """The time one run's atoms skipped: the sum of their sleeps, in seconds.

    Shared by all the run's threads: on the parallel engine, sleeps that would have
    overlapped in real time add up.
    """

    def __init__(self, on_sleep: SleepListener) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._on_sleep = on_sleep

    @property
    def offset(self) -> float:
        """Seconds skipped so far."""
        return self._offset

    def skip(self, atom: str, seconds: float) -> None:
        """A sleep of ``seconds`` by ``atom``: move the clock on, and tell the listener."""
        with self._lock:
            self._offset += seconds
        self._on_sleep(atom, seconds)


_where = threading.local()


@contextmanager
def in_atom(clock: VirtualClock | None, atom: str) -> Iterator[None]:
    """Run the block as inside ``atom`` of the run whose clock is ``clock`` (this thread
    only; nothing happens when ``clock`` is None)."""
    if clock is None:
        yield
        return
    previous = getattr(_where, "frame", None)
    _where.frame = (clock, atom)
    try:
        yield
    finally:
        _where.frame = previous


def _offset() -> float:
    frame = getattr(_where, "frame", None)
    return frame[0].offset if frame is not None else 0.0


def _sleep(seconds: float) -> None:
    frame = getattr(_where, "frame", None)
    if frame is None or not isinstance(seconds, (int, float)) or not seconds >= 0:
        # Outside atoms, or a value time.sleep refuses: the real one, and its own error.
        real_sleep(seconds)
        return
    clock, atom = frame
    clock.skip(atom, float(seconds))


def _seconds(name: str) -> Callable[[], float]:
    real = _REAL[name]
    return lambda: real() + _offset()


def _nanoseconds(name: str) -> Callable[[], int]:
    real = _REAL[name]
    return lambda: real() + int(_offset() * 1_000_000_000)


_VIRTUAL: dict[str, Callable[..., object]] = {
    "sleep": _sleep,
    "monotonic": _seconds("monotonic"),
    "time": _seconds("time"),
    "perf_counter": _seconds("perf_counter"),
    "monotonic_ns": _nanoseconds("monotonic_ns"),
    "time_ns": _nanoseconds("time_ns"),
    "perf_counter_ns": _nanoseconds("perf_counter_ns"),
}
for _name, _function in _VIRTUAL.items():
    _function.__name__ = _function.__qualname__ = _name
    _function.__doc__ = _REAL[_name].__doc__

_users = 0
_users_lock = threading.Lock()


@contextmanager
def installed() -> Iterator[None]:
    """Put the virtual ``time`` functions in place for as long as the block lasts.

    Blocks may nest and overlap across threads: the real functions come back when the
    last one ends, also on errors and interrupts.
    """
    global _users
    with _users_lock:
        if _users == 0:
            for name, function in _VIRTUAL.items():
                setattr(time, name, function)
        _users += 1
    try:
        yield
    finally:
        with _users_lock:
            _users -= 1
            if _users == 0:
                for name, function in _REAL.items():
                    setattr(time, name, function)
