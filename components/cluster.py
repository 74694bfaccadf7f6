"""GpuCluster: the whole spec as one component — nodes, fabrics, arrays, the key manager, site-wide facts.

`GpuCluster(site name, GpuClusterArgs.from_spec(spec, ...))` is all a Pulumi program needs (see
__main__.py); programs importing `components` compose it the same way. Children are named from spec names
(hostnames, fabric and array names), so URNs are stable across runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.fabric import InfiniBandFabric, InfiniBandFabricArgs
from components.governance import Governance
from components.keys import VaultKmip
from components.node import DgxNode, DgxNodeArgs, leaf_ports_by_node
from components.providers.node_provisioning import NodeProvisioning, provision_in_waves
from components.provisioning.target import targets_from_spec
from components.serving import ModelServing
from components.software import SoftwareSet
from components.spec import ClusterSpec, SpecError
from components.spec.loader import PROJECT_ROOT
from components.storage import FlashStorageArray, FlashStorageArrayArgs

TYPE = "podforge:cluster:GpuCluster"


class InvalidSpecError(pulumi.RunError):
    """The program's error for an invalid spec: one line per problem; `podforge plan` turns it back into exit 2."""

    def __init__(self, error: SpecError):
        super().__init__("invalid spec:\n" + "\n".join(map(str, error.problems)))
        self.problems = error.problems


@dataclass(frozen=True)
class GpuClusterArgs:
    spec: ClusterSpec
    ssh_private_key: pulumi.Input[str] | None = field(default=None, repr=False)
    """The automation user's private key, a secret (stack config `podforge:sshPrivateKey`)."""
    ssh_private_key_file: str | None = None
    """Or the path of a key file (the lab's `podforge:sshPrivateKeyFile`)."""

    @classmethod
    def from_spec(cls, spec: ClusterSpec, ssh_private_key: pulumi.Input[str] | None = None,
                  ssh_private_key_file: str | None = None) -> GpuClusterArgs:
        return cls(spec, ssh_private_key, ssh_private_key_file)


class GpuCluster(pulumi.ComponentResource):
    nodes: dict[str, DgxNode]
    fabrics: dict[str, InfiniBandFabric]
    arrays: dict[str, FlashStorageArray]
    keys: VaultKmip
    governance: Governance
    software: SoftwareSet
    serving: ModelServing | None
    provisioning: dict[str, NodeProvisioning]

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = args.spec
        super().__init__(TYPE, name, {"site": spec.site.name, "location": spec.site.location, "lab": spec.site.lab},
                         opts)
        child = pulumi.ResourceOptions(parent=self)
        ports = leaf_ports_by_node(spec)
        self.nodes = {
            n.hostname: DgxNode(n.hostname, DgxNodeArgs.from_spec(spec, n, ports.get(n.hostname, ()), args.ssh_private_key,
                                                                  args.ssh_private_key_file), child)
            for n in spec.nodes}
        self.fabrics = {f.name: InfiniBandFabric(f.name, InfiniBandFabricArgs.from_spec(f), child) for f in spec.fabrics}
        self.keys = VaultKmip(f"{name}-vault", spec, child)
        scoped = {s.array for s in spec.keys.vault.kmip.scopes}
        self.arrays = {
            a.name: FlashStorageArray(a.name, FlashStorageArrayArgs.from_spec(
                spec, a, self.keys.kmip_endpoint(a.name) if a.name in scoped and a.encryption.external_kmip else None),
                child)
            for a in spec.storage.arrays}
        # Site-wide facts the policy packs read: access model and retention, the software set, serving intent.
        self.governance = Governance(f"{name}-governance", spec, child)
        self.software = SoftwareSet(f"{name}-software", spec, child)
        self.serving = ModelServing(f"{name}-serving", spec, child) if spec.serving is not None else None
        # The same graph drives Ansible: one NodeProvisioning per node, a child of its DgxNode, in rollout waves
        # joined by one RolloutWave barrier per wave (children of the cluster).
        targets = {t.hostname: t for t in targets_from_spec(spec)}
        self.provisioning = provision_in_waves(
            [[targets[n.hostname] for n in wave] for wave in spec.waves()], _automation_key(args),
            health_gate=spec.rollout.health_gate, parents=dict(self.nodes), waves_parent=self, waves_prefix=name)
        self.register_outputs({"nodes": sorted(self.nodes), "fabrics": sorted(self.fabrics),
                               "arrays": sorted(self.arrays)})

    @property
    def management_addresses(self) -> dict[str, str]:
        """Hostname → management address (plain data: known before anything is created)."""
        return {h: n.args.addresses["management"] for h, n in self.nodes.items()}


def _automation_key(args: GpuClusterArgs) -> pulumi.Output[str]:
    """The automation private key as a secret: the stack's secret, or the key file the stack names (the lab's
    .lab/id_ed25519, read where the program runs). Empty when neither exists yet; the provider refuses an
    empty key before connecting, saying what to do."""
    if args.ssh_private_key is not None:
        return pulumi.Output.secret(args.ssh_private_key)
    path = None if args.ssh_private_key_file is None else PROJECT_ROOT / args.ssh_private_key_file
    return pulumi.Output.secret(path.read_text() if path is not None and path.is_file() else "")
