"""Fault targets: how one names atoms (exact, last dotted component, patterns, task classes),
and the messages for a target that names none of them ("did you mean").
"""

from __future__ import annotations

import difflib
import fnmatch
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from pytest_flowfault.plan import Fault
    from pytest_flowfault.run import FlowRun

#: What a fault names: an atom name or pattern, or an atom class (a ``Task`` subclass).
Target = Union[str, type]
#: How the command line writes a class target: ``class:package.module.TaskClass``.
CLASS_PREFIX = "class:"
#: Where the "atoms seen" list of an unmatched target wraps.
WIDTH = 100

# type's own __mro__ slot: no metaclass of a class being looked at gets to answer.
_MRO = vars(type)["__mro__"]


def target_matches(
    target: Target, atom_name: str, kind: str = "task", atom_class: type | None = None
) -> bool:
    """Whether ``target`` names the atom called ``atom_name`` (of class ``atom_class``).

    A class matches every atom that is an instance of it, subclasses included, tasks and
    retry controllers alike. A string matches the full name, or the last dotted component
    of it (``FunctorTask`` names are ``module.function``). For tasks it may be an
    ``fnmatch`` pattern; retry controllers are only named exactly, so that ``"*"`` means
    "every task": a retry controller's own code failing is not something a flow meets in
    production.

    >>> target_matches("create_*", "boot.create_instance")
    True
    """
    if isinstance(target, type):
        return atom_class is not None and issubclass(atom_class, target)
    short_name = atom_name.rpartition(".")[2]
    if target == atom_name or target == short_name:
        return True
    return kind == "task" and (
        fnmatch.fnmatchcase(atom_name, target) or fnmatch.fnmatchcase(short_name, target)
    )


def is_atom_class(value: object) -> bool:
    """Whether ``value`` is a TaskFlow atom class (``Task``, ``Retry`` or a subclass).

    Never imports TaskFlow: an atom class exists only once ``taskflow.atom`` is imported.
    """
    atom = sys.modules.get("taskflow.atom")
    base = getattr(atom, "Atom", None) if atom is not None else None
    return base is not None and issubclass(type(value), type) and base in _MRO.__get__(value)


