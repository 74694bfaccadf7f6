"""The HCA cabling check of `podforge verify` (hca/cabling) and the health gate's cabling play, on planted
discovered topologies of the superpod's compute fabric.

The discovered topologies here are hand-made stand-ins of ibnetdiscover's output (its default format, as
tests/integration/test_fabric_sim.py gets it from the real tool on the simulated fabric), cabled from the spec
with planted faults. The gate's play runs for real (ansible-playbook on this machine, local connection) against a
stand-in ibnetdiscover that prints such a topology and a fake sysfs tree.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cabling.discovered import parse_ibnetdiscover
from components.cabling.intent import intent
from components.cabling.node import cables_intent, cables_of, node_reach
from components.host import host_views
from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric
from components.verify.checks import check_named, run_check
from components.verify.checks.cabling import SYS_INFINIBAND, discovery_command
from components.verify.expectations import NodeExpectation
from components.verify.results import Status
from components.verify.shell import Completed

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOT_FOUND = Completed(127, "", "command not found")
NODE = "su1-dgx-07"


@cache
def superpod() -> tuple[ClusterSpec, Fabric]:
    spec = load_stack_spec("superpod")[1].spec
    return spec, spec.compute_fabric()


@cache
def expectation(stack: str, hostname: str | None = None) -> NodeExpectation:
    spec = load_stack_spec(stack)[1].spec
    hostname = hostname or spec.nodes[0].hostname
    return NodeExpectation.of(stack, spec, host_views(spec)[hostname])


Recabling = dict[tuple[str, str], tuple[str, int] | None]


def discovered(fabric: Fabric, recable: Recabling | None = None, speed: str = "4xHDR",
               slow: frozenset[str] = frozenset(), extra: tuple[tuple[str, int, str, int], ...] = ()) -> str:
    """Stand-in ibnetdiscover output of `fabric` as the spec cables it, except: `recable` moves an HCA's cable to
    another (leaf, port) or leaves it out (None); HCAs in `slow` train at 4xEDR; `extra` adds switch-to-switch
    cables."""
    recable = recable or {}
    guids: dict[str, str] = {}

    def gid(kind: str, name: str) -> str:
        guids.setdefault(name, f"{kind}-{0x200000 + len(guids):016x}")
        return guids[name]

    ports: dict[str, dict[int, tuple[str, str]]] = {}
    for link in fabric.node_links:
        desc = f"{link.node} {link.hca}"
        where = recable.get((link.node, link.hca), (link.switch, link.port))
        if where is not None:
            ports.setdefault(where[0], {})[where[1]] = (desc, "4xEDR" if desc in slow else speed)
    uplinks = [(s.leaf, s.leaf_port, s.spine, s.spine_port) for s in fabric.switch_links] + list(extra)
    lines = ["#", "# Topology file: a stand-in of ibnetdiscover output, written by a unit test", "#", ""]
    for switch in fabric.switches:
        lines += ["vendid=0x2c9", "devid=0xd2f0", f'Switch\t{switch.ports} "{gid("S", switch.name)}"\t\t# '
                  f'"{switch.name}" base port 0 lid 1 lmc 0']
        for number, (desc, rate) in sorted(ports.get(switch.name, {}).items()):
            lines.append(f'[{number}]\t"{gid("H", desc)}"[1](1)\t\t# "{desc}" lid 5 {rate}')
        for a, a_port, b, b_port in uplinks:
            if a == switch.name:
                lines.append(f'[{a_port}]\t"{gid("S", b)}"[{b_port}]\t\t# "{b}" lid 3 {speed}')
            if b == switch.name:
                lines.append(f'[{b_port}]\t"{gid("S", a)}"[{a_port}]\t\t# "{a}" lid 3 {speed}')
        lines.append("")
    for switch in fabric.switches:
        for number, (desc, rate) in sorted(ports.get(switch.name, {}).items()):
            lines += [f'Ca\t1 "{gid("H", desc)}"\t\t# "{desc}"',
                      f'[1](2)\t"{gid("S", switch.name)}"[{number}]\t\t# lid 5 lmc 0 "{switch.name}" lid 1 {rate}', ""]
    return "\n".join(lines)


# Planted faults around NODE (su1-dgx-07): its rail-2 and rail-3 HCAs are cabled to su1-leaf-r2/r3 port 7.
SWAPPED_INSIDE_THE_NODE: Recabling = {(NODE, "mlx5_2"): ("su1-leaf-r3", 7), (NODE, "mlx5_3"): ("su1-leaf-r2", 7)}
SWAPPED_ON_A_LEAF: Recabling = {(NODE, "mlx5_3"): ("su1-leaf-r3", 8), ("su1-dgx-08", "mlx5_3"): ("su1-leaf-r3", 7)}
WRONG_LEAF: Recabling = {(NODE, "mlx5_2"): ("su1-leaf-r4", 7), (NODE, "mlx5_6"): None}
MISSING: Recabling = {(NODE, "mlx5_9"): None}
ON_A_SPINE: Recabling = {(NODE, "mlx5_0"): ("su1-spine-01", 30)}


# -- one node's own cables give the fabric-wide answer -----------------------------------------------------------

@pytest.mark.parametrize("recable", [{}, SWAPPED_INSIDE_THE_NODE, SWAPPED_ON_A_LEAF, WRONG_LEAF, MISSING, ON_A_SPINE],
                         ids=["clean", "swapped-inside", "swapped-on-leaf", "wrong-leaf", "missing", "on-a-spine"])
def test_a_nodes_own_cables_answer_as_the_whole_fabric_does(recable: Recabling) -> None:
    """For every node, node_reach on the intent of its own cables (what its host view / host vars hold) says the
    same as on the fabric-wide intent: ok, and where each HCA ends when that end is one of the node's leaves."""
    spec, fabric = superpod()
    topology = parse_ibnetdiscover(discovered(fabric, recable))
    whole = intent(spec, fabric)
    views = host_views(spec)
    for node in spec.nodes:
        own = cables_intent(fabric.name, node.hostname, cables_of(views[node.hostname].compute_hcas))
        mine = node_reach(own, topology, node.hostname)
        full = node_reach(whole, topology, node.hostname)
        assert [(r.hca, r.ok) for r in mine] == [(r.hca, r.ok) for r in full], node.hostname
        leaves = set(own.switches)
        for a, b in zip(mine, full, strict=True):
            if b.found is None or b.found.name in leaves:
                assert a.found == b.found and a.reason == b.reason, (a, b)
    bad = {r.hca for n in spec.nodes for r in node_reach(whole, topology, n.hostname) if not r.ok}
    assert bool(bad) == bool(recable)


