"""Run every node check on each target host and gather the per-node report.

Targets are testinfra host specs: `local://` (the machine this runs on) or `paramiko://[USER@]HOST[:PORT]`.
Over SSH the node's host key is pinned from its host view (components.access: ssh.host_key or the
ssh.known_hosts line of its management address) and any other key is refused: testinfra's own paramiko
client would only warn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.access import connect, host_keys, host_pattern, pinned_client
from components.host import HostView, host_views
from components.spec.cluster import ClusterSpec
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
    view: HostView
    note: str | None = None


def _host_part(hostspec: str) -> str:
    rest = hostspec.split("://", 1)[-1].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def match_node(spec: ClusterSpec, hostspec: str, hostname: str | None, node_name: str | None,
               views: dict[str, HostView] | None = None) -> Target:
    """The node a host is checked as: --node, else the host's name or address, else a one-node spec's node.
    `views`: the spec's host views (default: built here, known_hosts files relative to the project)."""
    views = views if views is not None else host_views(spec)
    by_name = {n.hostname: n for n in spec.nodes}
    if node_name is not None:
        if node_name not in by_name:
            raise VerifyTargetError(f"--node {node_name}: no such node in the spec ({', '.join(sorted(by_name))})")
        return Target(hostspec, by_name[node_name], views[node_name])
    candidates = [c for c in (_host_part(hostspec), hostname) if c]
    for candidate in candidates:
        short = candidate.split(".", 1)[0]
        for view in views.values():
            if short == view.hostname or candidate == view.login.address:
                return Target(hostspec, by_name[view.hostname], view)
    if len(spec.nodes) == 1 and hostspec.startswith("local://"):
        only = spec.nodes[0]
        return Target(hostspec, only, views[only.hostname], f"host {hostname or hostspec} is not named in the spec; "
                                                            f"checked as its only node {only.hostname}")
    raise VerifyTargetError(f"host {hostspec} ({hostname or 'name unknown'}) matches no node of the spec "
                            f"({', '.join(sorted(by_name))}); name one with --node")


def pinned_ssh_client(backend: Any, view: HostView, identity_file: str | None = None) -> Any:
    """A paramiko client of testinfra's `backend`, connected, that accepts only the node's pinned host key."""
    name, port = backend.host.name, int(backend.host.port or view.login.port)
    client = pinned_client(host_keys([view])[view.hostname], {host_pattern(name, port)})
    return connect(client, name, port, backend.host.user or view.login.user,
                   identity_file or getattr(backend, "ssh_identity_file", None))


def open_shell(target: Target, identity_file: str | None = None) -> TestinfraShell:
    import testinfra

    host = testinfra.get_host(target.hostspec)
    if getattr(host.backend, "NAME", "") == "paramiko":
        host.backend.__dict__["client"] = pinned_ssh_client(host.backend, target.view, identity_file)
    return TestinfraShell(host)


def local_hostname() -> str:
    import socket

    return socket.gethostname()


def verify(stack: str, spec: ClusterSpec, hostspecs: list[str], node_name: str | None = None,
           identity_file: str | None = None, root: Path | None = None,
           views: dict[str, HostView] | None = None) -> Report:
    """Check every host; a host that cannot be reached is one failed result, not an exception. `root`: the
    project directory the spec's known_hosts files are relative to (default: the project); `views`: the spec's
    host views when the caller has them already."""
    views = views if views is not None else host_views(spec, root)
    targets = [match_node(spec, h, local_hostname() if h.startswith("local://") else None, node_name, views)
               for h in hostspecs]
    report = Report(stack)
    for target in targets:
        node = target.node
        expect = NodeExpectation.of(stack, spec, target.view)
        entry = NodeReport(node.hostname, target.hostspec, node.sku, notes=[target.note] if target.note else [])
        report.nodes.append(entry)
        try:
            shell = open_shell(target, identity_file)
        except Exception as exc:  # unreachable node, refused host key: reported per node
            entry.results.append(CheckResult("node", "reachable", Status.failed, f"{type(exc).__name__}: {exc}"))
            continue
        entry.results.extend(run_check(check, shell, expect) for check in all_checks())
    return report
