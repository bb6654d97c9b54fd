"""The command line and ini keys: declared here (:func:`add_options`), with the ``type=``
callables that parse their values; :mod:`pytest_flowfault.settings` reads them.

Each error says what was wrong, where it came from and how to fix it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import pytest

from pytest_flowfault.catalog import PLAN_SWEEP_KINDS
from pytest_flowfault.targets import CLASS_PREFIX

REPORT_SUFFIXES = (".json", ".html")


def target_and_times(value: str) -> tuple[str, int | None]:
    """Parse ``TARGET[:TIMES]`` (an ``argparse`` type): ``'attach*:2'`` -> ``('attach*', 2)``.

    A task class is ``class:package.module.TaskClass[:TIMES]``; its dotted path is only
    checked for shape here (``settings`` imports it, once the conftest files are loaded):
    ``'class:app.tasks.Boot:2'`` -> ``('class:app.tasks.Boot', 2)``.
    """
    if value.startswith(CLASS_PREFIX):
        path, _, times_text = value[len(CLASS_PREFIX):].partition(":")
        parts = path.split(".")
        if len(parts) < 2 or not all(p.isidentifier() and not p.startswith("__") for p in parts):
            raise argparse.ArgumentTypeError(
                f"{value!r}: {path!r} is not the dotted path of a class; write "
                f"class:package.module.TaskClass, or class:package.module.TaskClass:TIMES"
            )
        target = CLASS_PREFIX + path
    else:
        target, colon, times_text = value.rpartition(":")
        if not colon:
            target, times_text = value, ""
        if not target.strip():
            raise argparse.ArgumentTypeError(
                f"{value!r} names no atom; write TARGET or TARGET:TIMES, e.g. "
                f"'create_instance:2', or class:package.module.TaskClass[:TIMES]"
            )
    if not times_text:
        return target, None
    try:
        times = int(times_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: {times_text!r} is not a number of attempts; write TARGET:TIMES with "
            f"TIMES >= 1, e.g. 'create_instance:2', or just TARGET to fail every attempt"
        ) from None
    if times < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r}: TIMES must be at least 1, got {times}; leave it out to fail every "
            f"attempt"
        )
    return target, times


def rate(value: str) -> float:
    """Parse a probability from 0 to 1 (an ``argparse`` type)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number; give a probability from 0 to 1, e.g. 0.2"
        ) from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(
            f"{value!r} is outside [0, 1]; give a probability, e.g. 0.2 for one attempt in five"
        )
    return number


def seed(value: str) -> int | Literal["last"]:
    """Parse ``INT`` or ``last`` (an ``argparse`` type)."""
    if value == "last":
        return "last"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer or 'last'") from None


def report_path(value: str) -> Path:
    """Parse a report file name ending in .json or .html (an ``argparse`` type)."""
    if "\0" in value:
        # No file name holds one; pathlib only says so (ValueError) when the file is written.
        raise argparse.ArgumentTypeError(f"{value!r} holds a NUL byte, which no file name can")
    path = Path(value)
    if path.suffix not in REPORT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{value!r} must end in .json or .html (give the option twice for both)"
        )
    return path


COMPENSATION_CHECKS = ("basic", "strict")


def compensation(value: str) -> str:
    """``basic`` or ``strict``: how ``--flowfault-compensation`` checks every run."""
    if value not in COMPENSATION_CHECKS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a compensation check: use basic (as assert_compensated()) or "
            f"strict (as assert_compensated(strict=True))"
        )
    return value


def sweep_kinds(value: str) -> tuple[str, ...]:
    """Parse ``--flowfault-sweep=KINDS`` (an ``argparse`` type): ``'transient,revert'``."""
    kinds = tuple(kind.strip() for kind in value.split(",") if kind.strip())
    known = PLAN_SWEEP_KINDS
    unknown = [kind for kind in kinds if kind not in known]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give kinds separated by commas, from {', '.join(known)}"
        )
    return kinds