# -- podforge verify: hca/cabling --------------------------------------------------------------------------------

class FakeNode:
    """A node that answers from given outputs (its sysfs port states, its ibnetdiscover); anything else is absent."""

    def __init__(self, states: dict[str, str] | None = None, discovered_text: str | None = None,
                 tools: set[str] | None = None, discovery: Completed | None = None) -> None:
        self.states = states or {}
        self.tools = tools if tools is not None else {"ibnetdiscover"}
        self.discovered_text = discovered_text
        self.discovery = discovery
        self.ran: list[str] = []

    def run(self, command: str) -> Completed:
        self.ran.append(command)
        if command == f"ls -1 {SYS_INFINIBAND}" and self.states:
            return Completed(0, "\n".join(self.states) + "\n", "")
        if command.startswith("timeout ") and " ibnetdiscover -C " in command:
            if self.discovery is not None:
                return self.discovery
            if self.discovered_text is not None and "ibnetdiscover" in self.tools:
                return Completed(0, self.discovered_text, "")
        return NOT_FOUND

    def read(self, path: str) -> str | None:
        for device, state in self.states.items():
            if path == f"{SYS_INFINIBAND}/{device}/ports/1/state":
                return state
        return None

    def has(self, tool: str) -> bool:
        return tool in self.tools

    def hostname(self) -> str:
        return NODE


def dgx(recable: Recabling | None = None, down: tuple[str, ...] = (), **kwargs: Any) -> FakeNode:
    """NODE with every HCA of its SKU present and ACTIVE (but `down`), discovering the planted fabric."""
    expect = expectation("superpod", NODE)
    states = {h.device: "1: DOWN\n" if h.device in down else "4: ACTIVE\n"
              for h in expect.compute_hcas + expect.storage_hcas}
    return FakeNode(states, discovered(superpod()[1], recable, **kwargs))


def cabling(shell: FakeNode, expect: NodeExpectation | None = None) -> tuple[Status, str]:
    result = run_check(check_named("hca/cabling"), shell, expect or expectation("superpod", NODE))
    return result.status, result.detail


def compute_only(expect: NodeExpectation) -> NodeExpectation:
    """The expectation without storage HCAs: the superpod's storage fabric is another discovery (see below)."""
    return dataclasses.replace(expect, storage_hcas=())


