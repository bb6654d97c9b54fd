"""Checks of the arguments the public API takes, one per idea, each raising ``TypeError``
or ``ValueError`` with a message that names the call, the argument, the value and the fix.

Every caller passes ``api``, the name of the call the user wrote (``"run_flow()"``,
``"flowfault.run()"``, …), so the same check reads right wherever it runs.
"""

from __future__ import annotations

import inspect
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_flowfault.catalog import SWEEP_KINDS
from pytest_flowfault.plan import Fault, FaultPlan
from pytest_flowfault.values import ExceptionSpec, check_exception

FLOW_CLASSES = "linear_flow.Flow, graph_flow.Flow, unordered_flow.Flow"

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def short_repr(value: object) -> str:
    """``repr(value)``, shortened to about a line (a list of 100 tasks stays readable)."""
    return _SHORT.repr(value)


def call(api: str, argument: str, value: object) -> str:
    """``run_flow(flow=42)``: how a message names the call and the value given."""
    return f"{api.removesuffix('()')}({argument}={short_repr(value)})"


def flow_problem(value: object) -> str | None:
    """What TaskFlow can compile, what ``value`` is instead and the fix; None if it can.

    TaskFlow's compiler (``taskflow/engines/action_engine/compiler.py``, ``_matchers``)
    compiles a ``flow.Flow`` or a lone ``task.Task``; anything else fails deep inside it.
    """
    from taskflow import flow, task

    if isinstance(value, (flow.Flow, task.Task)):
        return None
    if isinstance(value, type):
        hint = f"; create one: {value.__name__}(...)"
        what = f"the class {value.__name__}"
    elif isinstance(value, (list, tuple)) and value and all(
        isinstance(item, (flow.Flow, task.Task)) for item in value
    ):
        hint = "; add them to a flow: linear_flow.Flow('name').add(*tasks)"
        what = type(value).__name__
    elif callable(value):
        name = getattr(value, "__name__", type(value).__name__)
        hint = f"; call it to build the flow: {name}()"
        what = f"the function {name}" if hasattr(value, "__code__") else type(value).__name__
    else:
        hint, what = "", type(value).__name__
    return f"a TaskFlow flow ({FLOW_CLASSES}) or a task, not {what}{hint}"


def check_flow(value: object, api: str, argument: str = "flow") -> None:
    """Raise ``TypeError`` unless TaskFlow can compile ``value``."""
    problem = flow_problem(value)
    if problem is not None:
        raise TypeError(f"{call(api, argument, value)}: give {problem}")


def release_flow(value: object, api: str, argument: str = "flow") -> Any:
    """The flow ``value`` is, or builds: a flow, or a function called here with no
    arguments; ``TypeError`` naming ``api`` and ``argument`` for anything else."""
    if flow_problem(value) is None:
        return value
    wanted = "a TaskFlow flow of the new release, or a function that builds it with no arguments"
    if not callable(value) or isinstance(value, type):
        raise TypeError(f"{call(api, argument, value)}: give {wanted}, not {_what(value)}")
    try:
        inspect.signature(value).bind()
    except TypeError:
        raise TypeError(
            f"{call(api, argument, value)}: give {wanted}; {_what(value)} needs arguments "
            f"(wrap it: lambda: {getattr(value, '__name__', 'make_flow')}(...))"
        ) from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass
    return built_flow(value, api, argument)


def built_flow(factory: Callable[[], Any], api: str, argument: str = "make_flow") -> Any:
    """``factory()``, or ``TypeError`` naming ``api`` when what it built is no flow."""
    made = factory()
    problem = flow_problem(made)
    if problem is not None:
        raise TypeError(
            f"{api}: {argument}() returned {short_repr(made)}; it must return {problem}"
        )
    return made


def _what(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__name__}"
    if hasattr(value, "__code__"):
        return f"the function {getattr(value, '__name__', '?')}"
    return type(value).__name__


def check_store(store: object, api: str) -> None:
    """Raise ``TypeError`` unless ``store`` is None or a mapping of names to values."""
    if store is None or isinstance(store, Mapping):
        return
    raise TypeError(
        f"{call(api, 'store', store)}: give a mapping of the names the flow requires to "
        f"their values, e.g. {{'image': 'cirros'}}, not {type(store).__name__}"
    )


def check_plan(plan: object, api: str) -> FaultPlan | None:
    """``plan`` as a FaultPlan (a single Fault is a plan of one), or None; ``TypeError``
    for anything else."""
    if plan is None or isinstance(plan, FaultPlan):
        return plan
    if isinstance(plan, Fault):
        return FaultPlan(plan)
    hint = (
        "wrap them: FaultPlan(*faults)"
        if isinstance(plan, Iterable) and not isinstance(plan, (str, bytes))
        else "build one: FaultPlan(Fault.fail(...), ...)"
    )
    raise TypeError(
        f"{call(api, 'plan', plan)}: give a FaultPlan or a single Fault, not "
        f"{type(plan).__name__}; {hint}"
    )


