"""What a node check found, and the per-node report `podforge verify` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    passed = "passed"
    failed = "failed"
    simulated = "simulated"      # the answer came from a lab stand-in, never counted as passed
    not_present = "not present"  # not declared for this node by the spec (what is declared and absent is failed)


@dataclass(frozen=True)
class CheckResult:
    area: str
    check: str
    status: Status
    detail: str

    @property
    def name(self) -> str:
        return f"{self.area}/{self.check}"

    @property
    def reason(self) -> str:
        """The line pytest shows for a skipped check: `simulated: …` or `not present: …`."""
        return f"{self.status.value}: {self.detail}"


def count(results: list[CheckResult]) -> dict[str, int]:
    """Results per status, every status present (zero included), in Status order."""
    return {s.value: sum(1 for r in results if r.status is s) for s in Status}


@dataclass
class NodeReport:
    node: str
    host: str
    sku: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return count(self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "host": self.host, "sku": self.sku, "notes": self.notes,
                "results": [{"area": r.area, "check": r.check, "status": r.status.value, "detail": r.detail}
                            for r in self.results],
                "counts": self.counts}


@dataclass
class Report:
    stack: str
    nodes: list[NodeReport] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return count([r for n in self.nodes for r in n.results])

    @property
    def ok(self) -> bool:
        """Only a failed check makes the report wrong; simulated and not present are reported, not failed."""
        return self.counts[Status.failed.value] == 0

    def as_dict(self) -> dict[str, Any]:
        return {"schema": 1, "stack": self.stack, "nodes": [n.as_dict() for n in self.nodes], "counts": self.counts}

    def text(self) -> str:
        width = max((len(r.name) for n in self.nodes for r in n.results), default=10)
        lines: list[str] = []
        for node in self.nodes:
            lines.append(f"node {node.node} ({node.host}, {node.sku})")
            lines.extend(f"  note: {note}" for note in node.notes)
            for r in node.results:
                lines.append(f"  {r.status.value:<12} {r.name:<{width}}  {r.detail}")
            lines.append(f"  counts: {_counts_line(node.counts)}")
            lines.append("")
        lines.append(f"stack {self.stack}: {len(self.nodes)} node(s); {_counts_line(self.counts)}")
        return "\n".join(lines)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items())
