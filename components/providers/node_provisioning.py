"""NodeProvisioning: a Pulumi dynamic resource that applies the site playbook to one node.

Inputs: the node's connection (address, port, user, pinned host key lines), its inventory groups, its
host_vars, the config files podforge rendered for it, the content hash of playbooks/, whether to run
the health gate after it, and the automation private key (a Pulumi secret).

- diff: sha256 of those inputs (components.provisioning.hashing.input_hash, the private key left out)
  against the hash recorded at the last successful apply. Equal → no changes and no connection.
- create/update: run site.yml limited to this host through the one runner (the same function
  `podforge rollout` uses), then the health gate; a failure raises an error naming host and task.
- delete: does nothing to the machine. Removing a node from the spec stops podforge managing it; it
  does not wipe or power off a server (that is a decision for people, and a BMC operation).
- Outputs carry only hashes and counts; the private key stays an input, encrypted by Pulumi as a secret.

The provider object holds nothing but plain data, so it survives the SDK's dill serialization.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.access import UNPINNED, AccessError
from components.providers.rollout_wave import RolloutWave
from components.providers.sdk_pickler import restored_pickler
from components.provisioning.hashing import input_hash, playbooks_hash
from components.provisioning.runner import run_health_gate, run_site
from components.provisioning.target import HostTarget

# Inputs that decide the outcome (hashed) and those that do not (the key, the gate switch).
HASHED_INPUTS = ("hostname", "connection", "groups", "vars", "files", "playbooks_hash")
REQUIRED_INPUTS = (*HASHED_INPUTS, "private_key")


class NodeProvisioningError(Exception):
    """A run failed on the node; the message names the host and the failing task."""


class NodeProvisioningProvider(ResourceProvider):
    # The provider holds no secret (the key is a resource input), so its serialized form need not be one.
    serialize_as_secret_always = False

    def __init__(self, playbooks_dir: str | None = None) -> None:
        super().__init__()
        self.playbooks_dir = playbooks_dir  # None: the project's playbooks/ where the provider runs

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(k, "required input") for k in REQUIRED_INPUTS if k not in news]
        if news.get("private_key") == "":
            failures.append(CheckFailure("private_key", f"{news.get('hostname')}: no automation private key (set the "
                                                        "secret podforge:sshPrivateKey; for the lab, run podforge lab up)"))
        connection = news.get("connection")
        if isinstance(connection, dict) and connection.get("host_keys") == []:
            failures.append(CheckFailure("connection", f"{news.get('hostname')}: {UNPINNED}"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        try:
            wanted = hash_of(news)
        except (KeyError, TypeError, ValueError):
            return DiffResult(changes=True)  # inputs unknown at preview: an update may follow
        return DiffResult(changes=olds.get("input_hash") != wanted, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["hostname"], outs=self._apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing is done to the machine: the node leaves podforge's management, untouched."""

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        target = HostTarget.from_inputs(props)
        kwargs: dict[str, Any] = {"private_key": props["private_key"]}
        if self.playbooks_dir is not None:
            kwargs["playbooks_dir"] = Path(self.playbooks_dir)
        applied = playbooks_hash(Path(self.playbooks_dir)) if self.playbooks_dir else playbooks_hash()
        if applied != props["playbooks_hash"]:
            raise NodeProvisioningError(f"{target.hostname}: playbooks/ changed since the program computed its hash "
                                        f"({props['playbooks_hash'][:12]} → {applied[:12]}); run again")
        try:
            site = run_site([target], **kwargs)
        except AccessError as exc:
            raise NodeProvisioningError(str(exc)) from None
        result = site.hosts[target.hostname]
        if not result.succeeded:
            raise NodeProvisioningError(f"{target.hostname}: site.yml {result.status} at task "
                                        f"'{result.failed_task}': {result.message}")
        if props.get("health_gate", True):
            gate = run_health_gate([target], **kwargs).hosts[target.hostname]
            if not gate.succeeded:
                raise NodeProvisioningError(f"{target.hostname}: health gate {gate.status} at task "
                                            f"'{gate.failed_task}': {gate.message}")
        return {"hostname": target.hostname, "input_hash": hash_of(props), "playbooks_hash": props["playbooks_hash"],
                "ok": result.ok, "changed": result.changed,
                "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def hash_of(props: dict[str, Any]) -> str:
    return input_hash(HostTarget.from_inputs(props), props["playbooks_hash"])


class NodeProvisioning(pulumi.dynamic.Resource, module="podforge", name="NodeProvisioning"):
    """The site playbook applied to one node (type `pulumi-python:dynamic/podforge:NodeProvisioning`)."""

    hostname: pulumi.Output[str]
    input_hash: pulumi.Output[str]
    playbooks_hash: pulumi.Output[str]
    ok: pulumi.Output[int]
    changed: pulumi.Output[int]
    applied_at: pulumi.Output[str]

    def __init__(self, name: str, target: HostTarget, private_key: pulumi.Input[str], *,
                 playbooks: str | None = None, health_gate: bool = True,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {**target.to_inputs(), "playbooks_hash": playbooks or playbooks_hash(), "health_gate": health_gate,
                 "private_key": pulumi.Output.secret(private_key),
                 "input_hash": None, "ok": None, "changed": None, "applied_at": None}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["private_key"]))
        with restored_pickler():  # the SDK would otherwise nest its pickler patch once per node (sdk_pickler.py)
            super().__init__(NodeProvisioningProvider(), name, props, opts)


def provision_in_waves(waves: Sequence[Sequence[Any]],
                       provision: Callable[[Any, list[pulumi.Resource], str], NodeProvisioning], *,
                       waves_parent: pulumi.Resource | None = None,
                       waves_prefix: str = "rollout") -> dict[str, NodeProvisioning]:
    """One NodeProvisioning per host (anything with a `hostname`), in waves: `provision(host, after, playbooks)`
    declares it, depending on the resources in `after`, with `playbooks` (playbooks_hash(), taken once).

    A RolloutWave barrier after each wave but the last depends on every node of its wave, and every node of the
    next wave depends on that barrier alone. So no node of wave k+1 starts before every node of wave k has passed
    its site play and health gate, a node that fails stops the later waves, and finished waves stay as they are
    (rollout_wave.py says why a barrier, not pairs). Barriers are named `{waves_prefix}-wave-{k}` (k from 1) and
    are children of `waves_parent`."""
    playbooks = playbooks_hash()
    created: dict[str, NodeProvisioning] = {}
    barrier: list[pulumi.Resource] = []
    for number, wave in enumerate(waves, start=1):
        current = {host.hostname: provision(host, list(barrier), playbooks) for host in wave}
        created.update(current)
        if number < len(waves) and current:
            barrier = [RolloutWave(f"{waves_prefix}-wave-{number}", number, dict(current),
                                   pulumi.ResourceOptions(parent=waves_parent))]
    return created
