"""Every compute HCA of every GPU node is cabled to a leaf of the compute fabric (rail-optimized)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import GPU_BASELINE, Control, ResourceRule


def check(args: ResourceValidationArgs) -> Iterable[str]:
    roles = get(args.props, "roles")
    if roles is UNKNOWN or "gpu_node" not in items(roles):
        return
    hcas, ports = get(args.props, "computeHcas"), get(args.props, "leafPorts", default={})
    if UNKNOWN in (hcas, ports):
        return
    missing = [(rail, hca) for rail, hca in enumerate(items(hcas)) if isinstance(hca, str) and not get(ports, hca)]
    if missing:
        listed = ", ".join(f"rail {rail} ({hca})" for rail, hca in missing)
        yield f"{listed} not cabled to a leaf port"


POLICY = ResourceRule(
    name="compute-rails-cabled",
    description="Every compute HCA (one per rail, eight on a DGX A100) of every GPU node is cabled to a leaf port. "
                "Source: NVIDIA DGX SuperPOD reference architecture (rail-optimized compute fabric: HCA n of every "
                "node on rail n); an uncabled rail halves all-reduce bandwidth or hangs NCCL.",
    control=Control(GPU_BASELINE, "NVIDIA DGX SuperPOD RA: compute fabric", ("NIST SP 800-53 CM-8",)),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="add the node's missing HCAs to fabrics[].node_links of the compute fabric",
    resource_types=(types.NODE,),
    check=check,
)
