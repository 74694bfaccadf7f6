"""Run every node check on each target host and gather the per-node report.

Targets are testinfra host specs: `local://` (the machine this runs on) or `paramiko://[USER@]HOST[:PORT]`.
Over SSH the node's host key is pinned from the spec (ssh.host_key or ssh.known_hosts) and an unknown
key is refused: testinfra's own paramiko client would only warn.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.spec.cluster import ClusterSpec
from components.spec.loader import PROJECT_ROOT
from components.spec.nodes import Node
from components.verify.checks import all_checks, run_check
from components.verify.expectations import NodeExpectation
from components.verify.results import CheckResult, NodeReport, Report, Status
from components.verify.shell import TestinfraShell


class VerifyTargetError(ValueError):
    """A host that cannot be matched to a node of the spec (bad input: exit 2)."""


@dataclass(frozen=True)
class Target:
    hostspec: str
    node: Node
    note: str | None = None


def _host_part(hostspec: str) -> str:
    rest = hostspec.split("://", 1)[-1].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def match_node(spec: ClusterSpec, hostspec: str, hostname: str | None, node_name: str | None) -> Target:
    """The node a host is checked as: --node, else the host's name or address, else a one-node spec's node."""
    by_name = {n.hostname: n for n in spec.nodes}
    if node_name is not None:
        if node_name not in by_name:
            raise VerifyTargetError(f"--node {node_name}: no such node in the spec ({', '.join(sorted(by_name))})")
        return Target(hostspec, by_name[node_name])
    candidates = [c for c in (_host_part(hostspec), hostname) if c]
    for candidate in candidates:
        short = candidate.split(".", 1)[0]
        for node in spec.nodes:
            if short == node.hostname or candidate == str(node.management_address):
                return Target(hostspec, node)
    if len(spec.nodes) == 1 and hostspec.startswith("local://"):
        only = spec.nodes[0]
        return Target(hostspec, only, f"host {hostname or hostspec} is not named in the spec; checked as its only "
                                      f"node {only.hostname}")
    raise VerifyTargetError(f"host {hostspec} ({hostname or 'name unknown'}) matches no node of the spec "
                            f"({', '.join(sorted(by_name))}); name one with --node")


def pinned_ssh_client(backend: Any, node: Node, root: Path = PROJECT_ROOT, identity_file: str | None = None) -> Any:
    """A connected paramiko client that accepts only the node's pinned host key."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    name, port = backend.host.name, int(backend.host.port or node.ssh.port)
    keys = client.get_host_keys()
    if node.ssh.host_key is not None:
        key_type, blob = node.ssh.host_key.split(" ", 1)
        key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        for entry in {name, f"[{name}]:{port}", str(node.management_address), f"[{node.management_address}]:{port}"}:
            keys.add(entry, key_type, key)
    elif node.ssh.known_hosts is not None:
        keys.load(str(root / node.ssh.known_hosts))
    client.connect(hostname=name, port=port, username=backend.host.user or node.ssh.user, timeout=10,
                   key_filename=identity_file or getattr(backend, "ssh_identity_file", None))
    return client


def open_shell(target: Target, root: Path = PROJECT_ROOT, identity_file: str | None = None) -> TestinfraShell:
    import testinfra

    host = testinfra.get_host(target.hostspec)
    if getattr(host.backend, "NAME", "") == "paramiko":
        host.backend.__dict__["client"] = pinned_ssh_client(host.backend, target.node, root, identity_file)
    return TestinfraShell(host)


def local_hostname() -> str:
    import socket

    return socket.gethostname()


def verify(stack: str, spec: ClusterSpec, hostspecs: list[str], node_name: str | None = None,
           identity_file: str | None = None, root: Path = PROJECT_ROOT) -> Report:
    """Check every host; a host that cannot be reached is one failed result, not an exception."""
    targets = [match_node(spec, h, local_hostname() if h.startswith("local://") else None, node_name) for h in hostspecs]
    report = Report(stack)
    for target in targets:
        node = target.node
        expect = NodeExpectation.of(stack, spec, node)
        entry = NodeReport(node.hostname, target.hostspec, node.sku, notes=[target.note] if target.note else [])
        report.nodes.append(entry)
        try:
            shell = open_shell(target, root, identity_file)
        except Exception as exc:  # unreachable node, refused host key: reported per node
            entry.results.append(CheckResult("node", "reachable", Status.failed, f"{type(exc).__name__}: {exc}"))
            continue
        entry.results.extend(run_check(check, shell, expect) for check in all_checks())
    return report
