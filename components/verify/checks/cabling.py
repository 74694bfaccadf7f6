"""HCA cabling check: each InfiniBand HCA the spec cables the node with is up and reaches its leaf port.

The node's own discovery of its fabric decides: `ibnetdiscover -C DEVICE -P 1` from the first of its HCAs on
that fabric whose port is ACTIVE (infiniband-diags, ibnetdiscover(8): `-C`/`-P` pick the local port), compared
with the spec by components.cabling.node (the same mapping as `podforge fabric check`). The compute and the
storage HCAs are on different fabrics, so each group is discovered from one of its own HCAs.

What the spec cables is declared: a node without RDMA devices, with a port down, without ibnetdiscover, or with
an HCA on the wrong leaf port fails. A lab host has no InfiniBand fabric to discover; there the DOCA-OFED
stand-in (its `ofed_info`) answers, simulated, and a missing stand-in fails.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from components.cabling.discovered import DiscoveryError, parse_ibnetdiscover
from components.cabling.node import Cable, cables_intent, cables_of, node_reach
from components.host import HcaPort
from components.verify.checks import Check, Outcome, bad, lab_stand_in, ok, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.infiniband import parse_port_state
from components.verify.shell import NodeShell

SYS_INFINIBAND = "/sys/class/infiniband"
IBNETDISCOVER = "ibnetdiscover"
DISCOVERY_TIMEOUT_S = 300
"""Seconds one discovery may take (coreutils `timeout`): a fabric of thousands of ports answers well within it."""


def infiniband_cables(hcas: Sequence[HcaPort]) -> list[Cable]:
    """The HCAs of one group the spec cables to a leaf port over InfiniBand (RoCE ports have no subnet to
    discover), in the host view's order."""
    return cables_of(h for h in hcas if h.link_layer == "infiniband")


def discovery_command(device: str) -> str:
    return f"timeout {DISCOVERY_TIMEOUT_S} {IBNETDISCOVER} -C {shlex.quote(device)} -P 1"


def _reach(shell: NodeShell, expect: NodeExpectation, group: str, cables: list[Cable],
           down: set[str]) -> tuple[list[str], str | None]:
    """(problems, what was discovered from where) for one group of HCAs on one fabric."""
    active = [c for c in cables if c.device not in down]
    if not active:
        return [], None  # every port is down: already a problem each, nothing to discover from
    via = active[0].device
    done = shell.run(discovery_command(via))
    if done.rc != 0:
        return [f"{discovery_command(via)} failed: {done.first_error_line}"], None
    try:
        topology = parse_ibnetdiscover(done.stdout)
    except DiscoveryError as exc:
        return [f"{IBNETDISCOVER} via {via}: output unreadable at line {exc.line}: {exc}"], None
    reach = node_reach(cables_intent(group, expect.hostname, cables), topology, expect.hostname)
    problems = [r.reason for r in reach if not r.ok and r.hca.split(" ", 1)[1] not in down]
    mapped = {n.description for n in topology.nodes.values()}
    if not any(f"{expect.hostname} {c.device}" in mapped for c in cables):
        problems.append(f"no HCA in the fabric {IBNETDISCOVER} found via {via} is described as "
                        f"`{expect.hostname} DEVICE`: rdma-ndd sets node descriptions from the hostname "
                        f"(is this host named {expect.hostname}?)")
    return problems, f"{group} via {via}"


def cabled_as_intended(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    groups = [(name, cables) for name, cables in (("compute", infiniband_cables(expect.compute_hcas)),
                                                  ("storage", infiniband_cables(expect.storage_hcas))) if cables]
    count = sum(len(c) for _, c in groups)
    if not groups:
        return unneeded(f"the spec cables no InfiniBand HCA of {expect.hostname} to a leaf port")
    if expect.lab:
        return lab_stand_in(shell, "ofed_info", f"DOCA-OFED for {count} cabled HCA(s)",
                            f"no InfiniBand fabric to discover; {count} HCA cable(s) declared, not checked here")
    listing = shell.run(f"ls -1 {SYS_INFINIBAND}")
    present = set(listing.stdout.split()) if listing.rc == 0 else set()
    if not present:
        return bad(f"no RDMA device ({SYS_INFINIBAND} absent or empty); the spec cables {count} InfiniBand "
                   f"HCA(s) of {expect.hostname} to leaf ports")
    problems: list[str] = []
    down: set[str] = set()
    for _, cables in groups:
        for cable in cables:
            state = parse_port_state(shell.read(f"{SYS_INFINIBAND}/{cable.device}/ports/1/state") or "")
            if cable.device not in present or state != "ACTIVE":
                down.add(cable.device)
                what = "missing" if cable.device not in present else f"port 1 is {state or 'unreadable'}"
                problems.append(f"{cable.device} {what} (cabled to {cable.switch} port {cable.port})")
    if not shell.has(IBNETDISCOVER):
        problems.append(f"{IBNETDISCOVER} not installed (infiniband-diags): the cabling of {count} HCA(s) "
                        "cannot be read")
        return bad("; ".join(problems))
    sources = []
    for name, cables in groups:
        found, source = _reach(shell, expect, name, cables, down)
        problems += found
        if source:
            sources.append(source)
    if problems:
        return bad("; ".join(problems))
    return ok(f"{count} HCA(s) ACTIVE, each reaching the leaf port the spec cables it to "
              f"(discovered: {', '.join(sources)})")


CHECKS = (
    Check("hca", "cabling", "each cabled InfiniBand HCA: port ACTIVE and reaching its leaf port", cabled_as_intended),
)
