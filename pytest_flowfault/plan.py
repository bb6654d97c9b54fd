"""Fault plans: immutable, validated values that say what to make go wrong, and where.

A :class:`Fault` is a pure function of (flow name, atom name, attempt number): it never
looks at clocks, threads or global state, so the same plan injects the same faults on the
serial and the parallel engine. Even chaos is drawn from a hash of those and a seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_flowfault.errors import FlowCrash, InvalidFaultPlan
from pytest_flowfault.targets import (
    Atoms,
    Target,
    class_path,
    is_atom_class,
    target_matches,
    unmatched_faults,
)
from pytest_flowfault.values import (
    Action,
    ExceptionSpec,
    check_exception,
    instantiate,
    is_exception_spec,
    runs_real_code,
    source_of,
    value_key,
)

FaultKind = Literal[
    "fail", "fail_revert", "side_effect", "chaos", "chaos_revert", "crash_after", "crash_during"
]

_KINDS: tuple[FaultKind, ...] = (
    "fail", "fail_revert", "side_effect", "chaos", "chaos_revert", "crash_after", "crash_during"
)
_REVERT_KINDS = ("fail_revert", "chaos_revert")


@dataclass(frozen=True)
class Injection:
    """What a fault does to one attempt: raise ``error``, or return ``value`` instead."""

    fault: Fault
    error: BaseException | None = None
    value: object = None


@dataclass(frozen=True, eq=False, repr=False)
class Fault:
    """One thing to make go wrong in the atoms that ``target`` names: an atom name, an
    ``fnmatch`` pattern, or an atom class (every instance of it, subclasses included).

    Build faults with the constructors, which validate their arguments:

    >>> Fault.fail("create_instance", times=2)
    Fault.fail('create_instance', times=2)
    >>> Fault.fail(CertComputeCreate)                       # doctest: +SKIP
    Fault.fail(octavia.controller.worker.v2.tasks.compute_tasks.CertComputeCreate)
    >>> Fault.side_effect("attach", [RuntimeError("x"), mock.DEFAULT])
    Fault.side_effect('attach', [RuntimeError('x'), mock.DEFAULT])
    """

    kind: FaultKind
    target: Target
    times: int | None = None
    exc: ExceptionSpec | None = None
    effects: tuple[object, ...] = ()
    rate: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InvalidFaultPlan(
                f"unknown fault kind {self.kind!r}; use one of {', '.join(_KINDS)}"
            )
        _check_target(self.target)
        _check_times(self.times)
        if self.exc is not None:
            check_exception(self.exc, "exc")
        for effect in self.effects:
            if isinstance(effect, BaseException) or (
                isinstance(effect, type) and issubclass(effect, BaseException)
            ):
                check_exception(effect, "a side_effect item")
        if self.kind in ("chaos", "chaos_revert"):
            check_rate(self.rate)
            if isinstance(self.seed, bool) or not isinstance(self.seed, int):
                raise InvalidFaultPlan(f"a chaos seed must be an integer, got {self.seed!r}")

    @classmethod
    def fail(
        cls, target: Target, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """``execute`` raises on the first ``times`` attempts of each run (always if None).

        ``exc`` is an exception class or instance; the default is :class:`InjectedFault`.
        """
        return cls("fail", target, times, exc)

    @classmethod
    def fail_revert(
        cls, target: Target, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """``revert`` raises on the first ``times`` reverts of each run (always if None)."""
        return cls("fail_revert", target, times, exc)

    @classmethod
    def side_effect(
        cls, target: Target, effects: Iterable[object] | ExceptionSpec
    ) -> Fault:
        """Decide each ``execute`` attempt from a mock-style ``side_effect``.

        Item *n* of ``effects`` decides attempt *n*: an exception class or instance is
        raised, ``mock.DEFAULT`` runs the real code, any other value is returned as the
        task's result without running it; attempts past the end run the real code.
        A single exception (not in a sequence) is raised on every attempt, as in mock.
        """
        if is_exception_spec(effects):
            return cls("fail", target, None, effects)  # type: ignore[arg-type]
        if isinstance(effects, BaseException) or (
            isinstance(effects, type) and issubclass(effects, BaseException)
        ):
            check_exception(effects, "side_effect")  # refuses it, saying why
        if isinstance(effects, (str, bytes)) or not isinstance(effects, Iterable):
            raise InvalidFaultPlan(
                f"side_effect for {source_of(target)} must be a sequence of outcomes (exceptions, "
                f"return values or mock.DEFAULT) or one exception, got {effects!r}"
            )
        return cls("side_effect", target, effects=tuple(effects))

    @classmethod
    def chaos(
        cls, target: Target = "*", *, rate: float, seed: int, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Each ``execute`` attempt fails with probability ``rate``, drawn from ``seed``.

        The draw depends only on (seed, flow name, atom name, attempt): the same seed fails
        the same attempts on every engine and every machine.
        """
        return cls("chaos", target, exc=exc, rate=rate, seed=seed)

    @classmethod
    def chaos_revert(
        cls, target: Target = "*", *, rate: float, seed: int, exc: ExceptionSpec | None = None
    ) -> Fault:
        """Each ``revert`` fails with probability ``rate``, drawn from ``seed``."""
        return cls("chaos_revert", target, exc=exc, rate=rate, seed=seed)

    @classmethod
    def crash_after(cls, target: Target) -> Fault:
        """The engine dies right after the task completed and its result was saved."""
        return cls("crash_after", target)

    @classmethod
    def crash_during(cls, target: Target) -> Fault:
        """The engine dies inside the task's ``execute``, before its code runs."""
        return cls("crash_during", target)

    @property
    def is_crash(self) -> bool:
        """Whether this fault kills the engine (``crash_after`` / ``crash_during``)."""
        return self.kind in ("crash_after", "crash_during")

    @property
    def action(self) -> Action:
        """The atom method this fault acts on."""
        return "revert" if self.kind in _REVERT_KINDS else "execute"

    def matches(self, atom_name: str, kind: str = "task", atom_class: type | None = None) -> bool:
        """Whether this fault applies to the atom called ``atom_name`` of ``kind`` (an
        instance of ``atom_class``, which a class target needs to match)."""
        return target_matches(self.target, atom_name, kind, atom_class)

    def injection(self, atom_name: str, attempt: int, flow_name: str = "") -> Injection | None:
        """What this fault does to ``attempt`` (1-based) of its action, or None.

        ``crash_after`` never acts on a call: the engine fires it when the task succeeds.
        """
        if self.kind == "crash_after":
            return None
        if self.kind == "crash_during":
            return Injection(self, error=FlowCrash(atom_name, "during"))
        if self.kind in ("chaos", "chaos_revert"):
            assert self.rate is not None and self.seed is not None
            draw = _uniform(self.seed, flow_name, atom_name, self.action, attempt)
            if draw >= self.rate:
                return None
            return Injection(self, error=instantiate(self.exc, atom_name, self.action, attempt))
        if self.kind == "side_effect":
            if attempt > len(self.effects):
                return None
            effect = self.effects[attempt - 1]
            if runs_real_code(effect):
                return None
            if is_exception_spec(effect):
                error = instantiate(effect, atom_name, self.action, attempt)  # type: ignore[arg-type]
                return Injection(self, error=error)
            return Injection(self, value=effect)
        if self.times is not None and attempt > self.times:
            return None
        return Injection(self, error=instantiate(self.exc, atom_name, self.action, attempt))

    def _key(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.target,
            self.times,
            value_key(self.exc),
            tuple(value_key(effect) for effect in self.effects),
            self.rate,
            self.seed,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fault):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == "side_effect":
            effects = ", ".join(source_of(effect) for effect in self.effects)
            return f"Fault.side_effect({source_of(self.target)}, [{effects}])"
        arguments = [source_of(self.target)]
        if self.rate is not None:
            arguments += [f"rate={self.rate!r}", f"seed={self.seed!r}"]
        if self.times is not None:
            arguments.append(f"times={self.times}")
        if self.exc is not None:
            arguments.append(f"exc={source_of(self.exc)}")
        return f"Fault.{self.kind}({', '.join(arguments)})"


