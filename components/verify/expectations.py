"""What a node should be, taken from the spec: the facts every check compares the node against."""

from __future__ import annotations

from dataclasses import dataclass

from components.spec.catalogue_models import Hca, Sku
from components.spec.cluster import ClusterSpec
from components.spec.nodes import Node, NodeRole
from components.spec.storage import ExportProtocol


@dataclass(frozen=True)
class ExpectedMount:
    export: str           # ARRAY/EXPORT
    mount_point: str
    protocol: ExportProtocol


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
    compute_hcas: tuple[Hca, ...]  # rail order
    storage_hcas: tuple[Hca, ...]
    roce_gid_index: int | None
    mounts: tuple[ExpectedMount, ...]
    serving_port: int | None       # the local inference engine's port, where this node serves

    @property
    def gpu_node(self) -> bool:
        return NodeRole.gpu_node in self.roles

    @classmethod
    def of(cls, stack: str, spec: ClusterSpec, node: Node) -> NodeExpectation:
        sku = spec.sku_of(node)
        fabric = spec.compute_fabric()
        arrays = {a.name: a for a in spec.storage.arrays}
        mounts = []
        for mount in spec.storage.mounts:
            if (mount.role is not None and mount.role in node.roles) or node.hostname in mount.hosts:
                array_name, export_name = mount.export.split("/", 1)
                export = next(e for e in arrays[array_name].exports if e.name == export_name)
                mounts.append(ExpectedMount(mount.export, mount.mount_point, export.protocol))
        serves = spec.serving is not None and NodeRole.inference_local in node.roles
        return cls(stack=stack, hostname=node.hostname, sku=sku, roles=tuple(node.roles), lab=spec.site.lab,
                   driver_version=spec.software.driver.version, driver_branch=spec.software.driver.branch,
                   fabric_manager_version=spec.software.fabric_manager.version,
                   compute_hcas=tuple(sorted(sku.compute_hcas, key=lambda h: (h.rail is None, h.rail or 0))),
                   storage_hcas=tuple(sku.storage_hcas),
                   roce_gid_index=fabric.roce_gid_index if fabric is not None and fabric.transport == "roce" else None,
                   mounts=tuple(mounts),
                   serving_port=spec.serving.port if serves and spec.serving is not None else None)