def test_a_node_cabled_as_the_spec_says_passes() -> None:
    shell = dgx()
    status, detail = cabling(shell, compute_only(expectation("superpod", NODE)))
    assert status is Status.passed, detail
    assert detail == ("8 HCA(s) ACTIVE, each reaching the leaf port the spec cables it to "
                      "(discovered: compute via mlx5_0)")
    assert discovery_command("mlx5_0") in shell.ran
    assert discovery_command("mlx5_0") == "timeout 300 ibnetdiscover -C mlx5_0 -P 1"


@pytest.mark.parametrize(("recable", "reasons"), [
    (SWAPPED_INSIDE_THE_NODE, ["su1-dgx-07 mlx5_2: reaches su1-leaf-r3 port 7, expected su1-leaf-r2 port 7: move its "
                               "cable", "su1-dgx-07 mlx5_3: reaches su1-leaf-r2 port 7, expected su1-leaf-r3 port 7: "
                               "move its cable"]),
    (SWAPPED_ON_A_LEAF, ["su1-dgx-07 mlx5_3: reaches su1-leaf-r3 port 8, expected su1-leaf-r3 port 7: move its cable"]),
    (WRONG_LEAF, ["su1-dgx-07 mlx5_2: reaches su1-leaf-r4 port 7, expected su1-leaf-r2 port 7: move its cable",
                  "su1-dgx-07 mlx5_6: no link found (expected to su1-leaf-r4 port 7): cable it, or check its port "
                  "state"]),
    (MISSING, ["su1-dgx-07 mlx5_9: no link found (expected to su1-leaf-r7 port 7): cable it, or check its port state"]),
])
def test_a_miscabled_node_fails_with_one_line_per_hca(recable: Recabling, reasons: list[str]) -> None:
    status, detail = cabling(dgx(recable), compute_only(expectation("superpod", NODE)))
    assert status is Status.failed
    assert detail.split("; ") == reasons


def test_a_cable_on_a_switch_the_node_is_not_cabled_to_names_it_from_the_discovery() -> None:
    status, detail = cabling(dgx(ON_A_SPINE), compute_only(expectation("superpod", NODE)))
    assert status is Status.failed
    assert detail.startswith('su1-dgx-07 mlx5_0: reaches switch "su1-spine-01" (GUID ')
    assert detail.endswith(") port 30, expected su1-leaf-r0 port 7: move its cable")


def test_a_link_below_the_fabric_rate_fails() -> None:
    status, detail = cabling(dgx(slow=frozenset({"su1-dgx-07 mlx5_1"})), compute_only(expectation("superpod", NODE)))
    assert (status, detail) == (Status.failed, "su1-dgx-07 mlx5_1: reaches su1-leaf-r1 port 7 but up at 4X EDR, "
                                               "expected 4X HDR: reseat or replace the cable")


def test_a_port_down_fails_and_discovery_uses_the_first_active_port() -> None:
    shell = dgx(MISSING, down=("mlx5_0", "mlx5_9"))
    status, detail = cabling(shell, compute_only(expectation("superpod", NODE)))
    assert status is Status.failed
    # The down ports are named once each (not again as "no link found"); the rest is discovered via mlx5_1.
    assert detail.split("; ") == ["mlx5_0 port 1 is DOWN (cabled to su1-leaf-r0 port 7)",
                                  "mlx5_9 port 1 is DOWN (cabled to su1-leaf-r7 port 7)"]
    assert discovery_command("mlx5_1") in shell.ran and discovery_command("mlx5_0") not in shell.ran


def test_storage_hcas_on_a_roce_fabric_are_not_discovered_over_infiniband() -> None:
    """The superpod's storage fabric is RoCE: its HCAs run Ethernet, so only the compute HCAs are discovered."""
    expect = expectation("superpod", NODE)
    assert [(h.device, h.link_layer) for h in expect.storage_hcas] == [("mlx5_4", "ethernet"), ("mlx5_10", "ethernet")]
    shell = dgx()
    cabling(shell, expect)
    assert discovery_command("mlx5_0") in shell.ran
    assert discovery_command("mlx5_4") not in shell.ran and discovery_command("mlx5_10") not in shell.ran


