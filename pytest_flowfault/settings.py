"""Session settings from the command line, else the ini file: faults, chaos, seed, reports.

Bad values are usage errors that name the option or ini key they came from.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flowfault import options
from pytest_flowfault.targets import CLASS_PREFIX

if TYPE_CHECKING:
    from pytest_flowfault.plan import Fault, FaultPlan
    from pytest_flowfault.targets import Target

_SEED_CACHE_KEY = "flowfault/seed"


@dataclass(frozen=True)
class Settings:
    """What the command line and the ini file ask of every test in the session."""

    seed: int
    seed_note: str = ""
    faults: tuple[tuple[Fault, str], ...] = ()  # (fault, where it came from)
    chaos: float | None = None
    reports: tuple[Path, ...] = ()
    compensation: str = ""  # "", "basic" or "strict": --flowfault-compensation
    nothing_to_undo: tuple[str, ...] = ()  # ini flowfault_nothing_to_undo
    deprecations: tuple[str, ...] = ()  # what to warn about once configured
    fast_parallel: bool = True
    virtual_time: bool = False
    reproduce: tuple[str, ...] = ()  # the options that rebuild these faults
    sweep: tuple[str, ...] = ()  # fault kinds of --flowfault-sweep
    replay: FaultPlan | None = None  # --flowfault-replay=PLAN, for every test
    replay_by_test: dict[str, FaultPlan] = field(default_factory=dict)  # from a file

    @property
    def armed(self) -> bool:
        """Whether every test gets a session, fixture or not."""
        return bool(
            self.faults or self.chaos or self.reports or self.compensation or self.replay
            or self.replay_by_test or self.virtual_time
        )

    def replay_for(self, nodeid: str) -> FaultPlan | None:
        """The plan ``--flowfault-replay`` gives this test, if any."""
        return self.replay_by_test.get(nodeid, self.replay)



def read_settings(config: pytest.Config) -> Settings:
    """Settings from the command line, else the ini file; bad values are usage errors."""
    option = config.option
    reproduce: list[str] = []
    faults: list[tuple[Fault, str]] = []
    written = [
        ("fail", "--flowfault-fail", option.flowfault_fail, "flowfault_fail"),
        ("fail_revert", "--flowfault-fail-revert", option.flowfault_fail_revert,
         "flowfault_fail_revert"),
        (None, "--flowfault-fault", option.flowfault_fault, "flowfault_fault"),
    ]
    for kind, flag, given, ini in written:
        source = flag if given else f"ini key {ini}"
        for value in given or config.getini(ini):
            fault = _parse_fault(config, kind, value, source)
            faults.append((fault, f"{source}={value}"))
            reproduce.append(shlex.quote(f"{flag}={value}"))
    chaos = option.flowfault_chaos
    if chaos is None and config.getini("flowfault_chaos"):
        chaos = _from_ini(options.rate, config, "flowfault_chaos")
    if chaos:
        reproduce.append(f"--flowfault-chaos={chaos}")
    reports = tuple(option.flowfault_report or ()) or tuple(
        _from_ini(options.report_path, config, "flowfault_report", value)
        for value in config.getini("flowfault_report")
    )
    if not hasattr(config, "workerinput"):  # the controller writes them
        source = "--flowfault-report" if option.flowfault_report else "ini key flowfault_report"
        _check_reports(reports, source, config.invocation_params.dir)
    compensation, deprecations = _compensation(config)
    if compensation:
        reproduce.append(f"--flowfault-compensation={compensation}")
    virtual_time = _flag(config, "flowfault_virtual_time") or bool(option.flowfault_virtual_time)
    if virtual_time:
        reproduce.append("--flowfault-virtual-time")
    seed, note = _seed(config)
    replay, replay_by_test = _replay(option.flowfault_replay, config.rootpath)
    return Settings(
        seed=seed,
        seed_note=note,
        faults=tuple(faults),
        chaos=chaos,
        reports=reports,
        compensation=compensation,
        nothing_to_undo=tuple(config.getini("flowfault_nothing_to_undo")),
        deprecations=deprecations,
        fast_parallel=_flag(config, "flowfault_fast_parallel"),
        virtual_time=virtual_time,
        reproduce=tuple(reproduce),
        sweep=tuple(option.flowfault_sweep or ()),
        replay=replay,
        replay_by_test=replay_by_test,
    )


def _check_reports(reports: tuple[Path, ...], source: str, directory: Path) -> None:
    """What can be known before the tests run: each report (and the counterexamples file
    next to the first) can be created where it is asked for."""
    for number, written in enumerate(reports):
        path = directory / written
        problem = _unwritable(path)
        counterexamples = path.with_name(f"{path.stem}.counterexamples.json")
        if problem is None and number == 0:
            problem = _unwritable(counterexamples)
            if problem is not None:
                problem = f"the counterexamples file written next to it cannot be: {problem}"
        if problem is not None:
            raise pytest.UsageError(f"{source}={str(written)!r}: {problem}")


def _unwritable(path: Path) -> str | None:
    """Why no file can be written at ``path`` (nothing is created to find out), or None."""
    try:
        if path.is_dir():
            return f"{path} is a directory; name a file in it, e.g. {path / 'report.json'}"
        if path.exists():
            writable = os.access(path, os.W_OK)
            return None if writable else f"the file {path} cannot be written (permission denied)"
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            return f"{parent} is a file, not a directory, so nothing can be created in it"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"the directory {parent} cannot be written (permission denied)"
    except (OSError, ValueError) as problem:  # a name too long, a NUL byte, ...
        reason = problem.strerror if isinstance(problem, OSError) else None
        return f"{path} cannot be a file's name ({reason or problem})"
    return None


def _replay(value: str | None, root: Path) -> tuple[FaultPlan | None, dict[str, FaultPlan]]:
    """``--flowfault-replay``: plan code for every test, or a counterexamples file.

    The text is parsed by the plan grammar (:func:`replay.parse_plan`), never executed.
    """
    if value is None:
        return None, {}
    from pytest_flowfault.errors import InvalidFaultPlan
    from pytest_flowfault.replay import parse_plan

    try:
        if Path(value).suffix != ".json":
            origin = f"--flowfault-replay={_shown(value)}"
            return parse_plan(value, origin=origin, importable_from=[root]), {}
        return None, {
            nodeid: parse_plan(
                plan, origin=f"--flowfault-replay={value}, test {nodeid!r}", importable_from=[root]
            )
            for nodeid, plan in _counterexamples(value).items()
        }
    except InvalidFaultPlan as problem:
        raise pytest.UsageError(str(problem)) from None


def _counterexamples(value: str) -> dict[str, str]:
    from pytest_flowfault.report import COUNTEREXAMPLES_SHAPE, read_counterexamples

    try:
        return read_counterexamples(Path(value))
    except ValueError as problem:
        raise pytest.UsageError(
            f"--flowfault-replay={value}: the file {problem}; a counterexamples file looks "
            f"like {COUNTEREXAMPLES_SHAPE}; give the .counterexamples.json that "
            f"--flowfault-report=PATH.json writes next to its report, or one plan as "
            f"FaultPlan(...) code"
        ) from None


def _shown(text: str) -> str:
    """``text`` quoted for a message, shortened when it is long."""
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _parse_fault(config: pytest.Config, kind: str | None, value: str, source: str) -> Fault:
    written = value
    if kind is None:
        kind, colon, value = value.partition(":")
        if not colon:
            raise pytest.UsageError(
                f"{source}={written!r}: write KIND:VALUE, e.g. fail:create_instance:2"
            )
    try:
        fault: Fault | None = config.hook.pytest_flowfault_parse_fault(
            kind=kind, value=value, config=config
        )
    except ValueError as problem:
        raise pytest.UsageError(f"{source}={written!r}: {problem}") from None
    if fault is None:
        raise pytest.UsageError(
            f"{source}={written!r}: unknown fault kind {kind!r}; built in are fail and "
            f"fail_revert, and plugins add kinds with the pytest_flowfault_parse_fault hook"
        )
    return fault


def builtin_fault(kind: str, value: str, root: Path) -> Fault | None:
    """A fault of a built-in kind, ``fail`` or ``fail_revert``, from ``TARGET[:TIMES]``;
    None for other kinds. Raises ``ValueError`` saying what is wrong with ``value``.

    A ``class:package.module.TaskClass`` target is resolved as replay resolves exception
    classes: from a module imported already (by a conftest.py) or one of the project's
    own, under ``root``.
    """
    from pytest_flowfault.plan import Fault

    if kind not in ("fail", "fail_revert"):
        return None
    try:
        target, times = options.target_and_times(value)
    except argparse.ArgumentTypeError as problem:
        raise ValueError(str(problem)) from None
    build = Fault.fail if kind == "fail" else Fault.fail_revert
    return build(_class_target(target, root), times=times)


def _class_target(target: str, root: Path) -> Target:
    from pytest_flowfault.resolve import Refused, atom_class_at

    if not target.startswith(CLASS_PREFIX):
        return target
    try:
        return atom_class_at(target[len(CLASS_PREFIX):].split("."), [root])
    except Refused as refusal:
        raise ValueError(
            f"{target} {refusal}; write class:package.module.TaskClass[:TIMES] naming a "
            f"TaskFlow Task (or Retry) subclass"
        ) from None


def _from_ini(parse: Any, config: pytest.Config, ini: str, value: str | None = None) -> Any:
    text = config.getini(ini) if value is None else value
    try:
        return parse(text)
    except argparse.ArgumentTypeError as problem:
        raise pytest.UsageError(f"ini key {ini}: {problem}") from None


#: What pytest reads as a boolean ini value, in any case.
TRUTH_VALUES = ("true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f")


def _flag(config: pytest.Config, ini: str) -> bool:
    """A boolean ini key; pytest's own error ("invalid truth value") names no key."""
    try:
        return bool(config.getini(ini))
    except (ValueError, TypeError, pytest.UsageError) as problem:
        # pytest says "invalid truth value 'x'" (ini files) or "... got str: 'x'" (TOML).
        found = re.search(r"(?:invalid truth value|got \w+:) (.+)$", str(problem))
        value = found.group(1) if found else f"the value ({problem})"
        accepted = (
            "true or false (a TOML boolean, without quotes)"
            if "expects a bool" in str(problem)
            else f"one of {', '.join(TRUTH_VALUES)} (in any case)"
        )
        raise pytest.UsageError(
            f"ini key {ini}: {value} is not a boolean; write {accepted}, e.g. {ini} = true"
        ) from None


