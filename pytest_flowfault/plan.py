"""Fault plans: immutable, validated values that say what to make go wrong, and where.

A :class:`Fault` is a pure function of (atom name, attempt number): it never looks at
clocks, threads or global state, so the same plan injects the same faults on the
serial and the parallel engine.
"""

from __future__ import annotations

import builtins
import copy
import difflib
import fnmatch
import math
import unittest.mock
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Union

import mock

from pytest_flowfault.errors import InjectedFault, InvalidFaultPlan

FaultKind = Literal["fail", "fail_revert", "side_effect"]
Action = Literal["execute", "revert"]
ExceptionSpec = Union[type[Exception], Exception]

#: Both sentinels mean "run the real code" in a side-effect sequence, as they do in mock.
RUN_REAL_CODE = (unittest.mock.DEFAULT, mock.DEFAULT)

_KINDS: tuple[FaultKind, ...] = ("fail", "fail_revert", "side_effect")


def target_matches(target: str, atom_name: str) -> bool:
    """Whether ``target`` names ``atom_name``.

    A target matches the full name, or the last dotted component of it (``FunctorTask``
    names are ``module.function``); it may be an ``fnmatch`` pattern.

    >>> target_matches("create_*", "boot.create_instance")
    True
    """
    short_name = atom_name.rpartition(".")[2]
    return (
        target == atom_name
        or target == short_name
        or fnmatch.fnmatchcase(atom_name, target)
        or fnmatch.fnmatchcase(short_name, target)
    )


def closest_name(wanted: str, names: Iterable[str]) -> str | None:
    """The atom name most like ``wanted`` (comparing short names too), if any is close."""
    candidates: dict[str, str] = {}
    for name in names:
        candidates.setdefault(name, name)
        candidates.setdefault(name.rpartition(".")[2], name)
    close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
    return candidates[close[0]] if close else None


@dataclass(frozen=True)
class Injection:
    """What a fault does to one attempt: raise ``error``, or return ``value`` instead."""

    fault: Fault
    error: Exception | None = None
    value: object = None


