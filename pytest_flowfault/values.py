"""The values faults carry: exceptions to raise and side-effect results. How each is
checked when a plan is written, created afresh for every attempt, compared and hashed,
and written back as Python source (a plan's ``repr``).
"""

from __future__ import annotations

import builtins
import copy
import math
import sys
from typing import Literal, Union

from pytest_flowfault.errors import InjectedFault, InvalidFaultPlan

Action = Literal["execute", "revert"]
ExceptionSpec = Union[type[Exception], Exception]

_DEFAULT_KEY = ("mock.DEFAULT",)


def runs_real_code(value: object) -> bool:
    """Whether ``value`` is ``mock.DEFAULT`` or ``unittest.mock.DEFAULT``.

    Both mean "run the real code", as in mock. Neither module is imported here (mock
    alone takes ~90 ms): if ``value`` is one of them, its module is loaded already.
    """
    return any(
        module is not None and value is module.DEFAULT
        for module in (sys.modules.get("unittest.mock"), sys.modules.get("mock"))
    )


def check_exception(spec: object, name: str) -> None:
    if is_exception_spec(spec):
        if isinstance(spec, type):
            # Fail while the plan is written, not inside an engine run.
            try:
                instantiate(spec, "atom", "execute", 1)
            except Exception as error:
                raise InvalidFaultPlan(
                    f"{name}={source_of(spec)} cannot be created from a message or from no "
                    f"arguments ({error}); pass an instance instead, e.g. "
                    f"{spec.__name__}(...)"
                ) from None
        return
    if isinstance(spec, BaseException) or (
        isinstance(spec, type) and issubclass(spec, BaseException)
    ):
        raise InvalidFaultPlan(
            f"{name}={source_of(spec)} is a BaseException: it would escape TaskFlow's error "
            f"handling instead of failing the atom; use an Exception subclass"
        )
    raise InvalidFaultPlan(
        f"{name} must be an exception class or instance, e.g. RuntimeError or "
        f"RuntimeError('API down'), got {type(spec).__name__} {spec!r}"
    )


def is_exception_spec(value: object) -> bool:
    return isinstance(value, Exception) or (
        isinstance(value, type) and issubclass(value, Exception)
    )


def instantiate(spec: ExceptionSpec | None, atom: str, action: Action, attempt: int) -> Exception:
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


def value_key(value: object) -> object:
    """A hashable stand-in: exceptions compare by type and args, unhashables by repr."""
    if runs_real_code(value):
        return _DEFAULT_KEY  # mock's and unittest.mock's DEFAULT mean the same here
    if isinstance(value, BaseException):
        return (type(value), tuple(value_key(argument) for argument in value.args))
    if isinstance(value, float) and value != value:
        return ("nan",)  # NaN is not equal to itself
    if isinstance(value, (set, frozenset)):  # equal sets repr in different orders
        return (type(value), frozenset(value_key(item) for item in value))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(value_key(item) for item in value))
    if isinstance(value, dict):
        return (dict, frozenset((value_key(k), value_key(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value), repr(value))
    return value


def source_of(value: object) -> str:
    """Python source that evaluates to ``value`` (with the plugin's names imported)."""
    if runs_real_code(value):
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
    text = repr(value)
    cls = type(value)
    if isinstance(value, BaseException) and text.startswith(f"{cls.__name__}("):
        # A project's own exception is written by its dotted path, so that replay finds it.
        return source_of(cls) + text[len(cls.__name__):]
    return text