def class_path(cls: type) -> str:
    """A class's dotted path, as a plan's ``repr`` and the command line write it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def names_class(target: str, path: str) -> bool:
    """Whether the string ``target`` is the class at dotted ``path``, or its class name."""
    return bool(path) and target in (path, path.rpartition(".")[2])


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


def unmatched_faults(
    faults: Iterable[Fault], atoms: Atoms, classes: Mapping[str, type] | None = None
) -> tuple[Fault, ...]:
    """The ``faults`` that name none of ``atoms``; ``classes`` maps atom names to their
    classes, which class targets need (without it, they match nothing)."""
    kinds = with_kinds(atoms)
    known = classes or {}
    return tuple(
        fault
        for fault in faults
        if not any(fault.matches(name, kind, known.get(name)) for name, kind in kinds)
    )


def unmatched_message(
    faults: Iterable[Fault],
    atoms: Atoms,
    origin_of: Callable[[Fault], str | None],
    classes: Mapping[str, type] | None = None,
) -> str | None:
    """Say which ``faults`` name none of ``atoms`` (usually a typo), or None.

    ``classes`` (atom name -> class) lets class targets match, and lets a string that is
    the name of an atom's class be told to name the class instead.
    """
    unmatched = unmatched_faults(faults, atoms, classes)
    if not unmatched:
        return None
    atom_names = [name for name, _ in with_kinds(atoms)]
    seen_classes = list(dict.fromkeys((classes or {}).values()))
    lines = []
    for fault in unmatched:
        origin = origin_of(fault)
        source = f" (from {origin})" if origin else ""
        lines.append(f"{fault!r}{source} {_unmatched_why(fault, atom_names, seen_classes)}")
    seen = ", ".join(atom_names) if atom_names else "none (no flow ran)"
    # One atom per line rather than one unreadable line: OpenStack flows have 60 atoms
    # with names of 70 characters. Names break at spaces only, never at their hyphens.
    listed = textwrap.fill(
        seen, WIDTH, initial_indent="atoms seen: ", subsequent_indent="  ",
        break_long_words=False, break_on_hyphens=False,
    )
    return "\n".join(lines) + "\n" + listed


#: How a test names a class target, for each fault kind (the hint for a class's name).
_CLASS_TARGET_CALLS = {
    "fail": "flowfault.fail({})",
    "fail_revert": "flowfault.fail_revert({})",
    "side_effect": "flowfault.side_effect({}, ...)",
    "chaos": "flowfault.chaos(..., tasks={})",
    "chaos_revert": "flowfault.chaos(..., tasks={})",
    "crash_after": "flowfault.crash(after={})",
    "crash_during": "flowfault.crash(during={})",
}
_COMMAND_LINE_KINDS = ("fail", "fail_revert")


def _unmatched_why(fault: Fault, atom_names: list[str], seen_classes: list[type]) -> str:
    target = fault.target
    if isinstance(target, type):
        close = closest_name(class_path(target), [class_path(cls) for cls in seen_classes])
        hint = f"; did you mean the class {close}?" if close else ""
        return (
            f"targets the class {class_path(target)}, of which no atom of any flow run is "
            f"an instance{hint}"
        )
    wanted = target.removeprefix(CLASS_PREFIX)
    named = [cls for cls in seen_classes if names_class(wanted, class_path(cls))]
    if named:
        cls = named[0]
        call = _CLASS_TARGET_CALLS[fault.kind].format(cls.__name__)
        if fault.kind in _COMMAND_LINE_KINDS:
            call += f", or {CLASS_PREFIX + class_path(cls)!r} on the command line"
        hint = f"; did you mean the class {cls.__name__} ({call})?"
    else:
        suggestion = closest_name(target, atom_names)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return f"targets {target!r}, which names no atom of any flow run{hint}"


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
        if len(sharing) > 1 and label not in sharing:  # folded alike: show where they differ
            apart = {name: _telling_apart(name, sharing, width) for name in sharing}
            if None in apart.values() or len(set(apart.values())) < len(sharing):
                apart = {
                    name: _folded(name, width - len(f"~{number}")) + f"~{number}"
                    for number, name in enumerate(sharing, start=1)
                }
            labels.update(apart)  # type: ignore[arg-type]
    return labels


def _telling_apart(name: str, sharing: list[str], width: int) -> str | None:
    """``ROLE-…-WHERE-IT-DIFFERS-…-END``: the words that set ``name`` apart from the other
    names folded alike (between their common start and common end), or None if that does
    not fit in ``width``."""
    words = name.split("-")
    others = [other.split("-") for other in sharing if other != name]
    start = min(_common(words, other) for other in others)
    end = min(_common(words[::-1], other[::-1]) for other in others)
    differing = words[start:len(words) - end] or words[start:start + 1]
    head = words[0] if start > 0 else ""
    tail = words[len(words) - end:] if end > 0 else []
    # The most that fits: what differs with as much of the common end as fits (it says
    # what the atom does), else what differs alone, else the first word that differs.
    for middle in (differing, differing[:1]):
        for kept in range(len(tail), -1, -1):
            parts = (head, "-".join(middle), "-".join(tail[len(tail) - kept:]))
            label = "-…-".join(part for part in parts if part)
            if len(label) <= width:
                return label
    return None


def _common(words: list[str], other: list[str]) -> int:
    count = 0
    for word, other_word in zip(words, other):
        if word != other_word:
            break
        count += 1
    return count


def _folded(name: str, width: int) -> str:
    head, _, rest = name.partition("-")
    tail = rest.split("-")
    while tail and len(head) + 3 + len("-".join(tail)) > width:
        tail.pop(0)
    if head and tail and len(head) <= width // 3:
        return f"{head}-…-{'-'.join(tail)}"
    return "…" + name[-(width - 1):]
