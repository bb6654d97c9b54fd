"""Release 2 of the boot flow, written carefully: ``create_instance`` also reports the
instance's host.

Its result changes shape (``{"id": ..., "host": ...}`` where release 1 returned the id), so
it is a minor version bump whose code accepts both shapes wherever a result of release 1
may still arrive: in its own revert, and in the consumer of ``instance_id``. Names, the
other tasks and what each requires and provides stay as they were.
"""

from __future__ import annotations

from typing import Any

import boot
from boot import Cloud, CreateVolume
from taskflow import task
from taskflow.patterns import linear_flow


def instance_id_of(result: Any) -> str | None:
    """The instance id in a result of release 2 (a dict) or of release 1 (the id itself);
    None for a ``Failure`` (the execute failed)."""
    if isinstance(result, dict):
        return str(result["id"])
    return result if isinstance(result, str) else None


class CreateInstance(task.Task):
    default_provides = "instance_id"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="create_instance")
        self.version = (1, 1)
        self.cloud = cloud

    def execute(self, instance_name: str) -> dict[str, str]:
        instance_id = self.cloud.new_id("inst")
        self.cloud.instances[instance_id] = instance_name
        return {"id": instance_id, "host": "compute-1"}

    def revert(self, instance_name: str, result: Any, **kwargs: Any) -> None:
        instance_id = instance_id_of(result)
        if instance_id is not None:
            self.cloud.instances.pop(instance_id, None)


class AttachVolume(task.Task):
    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="attach_volume_to_instance")
        self.cloud = cloud

    def execute(self, volume_id: str, instance_id: Any) -> None:
        self.cloud.attachments.add((volume_id, str(instance_id_of(instance_id))))

    def revert(self, volume_id: str, instance_id: Any, **kwargs: Any) -> None:
        self.cloud.attachments.discard((volume_id, str(instance_id_of(instance_id))))


def boot_flow(cloud: Cloud) -> linear_flow.Flow:
    """Volume, then instance, then attach, as in release 1."""
    return linear_flow.Flow("boot").add(
        CreateVolume(cloud), CreateInstance(cloud), AttachVolume(cloud)
    )


def shared_boot_flow() -> linear_flow.Flow:
    """``boot_flow`` on ``boot.SHARED_CLOUD``, for jobs run by conductors."""
    return boot_flow(boot.SHARED_CLOUD)
