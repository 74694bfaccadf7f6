"""The policy benchmark: rule evaluation on generated clusters against the plan of the same cluster.

The plan is `podforge plan`'s capture (components.offline.capture); the rules are
`components.policy.evaluate` (every rule of both packs on the graph `podforge policy check` captures),
measured in the same run. Goal: at 1,024 nodes the rules cost at most 20 % of the plan.
Each number is the fastest of `repeat` runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from components.offline import capture
from components.policy import evaluate, load_packs
from tests.benchmarks.generate import write_project

SIZES = (128, 1024)
GOAL_RULES_SHARE = 0.20


def measure(nodes: int, root: Path, repeat: int) -> tuple[int, float, float, int]:
    """(resources, plan s, rules s, mandatory violations) for a generated cluster of `nodes`."""
    stack = write_project(root, nodes)
    packs = load_packs()
    plan_s, rules_s = [], []
    graph = capture(stack, root)
    for _ in range(repeat):
        start = time.perf_counter()
        capture(stack, root)
        plan_s.append(time.perf_counter() - start)
        rules_s.append(evaluate(graph, packs).seconds)
    violations = len(evaluate(graph, packs).mandatory_violations)
    return len(graph), min(plan_s), min(rules_s), violations


def run(sizes: list[int] | None = None, repeat: int = 3) -> int:
    """Print the table and the goal verdict; return how many goals were missed."""
    print(f"policy benchmark: generated clusters, best of {repeat}, {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory(prefix="podforge-bench-") as tmp:
        for nodes in sizes or SIZES:
            rows.append((nodes, *measure(nodes, Path(tmp), repeat)))
    head = f"{'nodes':>6} {'resources':>9} {'plan s':>8} {'rules s':>8} {'rules/plan':>10} {'violations':>10}"
    print(head)
    print("-" * len(head))
    for nodes, resources, plan_s, rules_s, violations in rows:
        print(f"{nodes:>6} {resources:>9} {plan_s:>8.2f} {rules_s:>8.3f} {rules_s / plan_s:>9.1%} {violations:>10}")
    missed = 0
    for nodes, _, plan_s, rules_s, _ in rows:
        if nodes == 1024:
            share = rules_s / plan_s
            met = share <= GOAL_RULES_SHARE
            print(f"{'met   ' if met else 'MISSED'}  1,024-node rule evaluation = {share:.1%} of the plan "
                  f"(goal ≤ {GOAL_RULES_SHARE:.0%})")
            missed += not met
    return missed
