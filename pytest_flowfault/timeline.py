"""A run as a readable table: one event a row, long atom names folded."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from pytest_flowfault.errors import describe_error
from pytest_flowfault.targets import short_labels

if TYPE_CHECKING:
    from pytest_flowfault.run import FlowRun

_NAME_COLUMN = 40  # characters: Octavia's names reach 125
_WIDTH = 120  # characters a line of the full names below the table may take


def format_timeline(run: FlowRun) -> str:
    """Render a run as an aligned table, one event a row; names longer than the atom
    column are folded there and spelled out in full below the table."""
    labels = short_labels((event.name for event in run.events), _NAME_COLUMN)
    name_width = max([len(label) for label in labels.values()] + [4])
    lines = [
        f"flow {run.flow_name!r} on the {run.engine} engine ended {run.state}"
        + (f" with {describe_error(run.error)}" if run.error is not None else ""),
        f"{'#':>4}  {'time':>8}  {'atom':<{name_width}}  event",
    ]
    for event in run.events:
        lines.append(
            f"{event.seq:>4}  {event.at * 1000:>6.1f}ms  {labels[event.name]:<{name_width}}  "
            + event.text
            + (" [injected]" if event.injected else "")
        )
    folded = [(label, name) for name, label in labels.items() if label != name]
    if folded:
        lines.append("names in full:")
        lines += [
            textwrap.fill(f"{label} = {name}", _WIDTH, initial_indent="  ",
                          subsequent_indent="    ")
            for label, name in folded
        ]
    sleeps = [event.seconds for event in run.events if event.seconds is not None]
    if sleeps:
        lines.append(f"virtual time: {sum(sleeps):g} s skipped in {len(sleeps)} sleeps")
    for problem in run.recorder_errors:
        lines.append(f"recorder error: {problem}")
    return "\n".join(lines)
