"""Resilience reports: runs and tests as JSON-able records, the session summary, the JSON file.

Records are plain dicts of builtins so that they travel from xdist workers to the
controller inside test reports, and every output (terminal, JSON, HTML, JUnit) is made
from the same records.

JSON schema (``"schema": "pytest-flowfault-report", "version": 1``)::

    {"schema", "version", "seed", "command_line_faults": [repr, ...],
     "summary": {"tests", "runs", "faults_injected", "states": {STATE: count},
                 "not_injected": [{"fault", "reason", "atoms", "tests"}],
                 "compensation_violations": [{"test", "flow", "problems"}],
                 "never_matched": [repr, ...]},
     "tests": [{"nodeid", "test" (the node id without a sweep variant's suffix),
                "sweep_variant" (the FaultPlan a --flowfault-sweep variant added, or null),
                "outcome" (passed, failed, error, skipped, xfailed or xpassed),
                "seed", "faults": [repr, ...],
                "matched_faults": [repr, ...],
                "runs": [{"flow", "engine", "state", "error", "faults_injected",
                          "compensated": true | false | null, "compensation_problems",
                          "atoms": [{"name", "kind", "has_revert", "state", "attempts",
                                     "reverts", "verdict"}],
                          "dependencies": [[before, after], ...], "recorder_errors",
                          "not_injected": [{"fault", "atom", "reason"}] (faults that
                              matched atoms they could never fire on),
                          "events": [{"seq", "at", "kind", "name", "what", "old_state",
                                      "attempt", "injected", "error", "seconds",
                                      "worker"}],
                          "calls": [[start_seq, end_seq], ...],
                          "virtual_seconds_skipped"}]}]}

The counterexamples file written next to the first report is described once, in
:data:`COUNTEREXAMPLES_SHAPE`; :func:`read_counterexamples` checks a file against it.

``compensated`` is null for runs that succeeded (nothing to undo) and for runs that
crashed or were suspended (they are to be resumed, not undone). ``at`` is seconds since
the run began; an event's ``attempt`` counts calls of that atom's ``execute`` or ``revert``
separately.

Each atom carries its verdict, computed once by the checks (``FlowRun.verdict``): ``state``
is the last state the engine gave it (null if none), ``attempts`` and ``reverts`` count its
``execute`` and ``revert`` calls, and ``verdict`` is one of ``never ran``, ``executed``,
``failed``, ``reverted``, ``reverted without running``, ``revert failed`` or ``not undone``
(a task that completed in a run that was to be compensated and was never reverted; never
in a run whose ``compensated`` is null). ``calls`` pairs each ``execute``/``revert`` call's
start and end events by their ``seq``, in the order the calls ended; a call that never
ended has ``end_seq`` null and comes last.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from pytest_flowfault.errors import describe_error
from pytest_flowfault.run import Event, FlowRun

SCHEMA = "pytest-flowfault-report"
VERSION = 1

#: A record as it travels (a test, the summary, the document): builtins only.
Record = dict[str, Any]


class AtomRecord(TypedDict):
    """An entry of a run's ``atoms``: the atom and its verdict."""

    name: str
    kind: str
    has_revert: bool | None
    state: str | None
    attempts: int
    reverts: int
    verdict: str


class EventRecord(TypedDict):
    """An entry of a run's ``events``."""

    seq: int
    at: float
    kind: str
    name: str
    what: str
    old_state: str | None
    attempt: int | None
    injected: bool
    error: str | None
    seconds: float | None
    worker: str | None


class NotInjectedRecord(TypedDict):
    """An entry of a run's ``not_injected``."""

    fault: str
    atom: str
    reason: str


class RunRecord(TypedDict):
    """One run, as :func:`run_record` makes it (the module docstring has the schema)."""

    flow: str
    engine: str
    state: str
    error: str | None
    faults_injected: int
    virtual_seconds_skipped: float
    compensated: bool | None
    compensation_problems: list[str]
    atoms: list[AtomRecord]
    dependencies: list[list[str]]
    recorder_errors: list[str]
    not_injected: list[NotInjectedRecord]
    events: list[EventRecord]
    calls: list[list[int | None]]


