"""What a flow detail held before an engine resumed it: each atom's state, saved result
and the version that wrote it, and the names of the store. Read once, kept immutable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SavedAtom:
    """An atom detail as the flow detail held it before a (new) release resumed it:
    ``version`` is the one TaskFlow recorded when it created the detail."""

    name: str
    kind: str
    version: str | None
    state: str
    result: Any = field(default=None, hash=False)


@dataclass(frozen=True)
class SavedState:
    """What a flow detail held before an engine resumed it: its atoms (none for a flow
    that starts afresh) and the names its store holds.

    >>> run.saved.atom("create_instance").version        # doctest: +SKIP
    '1.0'
    """

    atoms: tuple[SavedAtom, ...] = ()
    store: tuple[str, ...] = ()

    def atom(self, name: str) -> SavedAtom | None:
        """The saved atom called ``name``, or None."""
        return next((atom for atom in self.atoms if atom.name == name), None)


def saved_state(flow_detail: Any) -> SavedState:
    """Read a TaskFlow flow detail into a :class:`SavedState` (it is not changed)."""
    from taskflow.storage import Storage

    atoms = []
    store: tuple[str, ...] = ()
    for detail in flow_detail:
        if detail.name == Storage.injector_name:  # the store, saved as a task detail
            store = tuple(detail.results or {})
            continue
        kind = "retry" if type(detail).__name__ == "RetryDetail" else "task"
        result = detail.results if kind == "task" else None
        atoms.append(SavedAtom(detail.name, kind, detail.version, detail.state, result))
    return SavedState(tuple(atoms), store)
