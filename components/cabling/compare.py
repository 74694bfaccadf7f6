"""The spec's cabling against a discovered fabric: one line a technician can act on per problem.

Discovered nodes map back to the spec by node description: a switch by its name (the description itself, or
the name as one `;`/`:`/space-separated part of it, as managed switches report `NAME:MODEL`), an HCA by
`HOST DEVICE`. Then every discovered cable that the spec does not have is resolved into one instruction:

- `move cable at A (now to B) to C`: the cable plugged in at A reaches B; the spec wants A cabled to C. A is the
  end that stays: of the cable's two ends, the one whose wanted peer is on the same device as its present one
  (a pair swapped on one leaf or inside one node), else the switch end.
- `unexpected link A ↔ B`: neither end should be cabled this way and no intended cable is served by moving it.
- `missing link A ↔ B`: an intended cable no discovered cable can be moved to make (lay a new one).
- `link A ↔ B up at 4X EDR, expected 4X HDR`: only where the discovered output reports a speed and the spec's
  rate implies one.
- `duplicate name …` / `unnamed …`: a discovered node that cannot be mapped back to the spec.

Following every move line, then laying every missing cable and pulling every unexpected one, gives the cabling
the spec describes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from components.cabling.discovered import Node, Topology
from components.cabling.intent import End, Intent, Link

_SPLIT = re.compile(r"[\s;:/]+")


@dataclass(frozen=True)
class Problem:
    kind: str
    """move, missing, unexpected, speed, duplicate or unnamed."""
    text: str
    at: End | None = None
    now: End | None = None
    to: End | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        for name in ("at", "now", "to"):
            end = getattr(self, name)
            if end is not None:
                out[name] = end.as_dict()
        return out


@dataclass
class Mapped:
    """A discovered topology in the spec's terms."""

    links: dict[Link, str | None] = field(default_factory=dict)
    """Each discovered cable → its reported speed."""
    peers: dict[End, End] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    """Nodes that could not be mapped back (duplicates, unnamed HCAs)."""


@dataclass(frozen=True)
class FabricCheck:
    fabric: str
    source: str
    intended: int
    as_intended: int
    speed: str | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return (f"fabric {self.fabric}: cabled as intended ({self.intended} links"
                    + (f", {speed_label(self.speed)}" if self.speed else "") + f"; from {self.source})")
        count = len(self.problems)
        return (f"fabric {self.fabric}: {count} problem{'s' if count != 1 else ''} "
                f"({self.as_intended} of {self.intended} links as intended; from {self.source})")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.fabric, "source": self.source, "links_intended": self.intended,
                "links_as_intended": self.as_intended, "speed_expected": self.speed, "ok": self.ok,
                "problems": [p.as_dict() for p in self.problems]}


def speed_label(speed: str) -> str:
    """`4xHDR` → `4X HDR`."""
    width, _, rate = speed.partition("x")
    return f"{width}X {rate}" if rate else speed


def switch_name(desc: str, switches: set[str]) -> str | None:
    """The spec switch a discovered switch's description names, or None."""
    if desc in switches:
        return desc
    parts = [p for p in _SPLIT.split(desc) if p in switches]
    return parts[0] if len(parts) == 1 else None


def _end_of(node: Node, port: int, names: dict[str, str]) -> End:
    name = names.get(node.id)
    if name is not None:
        return End("switch" if node.kind == "switch" else "hca", name, port)
    what = "switch" if node.kind == "switch" else "HCA" if node.kind == "ca" else node.kind
    return End("unknown", f'{what} "{node.description}" (GUID {node.guid})', port)


