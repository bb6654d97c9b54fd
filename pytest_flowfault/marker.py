"""``@pytest.mark.flowfault``: its arguments, checked and merged over a test's marks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pytest_flowfault.catalog import engine_names
from pytest_flowfault.errors import InvalidFaultPlan, InvalidMarker
from pytest_flowfault.plan import Fault

MARKER_HELP = (
    "flowfault(fail=None, fail_revert=None, chaos=None, engines=None, off=False, "
    "virtual_time=None): faults for this test's TaskFlow runs. fail/fail_revert: a target, a "
    "list of targets, or {target: times or None}; chaos: probability that any execute attempt "
    "fails; engines: run the test once per engine (flowfault.run uses it); off=True: no "
    "command-line faults; virtual_time=True/False: skip sleeps inside atoms (or not), whatever "
    "--flowfault-virtual-time says."
)


@dataclass(frozen=True)
class MarkerSpec:
    """What one test's ``@pytest.mark.flowfault`` markers ask for, merged."""

    faults: tuple[Fault, ...] = ()
    chaos: float | None = None
    engines: tuple[str, ...] | None = None
    off: bool = False
    virtual_time: bool | None = None  # None: as the command line or ini says


_MARKER_ARGUMENTS = ("fail", "fail_revert", "chaos", "engines", "off", "virtual_time")


def marker_spec(marks: Iterable[Any]) -> MarkerSpec:
    """Merge ``flowfault`` marks (closest first, as ``item.iter_markers`` yields them).

    Faults from every mark apply; for the other arguments the closest mark wins.
    """
    faults: list[Fault] = []
    chaos: float | None = None
    engines: tuple[str, ...] | None = None
    switches: dict[str, bool] = {}
    for mark in marks:
        if mark.args:
            raise InvalidMarker(
                f"@pytest.mark.flowfault takes keyword arguments only, got positional "
                f"{', '.join(map(repr, mark.args))}; e.g. @pytest.mark.flowfault(fail="
                f"{mark.args[0]!r})"
            )
        unknown = sorted(set(mark.kwargs) - set(_MARKER_ARGUMENTS))
        if unknown:
            raise InvalidMarker(
                f"@pytest.mark.flowfault got unknown argument(s) {', '.join(unknown)}; "
                f"it takes {', '.join(_MARKER_ARGUMENTS)}"
            )
        for kind in ("fail", "fail_revert"):
            if kind in mark.kwargs:
                faults.extend(_marker_faults(kind, mark.kwargs[kind]))
        if chaos is None and "chaos" in mark.kwargs:
            chaos = _marker_rate(mark.kwargs["chaos"])
        if engines is None and "engines" in mark.kwargs:
            engines = _marker_engines(mark.kwargs["engines"])
        for switch in ("off", "virtual_time"):
            if switch not in switches and switch in mark.kwargs:
                if not isinstance(mark.kwargs[switch], bool):
                    raise InvalidMarker(
                        f"@pytest.mark.flowfault({switch}=...) takes True or False, got "
                        f"{mark.kwargs[switch]!r}"
                    )
                switches[switch] = mark.kwargs[switch]
    return MarkerSpec(
        tuple(faults), chaos, engines, switches.get("off", False), switches.get("virtual_time")
    )


def _marker_faults(kind: Literal["fail", "fail_revert"], value: object) -> list[Fault]:
    build = Fault.fail if kind == "fail" else Fault.fail_revert
    if isinstance(value, (str, type)):  # a name or pattern, or a task class
        pairs: Iterable[tuple[object, object]] = [(value, None)]
    elif isinstance(value, Mapping):
        pairs = value.items()
    elif isinstance(value, (list, tuple)):
        pairs = [(target, None) for target in value]
    else:
        raise InvalidMarker(
            f"@pytest.mark.flowfault({kind}=...) takes a target, a list of targets or "
            f"{{target: times or None}}, got {type(value).__name__} {value!r}"
        )
    faults = []
    for target, times in pairs:
        try:
            faults.append(build(target, times=times))  # type: ignore[arg-type]
        except InvalidFaultPlan as problem:
            raise InvalidMarker(f"@pytest.mark.flowfault({kind}=...): {problem}") from None
    return faults


def _marker_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidMarker(
            f"@pytest.mark.flowfault(chaos=...) takes a probability from 0 to 1, e.g. 0.2, "
            f"got {value!r}"
        )
    return float(value)


def _marker_engines(value: object) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if (
        not isinstance(names, (list, tuple))
        or not names
        or any(name not in engine_names() for name in names)
    ):
        raise InvalidMarker(
            f"@pytest.mark.flowfault(engines=...) takes a list of {', '.join(engine_names())}, "
            f"got {value!r}"
        )
    return tuple(names)
