"""Octavia's create-load-balancer and delete-amphora flows, modelled against a fake cloud.

The shape follows OpenStack Octavia 19 (``octavia/controller/worker/v2``): the same atoms,
names (``ROLE-subflow-task``, some over 100 characters, typo included), ``provides``,
``requires``, ``rebind`` and ``inject``, the same retry controllers and tenacity-decorated
tasks, the same reverts. Octavia itself is not imported: its tasks reach their drivers
through stevedore at ``__init__``; here they take :data:`CLOUD` instead.

``CONF`` holds Octavia's production defaults. As in Octavia, some values are read while the
flow runs (``ComputeRetry``, ``ComputeWait``, ``AmpRetry``) and some are bound once, at
import (the tenacity decorators, ``delete_amphora_flow``'s default arguments).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity
from taskflow import retry, task
from taskflow.patterns import linear_flow, unordered_flow
from taskflow.types import failure

LOG = logging.getLogger(__name__)

# Names, from octavia/common/constants.py (the 'ocatvia' typo is Octavia's own).
LOADBALANCER_ID = "loadbalancer_id"
LOADBALANCER = "loadbalancer"
AMPHORA_ID = "amphora_id"
AMPHORA = "amphora"
AMPHORAE = "amphorae"
SERVER_PEM = "server_pem"
BUILD_TYPE_PRIORITY = "build_type_priority"
SERVER_GROUP_ID = "server_group_id"
FLAVOR = "flavor"
AVAILABILITY_ZONE = "availability_zone"
COMPUTE_ID = "compute_id"
COMPUTE_OBJ = "compute_obj"
VIP = "vip"
ADDITIONAL_VIPS = "additional_vips"
SUBNET = "subnet"
AMP_DATA = "amp_data"
UPDATE_DICT = "update_dict"
AMPHORA_NETWORK_CONFIG = "amphora_network_config"
AMPHORAE_NETWORK_CONFIG = "amphorae_network_config"
AMPHORAE_STATUS = "amphorae_status"
NEW_AMPHORA_ID = "new_amphora_id"
TIMEOUT_DICT = "timeout_dict"
AMPHORA_INDEX = "amphora_index"
AMP_VRRP_INT = "amp_vrrp_int"
PASSIVE_FAILURE = "passive_failure"
PORT_ID = "port_id"
VRRP_PORT_ID = "vrrp_port_id"
ATTEMPT_NUMBER = "attempt_number"
TOPOLOGY_SINGLE = "SINGLE"
TOPOLOGY_ACTIVE_STANDBY = "ACTIVE_STANDBY"
ROLE_STANDALONE = "STANDALONE"
ROLE_MASTER = "MASTER"
ROLE_BACKUP = "BACKUP"
LB_CREATE_NORMAL_PRIORITY = 40

CREATE_LOADBALANCER_FLOW = "octavia-create-loadbalancer-flow"
CREATE_AMP_FOR_LB_SUBFLOW = "octavia-create-amp-for-lb-subflow"
AMP_PLUG_NET_SUBFLOW = "octavia-plug-net-subflow"
POST_LB_AMP_ASSOCIATION_SUBFLOW = "octavia-post-loadbalancer-amp_association-subflow"
COMPUTE_CREATE_RETRY_SUBFLOW = "octavia-compute-create-retry-subflow"
CREATE_AMPHORA_RETRY_SUBFLOW = "octavia-create-amphora-retry-subflow"
GET_VRRP_SUBFLOW = "octavia-get-vrrp-subflow"
CREATE_AMPHORA_INDB = "octavia-create-amphora-indb"
GENERATE_SERVER_PEM = "octavia-generate-serverpem"
UPDATE_CERT_EXPIRATION = "octavia-update-cert-expiration"
CERT_COMPUTE_CREATE = "octavia-cert-compute-create"
UPDATE_AMPHORA_COMPUTEID = "octavia-update-amphora-computeid"
MARK_AMPHORA_BOOTING_INDB = "octavia-mark-amphora-booting-indb"
COMPUTE_WAIT = "octavia-compute-wait"
UPDATE_AMPHORA_INFO = "octavia-update-amphora-info"
AMP_COMPUTE_CONNECTIVITY_WAIT = "octavia-amp-compute-connectivity-wait"
AMPHORA_FINALIZE = "octavia-amphora-finalize"
MARK_AMPHORA_ALLOCATED_INDB = "octavia-mark-amphora-allocated-indb"
MARK_AMP_MASTER_INDB = "octavia-mark-amp-master-indb"
MARK_AMP_BACKUP_INDB = "octavia-mark-amp-backup-indb"
MARK_AMP_STANDALONE_INDB = "octavia-mark-amp-standalone-indb"
PLUG_VIP_AMPHORA = "octavia-amp-plug-vip"
APPLY_QOS_AMP = "octavia-amp-apply-qos"
UPDATE_AMPHORA_VIP_DATA = "ocatvia-amp-update-vip-data"
GET_AMP_NETWORK_CONFIG = "octavia-amp-get-network-config"
AMP_POST_VIP_PLUG = "octavia-amp-post-vip-plug"
RELOAD_LB_BEFOR_ALLOCATE_VIP = "reload-lb-before-allocate-vip"
RELOAD_LB_AFTER_AMP_ASSOC = "reload-lb-after-amp-assoc"
CREATE_VRRP_GROUP_FOR_LB = "octavia-create-vrrp-group-for-lb"
AMPHORAE_GET_CONNECTIVITY_STATUS = "amphorae-get-connectivity-status"
AMP_UPDATE_VRRP_INTF = "octavia-amphora-update-vrrp-intf"
AMP_VRRP_UPDATE = "octavia-amphora-vrrp-update"
AMP_VRRP_START = "octavia-amphora-vrrp-start"
CREATE_SERVER_GROUP_FLOW = "octavia-create-server-group-flow"
UPDATE_LB_SERVERGROUPID_FLOW = "octavia-update-lb-server-group-id-flow"
DELETE_AMPHORA_FLOW = "octavia-delete-amphora-flow"
AMPHORA_TO_ERROR_ON_REVERT = "amphora-to-error-on-revert"
MARK_AMPHORA_PENDING_DELETE = "mark-amphora-pending-delete"
MARK_AMPHORA_HEALTH_BUSY = "mark-amphora-health-busy"
DELETE_AMPHORA = "delete-amphora"
DELETE_AMPHORA_MEMBER_PORTS = "delete-amphora-member-ports"
DISABLE_AMP_HEALTH_MONITORING = "disable-amphora-health-monitoring"
MARK_AMPHORA_DELETED = "mark-amphora-deleted"
DELETE_PORT = "delete-port"


# --- configuration: octavia/common/config.py defaults ---------------------------------


@dataclass
class ControllerWorkerOpts:
    amp_active_retries: int = 30
    amp_active_wait_sec: float = 10
    amphora_delete_retries: int = 5
    amphora_delete_retry_interval: float = 5
    event_notifications: bool = True


@dataclass
class HaproxyAmphoraOpts:
    connection_max_retries: int = 120
    connection_retry_interval: float = 5


@dataclass
class ServiceRetryOpts:
    """``[compute]`` and ``[networking]``: how tenacity retries calls to those services."""

    max_retries: int = 15
    retry_interval: float = 1
    retry_backoff: float = 1
    retry_max: float = 10


@dataclass
class NovaOpts:
    enable_anti_affinity: bool = False


@dataclass
class Conf:
    """The one configuration object, like oslo.config's ``cfg.CONF``."""

    controller_worker: ControllerWorkerOpts = field(default_factory=ControllerWorkerOpts)
    haproxy_amphora: HaproxyAmphoraOpts = field(default_factory=HaproxyAmphoraOpts)
    compute: ServiceRetryOpts = field(default_factory=ServiceRetryOpts)
    networking: ServiceRetryOpts = field(default_factory=ServiceRetryOpts)
    nova: NovaOpts = field(default_factory=NovaOpts)