@dataclass(frozen=True, eq=False, repr=False)
class Fault:
    """One thing to make go wrong in the atoms that ``target`` names.

    Build faults with the constructors, which validate their arguments:

    >>> Fault.fail("create_instance", times=2)
    Fault.fail('create_instance', times=2)
    >>> Fault.side_effect("attach", [RuntimeError("x"), mock.DEFAULT])
    Fault.side_effect('attach', [RuntimeError('x'), mock.DEFAULT])
    """

    kind: FaultKind
    target: str
    times: int | None = None
    exc: ExceptionSpec | None = None
    effects: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InvalidFaultPlan(
                f"unknown fault kind {self.kind!r}; use one of {', '.join(_KINDS)}"
            )
        _check_target(self.target)
        _check_times(self.times)
        if self.exc is not None:
            _check_exception(self.exc, "exc")
        for effect in self.effects:
            if isinstance(effect, type) and issubclass(effect, BaseException):
                _check_exception(effect, "a side_effect item")

    @classmethod
    def fail(
        cls, target: str, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """``execute`` raises on the first ``times`` attempts of each run (always if None).

        ``exc`` is an exception class or instance; the default is :class:`InjectedFault`.
        """
        return cls("fail", target, times, exc)

    @classmethod
    def fail_revert(
        cls, target: str, *, times: int | None = None, exc: ExceptionSpec | None = None
    ) -> Fault:
        """``revert`` raises on the first ``times`` reverts of each run (always if None)."""
        return cls("fail_revert", target, times, exc)

    @classmethod
    def side_effect(
        cls, target: str, effects: Iterable[object] | ExceptionSpec
    ) -> Fault:
        """Decide each ``execute`` attempt from a mock-style ``side_effect``.

        Item *n* of ``effects`` decides attempt *n*: an exception class or instance is
        raised, ``mock.DEFAULT`` runs the real code, any other value is returned as the
        task's result without running it; attempts past the end run the real code.
        A single exception (not in a sequence) is raised on every attempt, as in mock.
        """
        if _is_exception_spec(effects):
            return cls("fail", target, None, effects)  # type: ignore[arg-type]
        if isinstance(effects, (str, bytes)) or not isinstance(effects, Iterable):
            raise InvalidFaultPlan(
                f"side_effect for {target!r} must be a sequence of outcomes (exceptions, "
                f"return values or mock.DEFAULT) or one exception, got {effects!r}"
            )
        return cls("side_effect", target, effects=tuple(effects))

    @property
    def action(self) -> Action:
        """The atom method this fault acts on."""
        return "revert" if self.kind == "fail_revert" else "execute"

    def matches(self, atom_name: str) -> bool:
        """Whether this fault applies to the atom called ``atom_name``."""
        return target_matches(self.target, atom_name)

    def injection(self, atom_name: str, attempt: int) -> Injection | None:
        """What this fault does to ``attempt`` (1-based) of its action, or None."""
        if self.kind == "side_effect":
            if attempt > len(self.effects):
                return None
            effect = self.effects[attempt - 1]
            if any(effect is sentinel for sentinel in RUN_REAL_CODE):
                return None
            if _is_exception_spec(effect):
                error = _instantiate(effect, atom_name, self.action, attempt)  # type: ignore[arg-type]
                return Injection(self, error=error)
            return Injection(self, value=effect)
        if self.times is not None and attempt > self.times:
            return None
        return Injection(self, error=_instantiate(self.exc, atom_name, self.action, attempt))

    def _key(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.target,
            self.times,
            _value_key(self.exc),
            tuple(_value_key(effect) for effect in self.effects),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fault):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == "side_effect":
            effects = ", ".join(_source(effect) for effect in self.effects)
            return f"Fault.side_effect({self.target!r}, [{effects}])"
        arguments = [repr(self.target)]
        if self.times is not None:
            arguments.append(f"times={self.times}")
        if self.exc is not None:
            arguments.append(f"exc={_source(self.exc)}")
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

    def for_atom(self, atom_name: str, action: Action) -> tuple[Fault, ...]:
        """The faults acting on ``action`` of the atom called ``atom_name``."""
        return tuple(
            fault for fault in self._faults if fault.action == action and fault.matches(atom_name)
        )

    def unmatched(self, atom_names: Iterable[str]) -> tuple[Fault, ...]:
        """The faults whose target names none of ``atom_names``."""
        names = tuple(atom_names)
        return tuple(
            fault for fault in self._faults if not any(fault.matches(name) for name in names)
        )

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


def unmatched_message(
    plan: FaultPlan, atom_names: Sequence[str], origin_of: Callable[[Fault], str | None]
) -> str | None:
    """Say which faults of ``plan`` name none of ``atom_names`` (usually a typo), or None."""
    unmatched = plan.unmatched(atom_names)
    if not unmatched:
        return None
    lines = []
    for fault in unmatched:
        origin = origin_of(fault)
        source = f" (from {origin})" if origin else ""
        suggestion = closest_name(fault.target, atom_names)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        lines.append(
            f"{fault!r}{source} targets {fault.target!r}, which names no atom of any "
            f"flow run{hint}"
        )
    seen = ", ".join(atom_names) if atom_names else "none (no flow ran)"
    return "\n".join(lines) + f"\natoms seen: {seen}"


def _check_target(target: object) -> None:
    if not isinstance(target, str):
        raise InvalidFaultPlan(
            f"a fault target must be an atom name or fnmatch pattern (str), "
            f"got {type(target).__name__} {target!r}"
        )
    if not target.strip():
        raise InvalidFaultPlan(
            "a fault target must not be empty; name an atom, e.g. 'create_instance', "
            "or use '*' for every atom"
        )


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


def _check_exception(spec: object, name: str) -> None:
    if _is_exception_spec(spec):
        if isinstance(spec, type):
            # Fail while the plan is written, not inside an engine run.
            try:
                _instantiate(spec, "atom", "execute", 1)
            except Exception as error:
                raise InvalidFaultPlan(
                    f"{name}={_source(spec)} cannot be created from a message or from no "
                    f"arguments ({error}); pass an instance instead, e.g. "
                    f"{spec.__name__}(...)"
                ) from None
        return
    if isinstance(spec, BaseException) or (
        isinstance(spec, type) and issubclass(spec, BaseException)
    ):
        raise InvalidFaultPlan(
            f"{name}={_source(spec)} is a BaseException: it would escape TaskFlow's error "
            f"handling instead of failing the atom; use an Exception subclass"
        )
    raise InvalidFaultPlan(
        f"{name} must be an exception class or instance, e.g. RuntimeError or "
        f"RuntimeError('API down'), got {type(spec).__name__} {spec!r}"
    )


def _is_exception_spec(value: object) -> bool:
    return isinstance(value, Exception) or (
        isinstance(value, type) and issubclass(value, Exception)
    )


def _instantiate(spec: ExceptionSpec | None, atom: str, action: Action, attempt: int) -> Exception:
    """A fresh exception per attempt, so parallel attempts never share a traceback."""
    if spec is None:
        return InjectedFault(atom, action, attempt)
    if isinstance(spec, type):
        if issubclass(spec, InjectedFault):
            return spec(atom, action, attempt)
        try:
            return spec(str(InjectedFault(atom, action, attempt)))
        except TypeError:
            return spec()
    try:
        return copy.copy(spec)
    except Exception:  # an exception type whose __init__ cannot be replayed from args
        return spec


def _value_key(value: object) -> object:
    """A hashable stand-in: exceptions compare by type and args, unhashables by repr."""
    if any(value is sentinel for sentinel in RUN_REAL_CODE):
        return RUN_REAL_CODE  # mock's and unittest.mock's DEFAULT mean the same here
    if isinstance(value, BaseException):
        return (type(value), tuple(_value_key(argument) for argument in value.args))
    if isinstance(value, float) and value != value:
        return ("nan",)  # NaN is not equal to itself
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value), repr(value))
    return value


def _source(value: object) -> str:
    """Python source that evaluates to ``value`` (with the plugin's names imported)."""
    if any(value is sentinel for sentinel in RUN_REAL_CODE):
        return "mock.DEFAULT"
    if isinstance(value, type):
        name: str = value.__name__
        if getattr(builtins, name, None) is value:
            return name
        if value is InjectedFault:
            return "InjectedFault"
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(value)!r})"
    return repr(value)

