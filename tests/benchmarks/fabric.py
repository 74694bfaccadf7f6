"""The fabric benchmark: OpenSM bringing a simulated fabric up, and `podforge fabric check` of it, at 20 and
1,024 generated DGX nodes (8 compute HCAs each: 160 and 8,192 HCA ports).

The cluster is the plan benchmark's generated one (tests/benchmarks/generate.py: one leaf per rail for every 20
nodes), with spines added so the fabric is one subnet: 40-port spines, leaf i's 20 uplinks spread over 20
consecutive spines (uplink k of leaf i → spine (20i + k) mod S, port (20i + k) div S + 1). That is not a fat
tree ftree accepts, so the generated fabric routes with minhop. The fabric runs in ibsim from
`podforge fabric netlist`; OpenSM runs on podforge's rendered opensm.conf and partitions.conf.

Times are wall-clock seconds (the simulator, OpenSM and the diagnostics are other processes), the fastest of
`repeat`: subnet up = OpenSM started → the last HCA port Active; discover = ibnetdiscover; compare = parsing its
output and checking it against the spec (podforge's own part). Needs ibsim-utils, opensm, infiniband-diags.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from components.cabling.compare import compare
from components.cabling.discovered import parse_ibnetdiscover
from components.cabling.intent import intent
from components.cabling.netlist import render_netlist
from components.render.fabric_files import render_opensm_conf, render_partitions_conf, sm_port_device
from components.spec.cluster import ClusterSpec
from tests.benchmarks.generate import cluster
from tests.support.ibsim import missing_tools, sim_fabric, wait_for

SIZES = (20, 1024)
UPLINKS = 20
SPINE_PORTS = 40


def generated(nodes: int) -> ClusterSpec:
    data = cluster(nodes)
    compute = next(f for f in data["fabrics"] if f["purpose"] == "compute")
    leaves = [s["name"] for s in compute["switches"]]
    spines = max(1, len(leaves) * UPLINKS // SPINE_PORTS)
    compute["switches"] += [{"name": f"gen-spine-{j:03d}", "tier": "spine", "model": "QM8700",
                             "ports": SPINE_PORTS} for j in range(spines)]
    compute["switch_links"] = [{"leaf": leaf, "leaf_port": 21 + k, "spine": f"gen-spine-{(i * UPLINKS + k) % spines:03d}",
                                "spine_port": (i * UPLINKS + k) // spines + 1}
                               for i, leaf in enumerate(leaves) for k in range(UPLINKS)]
    compute["routing_engine"] = "minhop"
    return ClusterSpec.model_validate(data)


@dataclass
class Row:
    nodes: int
    hcas: int
    switches: int
    up_s: float
    discover_s: float
    compare_s: float
    problems: int


def measure(nodes: int, repeat: int, root: Path) -> Row:
    spec = generated(nodes)
    fabric = spec.compute_fabric()
    assert fabric is not None
    host = max(fabric.subnet_managers, key=lambda sm: sm.priority).host
    at = f"{host} {sm_port_device(spec, fabric, host)}"
    last = fabric.node_links[-1]
    observer = f"{last.node} {last.hca}"
    ups, discovers, compares, problems = [], [], [], 0
    for run in range(repeat):
        directory = root / f"n{nodes}-{run}"
        with sim_fabric(render_netlist(spec, fabric), directory, start_timeout_s=600) as sim:
            config, partitions = directory / "opensm.conf", directory / "partitions.conf"
            config.write_text(render_opensm_conf(spec, fabric, host))
            partitions.write_text(render_partitions_conf(spec, fabric))
            start = time.monotonic()
            sim.start_sm(at, config, partitions, "sm")
            wait_for(lambda: sim.port_active(observer), "the subnet to come up", 1800, interval_s=0.5)
            ups.append(time.monotonic() - start)
            start = time.monotonic()
            text = sim.discover(observer)
            discovers.append(time.monotonic() - start)
        start = time.monotonic()
        check = compare(intent(spec, fabric), parse_ibnetdiscover(text), "bench")
        compares.append(time.monotonic() - start)
        problems = len(check.problems)
    return Row(nodes, len(fabric.node_links), len(fabric.switches), min(ups), min(discovers), min(compares),
               problems)


def table(rows: list[Row]) -> str:
    head = (f"{'nodes':>6} {'HCAs':>6} {'switches':>8} {'subnet up s':>11} {'discover s':>10} {'compare s':>9} "
            f"{'problems':>8}")
    lines = [head, "-" * len(head)]
    lines += [f"{r.nodes:>6} {r.hcas:>6} {r.switches:>8} {r.up_s:>11.2f} {r.discover_s:>10.2f} {r.compare_s:>9.2f} "
              f"{r.problems:>8}" for r in rows]
    return "\n".join(lines)


def run(sizes: list[int] | None = None, repeat: int = 1) -> int:
    """Print the table; return 1 when a generated fabric does not check clean (or the tools are missing)."""
    missing = missing_tools()
    if missing:
        print(f"fabric benchmark: missing {', '.join(missing)} (install ibsim-utils, opensm, infiniband-diags)")
        return 1
    print(f"fabric benchmark: simulated fabrics (ibsim), wall-clock seconds, best of {repeat}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="podforge-fabric-bench-") as tmp:
        for nodes in sizes or SIZES:
            rows.append(measure(nodes, repeat, Path(tmp)))
            print(f"  measured {nodes} nodes", flush=True)
    print(table(rows))
    return sum(1 for r in rows if r.problems)
