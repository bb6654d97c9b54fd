"""Upgrades: what changed between the release that saved a flow's state and the release
that resumed it, and which of those changes are unsafe. Pure functions over recorded facts.

TaskFlow stores each atom's version in its atom detail and never compares it on resume
(``Storage.ensure_atoms`` in ``taskflow/storage.py`` only creates the details that are
missing). So a completed atom whose major version changed is skipped as done on a result
the old code wrote, and a later revert hands that result to the new code; an atom the new
release removed is never reverted (a RUNNING one stays RUNNING forever); a renamed atom is
a new atom to TaskFlow, so its work runs again.

The facts come from :class:`SavedState` (the flow detail before the new engine touched it,
``FlowRun.saved``), the crashed run's atoms (the old release's code) and the resumed run's
atoms (the new release's code).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_flowfault.arguments import short_repr
from pytest_flowfault.assertions import resumption_problems
from pytest_flowfault.saved import SavedAtom, SavedState

if TYPE_CHECKING:
    from pytest_flowfault.run import AtomInfo, FlowRun

#: Saved states in which an atom's work is done or under way: it must stay revertible.
WORK_STATES = ("SUCCESS", "RUNNING", "REVERTING")
#: Saved states in which the atom's saved result was written by its (old) code.
COMPLETED_STATES = ("SUCCESS", "REVERTING")


@dataclass(frozen=True)
class AtomAdded:
    """An atom of the new release that the saved state does not have: it runs afresh."""

    atom: str
    version: str | None

    def __str__(self) -> str:
        return f"{self.atom!r} added (version {self.version})"


@dataclass(frozen=True)
class AtomRemoved:
    """A saved atom that the new release no longer has: TaskFlow never touches it again."""

    atom: str
    state: str
    version: str | None
    result: Any = field(default=None, hash=False)

    def __str__(self) -> str:
        result = f", result {short_repr(self.result)}" if self.state == "SUCCESS" else ""
        return f"{self.atom!r} removed (saved {self.state} by version {self.version}{result})"


@dataclass(frozen=True)
class VersionChanged:
    """An atom whose saved state was written by another version than the one now running;
    ``major`` when the major number changed (TaskFlow's ``(major, minor)`` convention)."""

    atom: str
    saved: str | None
    running: str | None
    major: bool
    state: str

    def __str__(self) -> str:
        size = "major" if self.major else "minor"
        return f"{self.atom!r} version {self.saved} -> {self.running} ({size}; saved {self.state})"


@dataclass(frozen=True)
class RequiresChanged:
    """An atom that requires other names in the new release."""

    atom: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.atom!r} requires {list(self.before)} -> {list(self.after)}"


@dataclass(frozen=True)
class ProvidesChanged:
    """An atom that provides other names (or reads them from other parts of its result)."""

    atom: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    before_keys: tuple[Any, ...] = ()
    after_keys: tuple[Any, ...] = ()

    @property
    def rereads_result(self) -> bool:
        """Whether the new release reads a provided name from another part of a saved
        result than the old one wrote it to (a name it no longer provides is harmless)."""
        wrote = dict(zip(self.before, self.before_keys))
        return any(
            name not in wrote or wrote[name] != key
            for name, key in zip(self.after, self.after_keys)
        )

    def __str__(self) -> str:
        return (
            f"{self.atom!r} provides {provides_text(self.before, self.before_keys)} -> "
            f"{provides_text(self.after, self.after_keys)}"
        )


UpgradeChange = AtomAdded | AtomRemoved | VersionChanged | RequiresChanged | ProvidesChanged


def provides_text(names: Sequence[str], keys: Sequence[Any]) -> str:
    """``'instance_id' (the whole result)`` or ``'id' from result[0], 'host' from result[1]``."""
    if not names:
        return "nothing"
    if all(key is None for key in keys):
        return ", ".join(repr(name) for name in names) + " (the whole result)"
    return ", ".join(f"{name!r} from result[{key!r}]" for name, key in zip(names, keys))


def is_major_change(saved: str | None, running: str | None) -> bool:
    """Whether two version strings (``'1.0'``, ``'2.1'``) differ in their major number."""
    return _major(saved) != _major(running)


def _major(version: str | None) -> object:
    if version is None:
        return None
    head = version.split(".")[0].strip()
    return int(head) if head.isdigit() else head