class FaultPlan:
    """An immutable, ordered set of faults; its ``repr`` is code that rebuilds it.

    >>> plan = FaultPlan(Fault.fail("create_instance", times=2))
    >>> plan + FaultPlan(Fault.fail_revert("create_volume"))
    FaultPlan(Fault.fail('create_instance', times=2), Fault.fail_revert('create_volume'))

    When several faults act on the same attempt, the first one in the plan wins.
    """

    __slots__ = ("_faults",)

    def __init__(self, *faults: Fault) -> None:
        for position, fault in enumerate(faults, start=1):
            if not isinstance(fault, Fault):
                raise InvalidFaultPlan(
                    f"FaultPlan takes Fault values, but argument {position} is "
                    f"{fault!r}; build one with Fault.fail(...), Fault.fail_revert(...) "
                    f"or Fault.side_effect(...)"
                )
        self._faults: tuple[Fault, ...] = faults

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults, in the order they were added."""
        return self._faults

    def for_atom(
        self, atom_name: str, action: Action, kind: str = "task", atom_class: type | None = None
    ) -> tuple[Fault, ...]:
        """The faults acting on ``action`` of the atom called ``atom_name`` (of class
        ``atom_class``)."""
        return tuple(
            fault
            for fault in self._faults
            if fault.action == action and fault.matches(atom_name, kind, atom_class)
        )

    def unmatched(
        self, atoms: Atoms, classes: Mapping[str, type] | None = None
    ) -> tuple[Fault, ...]:
        """The faults that name none of ``atoms`` (names, or names mapped to kinds), whose
        classes ``classes`` maps them to (atom name -> class)."""
        return unmatched_faults(self._faults, atoms, classes)

    def __add__(self, other: object) -> FaultPlan:
        if isinstance(other, FaultPlan):
            return FaultPlan(*self._faults, *other._faults)
        if isinstance(other, Fault):
            return FaultPlan(*self._faults, other)
        return NotImplemented

    def __iter__(self) -> Iterator[Fault]:
        return iter(self._faults)

    def __len__(self) -> int:
        return len(self._faults)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaultPlan):
            return NotImplemented
        return self._faults == other._faults

    def __hash__(self) -> int:
        return hash(self._faults)

    def __repr__(self) -> str:
        return f"FaultPlan({', '.join(map(repr, self._faults))})"


def crash_point(
    after: Target | None,
    during: Target | None,
    api: str,
    *,
    keywords: tuple[str, str] = ("crash_after", "crash_during"),
) -> Fault:
    """The one crash fault ``after``/``during`` ask for; ``api`` (and the names of its two
    keywords) say who asked, for the error when both or neither is given."""
    if during is None and after is not None:
        return Fault.crash_after(after)
    if after is None and during is not None:
        return Fault.crash_during(during)
    raise TypeError(f"{api} takes exactly one of {keywords[0]}= or {keywords[1]}=")


def _check_target(target: object) -> None:
    if isinstance(target, type):
        if not is_atom_class(target):
            raise InvalidFaultPlan(
                f"a fault target class must be a TaskFlow atom class (a Task or Retry "
                f"subclass), got the class {class_path(target)}"
            )
        return
    if not isinstance(target, str):
        name = getattr(target, "name", None) if is_atom_class(type(target)) else None
        hint = ""
        if isinstance(name, str):  # an atom object where its name or class belongs
            hint = (
                f"; this is the atom {name!r} itself: name it, {name!r}, or give its class, "
                f"{type(target).__name__}"
            )
        raise InvalidFaultPlan(
            f"a fault target must be an atom name, an fnmatch pattern (str) or a TaskFlow "
            f"atom class, got {type(target).__name__} {target!r}{hint}"
        )
    if not target.strip():
        raise InvalidFaultPlan(
            "a fault target must not be empty; name an atom, e.g. 'create_instance', "
            "or use '*' for every atom"
        )


def check_rate(rate: object, where: str = "") -> None:
    """Raise :class:`InvalidFaultPlan` unless ``rate`` is a probability; ``where``
    (``"flowfault.chaos(revert_rate=2)"``) starts the message."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise InvalidFaultPlan(
            f"{where}{': ' if where else ''}a chaos rate is a probability from 0 to 1, "
            f"e.g. 0.2, got {rate!r}"
        )


def _uniform(seed: int, flow_name: str, atom_name: str, action: str, attempt: int) -> float:
    """A number in [0, 1) that depends only on its arguments (not on Python's hash seed)."""
    key = f"{seed}\0{flow_name}\0{atom_name}\0{action}\0{attempt}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64


def _check_times(times: object) -> None:
    if times is None:
        return
    if isinstance(times, bool) or not isinstance(times, int):
        raise InvalidFaultPlan(
            f"times must be a whole number of attempts (or None for every attempt), "
            f"got {type(times).__name__} {times!r}"
        )
    if times < 1:
        raise InvalidFaultPlan(
            f"times must be at least 1 (or None for every attempt), got {times}"
        )


