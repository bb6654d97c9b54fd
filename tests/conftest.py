from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# pytester's in-process runs forget every module a run imported; TaskFlow must be
# imported once, out here, or each run would see classes of a different identity.
# Hypothesis too: its pytest plugin imports it at the end of every run, and re-importing
# (and assertion-rewriting) its 150 modules would cost ~1.2 s per pytester run.
import hypothesis
import pytest
import taskflow.patterns.graph_flow  # noqa: F401
import taskflow.patterns.linear_flow  # noqa: F401
import taskflow.patterns.unordered_flow  # noqa: F401
import taskflow.persistence.backends.impl_sqlalchemy  # noqa: F401  (SQLAlchemy, alembic)
import taskflow.retry  # noqa: F401
from flowkit import Log
from postgres_server import INSTALL_HINT, find_postgres, postgres_server

import pytest_flowfault.engine  # noqa: F401  (imports taskflow.engines)

# No property may depend on how fast the machine is: CI runs on a loaded 2-core machine.
hypothesis.settings.register_profile("flowfault", deadline=None)
hypothesis.settings.load_profile("flowfault")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole test session (~1 s to start); the test
    skips, saying what to install, on a machine that has none."""
    binaries = find_postgres()
    if binaries is None:
        pytest.skip(INSTALL_HINT)
    with postgres_server(binaries) as url:
        yield url


@pytest.fixture
def log() -> Log:
    """What the real code of the test tasks did."""
    return Log()


BOOT = '''
import threading

from taskflow import task
from taskflow.patterns import graph_flow, linear_flow

CREATED = []
THREADS = []


class CreateVolume(task.Task):
    default_provides = "volume_id"

    def execute(self, volume_name):
        CREATED.append(volume_name)
        return "vol-1"

    def revert(self, volume_name, **kwargs):
        CREATED.remove(volume_name) if volume_name in CREATED else None


class CreateInstance(task.Task):
    default_provides = "instance_id"

    def execute(self, instance_name):
        CREATED.append(instance_name)
        return "inst-1"

    def revert(self, instance_name, **kwargs):
        CREATED.remove(instance_name) if instance_name in CREATED else None


class Attach(task.Task):
    def execute(self, volume_id, instance_id):
        THREADS.append(threading.current_thread().name)


STORE = {"volume_name": "v", "instance_name": "i"}


def boot_flow(retry=None):
    return linear_flow.Flow("boot", retry=retry).add(
        CreateVolume("create_volume"),
        CreateInstance("create_instance"),
        Attach("attach_volume_to_instance"),
    )


def boot_graph_flow(retry=None):
    return graph_flow.Flow("boot-graph", retry=retry).add(
        Attach("attach_volume_to_instance"),
        CreateInstance("create_instance"),
        CreateVolume("create_volume"),
    )
'''

# Code under test that imported TaskFlow's run function long before the test started.
SERVICE = '''
from taskflow.engines import run
from taskflow.retry import Times
import taskflow.engines

import boot


def boot_server():
    return run(boot.boot_flow(), store=boot.STORE)


def boot_server_with_retry():
    # every one of the three tasks may fail once: four attempts in all
    return run(boot.boot_flow(retry=Times(4)), store=boot.STORE)


def boot_server_quietly():
    try:
        return boot_server()
    except Exception:
        return None


def boot_server_in_parallel():
    return run(boot.boot_graph_flow(), store=boot.STORE, engine="parallel")


def boot_server_with_loaded_engine():
    engine = taskflow.engines.load(boot.boot_flow(), store=boot.STORE)
    engine.run()
    return engine.storage.fetch_all()
'''


WARNINGS_INI = """
[pytest]
filterwarnings =
    error
    ignore:eventletutils module is deprecated:DeprecationWarning
"""


@pytest.fixture
def boot(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the boot flows and a service that runs them."""
    pytester.makepyfile(boot=BOOT, service=SERVICE)
    pytester.makeini(WARNINGS_INI)
    return pytester


@pytest.fixture
def boot_example(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with examples/boot.py and the project's warning filters."""
    pytester.makepyfile(boot=(Path(__file__).parent.parent / "examples" / "boot.py").read_text())
    pytester.makeini(WARNINGS_INI)
    return pytester
