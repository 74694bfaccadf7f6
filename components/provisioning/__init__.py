"""Provisioning: the one runner over ansible-runner, input hashing, the applied-state file, rolling waves."""

from components.provisioning.hashing import input_hash, playbooks_hash
from components.provisioning.runner import HostResult, RunResult, TaskEvent, run_health_gate, run_playbook, run_site
from components.provisioning.target import HostTarget, host_targets, inventory

__all__ = ["HostResult", "HostTarget", "RunResult", "TaskEvent", "host_targets", "input_hash", "inventory",
           "playbooks_hash", "run_health_gate", "run_playbook", "run_site"]
