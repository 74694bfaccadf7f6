"""The rules of the mlps-level3 pack, one per module; importing them starts nothing (no gRPC server)."""

from policies.common.discover import rule_policies

PACK = "mlps-level3"
DESCRIPTION = "China MLPS 2.0 (GB/T 22239-2019) level 3, as it applies to a podforge GPU cluster"
POLICIES = rule_policies(__name__, __path__)
