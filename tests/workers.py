"""In-process TaskFlow workers on kombu's memory transport, for worker-based engine tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskflow.engines.worker_based import worker
from taskflow.utils import threading_utils


@contextmanager
def worker_engine_options(*tasks: str) -> Iterator[dict[str, Any]]:
    """Start one worker that can run ``tasks`` (``"module:Class"``); yield the options a
    ``worker-based`` engine needs to reach it; stop it afterwards."""
    shared = {
        "exchange": f"flowfault-{uuid.uuid4().hex}",
        "transport": "memory",
        "transport_options": {"polling_interval": 0.01},
    }
    topic = "flowfault-worker-1"
    remote = worker.Worker(topic=topic, tasks=list(tasks), **shared)
    runner = threading_utils.daemon_thread(remote.run)
    runner.start()
    remote.wait()
    try:
        yield {"engine": "worker-based", "topics": [topic], **shared}
    finally:
        remote.stop()
        runner.join()
