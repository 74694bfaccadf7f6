"""The Pulumi program of a podforge project: stack config → validated spec → GpuCluster → exports.

A project's `__main__.py` only calls `run()` (README, "Your own project"). `pulumi preview/up` runs that file
with the stack's config; `podforge plan` and `policy check` run the same file under the SDK's mock runtime and
hand it the spec they already loaded, so a command reads the spec once. Secrets (`podforge:sshPrivateKey`) stay
Pulumi secrets; podforge never decrypts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pulumi

from components.cluster import GpuCluster, GpuClusterArgs
from components.inference import InferenceStack, InferenceStackArgs
from components.spec import LoadedSpec, SpecError, load_spec

_HANDED: ContextVar[LoadedSpec | None] = ContextVar("podforge_handed_spec", default=None)


class InvalidSpecError(pulumi.RunError):
    """The program's error for an invalid spec: one line per problem (the SDK prints a RunError without a
    traceback); `podforge plan` turns it back into SpecError, exit 2."""

    def __init__(self, error: SpecError):
        super().__init__("invalid spec:\n" + "\n".join(map(str, error.problems)))
        self.problems = error.problems


@contextmanager
def handed_spec(loaded: LoadedSpec) -> Iterator[None]:
    """Within this block `run()` declares `loaded` instead of reading the stack's spec itself."""
    token = _HANDED.set(loaded)
    try:
        yield
    finally:
        _HANDED.reset(token)


def run() -> GpuCluster | InferenceStack:
    """Declare the stack's cluster and its exports; the spec is `podforge:spec`, relative to the project. A stack
    with `podforge:layer: serving` declares the site's inference stack on Kubernetes instead (docs/inference.md)."""
    config = pulumi.Config("podforge")
    loaded = _HANDED.get()
    if loaded is None:
        try:
            loaded = load_spec(config.require("spec"))
        except SpecError as exc:
            raise InvalidSpecError(exc) from None
    spec = loaded.spec
    layer = config.get("layer") or "cluster"
    if layer == "serving":
        if spec.serving is None:
            raise pulumi.RunError(f"stack layer serving: {loaded.file} has no `serving` section to deploy")
        stack = InferenceStack(f"{spec.site.name}-serving", InferenceStackArgs.from_spec(spec))
        pulumi.export("site", spec.site.name)
        pulumi.export("namespace", stack.namespace)
        pulumi.export("nodesPerReplica", stack.layout.nodes_per_replica)
        return stack
    if layer != "cluster":
        raise pulumi.RunError(f"podforge:layer {layer!r}: expected cluster (the default) or serving")
    cluster = GpuCluster(spec.site.name, GpuClusterArgs.from_spec(
        spec, ssh_private_key=config.get_secret("sshPrivateKey"), ssh_private_key_file=config.get("sshPrivateKeyFile")))
    pulumi.export("site", spec.site.name)
    pulumi.export("managementAddresses", cluster.management_addresses)
    pulumi.export("subnetManagers", {name: fabric.subnet_managers for name, fabric in cluster.fabrics.items()})
    pulumi.export("partitions", {name: fabric.partitions for name, fabric in cluster.fabrics.items()})
    pulumi.export("kmipScopes", cluster.keys.kmip_scopes)
    return cluster
