"""The boot-instance flows from the talk that introduced TaskFlow, against a fake cloud.

``Cloud`` keeps what the tasks create, so a test can see what a failed boot left behind.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from taskflow import task
from taskflow.patterns import graph_flow, linear_flow
from taskflow.retry import Retry

STORE = {"volume_name": "data", "instance_name": "web-1"}


class Cloud:
    """An in-memory stand-in for a compute and block-storage API."""

    def __init__(self, concurrent_creations: int = 1) -> None:
        # A slow API, without a clock: each creation answers once this many are in flight.
        self._in_flight = threading.Barrier(concurrent_creations, timeout=60)
        self.volumes: dict[str, str] = {}
        self.instances: dict[str, str] = {}
        self.attachments: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    def leftovers(self) -> list[str]:
        """What is still allocated: after a failed boot this must be empty."""
        return sorted([*self.volumes, *self.instances])

    def new_id(self, prefix: str) -> str:
        if self._in_flight.parties > 1:
            self._in_flight.wait()
        return f"{prefix}-{next(self._ids)}"


class CreateVolume(task.Task):
    default_provides = "volume_id"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="create_volume")
        self.cloud = cloud

    def execute(self, volume_name: str) -> str:
        volume_id = self.cloud.new_id("vol")
        self.cloud.volumes[volume_id] = volume_name
        return volume_id

    def revert(self, volume_name: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, str):  # a Failure when our own execute failed
            self.cloud.volumes.pop(result, None)


class CreateInstance(task.Task):
    default_provides = "instance_id"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="create_instance")
        self.cloud = cloud

    def execute(self, instance_name: str) -> str:
        instance_id = self.cloud.new_id("inst")
        self.cloud.instances[instance_id] = instance_name
        return instance_id

    def revert(self, instance_name: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, str):
            self.cloud.instances.pop(result, None)


class AttachVolume(task.Task):
    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="attach_volume_to_instance")
        self.cloud = cloud

    def execute(self, volume_id: str, instance_id: str) -> None:
        self.cloud.attachments.add((volume_id, instance_id))

    def revert(self, volume_id: str, instance_id: str, **kwargs: Any) -> None:
        self.cloud.attachments.discard((volume_id, instance_id))


def boot_flow(cloud: Cloud, retry: Retry | None = None) -> linear_flow.Flow:
    """Volume, then instance, then attach: a linear flow."""
    return linear_flow.Flow("boot", retry=retry).add(
        CreateVolume(cloud), CreateInstance(cloud), AttachVolume(cloud)
    )


def boot_graph_flow(cloud: Cloud, retry: Retry | None = None) -> graph_flow.Flow:
    """The same tasks, ordered only by what they provide and require."""
    return graph_flow.Flow("boot-graph", retry=retry).add(
        AttachVolume(cloud), CreateInstance(cloud), CreateVolume(cloud)
    )


def misordered_boot_flow(cloud: Cloud) -> linear_flow.Flow:
    """Attach listed first in a linear flow: it requires what nothing before it provides."""
    return linear_flow.Flow("misordered").add(
        AttachVolume(cloud), CreateVolume(cloud), CreateInstance(cloud)
    )


class CreateInstanceWithBuggyRevert(CreateInstance):
    """The classic bug: the revert assumes ``result`` is what ``execute`` returned."""

    def execute(self, instance_name: str) -> dict[str, str]:  # type: ignore[override]
        return {"id": super().execute(instance_name)}

    def revert(self, instance_name: str, result: Any, **kwargs: Any) -> None:
        # When our own execute failed, TaskFlow passes a Failure here, not a dict.
        self.cloud.instances.pop(result["id"], None)


def buggy_boot_flow(cloud: Cloud) -> linear_flow.Flow:
    return linear_flow.Flow("buggy-boot").add(
        CreateVolume(cloud), CreateInstanceWithBuggyRevert(cloud)
    )


class ReserveIp(task.Task):
    """Reserves an address and forgets to release it: TaskFlow's default revert is a no-op."""

    default_provides = "ip"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="reserve_ip")
        self.cloud = cloud

    def execute(self, instance_name: str) -> str:
        self.cloud.volumes["ip-for-" + instance_name] = "10.0.0.7"  # stands in for an IP pool
        return "10.0.0.7"


def boot_with_network_flow(cloud: Cloud) -> linear_flow.Flow:
    return linear_flow.Flow("boot-with-network").add(
        CreateVolume(cloud), ReserveIp(cloud), CreateInstance(cloud), AttachVolume(cloud)
    )


#: The cloud that flows built by a factory act on: conductors build their flows from a
#: factory imported by name, so the factory cannot be handed a cloud.
SHARED_CLOUD = Cloud()


def shared_boot_flow() -> linear_flow.Flow:
    """``boot_flow`` on :data:`SHARED_CLOUD`, for jobs run by conductors."""
    return boot_flow(SHARED_CLOUD)


# TaskFlow's workers build each task from its class name with name= alone
# (taskflow/engines/worker_based/endpoint.py), so a task of the worker-based engine cannot
# be handed a cloud: these reach SHARED_CLOUD, as a worker's tasks reach their service
# through a client of the worker's own.


class RemoteCreateVolume(CreateVolume):
    def __init__(self, name: str = "create_volume") -> None:
        super().__init__(SHARED_CLOUD)


class RemoteCreateInstance(CreateInstance):
    def __init__(self, name: str = "create_instance") -> None:
        super().__init__(SHARED_CLOUD)


class RemoteAttachVolume(AttachVolume):
    def __init__(self, name: str = "attach_volume_to_instance") -> None:
        super().__init__(SHARED_CLOUD)


def remote_boot_flow(retry: Retry | None = None) -> linear_flow.Flow:
    """``boot_flow`` for the worker-based engine: its tasks act on :data:`SHARED_CLOUD`."""
    return linear_flow.Flow("boot", retry=retry).add(
        RemoteCreateVolume(), RemoteCreateInstance(), RemoteAttachVolume()
    )


def remote_boot_graph_flow(retry: Retry | None = None) -> graph_flow.Flow:
    """``boot_graph_flow`` for the worker-based engine, on :data:`SHARED_CLOUD`."""
    return graph_flow.Flow("boot-graph", retry=retry).add(
        RemoteAttachVolume(), RemoteCreateInstance(), RemoteCreateVolume()
    )


class CreateInstanceWithMemo(task.Task):
    """Hands the instance id on through a dict the flow factory made, not ``provides``."""

    def __init__(self, cloud: Cloud, memo: dict[str, str]) -> None:
        super().__init__(name="create_instance")
        self.cloud = cloud
        self.memo = memo

    def execute(self, instance_name: str) -> None:
        self.memo["instance_id"] = self.cloud.new_id("inst")
        self.cloud.instances[self.memo["instance_id"]] = instance_name


class AttachFromMemo(task.Task):
    def __init__(self, cloud: Cloud, memo: dict[str, str]) -> None:
        super().__init__(name="attach_volume_to_instance")
        self.cloud = cloud
        self.memo = memo

    def execute(self, volume_id: str) -> None:
        self.cloud.attachments.add((volume_id, self.memo["instance_id"]))


def memo_boot_flow() -> linear_flow.Flow:
    """The bug: state that lives outside TaskFlow's storage is gone when another
    conductor takes the job over, since it builds the flow (and the memo) anew."""
    memo: dict[str, str] = {}
    return linear_flow.Flow("memo-boot").add(
        CreateVolume(SHARED_CLOUD),
        CreateInstanceWithMemo(SHARED_CLOUD, memo),
        AttachFromMemo(SHARED_CLOUD, memo),
    )