def map_topology(intent: Intent, topo: Topology) -> Mapped:
    """Discovered nodes mapped back to spec names, and the cables between them."""
    switches, hosts = set(intent.switches), set(intent.hosts)
    names: dict[str, str] = {}
    owners: dict[str, list[Node]] = {}
    mapped = Mapped()
    for node in topo.nodes.values():
        if node.kind == "switch":
            name = switch_name(node.description, switches)
        else:
            host, _, device = node.description.partition(" ")
            name = f"{host} {device}" if host in hosts and device and " " not in device else None
        if name is not None:
            owners.setdefault(name, []).append(node)
    for name, nodes in owners.items():
        if len(nodes) == 1:
            names[nodes[0].id] = name
        else:
            guids = ", ".join(n.guid for n in nodes)
            mapped.problems.append(Problem("duplicate", f"duplicate name {name!r}: {len(nodes)} nodes report it "
                                                        f"(GUIDs {guids}); give each its own node description"))
    unnamed = [n for n in topo.nodes.values() if n.kind == "ca" and n.id not in names
               and not any(n in group for group in owners.values())]
    for node in unnamed:
        mapped.problems.append(Problem("unnamed", f'unnamed HCA "{node.description}" (GUID {node.guid}): its node '
                                                  "description is not `HOST DEVICE` of a node of the spec (rdma-ndd "
                                                  "sets it so; check the host's hostname and rdma-ndd)"))
    for link in topo.links:
        a_node, b_node = topo.nodes.get(link.a.node), topo.nodes.get(link.b.node)
        a = _end_of(a_node, link.a.port, names) if a_node else End("unknown", link.a.node, link.a.port)
        b = _end_of(b_node, link.b.port, names) if b_node else End("unknown", link.b.node, link.b.port)
        cable = Link.of(a, b)
        mapped.links[cable] = link.speed
        mapped.peers[a], mapped.peers[b] = b, a
    return mapped


def compare(intent: Intent, topo: Topology, source: str) -> FabricCheck:
    """Every difference between the intended cabling and `topo`, as instructions (module docstring)."""
    mapped = map_topology(intent, topo)
    wanted = intent.peers()
    order = {link: i for i, link in enumerate(intent.links)}
    unsatisfied = {link for link in intent.links if link not in mapped.links}
    problems = list(mapped.problems)
    as_intended = 0
    for link, speed in mapped.links.items():
        if link in order:
            as_intended += 1
            if intent.speed and speed and speed != intent.speed:
                problems.append(Problem("speed", f"link {link.label} up at {speed_label(speed)}, expected "
                                                 f"{speed_label(intent.speed)}", link.a, None, link.b))
    for link in sorted((lk for lk in mapped.links if lk not in order), key=lambda lk: (lk.a, lk.b)):
        candidates = [end for end in (link.a, link.b)
                      if end in wanted and Link.of(end, wanted[end]) in unsatisfied]
        if not candidates:
            problems.append(Problem("unexpected", f"unexpected link {link.label}", link.a, link.b, None))
            continue

        def rank(end: End, link: Link = link) -> tuple[bool, bool]:
            other = link.b if end == link.a else link.a
            return (other.device != wanted[end].device, end.kind != "switch")

        anchor = min(candidates, key=rank)
        now = link.b if anchor == link.a else link.a
        target = wanted[anchor]
        problems.append(Problem("move", f"move cable at {anchor.label} (now to {now.label}) to {target.label}",
                                anchor, now, target))
        unsatisfied.discard(Link.of(anchor, target))
    for link in sorted(unsatisfied, key=order.__getitem__):
        problems.append(Problem("missing", f"missing link {link.label}", link.a, None, link.b))
    return FabricCheck(intent.fabric, source, len(intent.links), as_intended, intent.speed, tuple(problems))


def report_dict(stack: str, spec_file: str, checks: list[FabricCheck]) -> dict[str, Any]:
    """`podforge fabric check` JSON, schema 1."""
    return {"schema": 1, "stack": stack, "spec": spec_file, "ok": all(c.ok for c in checks),
            "fabrics": [c.as_dict() for c in checks]}


def report_text(checks: list[FabricCheck]) -> str:
    lines: list[str] = []
    for check in checks:
        lines.append(check.summary())
        lines += [p.text for p in check.problems]
    return "\n".join(lines)