CONF = Conf()


# --- exceptions: octavia/common/exceptions.py, amphorae/driver_exceptions -------------


class OctaviaException(Exception):
    """Formats ``message`` with the keyword arguments, as Octavia's base exception does."""

    message = "An unknown exception occurred."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*(args or (self.message % kwargs if kwargs else self.message,)))


class ComputeWaitTimeoutException(OctaviaException):
    message = "Waiting for compute id %(id)s to go active timeout."


class ComputeBuildException(OctaviaException):
    message = "Failed to build compute instance due to: %(fault)s"


class AmpConnectionRetry(OctaviaException):
    message = "Could not connect to amphora, exception caught: %(exception)s"


class DBConnectionError(OctaviaException):
    """oslo.db's ``DBConnectionError``: the database went away."""

    message = "Lost connection to the database."


class ServiceUnavailable(OctaviaException):
    message = "The %(service)s API is unavailable."


# --- the fake cloud -------------------------------------------------------------------


class Database:
    """Octavia's tables that the flows touch: load balancers, amphorae, VRRP groups."""

    def __init__(self) -> None:
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.amphorae: dict[str, dict[str, Any]] = {}
        self.vrrp_groups: set[str] = set()
        self._outage_at: str | None = None
        self.down = False

    def go_down_at(self, operation: str) -> None:
        """From the first call of ``operation`` on, every call raises ``DBConnectionError``."""
        self._outage_at = operation

    def check(self, operation: str) -> None:
        if operation == self._outage_at:
            self.down = True
        if self.down:
            raise DBConnectionError()

    def get_load_balancer(self, lb_id: str) -> dict[str, Any]:
        self.check("get_load_balancer")
        return self.load_balancers[lb_id]

    def update_load_balancer(self, lb_id: str, **values: Any) -> None:
        self.check("update_load_balancer")
        self.load_balancers[lb_id].update(values)

    def create_amphora(self, lb_id: str, amphora_id: str) -> None:
        self.check("create_amphora")
        self.amphorae[amphora_id] = {"id": amphora_id, "load_balancer_id": lb_id,
                                     "status": "PENDING_CREATE"}

    def update_amphora(self, amphora_id: str, **values: Any) -> None:
        self.check("update_amphora")
        self.amphorae[amphora_id].update(values)

    def update_amphora_vip_data(self, amphora_id: str, vrrp_port_id: str) -> None:
        self.check("update_amphora_vip_data")
        self.amphorae[amphora_id][VRRP_PORT_ID] = vrrp_port_id

    def delete_amphora(self, amphora_id: str) -> None:
        self.check("delete_amphora")
        self.amphorae.pop(amphora_id, None)


class Compute:
    """Nova: servers that take ``boot_polls`` status checks to become ACTIVE."""

    def __init__(self, new_id: Callable[[str], str]) -> None:
        self._new_id = new_id
        self.servers: dict[str, dict[str, Any]] = {}
        self.server_groups: dict[str, str] = {}
        self.boot_polls = 0
        self.delete_failures = 0
        self.delete_calls = 0

    def build(self, name: str, server_group_id: str | None) -> str:
        compute_id = self._new_id("server")
        self.servers[compute_id] = {"name": name, "polls_left": self.boot_polls,
                                    "lb_network_ip": f"192.0.2.{len(self.servers) + 10}"}
        return compute_id

    def get_amphora(self, compute_id: str) -> tuple[dict[str, Any], str | None]:
        server = self.servers[compute_id]
        if server["polls_left"] > 0:
            server["polls_left"] -= 1
            return {"status": "BUILD"}, None
        return {"status": "ACTIVE", "compute_id": compute_id,
                "lb_network_ip": server["lb_network_ip"]}, None

    def delete(self, compute_id: str) -> None:
        self.delete_calls += 1
        if self.delete_failures > 0:
            self.delete_failures -= 1
            raise ServiceUnavailable(service="compute")
        self.servers.pop(compute_id, None)  # Nova's delete is idempotent for Octavia

    def create_server_group(self, name: str) -> str:
        group_id = self._new_id("server-group")
        self.server_groups[group_id] = name
        return group_id

    def delete_server_group(self, group_id: Any) -> None:
        del self.server_groups[group_id]


class Network:
    """Neutron: ports, security groups, QoS on ports."""

    def __init__(self, new_id: Callable[[str], str]) -> None:
        self._new_id = new_id
        self.ports: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, str] = {}
        self.port_qos: dict[str, str | None] = {}
        self.delete_port_failures = 0
        self.delete_port_calls = 0

    def create_port(self, name: str) -> str:
        port_id = self._new_id("port")
        self.ports[port_id] = {"name": name}
        return port_id

    def delete_port(self, port_id: str) -> None:
        self.delete_port_calls += 1
        if self.delete_port_failures > 0:
            self.delete_port_failures -= 1
            raise ServiceUnavailable(service="networking")
        self.ports.pop(port_id, None)
        self.port_qos.pop(port_id, None)

    def allocate_vip(self, lb_id: str) -> dict[str, Any]:
        port_id = self.create_port("octavia-lb-" + lb_id)
        return {"port_id": port_id, "ip_address": "203.0.113.10", "subnet_id": "vip-subnet"}

    def deallocate_vip(self, lb_id: str, vip: dict[str, Any]) -> None:
        # The VIP security group goes with the VIP, found by its name, as in
        # network/drivers/neutron/allowed_address_pairs.py deallocate_vip.
        for group_id, name in list(self.security_groups.items()):
            if name == "lb-" + lb_id:
                del self.security_groups[group_id]
        self.delete_port(vip["port_id"])

    def update_vip_sg(self, lb_id: str) -> str:
        for group_id, name in self.security_groups.items():
            if name == "lb-" + lb_id:
                return group_id
        group_id = self._new_id("sg")
        self.security_groups[group_id] = "lb-" + lb_id
        return group_id

    def plug_aap_port(self, lb_id: str, amphora_id: str) -> dict[str, Any]:
        vrrp_port_id = self.create_port("octavia-lb-vrrp-" + amphora_id)
        return {"id": amphora_id, VRRP_PORT_ID: vrrp_port_id, "ha_port_id": "vip-port",
                "vrrp_ip": "198.51.100.5"}

    def apply_qos_on_port(self, qos_policy_id: str | None, port_id: str) -> None:
        self.port_qos[port_id] = qos_policy_id


