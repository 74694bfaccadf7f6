"""DgxNode: one machine of the spec, declared from its host view, and the NodeProvisioning that provisions it.

There is no provider package for a bare-metal node: the component declares what the node is (SKU, serial,
roles), how to reach it (addresses, BMC, pinned SSH) and how it is cabled (compute HCAs in rail order, the
leaf port of every HCA), all read from its host view (components.host). `provision()` declares its child
NodeProvisioning from the same view, with the automation key as that child's secret input: the key is
registered there only. GpuCluster calls `provision()` wave by wave, so the rollout waves order the children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.desired import known
from components.host import HostView
from components.providers.node_provisioning import NodeProvisioning
from components.provisioning.target import HostTarget

TYPE = "podforge:hw:DgxNode"


@dataclass(frozen=True)
class DgxNodeArgs:
    host: HostView
    host_keys: tuple[str, ...]
    """The pinned known_hosts lines of the node (components.access.host_keys)."""
    private_key: pulumi.Input[str] | None = field(default=None, repr=False)
    """The automation key's text, made a secret input of the node's NodeProvisioning; None: empty, which the
    provider refuses before connecting."""
    health_gate: bool = True
    """Run the health gate after the site play (the spec's rollout.health_gate)."""

    @property
    def hostname(self) -> str:
        return self.host.hostname

    def desired_state(self) -> dict[str, Any]:
        """The inputs the node registers (camelCase, as provider inputs are); no key."""
        host, login = self.host, self.host.login
        ssh: dict[str, Any] = {"user": login.user, "port": login.port}
        if login.host_key is not None:
            ssh["hostKey"] = login.host_key
        if login.known_hosts is not None:
            ssh["knownHosts"] = login.known_hosts
        state: dict[str, Any] = {
            "hostname": host.hostname, "sku": host.sku, "serial": host.serial, "roles": list(host.roles),
            "addresses": dict(host.addresses), "bmc": host.bmc, "computeHcas": [h.device for h in host.compute_hcas],
            "storageHcas": [h.device for h in host.storage_hcas],
            "leafPorts": {p.hca: p.label for p in host.leaf_ports}, "ssh": ssh,
        }
        if host.rack is not None:
            state["rack"] = host.rack
        return state

    def target(self) -> HostTarget:
        """The node as NodeProvisioning takes it: connection, groups, vars and rendered files of the same view."""
        return HostTarget.of(self.host, self.host_keys)


class DgxNode(pulumi.ComponentResource):
    """A DGX node; its name is its hostname, so its URN is stable while the hostname is."""

    provisioning: NodeProvisioning | None

    def __init__(self, name: str, args: DgxNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, args.desired_state(), opts)
        self.args = args
        self.hostname = args.hostname
        self.provisioning = None
        # The node's declared state is already registered (its inputs); repeating it as registered outputs
        # would serialize every value twice, the largest part of the cost of planning a thousand nodes.
        self.register_outputs({})

    def provision(self, after: Sequence[pulumi.Resource] = (), playbooks: str | None = None) -> NodeProvisioning:
        """Declare the node's NodeProvisioning child `HOSTNAME-provisioning`, depending on `after` (the previous
        wave's barrier); `playbooks`: playbooks_hash(), when the caller took it once for every node."""
        if self.provisioning is not None:
            raise ValueError(f"{self.hostname}: its NodeProvisioning is declared already")
        key = self.args.private_key if self.args.private_key is not None else ""
        self.provisioning = NodeProvisioning(
            f"{self.hostname}-provisioning", self.args.target(), key, playbooks=playbooks,
            health_gate=self.args.health_gate, opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)))
        return self.provisioning

    # Outputs are made on first use only; the registered inputs already carry the same values.
    @property
    def addresses(self) -> pulumi.Output[dict]:
        """management, inband, storage (those declared) and bmc addresses."""
        return known(dict(self.args.host.addresses))

    @property
    def compute_hcas(self) -> pulumi.Output[list]:
        """RDMA devices in rail order."""
        return known([h.device for h in self.args.host.compute_hcas])

    @property
    def leaf_ports(self) -> pulumi.Output[dict]:
        """HCA device → `SWITCH/PORT` of the leaf port it is cabled to (every fabric)."""
        return known({p.hca: p.label for p in self.args.host.leaf_ports})
