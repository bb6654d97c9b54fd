"""pytest-flowfault: prove that TaskFlow flows survive failure.

Names are loaded on first use, so that the pytest plugin (``pytest_flowfault.plugin``)
can be imported without importing TaskFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flowfault.errors import FaultNotInjected as FaultNotInjected
    from pytest_flowfault.errors import FlowCrash as FlowCrash
    from pytest_flowfault.errors import FlowFaultError as FlowFaultError
    from pytest_flowfault.errors import InjectedFault as InjectedFault
    from pytest_flowfault.errors import InvalidFaultPlan as InvalidFaultPlan
    from pytest_flowfault.errors import MissingExtra as MissingExtra
    from pytest_flowfault.errors import SweepError as SweepError
    from pytest_flowfault.errors import UnknownAtom as UnknownAtom
    from pytest_flowfault.errors import UnmatchedFault as UnmatchedFault
    from pytest_flowfault.errors import UpgradeError as UpgradeError
    from pytest_flowfault.errors import WorkerTaskError as WorkerTaskError
    from pytest_flowfault.explore import sweep as sweep
    from pytest_flowfault.fixture import FlowFault as FlowFault
    from pytest_flowfault.jobboard.board import JobBoard as JobBoard
    from pytest_flowfault.jobboard.job import ConductorRun as ConductorRun
    from pytest_flowfault.jobboard.job import Job as Job
    from pytest_flowfault.jobboard.redis_server import RedisServer as RedisServer
    from pytest_flowfault.plan import Fault as Fault
    from pytest_flowfault.plan import FaultPlan as FaultPlan
    from pytest_flowfault.run import AtomInfo as AtomInfo
    from pytest_flowfault.run import Event as Event
    from pytest_flowfault.run import FlowRun as FlowRun
    from pytest_flowfault.session import run_flow as run_flow
    from pytest_flowfault.variants import SweepReport as SweepReport
    from pytest_flowfault.variants import Variant as Variant

__version__ = "0.1.0"

_EXPORTS = {
    "AtomInfo": "pytest_flowfault.run",
    "ConductorRun": "pytest_flowfault.jobboard.job",
    "Event": "pytest_flowfault.run",
    "Fault": "pytest_flowfault.plan",
    "FaultPlan": "pytest_flowfault.plan",
    "FlowFault": "pytest_flowfault.fixture",
    "FlowRun": "pytest_flowfault.run",
    "FaultNotInjected": "pytest_flowfault.errors",
    "FlowCrash": "pytest_flowfault.errors",
    "FlowFaultError": "pytest_flowfault.errors",
    "InjectedFault": "pytest_flowfault.errors",
    "MissingExtra": "pytest_flowfault.errors",
    "InvalidFaultPlan": "pytest_flowfault.errors",
    "Job": "pytest_flowfault.jobboard.job",
    "JobBoard": "pytest_flowfault.jobboard.board",
    "RedisServer": "pytest_flowfault.jobboard.redis_server",
    "UnknownAtom": "pytest_flowfault.errors",
    "UnmatchedFault": "pytest_flowfault.errors",
    "UpgradeError": "pytest_flowfault.errors",
    "WorkerTaskError": "pytest_flowfault.errors",
    "run_flow": "pytest_flowfault.session",
    "sweep": "pytest_flowfault.explore",
    "SweepError": "pytest_flowfault.errors",
    "SweepReport": "pytest_flowfault.variants",
    "Variant": "pytest_flowfault.variants",
}

__all__ = [
    "AtomInfo",
    "ConductorRun",
    "Event",
    "Fault",
    "FaultPlan",
    "FlowFault",
    "FlowRun",
    "FaultNotInjected",
    "FlowCrash",
    "FlowFaultError",
    "InjectedFault",
    "InvalidFaultPlan",
    "Job",
    "JobBoard",
    "MissingExtra",
    "RedisServer",
    "UnknownAtom",
    "UnmatchedFault",
    "UpgradeError",
    "WorkerTaskError",
    "SweepError",
    "SweepReport",
    "Variant",
    "run_flow",
    "sweep",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pytest_flowfault' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
