"""The NVIDIA driver and Fabric Manager are one version (NVSwitch systems refuse to start GPUs otherwise)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import GPU_BASELINE, Control, ResourceRule


def check(args: ResourceValidationArgs) -> Iterable[str]:
    driver, fabric_manager = get(args.props, "driver", "version"), get(args.props, "fabricManager", "version")
    if UNKNOWN in (driver, fabric_manager):
        return
    if driver is None or fabric_manager is None:
        yield "the versions set lacks the driver or the fabric manager"
    elif driver != fabric_manager:
        yield f"driver {driver} and fabric manager {fabric_manager} differ"
    branch = get(args.props, "driver", "branch")
    if isinstance(branch, str) and isinstance(driver, str) and not driver.startswith(branch + "."):
        yield f"driver {driver} is not on its declared branch {branch}"


POLICY = ResourceRule(
    name="driver-matches-fabric-manager",
    description="The driver and NVIDIA Fabric Manager are pinned to the same version, on the declared branch. Source: "
                "NVIDIA Fabric Manager User Guide (the fabric manager must match the driver version exactly on "
                "NVSwitch systems such as DGX A100; a mismatch leaves the GPUs unusable).",
    control=Control(GPU_BASELINE, "NVIDIA Fabric Manager User Guide: driver compatibility",
                    ("NIST SP 800-53 CM-2", "NIST SP 800-53 CM-6")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set software.fabric_manager.version to software.driver.version",
    resource_types=(types.SOFTWARE,),
    check=check,
    spec_field=("software", "fabric_manager", "version"),
)