def run_record(run: FlowRun) -> RunRecord:
    """One run as builtins, its verdicts as ``run.verdict`` holds them."""
    verdict = run.verdict
    return {
        "flow": run.flow_name,
        "engine": run.engine,
        "state": run.state,
        "error": describe_error(run.error) if run.error is not None else None,
        "faults_injected": sum(event.is_injected_fault for event in run.events),
        "virtual_seconds_skipped": run.slept,
        "compensated": verdict.compensated,
        "compensation_problems": list(verdict.problems) if verdict.compensated is False else [],
        "atoms": [
            {
                "name": atom.name, "kind": atom.kind, "has_revert": atom.has_revert,
                "state": judged.state, "attempts": judged.attempts, "reverts": judged.reverts,
                "verdict": judged.verdict,
            }
            for atom, judged in zip(run.atoms, verdict.atoms)
        ],
        "dependencies": [list(pair) for pair in run.dependencies],
        "recorder_errors": list(run.recorder_errors),
        "not_injected": [
            {"fault": repr(miss.fault), "atom": miss.atom, "reason": miss.reason}
            for miss in run.not_injected
        ],
        "events": [event_record(event) for event in run.events],
        "calls": [
            [start.seq, end.seq if end is not None else None] for start, end in run.call_spans()
        ],
    }


def event_record(event: Event) -> EventRecord:
    """One event as builtins: its error described, its time rounded to the microsecond."""
    return {
        "seq": event.seq,
        "at": round(event.at, 6),
        "kind": event.kind,
        "name": event.name,
        "what": event.what,
        "old_state": event.old_state,
        "attempt": event.attempt,
        "injected": event.injected,
        "error": describe_error(event.error) if event.error is not None else None,
        "seconds": event.seconds,
        "worker": event.worker,
    }


def record_of_test(
    *,
    nodeid: str,
    test: str | None = None,
    variant: str | None = None,
    outcome: str,
    seed: int,
    faults: Sequence[str],
    matched_faults: Sequence[str],
    runs: Iterable[FlowRun],
) -> Record:
    """One test, with the faults in force and its runs, as builtins."""
    return {
        "nodeid": nodeid,
        "test": test or nodeid,
        "sweep_variant": variant,
        "outcome": outcome,
        "seed": seed,
        "faults": list(faults),
        "matched_faults": list(matched_faults),
        "runs": [run_record(run) for run in runs],
    }


def summary(tests: Sequence[Record], command_line_faults: Sequence[str]) -> Record:
    """Totals over all tests: runs, injected faults, end states, violations, unmatched."""
    states: Counter[str] = Counter()
    violations = []
    matched: set[str] = set()
    for test in tests:
        matched.update(test["matched_faults"])
        for run in test["runs"]:
            states[run["state"]] += 1
            if run["compensated"] is False:
                violations.append(
                    {
                        "test": test["nodeid"],
                        "flow": run["flow"],
                        "problems": run["compensation_problems"],
                    }
                )
    not_injected: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
    for test in tests:
        for run in test["runs"]:
            for miss in run.get("not_injected", ()):
                where = (test["nodeid"], run["flow"], miss["atom"])
                not_injected.setdefault((miss["fault"], miss["reason"]), set()).add(where)
    return {
        "tests": len(tests),
        "runs": sum(states.values()),
        "faults_injected": sum(run["faults_injected"] for t in tests for run in t["runs"]),
        "not_injected": [
            {"fault": fault, "reason": reason, "atoms": len(where),
             "tests": len({nodeid for nodeid, _, _ in where})}
            for (fault, reason), where in sorted(not_injected.items())
        ],
        "states": dict(sorted(states.items())),
        "compensation_violations": violations,
        "never_matched": [fault for fault in command_line_faults if fault not in matched],
    }


def document(tests: Sequence[Record], *, seed: int, command_line_faults: Sequence[str]) -> Record:
    """The whole report: what the JSON file holds and the HTML file shows."""
    ordered = sorted(tests, key=lambda test: test["nodeid"])
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "seed": seed,
        "command_line_faults": list(command_line_faults),
        "summary": summary(ordered, command_line_faults),
        "tests": ordered,
    }


