"""SoftwareSet: the one versions set every node of the cluster gets (driver, fabric manager, OFED, NCCL …).

Each node's provisioning applies this set; registering it once as a resource lets the policy packs check
it (driver and fabric manager at one version) and lets a plan diff show a version change as one line.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.desired import known
from components.spec import ClusterSpec

TYPE = "podforge:hw:SoftwareSet"
PACKAGES = ("driver", "fabric_manager", "doca_ofed", "nccl", "container_toolkit", "dcgm")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def desired_state(spec: ClusterSpec) -> dict[str, Any]:
    sw = spec.software
    state: dict[str, Any] = {"os": sw.os,
                             "sources": [{"name": s.name, "kind": s.kind, "url": s.url} for s in sw.sources]}
    for package in PACKAGES:
        pinned = getattr(sw, package)
        state[_camel(package)] = {"version": pinned.version, "source": pinned.source} | (
            {"branch": pinned.branch} if package == "driver" else {})
    # nccl-tests is built from a source release, not installed from a package source: its tarball and checksum.
    state["ncclTests"] = {"version": sw.nccl_tests.version, "url": sw.nccl_tests.url, "sha256": sw.nccl_tests.sha256}
    return state


class SoftwareSet(pulumi.ComponentResource):
    """The cluster's versions set; one per cluster, named `<site>-software`."""

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        state = desired_state(spec)
        super().__init__(TYPE, name, state, opts)
        self.versions = known({k: v["version"] for k, v in state.items() if isinstance(v, dict)})
        self.register_outputs({"versions": self.versions})