class AmphoraAgent:
    """The REST agent inside each amphora: unreachable for ``unreachable_polls`` calls."""

    def __init__(self) -> None:
        self.unreachable_polls = 0
        self.finalized: set[str] = set()
        self.vrrp: dict[str, str] = {}
        self._lock = threading.Lock()

    def get_info(self, amphora_id: str, raise_retry_exception: bool = False) -> dict[str, str]:
        with self._lock:
            unreachable = self.unreachable_polls > 0
            self.unreachable_polls -= unreachable
        if unreachable:
            # amphorae/drivers/haproxy/rest_api_driver.py: sleep, then give up this round.
            time.sleep(CONF.haproxy_amphora.connection_retry_interval)
            raise AmpConnectionRetry(exception="connection refused")
        return {"hostname": "amphora-" + amphora_id}


class Cloud:
    """Compute, network, the amphora agents and Octavia's database, all in memory."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.database = Database()
        self.compute = Compute(self.new_id)
        self.network = Network(self.new_id)
        self.agent = AmphoraAgent()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-{next(self._ids)}"

    def new_load_balancer(self, topology: str = TOPOLOGY_SINGLE) -> dict[str, Any]:
        """The API's part: a PENDING_CREATE load balancer row, and the flow's store for it
        (as ``controller_worker.py`` ``create_load_balancer`` builds it)."""
        lb_id = self.new_id("lb")
        self.database.load_balancers[lb_id] = {
            "id": lb_id, "topology": topology, "provisioning_status": "PENDING_CREATE",
            "vip_qos_policy_id": "qos-gold", "vip": {"qos_policy_id": "qos-gold"},
            "server_group_id": None,
        }
        return {
            LOADBALANCER_ID: lb_id,
            BUILD_TYPE_PRIORITY: LB_CREATE_NORMAL_PRIORITY,
            FLAVOR: {},
            AVAILABILITY_ZONE: {},
            SERVER_GROUP_ID: None,
            UPDATE_DICT: {"topology": topology},
        }

    def leftovers(self) -> list[str]:
        """Cloud resources and live amphora rows: empty after a reverted create."""
        amphorae = [amp_id for amp_id, amp in self.database.amphorae.items()
                    if amp["status"] != "DELETED"]
        return sorted([*self.compute.servers, *self.compute.server_groups,
                       *self.network.ports, *self.network.security_groups, *amphorae])


#: The drivers every task binds at ``__init__``, as Octavia's tasks load theirs with
#: stevedore; a test points it at a fresh :class:`Cloud` before building a flow.
CLOUD = Cloud()


class BaseTask(task.Task):
    """Base for the tasks here: binds the drivers, like ``BaseComputeTask`` and friends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cloud = CLOUD


def mark_amphora_status_error(cloud: Cloud, amphora_id: str) -> None:
    """``task_utils.mark_amphora_status_error``: log and carry on if the DB is away."""
    try:
        cloud.database.update_amphora(amphora_id, status="ERROR")
    except Exception:
        pass


def get_current_loadbalancer_from_db(cloud: Cloud, lb_id: str) -> dict[str, Any] | None:
    """``task_utils.get_current_loadbalancer_from_db``: ``None`` if the DB fails."""
    try:
        return cloud.database.get_load_balancer(lb_id)
    except Exception:
        return None


# --- lifecycle_tasks.py ---------------------------------------------------------------