def write_json(path: Path, report: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


COUNTEREXAMPLES_SCHEMA = "pytest-flowfault-counterexamples"
#: The counterexamples file, as :func:`write_counterexamples` writes it and
#: :func:`read_counterexamples` checks it ("schema" and "version" may be left out).
COUNTEREXAMPLES_SHAPE = (
    '{"schema": "pytest-flowfault-counterexamples", "version": 1, "seed": INT, '
    '"tests": {"NODE_ID": ["FaultPlan(...)", ...], ...}}'
)


def write_counterexamples(path: Path, report: Record) -> None:
    """For each failed test that had faults in force, the plan that replays it.

    The file has the shape :data:`COUNTEREXAMPLES_SHAPE`: each test's plans are
    ``FaultPlan`` reprs, and ``pytest --flowfault-replay=PATH`` puts each test's first plan
    back in force.
    """
    tests: dict[str, list[str]] = {}
    for test in report["tests"]:
        if test["outcome"] in ("failed", "error") and test["faults"]:
            plan = f"FaultPlan({', '.join(test['faults'])})"
            tests.setdefault(test["test"], []).append(plan)
    write_json(
        path,
        {"schema": COUNTEREXAMPLES_SCHEMA, "version": VERSION,
         "seed": report["seed"], "tests": tests},
    )


def read_counterexamples(path: Path) -> dict[str, str]:
    """Each test's first plan (its text, not yet parsed) from a counterexamples file.

    Raises ``ValueError`` saying how the file differs from :data:`COUNTEREXAMPLES_SHAPE`.
    """
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as problem:
        raise ValueError(f"cannot be read ({problem.strerror or problem})") from None
    except UnicodeDecodeError as problem:
        raise ValueError(
            f"is not UTF-8 text (byte {problem.object[problem.start]:#04x} at offset "
            f"{problem.start})"
        ) from None
    except json.JSONDecodeError as problem:
        raise ValueError(f"is not JSON ({problem})") from None
    if not isinstance(data, dict):
        raise ValueError(f"holds a JSON {_json_type(data)}, not an object")
    if data.get("schema", COUNTEREXAMPLES_SCHEMA) != COUNTEREXAMPLES_SCHEMA:
        raise ValueError(f"has schema {data['schema']!r}, not {COUNTEREXAMPLES_SCHEMA!r}")
    if data.get("version", VERSION) != VERSION:
        raise ValueError(f"has version {data['version']!r}; this plugin reads version {VERSION}")
    if "tests" not in data:
        raise ValueError('has no "tests" key')
    tests = data["tests"]
    if not isinstance(tests, dict):
        raise ValueError(f'has "tests": a JSON {_json_type(tests)}, not an object')
    plans = {}
    for nodeid, entry in tests.items():
        if not (isinstance(entry, list) and entry and all(isinstance(p, str) for p in entry)):
            raise ValueError(
                f"maps test {json.dumps(nodeid)} to {_shown(entry)}, not to a non-empty list "
                f"of plans (strings)"
            )
        plans[nodeid] = entry[0]
    return plans


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def summary_lines(report: Record, *, verbose: bool) -> list[str]:
    """The terminal summary: a few lines, or one more line per test with ``verbose``."""
    totals = report["summary"]
    states = ", ".join(f"{state} {count}" for state, count in totals["states"].items())
    lines = [
        f"{totals['runs']} flow runs in {totals['tests']} tests, "
        f"{totals['faults_injected']} faults injected; runs ended: {states or 'none'}"
    ]
    violations = totals["compensation_violations"]
    if violations:
        lines.append(f"compensation violations: {len(violations)}")
        for violation in violations:
            lines.append(f"  {violation['test']} (flow {violation['flow']!r})")
            if verbose:
                lines.extend(f"    - {problem}" for problem in violation["problems"])
    else:
        lines.append("compensation violations: none")
    for fault in totals["never_matched"]:
        lines.append(f"never matched an atom: {fault} (from the command line)")
    for miss in totals.get("not_injected", ()):
        lines.append(
            f"not injected: {miss['fault']} into {miss['atoms']} atoms in {miss['tests']} "
            f"tests, because {miss['reason']}"
        )
    if verbose:
        for test in report["tests"]:
            runs = ", ".join(
                f"{run['flow']} {run['state']}"
                + (f" ({run['faults_injected']} injected)" if run["faults_injected"] else "")
                for run in test["runs"]
            )
            lines.append(f"{test['nodeid']} [{test['outcome']}]: {runs or 'no flow runs'}")
    return lines
