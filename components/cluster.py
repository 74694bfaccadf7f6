"""GpuCluster: the whole spec as one component — nodes, fabrics, arrays, the key manager, site-wide facts.

`GpuCluster(site name, GpuClusterArgs.from_spec(spec, ...))` is all a Pulumi program needs (see
components/program.py); programs importing `components` compose it the same way. Children are named from spec
names (hostnames, fabric and array names), so URNs are stable across runs.

The automation key is read where the program runs (`pulumi preview/up` and `podforge plan` alike): the stack's
secret `podforge:sshPrivateKey`, else the text of the key file `podforge:sshPrivateKeyFile` names (relative to
the project). It is registered once per node, as the secret input of its NodeProvisioning; a key file that does
not exist yet gives an empty key, which the provider refuses before connecting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from components import paths
from components.access import host_keys
from components.fabric import InfiniBandFabric, InfiniBandFabricArgs
from components.governance import Governance
from components.host import host_views
from components.keys import VaultKmip
from components.node import DgxNode, DgxNodeArgs
from components.providers.node_provisioning import NodeProvisioning, provision_in_waves
from components.serving import ModelServing
from components.software import SoftwareSet
from components.spec import ClusterSpec
from components.storage import FlashStorageArray, FlashStorageArrayArgs

TYPE = "podforge:cluster:GpuCluster"


@dataclass(frozen=True)
class GpuClusterArgs:
    spec: ClusterSpec
    ssh_private_key: pulumi.Input[str] | None = field(default=None, repr=False)
    """The automation user's private key, a secret (stack config `podforge:sshPrivateKey`)."""
    ssh_private_key_file: str | None = None
    """Or the path of a key file, relative to the project (the lab's `podforge:sshPrivateKeyFile`)."""
    root: Path | None = None
    """The project directory the spec's known_hosts files and the key file are relative to (default: the project)."""

    @classmethod
    def from_spec(cls, spec: ClusterSpec, ssh_private_key: pulumi.Input[str] | None = None,
                  ssh_private_key_file: str | None = None, root: Path | None = None) -> GpuClusterArgs:
        return cls(spec, ssh_private_key, ssh_private_key_file, root)


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
        root = args.root if args.root is not None else paths.project_root()
        views = host_views(spec, root)
        pins = host_keys(views.values())
        key = _automation_key(args, root)
        self.nodes = {hostname: DgxNode(hostname, DgxNodeArgs(view, pins[hostname], key, spec.rollout.health_gate),
                                        child)
                      for hostname, view in views.items()}
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
        # The same graph drives Ansible: each DgxNode declares its NodeProvisioning, in rollout waves joined by one
        # RolloutWave barrier per wave (children of the cluster).
        self.provisioning = provision_in_waves(
            [[self.nodes[n.hostname] for n in wave] for wave in spec.waves()],
            lambda node, after, playbooks: node.provision(after, playbooks), waves_parent=self, waves_prefix=name)
        self.register_outputs({"nodes": sorted(self.nodes), "fabrics": sorted(self.fabrics),
                               "arrays": sorted(self.arrays)})

    @property
    def management_addresses(self) -> dict[str, str]:
        """Hostname → management address (plain data: known before anything is created)."""
        return {h: n.args.host.addresses["management"] for h, n in self.nodes.items()}


def _automation_key(args: GpuClusterArgs, root: Path) -> pulumi.Output[str]:
    """The automation key as a secret: the stack's secret, or the text of the key file the stack names; empty
    when neither exists (yet)."""
    if args.ssh_private_key is not None:
        return pulumi.Output.secret(args.ssh_private_key)
    if args.ssh_private_key_file is None:
        return pulumi.Output.secret("")
    path = Path(args.ssh_private_key_file)
    path = path if path.is_absolute() else root / path
    return pulumi.Output.secret(path.read_text() if path.is_file() else "")