def _compensation(config: pytest.Config) -> tuple[str, tuple[str, ...]]:
    """``--flowfault-compensation``, else its ini key, else the deprecated ``strict`` ones."""
    chosen = config.option.flowfault_compensation
    if chosen is None and config.getini("flowfault_compensation"):
        chosen = _from_ini(options.compensation, config, "flowfault_compensation")
    deprecations = []
    for old, given in (
        ("--flowfault-strict", config.option.flowfault_strict),
        ("ini key flowfault_strict", _flag(config, "flowfault_strict")),
    ):
        if given:
            deprecations.append(
                f"{old} is deprecated: it is --flowfault-compensation=basic (ini "
                f"flowfault_compensation = basic), as run.assert_compensated(); it never "
                f"applied strict=True, which is --flowfault-compensation=strict"
            )
            chosen = chosen or "basic"
    return chosen or "", tuple(deprecations)


def _seed(config: pytest.Config) -> tuple[int, str]:
    """The session seed: from the xdist controller, the option, the ini file, or new."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "flowfault_seed" in workerinput:
        return int(workerinput["flowfault_seed"]), ""
    wanted = config.option.flowfault_seed
    if wanted is None and config.getini("flowfault_seed"):
        wanted = _from_ini(options.seed, config, "flowfault_seed")
    cache = getattr(config, "cache", None)
    note = ""
    if wanted == "last":
        wanted = cache.get(_SEED_CACHE_KEY, None) if cache is not None else None
        note = " (last)" if wanted is not None else " (no last seed remembered: a new one)"
    seed = int(wanted) if wanted is not None else random.Random().getrandbits(32)
    if cache is not None:
        cache.set(_SEED_CACHE_KEY, seed)
    return seed, note
