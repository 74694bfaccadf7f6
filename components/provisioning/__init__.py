"""Provisioning: the one runner over ansible-runner, input hashing, the applied-state file, rolling waves."""

from components.provisioning.hashing import input_hash, playbooks_hash
from components.provisioning.runner import (
    HostResult,
    ProvisioningError,
    RunResult,
    TaskEvent,
    run_health_gate,
    run_playbook,
    run_site,
)
from components.provisioning.target import HostTarget, targets_from_spec

__all__ = ["HostResult", "HostTarget", "ProvisioningError", "RunResult", "TaskEvent", "input_hash", "playbooks_hash",
           "run_health_gate", "run_playbook", "run_site", "targets_from_spec"]