@pytest.mark.parametrize(("shell", "says"), [
    (FakeNode(), "no RDMA device (/sys/class/infiniband absent or empty); the spec cables 8 InfiniBand HCA(s) "
                 "of su1-dgx-07 to leaf ports"),
    (None, "ibnetdiscover not installed (infiniband-diags): the cabling of 8 HCA(s) cannot be read"),
    ("fails", "timeout 300 ibnetdiscover -C mlx5_0 -P 1 failed: ibwarn: [1234] mad_rpc_open_port: can't open UMAD port"),
    ("junk", "ibnetdiscover via mlx5_0: output unreadable at line 0: no Switch or Ca record"),
])
def test_a_node_that_cannot_show_its_cabling_fails(shell: FakeNode | str | None, says: str) -> None:
    if shell is None:
        shell = dgx()
        shell.tools = set()
    elif shell == "fails":
        shell = dgx()
        shell.discovery = Completed(255, "", "ibwarn: [1234] mad_rpc_open_port: can't open UMAD port\n")
    elif shell == "junk":
        shell = dgx()
        shell.discovery = Completed(0, "hello\n", "")
    status, detail = cabling(shell)
    assert status is Status.failed
    assert says in detail


def test_hcas_not_described_by_the_hostname_are_named_as_the_likely_cause() -> None:
    shell = dgx()
    shell.discovered_text = shell.discovered_text.replace('"su1-dgx-07 ', '"localhost ')
    status, detail = cabling(shell, compute_only(expectation("superpod", NODE)))
    assert status is Status.failed
    assert "is described as `su1-dgx-07 DEVICE`" in detail and "is this host named su1-dgx-07?" in detail


def test_a_lab_host_is_simulated_through_the_doca_stand_in_and_fails_without_it() -> None:
    lab = expectation("lab")
    status, detail = cabling(FakeNode(tools={"ofed_info"}), lab)
    assert status is Status.simulated
    assert detail.startswith("lab host: no InfiniBand fabric to discover; 8 HCA cable(s) declared")
    assert cabling(FakeNode(tools=set()), lab)[0] is Status.failed
    # A lab answer is never a pass, even where a discovery would check clean.
    assert cabling(dgx(), lab)[0] is not Status.passed


def test_a_node_without_cabled_infiniband_hcas_is_not_required() -> None:
    status, detail = cabling(FakeNode(), expectation("h200"))
    assert status is Status.not_present
    assert detail == "not required: the spec cables no InfiniBand HCA of h200-node-01 to a leaf port"
    roce = dataclasses.replace(expectation("superpod", NODE), storage_hcas=(), compute_hcas=tuple(
        dataclasses.replace(h, link_layer="ethernet") for h in expectation("superpod", NODE).compute_hcas))
    assert cabling(FakeNode(), roce)[0] is Status.not_present


# -- the health gate's filter and play ---------------------------------------------------------------------------

def _filter_module() -> Any:
    spec = importlib.util.spec_from_file_location("podforge_cabling", ROOT / "playbooks" / "filter_plugins" /
                                                  "podforge_cabling.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_vars(hostname: str = NODE) -> dict[str, Any]:
    spec, _ = superpod()
    return host_views(spec)[hostname].host_vars()


def test_the_gate_filter_reads_host_vars_and_gives_the_verify_answer() -> None:
    reach = _filter_module().FilterModule().filters()["podforge_node_reach"]
    hv = host_vars()
    text = discovered(superpod()[1], SWAPPED_INSIDE_THE_NODE)
    results = reach(text, hv["podforge_hostname"], hv["podforge_compute_hcas"])
    assert [r["hca"] for r in results] == [f"{NODE} {h['device']}" for h in hv["podforge_compute_hcas"]]
    assert [r["reason"] for r in results if not r["ok"]] == cabling(
        dgx(SWAPPED_INSIDE_THE_NODE), compute_only(expectation("superpod", NODE)))[1].split("; ")
    assert all(r["ok"] for r in reach(discovered(superpod()[1]), NODE, hv["podforge_compute_hcas"]))
    [unreadable] = reach("not ibnetdiscover\n", NODE, hv["podforge_compute_hcas"])
    assert unreadable["ok"] is False and "unreadable at line 0" in unreadable["reason"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    text: str
    down: tuple[str, ...] = ()
    tool: bool = True
    extra: tuple[tuple[str, Any], ...] = ()


def run_gate(tmp: Path, scenarios: dict[str, Scenario]) -> dict[str, Any]:
    """health_gate.yml's cabling play (--tags cabling_gate; the acceptance role's always-run argument check
    skipped) in one run on this machine, one local inventory host per scenario, each checked as NODE with its own
    fake sysfs tree and stand-in ibnetdiscover (a script that prints the scenario's topology and writes its
    arguments to a file); the json callback's result."""
    compute_hcas = host_vars()["podforge_compute_hcas"]
    hosts = {}
    for name, scenario in scenarios.items():
        home = tmp / name
        sysfs = home / "infiniband"
        for hca in compute_hcas:
            port = sysfs / hca["device"] / "ports" / "1"
            port.mkdir(parents=True)
            (port / "state").write_text("1: DOWN\n" if hca["device"] in scenario.down else "4: ACTIVE\n")
        (home / "topology.txt").write_text(scenario.text)
        tool = home / "ibnetdiscover"
        if scenario.tool:
            tool.write_text(f'#!/bin/sh\necho "$@" > {home / "args.txt"}\ncat {home / "topology.txt"}\n')
            tool.chmod(0o755)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "podforge_hostname": NODE, "podforge_compute_hcas": compute_hcas,
                       "health_gate_sysfs_infiniband": str(sysfs), "health_gate_ibnetdiscover": str(tool),
                       "health_gate_no_infiniband_types": [], **dict(scenario.extra)}
    (tmp / "inventory.yml").write_text(yaml.safe_dump({"all": {"children": {"gpu_nodes": {"hosts": hosts}}}}))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOCALHOST_WARNING": "False"}
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(tmp / "inventory.yml"), "--tags", "cabling_gate",
                           "--skip-tags", "acceptance", str(ROOT / "playbooks" / "health_gate.yml")],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return json.loads(done.stdout[start:])


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    fabric = superpod()[1]
    tmp = tmp_path_factory.mktemp("gate")
    return tmp, run_gate(tmp, {
        "clean": Scenario(discovered(fabric)),
        "miscabled": Scenario(discovered(fabric, SWAPPED_INSIDE_THE_NODE)),
        "down": Scenario(discovered(fabric), down=("mlx5_6",)),
        "no-tool": Scenario(discovered(fabric), tool=False),
        # The play decides "no InfiniBand" for the lab's nspawn hosts; forced here, on a miscabled fabric.
        "no-infiniband": Scenario(discovered(fabric, MISSING), extra=(("health_gate_no_infiniband", True),)),
    })


