"""DgxNode: one machine of the spec, as the desired state later steps act on (provisioning, checks).

There is no provider package for a bare-metal node: the component declares, from the spec, what the node
is (SKU, serial, roles), how to reach it (addresses, BMC, pinned SSH) and how it is cabled (compute HCAs in
rail order, the leaf port of every HCA). A NodeProvisioning resource (dynamic provider running the
playbooks) becomes its child in a later step and takes these values as inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.desired import known
from components.spec import ClusterSpec
from components.spec.nodes import Node

TYPE = "podforge:hw:DgxNode"


@dataclass(frozen=True)
class LeafPort:
    """A cable from one of the node's HCAs to a leaf switch port."""

    fabric: str
    hca: str
    switch: str
    port: int

    @property
    def label(self) -> str:
        """`SWITCH/PORT`: one short string per cable keeps a thousand nodes cheap to register and diff."""
        return f"{self.switch}/{self.port}"


def leaf_ports_by_node(spec: ClusterSpec) -> dict[str, list[LeafPort]]:
    """Every node's cables, all fabrics, in one pass (a per-node search would be quadratic)."""
    ports: dict[str, list[LeafPort]] = {}
    for fabric in spec.fabrics:
        for link in fabric.node_links:
            ports.setdefault(link.node, []).append(LeafPort(fabric.name, link.hca, link.switch, link.port))
    return ports


@dataclass(frozen=True)
class DgxNodeArgs:
    hostname: str
    sku: str
    serial: str
    roles: tuple[str, ...]
    addresses: Mapping[str, str]
    """management, inband, storage (those the spec declares) and bmc."""
    bmc: str
    compute_hcas: tuple[str, ...]
    """RDMA devices in rail order (index = rail), the order NCCL_IB_HCA is rendered in; GPU and NUMA
    affinity are facts of the SKU (the catalogue), not repeated per node."""
    storage_hcas: tuple[str, ...]
    leaf_ports: tuple[LeafPort, ...]
    ssh: Mapping[str, Any]
    ssh_private_key: pulumi.Input[str] | None = field(default=None, repr=False)
    """The automation key (made a secret Output), when the stack provides one."""
    ssh_private_key_file: str | None = None
    """Or a key file on the machine running podforge (the lab's .lab/id_ed25519); never read at plan time."""
    rack: str | None = None

    @classmethod
    def from_spec(cls, spec: ClusterSpec, node: Node, leaf_ports: Sequence[LeafPort] = (),
                  ssh_private_key: pulumi.Input[str] | None = None,
                  ssh_private_key_file: str | None = None) -> DgxNodeArgs:
        sku = spec.sku_of(node)
        addresses = {"management": str(node.management_address)}
        if node.inband_address is not None:
            addresses["inband"] = str(node.inband_address)
        if node.storage_address is not None:
            addresses["storage"] = str(node.storage_address)
        addresses["bmc"] = node.bmc_host
        rail_order = sorted(sku.compute_hcas, key=lambda h: (h.rail is None, h.rail or 0))
        pin = node.ssh
        ssh: dict[str, Any] = {"user": pin.user, "port": pin.port}
        if pin.host_key is not None:
            ssh["hostKey"] = pin.host_key
        if pin.known_hosts is not None:
            ssh["knownHosts"] = pin.known_hosts
        return cls(hostname=node.hostname, sku=node.sku, serial=node.serial, roles=tuple(r.value for r in node.roles),
                   addresses=addresses, bmc=node.bmc,
                   compute_hcas=tuple(h.device for h in rail_order),
                   storage_hcas=tuple(h.device for h in sku.storage_hcas), leaf_ports=tuple(leaf_ports), ssh=ssh,
                   ssh_private_key=ssh_private_key, ssh_private_key_file=ssh_private_key_file, rack=node.rack)

    def desired_state(self) -> dict[str, Any]:
        """The inputs the node registers (camelCase, as provider inputs are)."""
        ssh = dict(self.ssh)
        if self.ssh_private_key is not None:
            ssh["privateKey"] = pulumi.Output.secret(self.ssh_private_key)
        if self.ssh_private_key_file is not None:
            ssh["privateKeyFile"] = self.ssh_private_key_file
        state: dict[str, Any] = {
            "hostname": self.hostname, "sku": self.sku, "serial": self.serial, "roles": list(self.roles),
            "addresses": dict(self.addresses), "bmc": self.bmc, "computeHcas": list(self.compute_hcas),
            "storageHcas": list(self.storage_hcas), "leafPorts": {p.hca: p.label for p in self.leaf_ports}, "ssh": ssh,
        }
        if self.rack is not None:
            state["rack"] = self.rack
        return state


class DgxNode(pulumi.ComponentResource):
    """A DGX node; its name is its hostname, so its URN is stable while the hostname is."""

    def __init__(self, name: str, args: DgxNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        state = args.desired_state()
        super().__init__(TYPE, name, state, opts)
        self.args = args
        self.hostname = args.hostname
        # The node's declared state is already registered (its inputs); repeating it as registered outputs
        # would serialize every value twice, the largest part of the cost of planning a thousand nodes.
        self.register_outputs({})

    # Outputs are made on first use only; the registered inputs already carry the same values.
    @property
    def addresses(self) -> pulumi.Output[dict]:
        """management, inband, storage (those declared) and bmc addresses."""
        return known(dict(self.args.addresses))

    @property
    def compute_hcas(self) -> pulumi.Output[list]:
        """RDMA devices in rail order."""
        return known(list(self.args.compute_hcas))

    @property
    def leaf_ports(self) -> pulumi.Output[dict]:
        """HCA device → `SWITCH/PORT` of the leaf port it is cabled to (every fabric)."""
        return known({p.hca: p.label for p in self.args.leaf_ports})