def _saved_of(run: FlowRun, api: str) -> SavedState:
    if run.saved is None or not run.saved.atoms:
        raise TypeError(
            f"{api} needs a run that resumed saved state, e.g. flowfault.resume(crashed, "
            f"flow=new_release_flow); flow {run.flow_name!r} started afresh"
        )
    return run.saved


def _old_atoms(run: FlowRun) -> dict[str, AtomInfo]:
    """The atoms of the release that saved the state (the run this one resumed)."""
    if run.resumed_from is None:
        return {}
    return {atom.name: atom for atom in run.resumed_from.atoms}


def upgrade_changes(run: FlowRun) -> tuple[UpgradeChange, ...]:
    """What changed between the release that saved the state ``run`` resumed and the
    release ``run`` ran: removed, version, requires and provides changes in saved order,
    then the atoms added. Requires/provides are compared only where the old release's
    code is known (a run recorded by this plugin)."""
    saved = _saved_of(run, "upgrade_changes()")
    old = _old_atoms(run)
    new = {atom.name: atom for atom in run.atoms}
    changes: list[UpgradeChange] = []
    for atom in saved.atoms:
        now = new.get(atom.name)
        if now is None:
            changes.append(AtomRemoved(atom.name, atom.state, atom.version, atom.result))
            continue
        if atom.version != now.version:
            changes.append(VersionChanged(
                atom.name, atom.version, now.version,
                is_major_change(atom.version, now.version), atom.state,
            ))
        before = old.get(atom.name)
        if before is None or not before.class_path:
            continue
        if set(before.requires) != set(now.requires):
            changes.append(RequiresChanged(
                atom.name, tuple(sorted(before.requires)), tuple(sorted(now.requires))
            ))
        if (before.provides, before.result_keys) != (now.provides, now.result_keys):
            changes.append(ProvidesChanged(
                atom.name, before.provides, now.provides, before.result_keys, now.result_keys
            ))
    changes += [
        AtomAdded(atom.name, atom.version) for atom in run.atoms if saved.atom(atom.name) is None
    ]
    return tuple(changes)


def upgrade_problems(run: FlowRun) -> tuple[str, ...]:
    """Why resuming ``run``'s saved state with the release it ran is unsafe; empty if it is."""
    saved = _saved_of(run, "assert_upgrade_safe()")
    changes = upgrade_changes(run)
    problems = [
        _version_problem(change, (saved.atom(change.atom) or _NEVER).result)
        for change in changes
        if isinstance(change, VersionChanged) and change.major
        and change.state in COMPLETED_STATES
    ]
    problems += [
        _provides_problem(change) for change in changes
        if isinstance(change, ProvidesChanged) and change.rereads_result
        and (saved.atom(change.atom) or _NEVER).state in COMPLETED_STATES
    ]
    removed = [change for change in changes if isinstance(change, AtomRemoved)]
    problems += [_removed_problem(change) for change in removed if change.state in WORK_STATES]
    problems += _redone_problems(run, removed)
    problems += missing_requirements(saved, tuple(_old_atoms(run).values()), run.atoms)
    problems += [
        f"{atom.name!r} sets version = ({atom.class_version.replace('.', ', ')}) on its "
        f"class, which TaskFlow ignores (Atom.__init__ sets self.version = (1, 0) on every "
        f"instance): TaskFlow saves and runs {atom.version}, so no version change can be "
        f"seen; set self.version in __init__, after super().__init__()"
        for atom in run.atoms
        if atom.class_version is not None
    ]
    return tuple(problems)


_NEVER = SavedAtom("", "task", None, "PENDING")


def _version_problem(change: VersionChanged, result: Any) -> str:
    return (
        f"{change.atom!r} completed under version {change.saved} and the new release runs "
        f"{change.running}, a major change: TaskFlow skips it as done on the result "
        f"{change.saved} saved ({short_repr(result)}), written by incompatible code, and "
        f"hands that result to the new code: its consumers, and its revert if the flow fails"
    )


def _provides_problem(change: ProvidesChanged) -> str:
    return (
        f"{change.atom!r} completed under the old release, which saved its result as "
        f"{provides_text(change.before, change.before_keys)}; the new release reads that "
        f"saved result as {provides_text(change.after, change.after_keys)}"
    )


def _removed_problem(change: AtomRemoved) -> str:
    if change.state == "SUCCESS":
        return (
            f"{change.atom!r} had completed (saved result {short_repr(change.result)}) and is "
            f"absent from the new release: what it did can no longer be reverted"
        )
    doing = "was being reverted" if change.state == "REVERTING" else "was RUNNING"
    return (
        f"{change.atom!r} {doing} when its state was saved and is absent from the new "
        f"release: its work can no longer be reverted, and TaskFlow leaves it "
        f"{change.state} in the flow detail forever"
    )


