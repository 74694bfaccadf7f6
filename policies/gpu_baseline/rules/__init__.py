"""The rules of the gpu-baseline pack, one per module; importing them starts nothing (no gRPC server)."""

from policies.common.discover import rule_policies

PACK = "gpu-baseline"
DESCRIPTION = "GPU cluster baseline: software versions, rail cabling, fabric redundancy, storage and serving limits"
POLICIES = rule_policies(__name__, __path__)