def check_positive_int(value: object, api: str, argument: str, meaning: str) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{call(api, argument, value)}: give {meaning}, a whole number >= 1, not "
            f"{type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"{call(api, argument, value)}: give {meaning}, a whole number >= 1")


def check_engine_options(engine_options: Mapping[str, Any], api: str) -> None:
    """Check the engine options the plugin itself reads (``max_workers``)."""
    workers = engine_options.get("max_workers")
    if workers is not None:
        check_positive_int(
            workers, api, "max_workers", "the number of worker threads of the parallel engine"
        )


def check_bool(value: object, api: str, argument: str, meaning: str) -> None:
    """Raise ``TypeError`` unless ``value`` is True or False; ``meaning`` says what True does."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{call(api, argument, value)}: give True ({meaning}) or False, not "
            f"{type(value).__name__}"
        )


def check_sweep_options(
    kinds: Iterable[str], max_faults: object, check: object, strict: object, api: str
) -> tuple[str, ...]:
    """The kinds to sweep, once every option that shapes a sweep is checked (before any
    run: a bad ``check`` must not surface only after the baseline and a variant ran)."""
    usage = f"use a tuple of {', '.join(SWEEP_KINDS)}, e.g. ('transient', 'permanent')"
    if isinstance(kinds, str) or not isinstance(kinds, Iterable):
        raise ValueError(f"{call(api, 'kinds', kinds)}: {usage}")
    chosen = tuple(dict.fromkeys(kinds))  # a kind named twice is still one kind
    if not chosen or any(kind not in SWEEP_KINDS for kind in chosen):
        raise ValueError(f"{call(api, 'kinds', kinds)}: {usage}")
    if isinstance(max_faults, bool) or not isinstance(max_faults, int) or max_faults not in (1, 2):
        raise ValueError(
            f"{call(api, 'max_faults', max_faults)}: a sweep explores 1 or 2 faults at a time"
        )
    if check is not None and not callable(check):
        raise TypeError(
            f"{call(api, 'check', check)}: give a function that takes each variant's FlowRun "
            f"and raises AssertionError when the run is wrong (or None), not "
            f"{type(check).__name__}"
        )
    check_bool(strict, api, "strict", "forgotten reverts fail, as in assert_compensated")
    return chosen


def check_repeat(repeat: object, api: str) -> None:
    """``repeat``: how many times a sweep runs each variant, a whole number >= 1."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(
            f"{call(api, 'repeat', repeat)}: give how many times to run each variant, a "
            f"whole number >= 1 (e.g. repeat=20 on the parallel engine)"
        )


def check_sweep_exc(
    exc: object, api: str
) -> tuple[tuple[str | type | None, ExceptionSpec], ...]:
    """``exc`` of a sweep as (target, exception) entries; target None names every task.

    One exception class or instance for every task, or a mapping ``{target: exception}``
    whose keys are atom names, patterns or task classes.
    """
    if exc is None:
        return ()
    if isinstance(exc, Mapping):
        entries = []
        for target, spec in exc.items():
            if not (isinstance(target, type) or (isinstance(target, str) and target.strip())):
                raise TypeError(
                    f"{call(api, 'exc', exc)}: a key must be a task name, a pattern or a "
                    f"task class, got {type(target).__name__} {short_repr(target)}"
                )
            entries.append((target, _exception(spec, api, f"exc[{target!r}]")))
        return tuple(entries)
    return ((None, _exception(exc, api, "exc")),)


def _exception(spec: object, api: str, where: str) -> ExceptionSpec:
    try:
        check_exception(spec, where)
    except (TypeError, ValueError) as problem:
        raise TypeError(
            f"{api}: {problem} (exc= takes an exception class or instance, or a mapping "
            f"{{target: exception}})"
        ) from None
    return spec  # type: ignore[return-value]


def check_upgrade_options(
    kinds: tuple[str, ...], upgrade_to: object, upgrade_faults: object, api: str
) -> None:
    """``upgrade_to`` (the next release: a function that builds its flow) goes with the
    ``"upgrade"`` kind, and ``upgrade_faults`` with both."""
    check_bool(upgrade_faults, api, "upgrade_faults", "also fail the new release's tasks")
    if "upgrade" in kinds and not callable(upgrade_to):
        raise TypeError(
            f"{call(api, 'upgrade_to', upgrade_to)}: the upgrade kind resumes each crash with "
            f"the next release; give a function that builds its flow, e.g. "
            f"upgrade_to=lambda: boot_flow_v2()"
        )
    if "upgrade" not in kinds and (upgrade_to is not None or upgrade_faults):
        raise ValueError(
            f"{api}: upgrade_to= and upgrade_faults= only matter with the upgrade kind, "
            f"e.g. kinds=('upgrade',)"
        )
