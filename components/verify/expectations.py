"""What a node should be, taken from its host view and the spec: the facts every check compares the node against.

What the spec declares for the node is expected there: a check finds it or fails. Only what the spec does not
declare for the node (no NVSwitch on its SKU, no mount for it, no serving role) is "not present".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.host import HcaPort, HostView, Mount
from components.spec.catalogue_models import Sku
from components.spec.cluster import ClusterSpec
from components.spec.nodes import NodeRole
from components.spec.software import Firmware


@dataclass(frozen=True)
class NodeExpectation:
    stack: str
    hostname: str
    sku: Sku
    roles: tuple[NodeRole, ...]
    lab: bool                      # lab host: GPUs, RDMA and vendor packages are stand-ins
    driver_version: str
    driver_branch: str
    fabric_manager_version: str
    dcgm_exporter: bool            # the spec pins software.dcgm_exporter
    compute_hcas: tuple[HcaPort, ...]  # rail order, as the host view orders them
    storage_hcas: tuple[HcaPort, ...]
    roce_gid_index: int | None
    mounts: tuple[Mount, ...]
    serving_port: int | None       # the local inference engine's port, where this node serves
    firmware: Firmware = field(default_factory=Firmware)  # software.firmware of the SKU (None: not checked)

    @property
    def gpu_node(self) -> bool:
        return NodeRole.gpu_node in self.roles

    @classmethod
    def of(cls, stack: str, spec: ClusterSpec, view: HostView) -> NodeExpectation:
        node = spec.node(view.hostname)
        fabric = spec.compute_fabric()
        serves = spec.serving is not None and NodeRole.inference_local in node.roles
        software = spec.software
        return cls(stack=stack, hostname=view.hostname, sku=spec.sku_of(node), roles=tuple(node.roles),
                   lab=spec.site.lab, driver_version=software.driver.version, driver_branch=software.driver.branch,
                   fabric_manager_version=software.fabric_manager.version,
                   dcgm_exporter=software.dcgm_exporter is not None,
                   compute_hcas=view.compute_hcas, storage_hcas=view.storage_hcas,
                   roce_gid_index=fabric.roce_gid_index if fabric is not None and fabric.transport == "roce" else None,
                   mounts=view.mounts,
                   serving_port=spec.serving.port if serves and spec.serving is not None else None,
                   firmware=software.firmware.get(node.sku, Firmware()))
