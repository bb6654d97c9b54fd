"""The one list of each kind of name: TaskFlow's engines, and the kinds of fault point.

Imports neither taskflow nor the rest of the package beyond targets.py's name matching, so
the command line and the marker can check names while pytest starts.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from pytest_flowfault.targets import closest_name

#: The kinds of fault point a sweep explores (see :mod:`pytest_flowfault.explore`).
SWEEP_KINDS = ("transient", "permanent", "revert", "crash", "upgrade")
#: Crash and upgrade points also need their crashed run resumed, which only ``sweep()``
#: does: the command line's ``--flowfault-sweep`` and the Hypothesis strategies offer
#: the others.
PLAN_SWEEP_KINDS = tuple(kind for kind in SWEEP_KINDS if kind not in ("crash", "upgrade"))


@functools.cache
def engine_names() -> tuple[str, ...]:
    """The engines TaskFlow registers (its ``taskflow.engines`` entry points), sorted."""
    # Reading entry points scans every installed distribution (~5 ms): once is enough.
    return tuple(sorted(entry.name for entry in entry_points(group="taskflow.engines")))


def check_engine_name(engine: object, api: str = "") -> None:
    """Raise ``ValueError`` naming the engines there are, unless ``engine`` is one;
    ``api`` (``"run_flow()"``) names the call that was given it."""
    known = engine_names()
    if not isinstance(engine, str) or engine not in known:
        suggestion = closest_name(engine, known) if isinstance(engine, str) else None
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        given = (
            f"{api.removesuffix('()')}(engine={engine!r}): not" if api
            else f"engine={engine!r} is not"
        )
        raise ValueError(f"{given} a TaskFlow engine; use one of {', '.join(known)}{hint}")
