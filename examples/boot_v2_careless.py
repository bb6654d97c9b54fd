"""Release 2 of the boot flow, written carelessly: it boots the instance from its volume.

Against release 1 (``boot.boot_flow``), this release

* bumps ``create_instance`` to version 2.0 and returns ``{"id": ..., "volume": ...}``
  where release 1 returned the id alone, and its revert expects the new shape;
* renames ``create_volume`` to ``create_boot_volume`` (the same task class);
* removes ``attach_volume_to_instance`` (booting from the volume attaches it).

Each is harmless for a flow that starts on release 2, and a hazard for a flow that release 1
left half done.
"""

from __future__ import annotations

from typing import Any

import boot
from boot import Cloud
from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.types.failure import Failure


class CreateVolume(task.Task):
    default_provides = "volume_id"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="create_boot_volume")
        self.cloud = cloud

    def execute(self, volume_name: str) -> str:
        volume_id = self.cloud.new_id("vol")
        self.cloud.volumes[volume_id] = volume_name
        return volume_id

    def revert(self, volume_name: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, str):
            self.cloud.volumes.pop(result, None)


class CreateInstance(task.Task):
    default_provides = "instance_id"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(name="create_instance")
        self.version = (2, 0)  # on the instance: TaskFlow ignores a class attribute
        self.cloud = cloud

    def execute(self, instance_name: str, volume_id: str) -> dict[str, str]:
        instance_id = self.cloud.new_id("inst")
        self.cloud.instances[instance_id] = instance_name
        self.cloud.attachments.add((volume_id, instance_id))
        return {"id": instance_id, "volume": volume_id}

    def revert(self, instance_name: str, result: Any, **kwargs: Any) -> None:
        if not isinstance(result, Failure):
            self.cloud.instances.pop(result["id"], None)  # release 1 saved a str here


def boot_flow(cloud: Cloud) -> linear_flow.Flow:
    """Volume, then an instance booted from it."""
    return linear_flow.Flow("boot").add(CreateVolume(cloud), CreateInstance(cloud))


def shared_boot_flow() -> linear_flow.Flow:
    """``boot_flow`` on ``boot.SHARED_CLOUD``, for jobs run by conductors."""
    return boot_flow(boot.SHARED_CLOUD)