class LoadBalancerIDToErrorOnRevertTask(BaseTask):
    def execute(self, loadbalancer_id: str) -> None:
        pass

    def revert(self, loadbalancer_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            self.cloud.database.update_load_balancer(loadbalancer_id,
                                                     provisioning_status="ERROR")
        except Exception:
            pass


class AmphoraToErrorOnRevertTask(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        pass

    def revert(self, amphora: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        mark_amphora_status_error(self.cloud, amphora["id"])


# --- database_tasks.py ----------------------------------------------------------------


class ReloadLoadBalancer(BaseTask):
    def execute(self, loadbalancer_id: str) -> dict[str, Any]:
        lb = self.cloud.database.get_load_balancer(loadbalancer_id)
        return {LOADBALANCER_ID: lb["id"], "vip_qos_policy_id": lb["vip_qos_policy_id"],
                "topology": lb["topology"]}


class UpdateVIPAfterAllocation(BaseTask):
    def execute(self, loadbalancer_id: str, vip: dict[str, Any]) -> dict[str, Any]:
        self.cloud.database.update_load_balancer(loadbalancer_id, vip_port_id=vip["port_id"])
        lb = self.cloud.database.get_load_balancer(loadbalancer_id)
        return {LOADBALANCER_ID: loadbalancer_id, "vip_qos_policy_id": lb["vip_qos_policy_id"],
                "topology": lb["topology"], "vip_port_id": vip["port_id"]}


class UpdateAdditionalVIPsAfterAllocation(BaseTask):
    def execute(self, loadbalancer_id: str, additional_vips: list[Any]) -> dict[str, Any]:
        lb = self.cloud.database.get_load_balancer(loadbalancer_id)
        return {LOADBALANCER_ID: loadbalancer_id, "vip_qos_policy_id": lb["vip_qos_policy_id"],
                "topology": lb["topology"], "vip_port_id": lb["vip_port_id"]}


class CreateAmphoraInDB(BaseTask):
    def execute(self, loadbalancer_id: str | None = None) -> str:
        amphora_id = self.cloud.new_id("amphora")
        self.cloud.database.create_amphora(loadbalancer_id or "", amphora_id)
        return amphora_id

    def revert(self, result: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        try:
            self.cloud.database.delete_amphora(result)
        except Exception:
            pass  # Octavia logs "Failed to delete amphora ... in the database"


class UpdateAmphoraDBCertExpiration(BaseTask):
    def execute(self, amphora_id: str, server_pem: str) -> None:
        self.cloud.database.update_amphora(amphora_id, cert_expiration="2035-01-01")


class UpdateAmphoraComputeId(BaseTask):
    def execute(self, amphora_id: str, compute_id: str) -> None:
        self.cloud.database.update_amphora(amphora_id, compute_id=compute_id)


class MarkAmphoraBootingInDB(BaseTask):
    def execute(self, amphora_id: str, compute_id: str) -> None:
        self.cloud.database.update_amphora(amphora_id, status="BOOTING")

    def revert(self, result: Any, amphora_id: str, compute_id: str,
               *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        mark_amphora_status_error(self.cloud, amphora_id)


class UpdateAmphoraInfo(BaseTask):
    def execute(self, amphora_id: str, compute_obj: dict[str, Any]) -> dict[str, Any]:
        self.cloud.database.update_amphora(amphora_id, lb_network_ip=compute_obj["lb_network_ip"])
        return dict(self.cloud.database.amphorae[amphora_id])


class MarkAmphoraAllocatedInDB(BaseTask):
    def execute(self, amphora: dict[str, Any], loadbalancer_id: str) -> None:
        self.cloud.database.update_amphora(amphora["id"], status="ALLOCATED")

    def revert(self, result: Any, amphora: dict[str, Any], loadbalancer_id: str,
               *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        mark_amphora_status_error(self.cloud, amphora["id"])


class _MarkAmphoraRoleAndPriorityInDB(BaseTask):
    role: str | None = None
    priority: int | None = None

    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.database.update_amphora(amphora["id"], role=self.role,
                                           vrrp_priority=self.priority)

    def revert(self, result: Any, amphora: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        try:
            self.cloud.database.update_amphora(amphora["id"], role=None, vrrp_priority=None)
        except Exception:
            pass


class MarkAmphoraMasterInDB(_MarkAmphoraRoleAndPriorityInDB):
    role, priority = ROLE_MASTER, 100


class MarkAmphoraBackupInDB(_MarkAmphoraRoleAndPriorityInDB):
    role, priority = ROLE_BACKUP, 90


class MarkAmphoraStandAloneInDB(_MarkAmphoraRoleAndPriorityInDB):
    role = ROLE_STANDALONE


class UpdateAmphoraVIPData(BaseTask):
    def execute(self, amp_data: dict[str, Any]) -> None:
        self.cloud.database.update_amphora_vip_data(amp_data["id"], amp_data[VRRP_PORT_ID])


class GetAmphoraeFromLoadbalancer(BaseTask):
    def execute(self, loadbalancer_id: str) -> list[dict[str, Any]]:
        self.cloud.database.check("get_amphorae")
        amphorae = [dict(amp) for amp in self.cloud.database.amphorae.values()
                    if amp["load_balancer_id"] == loadbalancer_id]
        return sorted(amphorae, key=lambda amp: amp.get("role") != ROLE_MASTER)


class CreateVRRPGroupForLB(BaseTask):
    def execute(self, loadbalancer_id: str) -> None:
        self.cloud.database.check("create_vrrp_group")
        self.cloud.database.vrrp_groups.add(loadbalancer_id)


class UpdateLBServerGroupInDB(BaseTask):
    def execute(self, loadbalancer_id: str, server_group_id: str) -> None:
        self.cloud.database.update_load_balancer(loadbalancer_id,
                                                 server_group_id=server_group_id)

    def revert(self, loadbalancer_id: str, server_group_id: str,
               *args: Any, **kwargs: Any) -> None:
        try:
            self.cloud.database.update_load_balancer(loadbalancer_id, server_group_id=None)
        except Exception:
            pass


class UpdateLoadbalancerInDB(BaseTask):
    def execute(self, loadbalancer: dict[str, Any], update_dict: dict[str, Any]) -> None:
        self.cloud.database.update_load_balancer(loadbalancer[LOADBALANCER_ID], **update_dict)


class MarkLBActiveInDB(BaseTask):
    def __init__(self, mark_subobjects: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mark_subobjects = mark_subobjects

    def execute(self, loadbalancer: dict[str, Any]) -> None:
        self.cloud.database.update_load_balancer(loadbalancer[LOADBALANCER_ID],
                                                 provisioning_status="ACTIVE")

    def revert(self, loadbalancer: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        try:
            self.cloud.database.update_load_balancer(loadbalancer[LOADBALANCER_ID],
                                                     provisioning_status="ERROR")
        except Exception:
            pass


class MarkAmphoraPendingDeleteInDB(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.database.update_amphora(amphora["id"], status="PENDING_DELETE")

    def revert(self, amphora: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        mark_amphora_status_error(self.cloud, amphora["id"])


class MarkAmphoraHealthBusy(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.database.update_amphora(amphora["id"], health_busy=True)


class DisableAmphoraHealthMonitoring(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.database.update_amphora(amphora["id"], health_monitored=False)


class MarkAmphoraDeletedInDB(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.database.update_amphora(amphora["id"], status="DELETED")

    def revert(self, amphora: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        mark_amphora_status_error(self.cloud, amphora["id"])


# --- cert_task.py ---------------------------------------------------------------------


class GenerateServerPEMTask(BaseTask):
    def execute(self) -> str:
        return "-----BEGIN CERTIFICATE----- (encrypted) -----END CERTIFICATE-----"


# --- compute_tasks.py -----------------------------------------------------------------


class ComputeRetry(retry.Times):
    """Retries its subflow only on ``ComputeWaitTimeoutException``, up to
    ``CONF.controller_worker.amp_active_retries`` (read at each failure)."""

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        last_errors = history[-1][1]
        max_retry_attempt = CONF.controller_worker.amp_active_retries
        for _task_name, ex_info in last_errors.items():
            if len(history) <= max_retry_attempt:
                # A Failure loaded from persistence has no exc_info: retry to find out.
                if ex_info is None or ex_info._exc_info is None:
                    return retry.RETRY
                if isinstance(ex_info._exc_info[1], ComputeWaitTimeoutException):
                    return retry.RETRY
        return retry.REVERT_ALL


class CertComputeCreate(BaseTask):
    def execute(self, amphora_id: str, server_pem: str, server_group_id: str | None,
                build_type_priority: int = LB_CREATE_NORMAL_PRIORITY,
                ports: Any = None, flavor: Any = None,
                availability_zone: Any = None) -> str:
        return self.cloud.compute.build("amphora-" + amphora_id, server_group_id)

    def revert(self, result: Any, amphora_id: str, *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        try:
            self.cloud.compute.delete(result)
        except Exception:
            pass  # Octavia logs "Reverting compute create failed"


class ComputeWait(BaseTask):
    """Polls once; ``ComputeRetry`` around it turns the timeout into another poll."""

    def execute(self, compute_id: str, amphora_id: str,
                availability_zone: Any) -> dict[str, Any]:
        amp, fault = self.cloud.compute.get_amphora(compute_id)
        if amp["status"] == "ACTIVE":
            return amp
        if amp["status"] == "ERROR":
            raise ComputeBuildException(fault=fault)
        time.sleep(CONF.controller_worker.amp_active_wait_sec)
        raise ComputeWaitTimeoutException(id=compute_id)


class NovaServerGroupCreate(BaseTask):
    def execute(self, loadbalancer_id: str) -> str:
        return self.cloud.compute.create_server_group("octavia-lb-" + loadbalancer_id)

    def revert(self, result: Any, *args: Any, **kwargs: Any) -> None:
        # Octavia's own revert: no Failure check, so after its own execute failed it
        # asks Nova to delete a Failure; the error is logged and swallowed.
        server_group_id = result
        try:
            self.cloud.compute.delete_server_group(server_group_id)
        except Exception:
            pass


def _retry_statistics(execute: Any) -> dict[str, Any]:
    # tenacity 8.5.0 moved statistics from the retry object to the function
    # (compute_tasks.py ComputeDelete, network_tasks.py DeletePort).
    try:
        statistics: dict[str, Any] = execute.statistics
    except AttributeError:
        statistics = execute.retry.statistics
    return statistics


class ComputeDelete(BaseTask):
    @tenacity.retry(retry=tenacity.retry_if_exception_type(),
                    stop=tenacity.stop_after_attempt(CONF.compute.max_retries),
                    wait=tenacity.wait_exponential(multiplier=CONF.compute.retry_backoff,
                                                   min=CONF.compute.retry_interval,
                                                   max=CONF.compute.retry_max),
                    reraise=True)
    def execute(self, amphora: dict[str, Any], passive_failure: bool = False) -> None:
        execute: Any = self.execute
        retry_statistics = _retry_statistics(execute)
        max_attempts = execute.retry.stop.max_attempt_number
        # Don't use get with a default for 'attempt_number': fail if it is missing.
        self.update_progress(retry_statistics[ATTEMPT_NUMBER] / max_attempts)
        try:
            self.cloud.compute.delete(amphora[COMPUTE_ID])
        except Exception:
            if retry_statistics[ATTEMPT_NUMBER] != max_attempts:
                raise
            if not passive_failure:
                raise
            # passive: the server is abandoned, to be cleaned up by hand


class DeleteAmphoraeOnLoadBalancer(BaseTask):
    def execute(self, loadbalancer: dict[str, Any]) -> None:
        for amp in list(self.cloud.database.amphorae.values()):
            if amp["load_balancer_id"] == loadbalancer[LOADBALANCER_ID]:
                self.cloud.compute.delete(amp[COMPUTE_ID])


# --- network_tasks.py -----------------------------------------------------------------


class AllocateVIP(BaseTask):
    def execute(self, loadbalancer: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        return self.cloud.network.allocate_vip(loadbalancer[LOADBALANCER_ID]), []

    def revert(self, result: Any, loadbalancer: dict[str, Any],
               *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        vip, _additional_vips = result
        try:
            self.cloud.network.deallocate_vip(loadbalancer[LOADBALANCER_ID], vip)
        except Exception:
            pass  # Octavia logs "Failed to deallocate VIP. Resources may still be in use"


class UpdateVIPSecurityGroup(BaseTask):
    """Creates the VIP's security group; ``AllocateVIP``'s revert removes it."""

    def execute(self, loadbalancer_id: str) -> str:
        return self.cloud.network.update_vip_sg(loadbalancer_id)


class GetSubnetFromVIP(BaseTask):
    def execute(self, loadbalancer: dict[str, Any]) -> dict[str, Any]:
        return {"id": "vip-subnet", "cidr": "203.0.113.0/24"}


class PlugVIPAmphora(BaseTask):
    def execute(self, loadbalancer: dict[str, Any], amphora: dict[str, Any],
                subnet: dict[str, Any]) -> dict[str, Any]:
        return self.cloud.network.plug_aap_port(loadbalancer[LOADBALANCER_ID], amphora["id"])

    def revert(self, result: Any, loadbalancer: dict[str, Any], amphora: dict[str, Any],
               subnet: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        try:
            self.cloud.network.delete_port(result[VRRP_PORT_ID])
        except Exception:
            pass  # "Failed to unplug AAP port ... Resources may still be in use"


class ApplyQosAmphora(BaseTask):
    def _apply_qos_on_vrrp_port(self, loadbalancer: dict[str, Any], amp_data: dict[str, Any],
                                qos_policy_id: str | None, is_revert: bool = False,
                                request_qos_id: str | None = None) -> None:
        try:
            self.cloud.network.apply_qos_on_port(qos_policy_id, amp_data[VRRP_PORT_ID])
        except Exception:
            if not is_revert:
                raise

    def execute(self, loadbalancer: dict[str, Any], amp_data: dict[str, Any] | None = None,
                update_dict: dict[str, Any] | None = None) -> None:
        assert amp_data is not None
        self._apply_qos_on_vrrp_port(loadbalancer, amp_data, loadbalancer["vip_qos_policy_id"])

    def revert(self, result: Any, loadbalancer: dict[str, Any],
               amp_data: dict[str, Any] | None = None,
               update_dict: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        # A faithful copy of Octavia 19's network_tasks.py ApplyQosAmphora.revert, bug
        # included: when the database lookup fails, get_current_loadbalancer_from_db
        # returns None, ``orig_lb["vip"]`` raises, and the except clause names
        # ``orig_qos_id``, which was never assigned: UnboundLocalError, REVERT_FAILURE.
        try:
            request_qos_id = loadbalancer["vip_qos_policy_id"]
            orig_lb = get_current_loadbalancer_from_db(self.cloud,
                                                       loadbalancer[LOADBALANCER_ID])
            orig_qos_id = orig_lb["vip"]["qos_policy_id"]  # type: ignore[index]
            if request_qos_id != orig_qos_id:
                assert amp_data is not None
                self._apply_qos_on_vrrp_port(loadbalancer, amp_data, orig_qos_id,
                                             is_revert=True, request_qos_id=request_qos_id)
        except Exception as e:
            assert amp_data is not None
            LOG.error("Failed to remove QoS policy: %s from port: %s due to error: %s",
                      orig_qos_id, amp_data[VRRP_PORT_ID], str(e))


class GetAmphoraNetworkConfigs(BaseTask):
    def execute(self, loadbalancer: dict[str, Any],
                amphora: dict[str, Any] | None = None) -> dict[str, Any]:
        assert amphora is not None
        return {amphora["id"]: {"vrrp_port": amphora.get(VRRP_PORT_ID), "vip_subnet": {}}}


class GetAmphoraeNetworkConfigs(BaseTask):
    def execute(self, loadbalancer_id: str) -> dict[str, Any]:
        return {amp["id"]: {"vrrp_port": amp.get(VRRP_PORT_ID)}
                for amp in self.cloud.database.amphorae.values()
                if amp["load_balancer_id"] == loadbalancer_id}


class DeletePort(BaseTask):
    @tenacity.retry(retry=tenacity.retry_if_exception_type(),
                    stop=tenacity.stop_after_attempt(CONF.networking.max_retries),
                    wait=tenacity.wait_exponential(multiplier=CONF.networking.retry_backoff,
                                                   min=CONF.networking.retry_interval,
                                                   max=CONF.networking.retry_max),
                    reraise=True)
    def execute(self, port_id: str | None, passive_failure: bool = False) -> None:
        if port_id is None:
            return
        execute: Any = self.execute
        retry_statistics = _retry_statistics(execute)
        max_attempts = execute.retry.stop.max_attempt_number
        self.update_progress(retry_statistics[ATTEMPT_NUMBER] / max_attempts)
        try:
            self.cloud.network.delete_port(port_id)
        except Exception:
            if retry_statistics[ATTEMPT_NUMBER] != max_attempts:
                raise
            if not passive_failure:
                raise
            # passive: Octavia tries an admin-down of the port and carries on


class DeleteAmphoraMemberPorts(BaseTask):
    def execute(self, amphora_id: str, passive_failure: bool = False) -> None:
        for port_id, port in list(self.cloud.network.ports.items()):
            if port["name"] == "octavia-member-" + amphora_id:
                self.cloud.network.delete_port(port_id)


# --- amphora_driver_tasks.py ----------------------------------------------------------


class AmpRetry(retry.Times):
    """Retries its subflow only on ``AmpConnectionRetry``, up to
    ``CONF.haproxy_amphora.connection_max_retries`` (read at each failure)."""

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        last_errors = history[-1][1]
        max_retry_attempt = CONF.haproxy_amphora.connection_max_retries
        for _task_name, ex_info in last_errors.items():
            if len(history) <= max_retry_attempt:
                if ex_info is None or ex_info._exc_info is None:
                    return retry.RETRY
                if isinstance(ex_info._exc_info[1], AmpConnectionRetry):
                    return retry.RETRY
        return retry.REVERT_ALL


class AmphoraComputeConnectivityWait(BaseTask):
    def execute(self, amphora: dict[str, Any], raise_retry_exception: bool = False) -> None:
        self.cloud.agent.get_info(amphora["id"], raise_retry_exception=raise_retry_exception)


class AmphoraFinalize(BaseTask):
    def execute(self, amphora: dict[str, Any]) -> None:
        self.cloud.agent.finalized.add(amphora["id"])

    def revert(self, result: Any, amphora: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        self.cloud.agent.finalized.discard(amphora["id"])
        mark_amphora_status_error(self.cloud, amphora["id"])


class AmphoraPostVIPPlug(BaseTask):
    def execute(self, amphora: dict[str, Any], loadbalancer: dict[str, Any],
                amphorae_network_config: dict[str, Any]) -> None:
        amphorae_network_config[amphora["id"]]["vrrp_port"]  # KeyError if not configured

    def revert(self, result: Any, amphora: dict[str, Any], loadbalancer: dict[str, Any],
               *args: Any, **kwargs: Any) -> None:
        if isinstance(result, failure.Failure):
            return
        mark_amphora_status_error(self.cloud, amphora["id"])


class AmphoraeGetConnectivityStatus(BaseTask):
    def execute(self, amphorae: list[dict[str, Any]], new_amphora_id: str,
                timeout_dict: Any = None) -> dict[str, Any]:
        return {amp["id"]: {"unreachable": False} for amp in amphorae}


class AmphoraIndexUpdateVRRPInterface(BaseTask):
    def execute(self, amphora_index: int, amphorae: list[dict[str, Any]],
                amphorae_status: dict[str, Any], new_amphora_id: str,
                timeout_dict: Any = None) -> str:
        return "eth1"


class AmphoraIndexVRRPUpdate(BaseTask):
    def execute(self, loadbalancer_id: str, amphorae_network_config: dict[str, Any],
                amphora_index: int, amphorae: list[dict[str, Any]],
                amphorae_status: dict[str, Any], amp_vrrp_int: str, new_amphora_id: str,
                timeout_dict: Any = None) -> None:
        self.cloud.agent.vrrp[amphorae[amphora_index]["id"]] = "configured"


class AmphoraIndexVRRPStart(BaseTask):
    def execute(self, amphora_index: int, amphorae: list[dict[str, Any]],
                amphorae_status: dict[str, Any], new_amphora_id: str,
                timeout_dict: Any = None) -> None:
        self.cloud.agent.vrrp[amphorae[amphora_index]["id"]] = "started"


# --- notification_tasks.py ------------------------------------------------------------


class SendCreateNotification(BaseTask):
    def execute(self, loadbalancer: dict[str, Any]) -> None:
        pass


# --- flows: load_balancer_flows.py and amphora_flows.py -------------------------------


def create_load_balancer_flow(topology: str = TOPOLOGY_SINGLE) -> linear_flow.Flow:
    """``LoadBalancerFlows.get_create_load_balancer_flow``: 30 atoms for SINGLE, 59 for
    ACTIVE_STANDBY (61 with ``CONF.nova.enable_anti_affinity``)."""
    lb_create_flow = linear_flow.Flow(CREATE_LOADBALANCER_FLOW)
    lb_create_flow.add(LoadBalancerIDToErrorOnRevertTask(requires=LOADBALANCER_ID))
    lb_create_flow.add(ReloadLoadBalancer(name=RELOAD_LB_BEFOR_ALLOCATE_VIP,
                                          requires=LOADBALANCER_ID, provides=LOADBALANCER))
    lb_create_flow.add(AllocateVIP(requires=LOADBALANCER, provides=(VIP, ADDITIONAL_VIPS)))
    lb_create_flow.add(UpdateVIPAfterAllocation(requires=(LOADBALANCER_ID, VIP),
                                                provides=LOADBALANCER))
    lb_create_flow.add(UpdateAdditionalVIPsAfterAllocation(
        requires=(LOADBALANCER_ID, ADDITIONAL_VIPS), provides=LOADBALANCER))
    lb_create_flow.add(UpdateVIPSecurityGroup(requires=LOADBALANCER_ID))
    lb_create_flow.add(GetSubnetFromVIP(requires=LOADBALANCER, provides=SUBNET))

    if topology == TOPOLOGY_ACTIVE_STANDBY:
        lb_create_flow.add(*_create_active_standby_topology())
    elif topology == TOPOLOGY_SINGLE:
        lb_create_flow.add(_create_single_topology())
    else:
        raise ValueError(f"Unknown topology: {topology}")

    lb_create_flow.add(get_post_lb_amp_association_flow(POST_LB_AMP_ASSOCIATION_SUBFLOW,
                                                        topology))
    lb_create_flow.add(MarkLBActiveInDB(mark_subobjects=True, requires=LOADBALANCER))
    if CONF.controller_worker.event_notifications:
        lb_create_flow.add(SendCreateNotification(requires=LOADBALANCER))
    return lb_create_flow


def _create_single_topology() -> linear_flow.Flow:
    sf_name = ROLE_STANDALONE + "-" + AMP_PLUG_NET_SUBFLOW
    amp_for_lb_net_flow = linear_flow.Flow(sf_name)
    amp_for_lb_net_flow.add(get_amphora_for_lb_subflow(ROLE_STANDALONE, ROLE_STANDALONE))
    amp_for_lb_net_flow.add(*_get_amp_net_subflow(sf_name))
    return amp_for_lb_net_flow


def _create_active_standby_topology() -> list[Any]:
    flows: list[Any] = []
    if CONF.nova.enable_anti_affinity:
        flows.append(NovaServerGroupCreate(
            name=CREATE_LOADBALANCER_FLOW + "-" + CREATE_SERVER_GROUP_FLOW,
            requires=LOADBALANCER_ID, provides=SERVER_GROUP_ID))
        flows.append(UpdateLBServerGroupInDB(
            name=CREATE_LOADBALANCER_FLOW + "-" + UPDATE_LB_SERVERGROUPID_FLOW,
            requires=(LOADBALANCER_ID, SERVER_GROUP_ID)))

    # MASTER and BACKUP are built at the same time: an unordered flow of two linear ones.
    amps_flow = unordered_flow.Flow(CREATE_LOADBALANCER_FLOW)
    for role in (ROLE_MASTER, ROLE_BACKUP):
        sf_name = role + "-" + AMP_PLUG_NET_SUBFLOW
        amp_sf = linear_flow.Flow(sf_name)
        amp_sf.add(get_amphora_for_lb_subflow(role, role))
        amp_sf.add(*_get_amp_net_subflow(sf_name))
        amps_flow.add(amp_sf)
    return flows + [amps_flow]


def _get_amp_net_subflow(sf_name: str) -> list[Any]:
    return [
        PlugVIPAmphora(name=sf_name + "-" + PLUG_VIP_AMPHORA,
                       requires=(LOADBALANCER, AMPHORA, SUBNET), provides=AMP_DATA),
        ApplyQosAmphora(name=sf_name + "-" + APPLY_QOS_AMP,
                        requires=(LOADBALANCER, AMP_DATA, UPDATE_DICT)),
        UpdateAmphoraVIPData(name=sf_name + "-" + UPDATE_AMPHORA_VIP_DATA, requires=AMP_DATA),
        GetAmphoraNetworkConfigs(name=sf_name + "-" + GET_AMP_NETWORK_CONFIG,
                                 requires=(LOADBALANCER, AMPHORA),
                                 provides=AMPHORA_NETWORK_CONFIG),
        AmphoraPostVIPPlug(name=sf_name + "-" + AMP_POST_VIP_PLUG,
                           rebind={AMPHORAE_NETWORK_CONFIG: AMPHORA_NETWORK_CONFIG},
                           requires=(LOADBALANCER, AMPHORAE_NETWORK_CONFIG)),
    ]


def get_amphora_for_lb_subflow(prefix: str, role: str) -> linear_flow.Flow:
    """``AmphoraFlows.get_amphora_for_lb_subflow``: 14 atoms, two of them retry controllers."""
    sf_name = prefix + "-" + CREATE_AMP_FOR_LB_SUBFLOW
    subflow = linear_flow.Flow(sf_name)
    subflow.add(CreateAmphoraInDB(name=sf_name + "-" + CREATE_AMPHORA_INDB,
                                  requires=LOADBALANCER_ID, provides=AMPHORA_ID))
    subflow.add(GenerateServerPEMTask(name=sf_name + "-" + GENERATE_SERVER_PEM,
                                      provides=SERVER_PEM))
    subflow.add(UpdateAmphoraDBCertExpiration(name=sf_name + "-" + UPDATE_CERT_EXPIRATION,
                                              requires=(AMPHORA_ID, SERVER_PEM)))
    subflow.add(CertComputeCreate(
        name=sf_name + "-" + CERT_COMPUTE_CREATE,
        requires=(AMPHORA_ID, SERVER_PEM, BUILD_TYPE_PRIORITY, SERVER_GROUP_ID, FLAVOR,
                  AVAILABILITY_ZONE),
        provides=COMPUTE_ID))
    subflow.add(UpdateAmphoraComputeId(name=sf_name + "-" + UPDATE_AMPHORA_COMPUTEID,
                                       requires=(AMPHORA_ID, COMPUTE_ID)))
    subflow.add(MarkAmphoraBootingInDB(name=sf_name + "-" + MARK_AMPHORA_BOOTING_INDB,
                                       requires=(AMPHORA_ID, COMPUTE_ID)))
    subflow.add(_retry_compute_wait_flow(sf_name))
    subflow.add(UpdateAmphoraInfo(name=sf_name + "-" + UPDATE_AMPHORA_INFO,
                                  requires=(AMPHORA_ID, COMPUTE_OBJ), provides=AMPHORA))
    subflow.add(_retry_flow(sf_name))
    subflow.add(AmphoraFinalize(name=sf_name + "-" + AMPHORA_FINALIZE, requires=AMPHORA))
    subflow.add(MarkAmphoraAllocatedInDB(name=sf_name + "-" + MARK_AMPHORA_ALLOCATED_INDB,
                                         requires=(AMPHORA, LOADBALANCER_ID)))
    if role == ROLE_MASTER:
        subflow.add(MarkAmphoraMasterInDB(name=sf_name + "-" + MARK_AMP_MASTER_INDB,
                                          requires=AMPHORA))
    elif role == ROLE_BACKUP:
        subflow.add(MarkAmphoraBackupInDB(name=sf_name + "-" + MARK_AMP_BACKUP_INDB,
                                          requires=AMPHORA))
    elif role == ROLE_STANDALONE:
        subflow.add(MarkAmphoraStandAloneInDB(name=sf_name + "-" + MARK_AMP_STANDALONE_INDB,
                                              requires=AMPHORA))
    return subflow


def _retry_compute_wait_flow(sf_name: str) -> linear_flow.Flow:
    # ComputeRetry() gets no name: TaskFlow names it after its flow, '<flow>_retry'.
    retry_subflow = linear_flow.Flow(sf_name + "-" + COMPUTE_CREATE_RETRY_SUBFLOW,
                                     retry=ComputeRetry())
    retry_subflow.add(ComputeWait(name=sf_name + "-" + COMPUTE_WAIT,
                                  requires=(COMPUTE_ID, AMPHORA_ID), provides=COMPUTE_OBJ))
    return retry_subflow


def _retry_flow(sf_name: str) -> linear_flow.Flow:
    retry_subflow = linear_flow.Flow(sf_name + "-" + CREATE_AMPHORA_RETRY_SUBFLOW,
                                     retry=AmpRetry())
    retry_subflow.add(AmphoraComputeConnectivityWait(
        name=sf_name + "-" + AMP_COMPUTE_CONNECTIVITY_WAIT, requires=AMPHORA,
        inject={"raise_retry_exception": True}))
    return retry_subflow


def get_post_lb_amp_association_flow(prefix: str, topology: str) -> linear_flow.Flow:
    """``LoadBalancerFlows.get_post_lb_amp_association_flow`` (its name repeats the prefix,
    as Octavia's does)."""
    sf_name = prefix + "-" + POST_LB_AMP_ASSOCIATION_SUBFLOW
    post_create_lb_flow = linear_flow.Flow(sf_name)
    post_create_lb_flow.add(ReloadLoadBalancer(name=sf_name + "-" + RELOAD_LB_AFTER_AMP_ASSOC,
                                               requires=LOADBALANCER_ID,
                                               provides=LOADBALANCER))
    if topology == TOPOLOGY_ACTIVE_STANDBY:
        post_create_lb_flow.add(GetAmphoraeFromLoadbalancer(requires=LOADBALANCER_ID,
                                                            provides=AMPHORAE))
        post_create_lb_flow.add(get_vrrp_subflow(prefix))
    post_create_lb_flow.add(UpdateLoadbalancerInDB(requires=[LOADBALANCER, UPDATE_DICT]))
    return post_create_lb_flow


def get_vrrp_subflow(prefix: str, timeout_dict: Any = None) -> linear_flow.Flow:
    """``AmphoraFlows.get_vrrp_subflow``: both amphorae's VRRP set up side by side."""
    sf_name = prefix + "-" + GET_VRRP_SUBFLOW
    vrrp_subflow = linear_flow.Flow(sf_name)
    vrrp_subflow.add(CreateVRRPGroupForLB(name=sf_name + "-" + CREATE_VRRP_GROUP_FOR_LB,
                                          requires=LOADBALANCER_ID))
    vrrp_subflow.add(GetAmphoraeNetworkConfigs(name=sf_name + "-" + GET_AMP_NETWORK_CONFIG,
                                               requires=LOADBALANCER_ID,
                                               provides=AMPHORAE_NETWORK_CONFIG))
    vrrp_subflow.add(AmphoraeGetConnectivityStatus(
        name=AMPHORAE_GET_CONNECTIVITY_STATUS, requires=AMPHORAE,
        rebind={NEW_AMPHORA_ID: AMPHORA_ID}, inject={TIMEOUT_DICT: timeout_dict},
        provides=AMPHORAE_STATUS))
    update_amps_subflow = unordered_flow.Flow("VRRP-update-subflow")
    for index in (0, 1):
        amp_subflow = linear_flow.Flow(f"VRRP-amp-{index}-update-subflow")
        inject = {AMPHORA_INDEX: index, TIMEOUT_DICT: timeout_dict}
        amp_subflow.add(AmphoraIndexUpdateVRRPInterface(
            name=f"{sf_name}-{index}-{AMP_UPDATE_VRRP_INTF}",
            requires=(AMPHORAE, AMPHORAE_STATUS), rebind={NEW_AMPHORA_ID: AMPHORA_ID},
            inject=inject, provides=AMP_VRRP_INT))
        amp_subflow.add(AmphoraIndexVRRPUpdate(
            name=f"{sf_name}-{index}-{AMP_VRRP_UPDATE}",
            requires=(LOADBALANCER_ID, AMPHORAE_NETWORK_CONFIG, AMPHORAE, AMPHORAE_STATUS,
                      AMP_VRRP_INT),
            rebind={NEW_AMPHORA_ID: AMPHORA_ID}, inject=inject))
        amp_subflow.add(AmphoraIndexVRRPStart(
            name=f"{sf_name}-{index}-{AMP_VRRP_START}",
            requires=(AMPHORAE, AMPHORAE_STATUS), rebind={NEW_AMPHORA_ID: AMPHORA_ID},
            inject=inject))
        update_amps_subflow.add(amp_subflow)
    vrrp_subflow.add(update_amps_subflow)
    return vrrp_subflow


# --- retry_tasks.py and the delete flow -----------------------------------------------


class SleepingRetryTimesController(retry.Times):
    """``retry.Times`` that sleeps ``interval`` seconds before each new attempt."""

    def __init__(self, attempts: int = 1, name: str | None = None, provides: Any = None,
                 requires: Any = None, auto_extract: bool = True, rebind: Any = None,
                 revert_all: bool = False, interval: float = 1) -> None:
        super().__init__(attempts, name, provides, requires, auto_extract, rebind, revert_all)
        self._interval = interval

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        if len(history) < self._attempts:
            time.sleep(self._interval)
            return retry.RETRY
        return self._revert_action

    def revert(self, history: Any, *args: Any, **kwargs: Any) -> None:
        pass  # Octavia logs "... retries with interval ... have failed. Giving up."


def delete_amphora_flow(
    amphora: dict[str, Any],
    # Bound once, at import, as in amphora_flows.py get_delete_amphora_flow.
    retry_attempts: int = CONF.controller_worker.amphora_delete_retries,
    retry_interval: float = CONF.controller_worker.amphora_delete_retry_interval,
) -> linear_flow.Flow:
    """``AmphoraFlows.get_delete_amphora_flow``: idempotent, so safe to retry whole."""
    amphora_id = amphora["id"]
    flow = linear_flow.Flow(
        name=DELETE_AMPHORA_FLOW + "-" + amphora_id,
        retry=SleepingRetryTimesController(
            name="retry-" + DELETE_AMPHORA_FLOW + "-" + amphora_id,
            attempts=retry_attempts, interval=retry_interval))
    flow.add(AmphoraToErrorOnRevertTask(name=AMPHORA_TO_ERROR_ON_REVERT + "-" + amphora_id,
                                        inject={AMPHORA: amphora}))
    flow.add(MarkAmphoraPendingDeleteInDB(name=MARK_AMPHORA_PENDING_DELETE + "-" + amphora_id,
                                          inject={AMPHORA: amphora}))
    flow.add(MarkAmphoraHealthBusy(name=MARK_AMPHORA_HEALTH_BUSY + "-" + amphora_id,
                                   inject={AMPHORA: amphora}))
    flow.add(ComputeDelete(name=DELETE_AMPHORA + "-" + amphora_id,
                           inject={AMPHORA: amphora, PASSIVE_FAILURE: True}))
    flow.add(DeleteAmphoraMemberPorts(name=DELETE_AMPHORA_MEMBER_PORTS + "-" + amphora_id,
                                      inject={AMPHORA_ID: amphora_id}))
    flow.add(DisableAmphoraHealthMonitoring(
        name=DISABLE_AMP_HEALTH_MONITORING + "-" + amphora_id, inject={AMPHORA: amphora}))
    flow.add(MarkAmphoraDeletedInDB(name=MARK_AMPHORA_DELETED + "-" + amphora_id,
                                    inject={AMPHORA: amphora}))
    if amphora.get(VRRP_PORT_ID):
        flow.add(DeletePort(
            name=f"{DELETE_PORT}-{amphora_id}-{amphora[VRRP_PORT_ID]}",
            inject={PORT_ID: amphora[VRRP_PORT_ID], PASSIVE_FAILURE: True}))
    return flow
