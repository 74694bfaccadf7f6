"""The rules of the gpu-baseline pack, one per module; importing them starts nothing (no gRPC server)."""

from policies.gpu_baseline.rules import (
    array_iops_target,
    compute_rails_cabled,
    driver_matches_fabric_manager,
    redundant_uplinks,
    serving_context_length,
)

PACK = "gpu-baseline"
DESCRIPTION = "GPU cluster baseline: software versions, rail cabling, fabric redundancy, storage and serving limits"
POLICIES = [module.POLICY for module in (
    array_iops_target,
    compute_rails_cabled,
    driver_matches_fabric_manager,
    redundant_uplinks,
    serving_context_length,
)]