def gate_tasks(result: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    return {t["task"]["name"]: t["hosts"][host] for p in result["plays"] for t in p["tasks"] if host in t["hosts"]}


REACH_TASK = "Check that each HCA reaches the leaf port the spec cables it to"


def test_the_gate_passes_a_node_cabled_as_the_spec_says(gate) -> None:
    tmp, result = gate
    assert result["stats"]["clean"]["failures"] == 0
    assert gate_tasks(result, "clean")[REACH_TASK]["msg"] == "8 HCA(s) reach their leaf ports"
    assert (tmp / "clean" / "args.txt").read_text().split() == ["-C", "mlx5_0", "-P", "1"]


def test_the_gate_fails_a_miscabled_node_with_what_to_move(gate) -> None:
    _, result = gate
    assert result["stats"]["miscabled"]["failures"] == 1
    failed = gate_tasks(result, "miscabled")[REACH_TASK]
    assert failed["failed"] is True
    assert failed["msg"] == ("miscabled: su1-dgx-07 mlx5_2: reaches su1-leaf-r3 port 7, expected su1-leaf-r2 port 7: "
                             "move its cable; su1-dgx-07 mlx5_3: reaches su1-leaf-r2 port 7, expected su1-leaf-r3 "
                             "port 7: move its cable")


def test_the_gate_fails_a_port_down_and_a_node_without_ibnetdiscover(gate) -> None:
    tmp, result = gate
    down = gate_tasks(result, "down")["Check that every cabled HCA's port is ACTIVE"]
    assert down["failed"] is True
    assert down["msg"] == "port not ACTIVE: mlx5_6 port 1 is DOWN (cabled to su1-leaf-r4 port 7)"
    assert not (tmp / "down" / "args.txt").exists()
    missing = gate_tasks(result, "no-tool")["Check that the discovery ran"]
    assert missing["failed"] is True and missing["msg"].startswith("ibnetdiscover -C mlx5_0 -P 1 failed (exit 127)")


def test_the_gate_reports_the_cabling_simulated_on_a_host_without_infiniband(gate) -> None:
    """On a host without InfiniBand the play says `simulated:`, discovers nothing and does not fail, even on a
    fabric that would be miscabled."""
    tmp, result = gate
    simulated = gate_tasks(result, "no-infiniband")["Report the cabling check as simulated"]
    assert simulated["msg"].startswith("simulated: 8 InfiniBand HCA cable(s) declared (mlx5_0, mlx5_1")
    assert result["stats"]["no-infiniband"]["failures"] == 0
    assert not (tmp / "no-infiniband" / "args.txt").exists()