def _redone_problems(run: FlowRun, removed: Iterable[AtomRemoved]) -> list[str]:
    """New atoms of the same task class as a removed, completed one that ran in ``run``:
    TaskFlow sees a renamed atom as a new one and runs its work again.

    Classes are compared by name without their module: a test keeps the next release in
    another module than the one it upgrades, where production has one module for both.
    """
    old = _old_atoms(run)
    saved = run.saved or SavedState()
    problems = []
    for change in removed:
        before = old.get(change.atom)
        # TaskFlow's own generic classes (FunctorTask, …) say nothing about the work done.
        if (
            change.state != "SUCCESS"
            or before is None
            or not before.class_path
            or before.class_path.startswith("taskflow.")
        ):
            continue
        problems += [
            f"{atom.name!r}, new in this release, executed again the work that "
            f"{change.atom!r} had completed before the upgrade (both are "
            f"{class_name(before.class_path)} tasks): TaskFlow sees a renamed atom as a "
            f"new one"
            for atom in run.atoms
            if class_name(atom.class_path) == class_name(before.class_path)
            and saved.atom(atom.name) is None
            and run.attempts(atom.name) > 0
        ]
    return problems


def class_name(class_path: str) -> str:
    """``CreateVolume`` of ``boot.CreateVolume``."""
    return class_path.rpartition(".")[2]


def missing_requirements(
    saved: SavedState, old_atoms: Sequence[AtomInfo], new_atoms: Sequence[AtomInfo]
) -> list[str]:
    """Names the new release's atoms require that neither its atoms nor the store provide,
    each naming the removed atom that provided it before. TaskFlow cannot read a result
    saved by an atom the flow no longer has, so it refuses such a flow
    (``MissingDependencies``) before it starts."""
    names = {atom.name for atom in new_atoms}
    provided = set(saved.store) | {name for atom in new_atoms for name in atom.provides}
    removed_providers: dict[str, str] = {}
    for atom in old_atoms:
        if atom.name not in names:
            for name in atom.provides:
                removed_providers.setdefault(name, atom.name)
    problems = []
    for atom in new_atoms:
        for name in atom.requires:
            if name in provided:
                continue
            provider = removed_providers.get(name)
            if provider is None:
                problems.append(
                    f"{atom.name!r} requires {name!r}, which neither the saved results nor "
                    f"the store provide"
                )
                continue
            state = (saved.atom(provider) or _NEVER).state
            problems.append(
                f"{atom.name!r} requires {name!r}, which the removed atom {provider!r} "
                f"provided (saved {state}): TaskFlow cannot read a result saved by an atom "
                f"the flow no longer has, and the store does not hold it"
            )
    return problems


def check_upgrade_safe(run: FlowRun) -> str | None:
    """The failure message of ``run.assert_upgrade_safe()``, or None."""
    problems = upgrade_problems(run)
    if not problems:
        return None
    listed = "\n".join(f"  - {problem}" for problem in problems)
    changes = "\n".join(f"  {change}" for change in upgrade_changes(run))
    return (
        f"resuming flow {run.flow_name!r} with a new release is not safe:\n{listed}\n"
        f"what changed:\n{changes}\n\n{run.timeline()}"
    )


def atom_versions(run: FlowRun) -> dict[str, tuple[str | None, str | None]]:
    """Each atom's (version that wrote its saved state, version now running); None where
    the atom has no saved state, or is absent from the release that ran."""
    saved = run.saved or SavedState()
    versions: dict[str, tuple[str | None, str | None]] = {
        atom.name: (atom.version, None) for atom in saved.atoms
    }
    for atom in run.atoms:
        versions[atom.name] = (versions.get(atom.name, (None, None))[0], atom.version)
    return versions


def upgrade_verdict(resumed: FlowRun) -> str | None:
    """What is wrong with resuming saved state with a new release, or None: the resumed
    run must succeed, no completed atom may run again, and :func:`upgrade_problems` must
    find nothing. Problems are joined by ``"; "`` (as ``variants.crash_verdict``)."""
    problems = resumption_problems(resumed, "the upgrade")
    problems += upgrade_problems(resumed)
    return "; ".join(problems) or None