def add_options(parser: pytest.Parser) -> None:
    """Declare every ``--flowfault-*`` option and ``flowfault_*`` ini key."""
    group = parser.getgroup("flowfault", "fault injection into TaskFlow flows (pytest-flowfault)")
    group.addoption(
        "--flowfault-fail",
        action="append",
        type=_validated(target_and_times),
        metavar="TARGET[:TIMES]",
        help="make execute of the atoms TARGET names fail on the first TIMES attempts of "
        "every run (every attempt without :TIMES), in every test. TARGET is an atom name, "
        "a pattern, or class:package.module.TaskClass (its instances). Repeatable. "
        "ini: flowfault_fail",
    )
    group.addoption(
        "--flowfault-fail-revert",
        action="append",
        type=_validated(target_and_times),
        metavar="TARGET[:TIMES]",
        help="make revert of the atoms TARGET names fail, in every test. Repeatable. "
        "ini: flowfault_fail_revert",
    )
    group.addoption(
        "--flowfault-fault",
        action="append",
        metavar="KIND:VALUE",
        help="a fault of a kind a plugin adds (pytest_flowfault_parse_fault hook); "
        "fail:TARGET[:TIMES] and fail_revert:TARGET[:TIMES] are built in. Repeatable. "
        "ini: flowfault_fault",
    )
    group.addoption(
        "--flowfault-chaos",
        type=rate,
        metavar="RATE",
        help="every execute attempt of every atom fails with probability RATE (0 to 1), "
        "drawn from the seed. ini: flowfault_chaos",
    )
    group.addoption(
        "--flowfault-seed",
        type=seed,
        metavar="INT|last",
        help="base seed for chaos (each test adds the CRC32 of its node id); 'last' reuses "
        "the previous run's. ini: flowfault_seed",
    )
    group.addoption(
        "--flowfault-report",
        action="append",
        type=report_path,
        metavar="PATH",
        help="write a resilience report to PATH (.json or .html; give twice for both). "
        "ini: flowfault_report",
    )
    group.addoption(
        "--flowfault-compensation",
        nargs="?",
        const="basic",
        type=compensation,
        metavar="basic|strict",
        help="fail any test with a recorded run that did not succeed and was not "
        "compensated, even if the test did not check: basic as run.assert_compensated(), "
        "strict as run.assert_compensated(strict=True) (a completed task without a revert "
        "of its own fails, unless flowfault_nothing_to_undo names it). Also how "
        "--flowfault-sweep judges its variants. Default basic. ini: flowfault_compensation",
    )
    group.addoption(
        "--flowfault-strict",
        action="store_true",
        default=None,
        help="deprecated: the same as --flowfault-compensation=basic (it never meant "
        "strict=True)",
    )
    group.addoption(
        "--flowfault-virtual-time",
        action="store_true",
        default=None,
        help="skip time.sleep() inside the atoms of every recorded run, moving the run's "
        "virtual clock on instead (tenacity waits, sleeping retry controllers). ini: "
        "flowfault_virtual_time",
    )
    group.addoption(
        "--flowfault-sweep",
        nargs="?",
        const=("transient", "permanent"),
        type=sweep_kinds,
        metavar="KINDS",
        help="re-run every passing test that uses the flowfault fixture once per fault point "
        "of its own runs (KINDS: transient,permanent[,revert]; default transient,permanent); "
        "a variant fails unless each run succeeded or was reverted and compensated",
    )
    group.addoption(
        "--flowfault-replay",
        metavar="PLAN|FILE.json",
        help="put a fault plan in force in every test (the FaultPlan(...) code a report "
        "printed), or each test's own plan from a counterexamples file",
    )
    parser.addini("flowfault_fail", "default --flowfault-fail values", type="linelist")
    parser.addini("flowfault_fail_revert", "default --flowfault-fail-revert values", type="linelist")
    parser.addini("flowfault_fault", "default --flowfault-fault values", type="linelist")
    parser.addini("flowfault_chaos", "default --flowfault-chaos rate", type="string")
    parser.addini("flowfault_seed", "default --flowfault-seed", type="string")
    parser.addini("flowfault_report", "default --flowfault-report paths", type="linelist")
    parser.addini(
        "flowfault_compensation", "default for --flowfault-compensation (basic or strict)",
        type="string", default="",
    )
    parser.addini(
        "flowfault_nothing_to_undo",
        "tasks that create nothing (atom names, patterns or task classes by dotted path): "
        "strict compensation checks do not ask them for a revert of their own",
        type="linelist",
    )
    parser.addini("flowfault_strict", "deprecated: flowfault_compensation = basic", type="bool",
                  default=False)
    parser.addini(
        "flowfault_virtual_time", "default for --flowfault-virtual-time", type="bool", default=False
    )
    parser.addini(
        "flowfault_fast_parallel",
        "lend intercepted parallel engines a thread pool that shuts down at once, instead "
        "of TaskFlow's own (~1 s to join per run)",
        type="bool",
        default=True,
    )
    parser.addini(
        "flowfault_redis_server",
        "the redis-server executable the flowfault_redis fixture starts (default: "
        "redis-server on PATH, else the one the [jobboard] extra bundles)",
        type="string",
        default="",
    )


def _validated(parse: Any) -> Any:
    """An argparse type that checks a value with ``parse`` but keeps the text as written."""

    def check(value: str) -> str:
        parse(value)
        return value

    check.__name__ = parse.__name__
    return check
