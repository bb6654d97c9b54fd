"""Fault targets: how one names atoms (exact, last dotted component, patterns), and the
messages for a target that names none of them ("did you mean").
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from pytest_flowfault.plan import Fault
    from pytest_flowfault.run import FlowRun

def target_matches(target: str, atom_name: str, kind: str = "task") -> bool:
    """Whether ``target`` names the atom called ``atom_name``.

    A target matches the full name, or the last dotted component of it (``FunctorTask``
    names are ``module.function``). For tasks it may be an ``fnmatch`` pattern; retry
    controllers are only named exactly, so that ``"*"`` means "every task": a retry
    controller's own code failing is not something a flow meets in production.

    >>> target_matches("create_*", "boot.create_instance")
    True
    """
    short_name = atom_name.rpartition(".")[2]
    if target == atom_name or target == short_name:
        return True
    return kind == "task" and (
        fnmatch.fnmatchcase(atom_name, target) or fnmatch.fnmatchcase(short_name, target)
    )


#: Atom names, or a mapping of atom names to their kind ("task" or "retry").
Atoms = Union[Mapping[str, str], Iterable[str]]


def with_kinds(atoms: Atoms) -> list[tuple[str, str]]:
    if isinstance(atoms, Mapping):
        return list(atoms.items())
    return [(name, "task") for name in atoms]


def closest_name(wanted: str, names: Iterable[str]) -> str | None:
    """The atom name most like ``wanted`` (comparing short names too), if any is close."""
    candidates: dict[str, str] = {}
    for name in names:
        candidates.setdefault(name, name)
        candidates.setdefault(name.rpartition(".")[2], name)
    close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
    return candidates[close[0]] if close else None


def unmatched_message(
    faults: Iterable[Fault], atoms: Atoms, origin_of: Callable[[Fault], str | None]
) -> str | None:
    """Say which ``faults`` name none of ``atoms`` (usually a typo), or None."""
    kinds = with_kinds(atoms)
    atom_names = [name for name, _ in kinds]
    unmatched = [
        fault for fault in faults if not any(fault.matches(name, kind) for name, kind in kinds)
    ]
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


def not_injected_message(
    faults: Iterable[Fault], runs: Iterable[FlowRun], origin_of: Callable[[Fault], str | None]
) -> str | None:
    """Say which ``faults`` matched atoms of ``runs`` they could not fire on, or None."""
    wanted = set(faults)
    missed: dict[tuple[Fault, str, str], list[str]] = {}
    for run in runs:
        for miss in run.not_injected:
            if miss.fault in wanted:
                atoms = missed.setdefault((miss.fault, run.flow_name, miss.reason), [])
                atoms.extend([] if miss.atom in atoms else [miss.atom])
    lines = []
    for (fault, flow_name, reason), atoms in missed.items():
        origin = origin_of(fault)
        source = f" (from {origin})" if origin else ""
        names = ", ".join(repr(atom) for atom in atoms)
        lines.append(
            f"{fault!r}{source} cannot be injected into {names} of flow {flow_name!r}: {reason}"
        )
    return "\n".join(lines) or None


def short_labels(names: Iterable[str], width: int) -> dict[str, str]:
    """A label of at most ``width`` characters for each name, still telling them apart.

    OpenStack names read ``ROLE-subflow-…-task``: a long name keeps its first part and as
    much of its end as fits (``MASTER-…-octavia-cert-compute-create``), since the middle is
    what sibling names share.
    """
    labels: dict[str, str] = {}
    for name in dict.fromkeys(names):
        labels[name] = name if len(name) <= width else _folded(name, width)
    taken: dict[str, list[str]] = {}
    for name, label in labels.items():
        taken.setdefault(label, []).append(name)
    for label, sharing in taken.items():
        if len(sharing) > 1 and label not in sharing:  # folded alike: number them
            for number, name in enumerate(sharing, start=1):
                tag = f"~{number}"
                labels[name] = _folded(name, width - len(tag)) + tag
    return labels


def _folded(name: str, width: int) -> str:
    head, _, rest = name.partition("-")
    tail = rest.split("-")
    while tail and len(head) + 3 + len("-".join(tail)) > width:
        tail.pop(0)
    if head and tail and len(head) <= width // 3:
        return f"{head}-…-{'-'.join(tail)}"
    return "…" + name[-(width - 1):]
