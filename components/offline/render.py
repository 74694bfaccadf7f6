"""The plan as people read it: the resource tree (component → children) and the counts per type.

Long runs of siblings of one type (a thousand DgxNodes) are folded to their first and last few; the
JSON plan always lists every resource.
"""

from __future__ import annotations

from itertools import groupby

from components.offline.graph import Graph, Resource

FOLD_OVER = 16
"""Siblings of one type beyond this many are folded."""
SHOWN_HEAD, SHOWN_TAIL = 3, 2


def render_tree(graph: Graph) -> str:
    children: dict[str | None, list[Resource]] = {}
    for r in graph.resources:  # already in tree order: siblings grouped by type, then by name
        children.setdefault(r.parent, []).append(r)
    urns = {r.urn for r in graph.resources}
    lines = [f"stack {graph.stack}: {len(graph)} resources (offline preview)"]

    def label(r: Resource) -> str:
        mine = children.get(r.urn, [])
        return f"{r.type}  {r.name}" + (f"  ({len(mine)} children)" if mine else "")

    def walk(r: Resource, prefix: str) -> None:
        entries: list[str | Resource] = []
        for type_, group in groupby(children.get(r.urn, []), key=lambda c: c.type):
            siblings = list(group)
            if len(siblings) > FOLD_OVER:
                hidden = len(siblings) - SHOWN_HEAD - SHOWN_TAIL
                entries += [*siblings[:SHOWN_HEAD], f"… {hidden} more {type_} (all in --json)",
                            *siblings[-SHOWN_TAIL:]]
            else:
                entries += siblings
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            branch, inner = ("└─ ", "   ") if last else ("├─ ", "│  ")
            lines.append(prefix + branch + (entry if isinstance(entry, str) else label(entry)))
            if isinstance(entry, Resource):
                walk(entry, prefix + inner)

    for root in (r for r in graph.resources if r.parent not in urns):
        lines.append(label(root))
        walk(root, "")
    lines += ["", "resources by type:"]
    lines += [f"  {n:>6}  {type_}" for type_, n in graph.counts().items()]
    lines.append(f"  {len(graph):>6}  total")
    return "\n".join(lines)
