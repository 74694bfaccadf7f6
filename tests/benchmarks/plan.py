"""The plan benchmark: `podforge plan` of generated clusters of 16, 128 and 1,024 DGX nodes.

The plan is measured as `podforge plan` runs it (capture(): stack file, spec load and validation, the
program, the capture); the time the program spends loading and validating the spec is measured inside the
same run, so "(no load)" is the components and the SDK alone. The baseline, measured in the same run under the
same mock runtime, is the bare SDK registering the same number of plain resources: a minimal
CustomResource subclass (as every provider resource is) with one input. A second, wider baseline
("same-inputs") registers plain resources carrying exactly the inputs the plan registered: what the SDK
charges for the declared data itself, with no component code at all. Goals: the 1,024-node
plan costs at most 1.5x its baseline; the per-node cost at 1,024 nodes is within 1.3x of that at 128.
Times are CPU seconds of this process (all its threads), the fastest of `repeat` interleaved runs: on a
shared machine wall-clock time measures the neighbours as much as the plan.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pulumi

import components.spec
from components.offline import capture
from components.offline.capture import run_program
from tests.benchmarks.generate import write_project

SIZES = (16, 128, 1024)
GOAL_BASELINE_RATIO = 1.5
GOAL_PER_NODE_GROWTH = 1.3


class Plain(pulumi.CustomResource):
    def __init__(self, name: str, index: int) -> None:
        super().__init__("podforge:bench:Plain", name, {"index": index})


class SameInputs(pulumi.CustomResource):
    """A plain resource carrying the inputs one resource of the plan registered (a second, wider baseline)."""

    def __init__(self, name: str, inputs: dict) -> None:
        super().__init__("podforge:bench:SameInputs", name, inputs)


@dataclass
class Row:
    nodes: int
    resources: int
    plan_s: float
    load_s: float
    baseline_s: float
    same_inputs_s: float

    @property
    def ratio(self) -> float:
        return self.plan_s / self.baseline_s

    @property
    def ratio_without_load(self) -> float:
        return (self.plan_s - self.load_s) / self.baseline_s

    @property
    def per_node_ms(self) -> float:
        return self.plan_s / self.nodes * 1000


def _timed(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


@contextlib.contextmanager
def _spec_load_timer() -> Iterator[list[float]]:
    """Time every load_spec the program makes (__main__.py imports it from components.spec at each run)."""
    spent: list[float] = []
    original = components.spec.load_spec

    def timed(*args: object, **kwargs: object) -> object:
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.process_time() - start)

    components.spec.load_spec = timed
    try:
        yield spent
    finally:
        components.spec.load_spec = original


def measure(nodes: int, root: Path, repeat: int) -> Row:
    stack = write_project(root, nodes)
    declared = [r.inputs for r in capture(stack, root).resources if r.type != "pulumi:pulumi:Stack"]
    registrations = len(declared)

    def baseline() -> None:
        for i in range(registrations):
            Plain(f"plain-{i:05d}", i)

    def same_inputs() -> None:
        for i, inputs in enumerate(declared):
            SameInputs(f"same-{i:05d}", inputs)

    runs: list[tuple[float, float]] = []
    baseline_s: list[float] = []
    same_s: list[float] = []
    for _ in range(repeat):
        with _spec_load_timer() as spent:
            total = _timed(lambda: capture(stack, root))
        runs.append((total, sum(spent)))
        baseline_s.append(_timed(lambda: run_program(f"baseline-{nodes}", {}, set(), baseline)))
        same_s.append(_timed(lambda: run_program(f"same-{nodes}", {}, set(), same_inputs)))
    plan_s, load_s = min(runs)
    return Row(nodes, registrations, plan_s, load_s, min(baseline_s), min(same_s))


def table(rows: list[Row]) -> str:
    head = (f"{'nodes':>6} {'resources':>9} {'plan s':>8} {'spec load s':>11} {'baseline s':>10} "
            f"{'plan/base':>9} {'(no load)':>9} {'ms/node':>8} {'same-inputs s':>13}")
    lines = [head, "-" * len(head)]
    lines += [f"{r.nodes:>6} {r.resources:>9} {r.plan_s:>8.2f} {r.load_s:>11.2f} {r.baseline_s:>10.2f} "
              f"{r.ratio:>8.2f}x {r.ratio_without_load:>8.2f}x {r.per_node_ms:>8.2f} {r.same_inputs_s:>13.2f}"
              for r in rows]
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[tuple[str, bool]]:
    by_size = {r.nodes: r for r in rows}
    out: list[tuple[str, bool]] = []
    if 1024 in by_size:
        r = by_size[1024]
        out.append((f"1,024-node plan / baseline = {r.ratio:.2f}x (goal ≤ {GOAL_BASELINE_RATIO}x; "
                    f"{r.ratio_without_load:.2f}x without the spec load)", r.ratio <= GOAL_BASELINE_RATIO))
    if 1024 in by_size and 128 in by_size:
        growth = by_size[1024].per_node_ms / by_size[128].per_node_ms
        out.append((f"per-node cost 1,024 vs 128 = {growth:.2f}x (goal ≤ {GOAL_PER_NODE_GROWTH}x)",
                    growth <= GOAL_PER_NODE_GROWTH))
    return out


def run(sizes: list[int] | None = None, repeat: int = 3) -> int:
    """Print the table and the goal verdicts; return how many goals were missed."""
    print(f"plan benchmark: generated clusters, CPU seconds, best of {repeat}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="podforge-bench-") as tmp:
        rows = []
        for nodes in sizes or SIZES:
            rows.append(measure(nodes, Path(tmp), repeat))
            print(f"  measured {nodes} nodes", flush=True)
    print(table(rows))
    missed = 0
    for text, met in verdicts(rows):
        print(f"{'met   ' if met else 'MISSED'}  {text}")
        missed += not met
    return missed
