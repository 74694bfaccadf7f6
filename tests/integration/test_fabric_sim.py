"""podforge's fabric files on a simulated InfiniBand fabric: the superpod's compute fabric (20 nodes, 8 leaves,
10 spines) loaded in ibsim from `podforge fabric netlist`, real OpenSM run on podforge's rendered opensm.conf and
partitions.conf (passed unchanged), read back with real infiniband-diags; and `podforge fabric check` run on what
ibnetdiscover reports from fabrics with planted cabling faults.

Needs ibsim-utils, opensm and infiniband-diags (the Makefile installs them); skips only when they are missing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.cabling.compare import compare
from components.cabling.discovered import parse_ibnetdiscover
from components.cabling.intent import intent
from components.cabling.netlist import render_netlist
from components.cli import main
from components.render.fabric_files import render_opensm_conf, render_partitions_conf, sm_port_device
from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric, FabricPurpose
from tests.support.ibsim import (
    FULL_MEMBER,
    MAX_CLIENTS,
    SimFabric,
    SubnetManager,
    ca_lids,
    effective_config,
    missing_tools,
    sim_fabric,
    wait_for,
)

pytestmark = pytest.mark.servers

STACK = "superpod"
DEFAULT_PKEY = 0x7FFF


def _need_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"fabric simulator: missing {', '.join(missing)} (make setup installs ibsim-utils, opensm and "
                    "infiniband-diags)")


@pytest.fixture(scope="module")
def superpod() -> tuple[ClusterSpec, Fabric]:
    spec = load_stack_spec(STACK)[1].spec
    return spec, next(f for f in spec.fabrics if f.purpose is FabricPurpose.compute)


def _at(spec: ClusterSpec, fabric: Fabric, host: str) -> str:
    """The simulated HCA an OpenSM of `host` attaches at: the one its rendered opensm.conf says it binds to."""
    return f"{host} {sm_port_device(spec, fabric, host)}"


@dataclass
class Running:
    sim: SimFabric
    spec: ClusterSpec
    fabric: Fabric
    managers: dict[str, SubnetManager]
    configs: dict[str, Path]
    partitions: Path
    lids: dict[str, int]
    observer: str
    """An HCA that runs no SM, where the diagnostics attach."""

    def pkeys_of_all(self) -> dict[str, list[int]]:
        # A few at a time: each smpquery through the simulator waits ~80 ms; more in parallel only queue in ibsim.
        with ThreadPoolExecutor(max_workers=min(3, MAX_CLIENTS - len(self.managers) - 1)) as pool:
            tables = pool.map(lambda item: (item[0], self.sim.pkeys(item[1], self.observer)), self.lids.items())
            return dict(tables)


def _master(sim: SimFabric, at: str, priority: int) -> bool:
    return f"priority {priority} state 3 SMINFO_MASTER" in sim.sminfo(at)


# A standby takes over after OpenSM's SMInfo polling, 10 s × 4 by default: the running fabric is a copy of the
# spec that polls every second and gives up after three unanswered polls, so the failover test takes seconds.
# Its files are still podforge's rendering of that copy, passed to OpenSM unchanged.
FAST_POLLING = {"sminfo_polling_timeout_ms": 1000, "polling_retry_number": 3}


def _fast_polling(spec: ClusterSpec, fabric: Fabric) -> tuple[ClusterSpec, Fabric]:
    fast = Fabric.model_validate({**fabric.model_dump(), **FAST_POLLING})
    return spec.model_copy(update={"fabrics": [fast if f.name == fabric.name else f for f in spec.fabrics]}), fast


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, superpod: tuple[ClusterSpec, Fabric]) -> Iterator[Running]:
    _need_tools()
    spec, fabric = _fast_polling(*superpod)
    directory = tmp_path_factory.mktemp("ibsim-superpod")
    partitions = directory / "partitions.conf"
    partitions.write_text(render_partitions_conf(spec, fabric))
    configs = {}
    for sm in fabric.subnet_managers:
        configs[sm.host] = directory / f"opensm-{sm.host}.conf"
        configs[sm.host].write_text(render_opensm_conf(spec, fabric, sm.host))
    managers_by_priority = sorted(fabric.subnet_managers, key=lambda sm: -sm.priority)
    sm_hcas = {_at(spec, fabric, sm.host) for sm in fabric.subnet_managers}
    observer = next(f"{c.node} {c.hca}" for c in reversed(fabric.node_links) if f"{c.node} {c.hca}" not in sm_hcas)
    with sim_fabric(render_netlist(spec, fabric), directory) as sim:
        managers = {}
        first = managers_by_priority[0]
        managers[first.host] = sim.start_sm(_at(spec, fabric, first.host), configs[first.host], partitions, first.host)
        wait_for(lambda: _master(sim, observer, first.priority) and sim.port_active(observer),
                 f"OpenSM on {first.host} to bring the subnet up", 60)
        lids = ca_lids(sim.discover(observer))
        for sm in managers_by_priority[1:]:
            managers[sm.host] = sim.start_sm(_at(spec, fabric, sm.host), configs[sm.host], partitions, sm.host)
            lid = lids[_at(spec, fabric, sm.host)]
            wait_for(lambda lid=lid: "SMINFO_STANDBY" in sim.sminfo(observer, lid), f"OpenSM on {sm.host} standby",
                     60)
        yield Running(sim, spec, fabric, managers, configs, partitions, lids, observer)


def _expected_pkeys(fabric: Fabric, master_port: str, port: str) -> set[int]:
    """The P_Keys the spec gives a compute HCA port: every partition of the fabric (members ALL or compute), with
    the full-member bit where the spec says full; the master SM's own port is a full member of each (SELF=full)."""
    out = set()
    for partition in fabric.partitions:
        full = partition.membership == "full" or port == master_port
        out.add(partition.pkey | (FULL_MEMBER if full else 0))
    return out


def _flushed_log(manager: SubnetManager) -> str:
    """OpenSM's log so far: SIGUSR1 makes it reopen (and so flush) its log file (opensm(8), SIGNALS)."""
    if manager.alive():
        log_lines = len(manager.log.read_text().splitlines())
        os.kill(manager.proc.pid, signal.SIGUSR1)
        wait_for(lambda: len(manager.log.read_text().splitlines()) > log_lines, "OpenSM to flush its log", 10)
    return manager.log.read_text()


def test_every_port_holds_the_spec_pkeys_with_their_membership(running: Running) -> None:
    """Every HCA port of the fabric has exactly the partitions the spec gives it, full or limited as the spec says."""
    master = max(running.fabric.subnet_managers, key=lambda sm: sm.priority)
    master_port = _at(running.spec, running.fabric, master.host)
    tables = running.pkeys_of_all()
    assert len(tables) == len(running.fabric.node_links) == 160
    wrong = {port: [hex(k) for k in table] for port, table in tables.items()
             if sorted(table) != sorted(_expected_pkeys(running.fabric, master_port, port))}
    assert not wrong, f"ports whose P_Keys differ from the spec: {dict(list(wrong.items())[:5])}"
    # NCCL's queue pairs use P_Key index 0 (NCCL_IB_PKEY's default): OpenSM puts the default partition there, and
    # the superpod's nodes are full members of it, so any two of them can talk.
    table = running.sim.pkeys(running.lids[running.observer], running.observer)
    assert table[0] == DEFAULT_PKEY | FULL_MEMBER, [hex(k) for k in table]
    assert running.fabric.limited_default_partition() is None


def test_the_sm_runs_the_configured_routing_engine_and_lmc_without_errors(running: Running) -> None:
    """OpenSM routes with the spec's engine (no fallback), ports carry the spec's LMC, the log has no error."""
    master = max(running.fabric.subnet_managers, key=lambda sm: sm.priority)
    log = _flushed_log(running.managers[master.host])
    assert f"{running.fabric.routing_engine} tables configured on all switches" in log
    assert "SUBNET UP" in log
    # OpenSM's errors carry a code, `ERR 3F07:`; the notices it logs at the same level (a standby SM's
    # capability trap, `log_trap_info`) are not errors.
    # A MAD answered after OpenSM's transaction timeout (the simulator on a loaded machine) is logged by the MAD
    # layer as `umad_receiver: ERR 5412: ... timed out MAD`: transport timing, not the files.
    errors = [line for line in log.splitlines() if re.search(r"\bERR [0-9A-F]{4}:", line)
              and not ("umad_receiver" in line and "timed out MAD" in line)]
    assert not errors, errors[:5]
    portinfo = running.sim.run(["smpquery", "portinfo", str(running.lids[running.observer]), "1"],
                               at=running.observer).stdout
    lmc = next(line for line in portinfo.splitlines() if line.startswith("LMC:"))
    assert lmc.rstrip(".").split(".")[-1] == str(running.fabric.lmc), lmc
    options = effective_config(running.configs[master.host], running.sim.dir / "effective.conf")
    assert options["routing_engine"] == running.fabric.routing_engine
    assert options["sm_priority"] == str(master.priority)


def test_a_partition_change_rerendered_and_reloaded_takes_effect(running: Running) -> None:
    """A partition added in the spec, rendered again and reloaded with HUP, appears on the ports; removed again,
    it goes."""
    fabric = running.fabric
    added = Fabric.model_validate({**fabric.model_dump(), "partitions": [
        *[p.model_dump() for p in fabric.partitions],
        {"name": "inference", "pkey": 0x0102, "members": "compute", "membership": "limited"}]})
    spec = running.spec.model_copy(update={"fabrics": [added if f.name == fabric.name else f
                                                       for f in running.spec.fabrics]})
    master = max(fabric.subnet_managers, key=lambda sm: sm.priority)
    manager = running.managers[master.host]
    lid = running.lids[running.observer]
    try:
        running.partitions.write_text(render_partitions_conf(spec, added))
        os.kill(manager.proc.pid, signal.SIGHUP)
        table = wait_for(lambda: (t := running.sim.pkeys(lid, running.observer)) and 0x0102 in t and t,
                         "the new partition on a port", 30)
        assert 0x0102 in table and (0x0102 | FULL_MEMBER) not in table  # limited, as the spec says
    finally:
        running.partitions.write_text(render_partitions_conf(running.spec, fabric))
        os.kill(manager.proc.pid, signal.SIGHUP)
    wait_for(lambda: 0x0102 not in running.sim.pkeys(lid, running.observer), "the partition to go again", 30)


def test_the_higher_priority_sm_is_master_and_the_standby_takes_over(running: Running) -> None:
    """The spec's highest-priority SM is master; killed, the standby becomes master within OpenSM's configured
    SMInfo polling (sminfo_polling_timeout × polling_retry_number of the rendered opensm.conf), plus one sweep."""
    by_priority = sorted(running.fabric.subnet_managers, key=lambda sm: -sm.priority)
    master, standby = by_priority[0], by_priority[1]
    assert _master(running.sim, running.observer, master.priority)
    standby_lid = running.lids[_at(running.spec, running.fabric, standby.host)]
    assert "SMINFO_STANDBY" in running.sim.sminfo(running.observer, standby_lid)
    options = effective_config(running.configs[standby.host], running.sim.dir / "standby.conf")
    # The rendered file carries the fabric's polling settings into OpenSM.
    assert (options["sminfo_polling_timeout"], options["polling_retry_number"]) == (
        str(running.fabric.sminfo_polling_timeout_ms), str(running.fabric.polling_retry_number))
    bound_s = int(options["sminfo_polling_timeout"]) / 1000 * (int(options["polling_retry_number"]) + 1)
    running.managers[master.host].stop()
    wait_for(lambda: _master(running.sim, running.observer, standby.priority), f"{standby.host} to take over",
             bound_s + 30, interval_s=1)


# -- planted faults: what `podforge fabric check` says about a miswired fabric, discovered for real -------------------

def _with_links(fabric: Fabric, node_links: list[dict] | None = None, switch_links: list[dict] | None = None) -> Fabric:
    data = fabric.model_dump()
    if node_links is not None:
        data["node_links"] = node_links
    if switch_links is not None:
        data["switch_links"] = switch_links
    return Fabric.model_validate(data)


def _recabled(fabric: Fabric, changes: dict[tuple[str, str], dict | None]) -> Fabric:
    """`fabric` with the node links of (node, hca) replaced by the given fields, or removed (None)."""
    links = []
    for link in fabric.node_links:
        key = (link.node, link.hca)
        if key in changes:
            if changes[key] is None:
                continue
            links.append({**link.model_dump(), **changes[key]})
        else:
            links.append(link.model_dump())
    return _with_links(fabric, node_links=links)


def _discover(netlist: str, directory: Path) -> str:
    with sim_fabric(netlist, directory) as sim:
        return sim.discover(None)


def _check(spec: ClusterSpec, fabric: Fabric, cabled: Fabric | str, directory: Path) -> list[str]:
    netlist = cabled if isinstance(cabled, str) else render_netlist(spec, cabled)
    text = _discover(netlist, directory)
    (directory / "ibnetdiscover.txt").write_text(text)
    check = compare(intent(spec, fabric), parse_ibnetdiscover(text), "ibnetdiscover.txt")
    return sorted(p.text for p in check.problems)


@pytest.fixture
def planted(tmp_path: Path, superpod: tuple[ClusterSpec, Fabric]):
    _need_tools()
    spec, fabric = superpod
    return lambda cabled: _check(spec, fabric, cabled, tmp_path)


def test_the_intended_cabling_checks_clean(planted, superpod) -> None:
    """The netlist of the spec, discovered by ibnetdiscover, has no problem (the speed included)."""
    assert planted(superpod[1]) == []


def test_two_cables_swapped_on_a_leaf(planted, superpod) -> None:
    """Ports 12 and 13 of a leaf swapped: the leaf ends move back, one line each."""
    fabric = superpod[1]
    cabled = _recabled(fabric, {("su1-dgx-12", "mlx5_3"): {"port": 13}, ("su1-dgx-13", "mlx5_3"): {"port": 12}})
    assert planted(cabled) == [
        "move cable at su1-dgx-12 mlx5_3 (now to su1-leaf-r3 port 13) to su1-leaf-r3 port 12",
        "move cable at su1-dgx-13 mlx5_3 (now to su1-leaf-r3 port 12) to su1-leaf-r3 port 13",
    ]


def test_a_cable_to_the_wrong_leaf(planted, superpod) -> None:
    """An HCA's cable on the next rail's leaf (whose own HCA is left unplugged): that leaf port gets its HCA back,
    the first HCA gets a cable to its own leaf."""
    fabric = superpod[1]
    cabled = _recabled(fabric, {("su1-dgx-05", "mlx5_2"): {"switch": "su1-leaf-r3"}, ("su1-dgx-05", "mlx5_3"): None})
    assert planted(cabled) == [
        "missing link su1-dgx-05 mlx5_2 ↔ su1-leaf-r2 port 5",
        "move cable at su1-leaf-r3 port 5 (now to su1-dgx-05 mlx5_2) to su1-dgx-05 mlx5_3",
    ]


def test_a_missing_cable(planted, superpod) -> None:
    fabric = superpod[1]
    assert planted(_recabled(fabric, {("su1-dgx-04", "mlx5_0"): None})) == [
        "missing link su1-dgx-04 mlx5_0 ↔ su1-leaf-r0 port 4"]


def test_a_swapped_pair_of_hcas_inside_one_node(planted, superpod) -> None:
    """Two HCAs of one node swapped: the node ends move, named from the leaf ports that stay."""
    fabric = superpod[1]
    cabled = _recabled(fabric, {("su1-dgx-07", "mlx5_2"): {"switch": "su1-leaf-r3"},
                                ("su1-dgx-07", "mlx5_3"): {"switch": "su1-leaf-r2"}})
    assert planted(cabled) == [
        "move cable at su1-leaf-r2 port 7 (now to su1-dgx-07 mlx5_3) to su1-dgx-07 mlx5_2",
        "move cable at su1-leaf-r3 port 7 (now to su1-dgx-07 mlx5_2) to su1-dgx-07 mlx5_3",
    ]


def test_an_extra_link(planted, superpod) -> None:
    """A cable between two spines' free ports, which the spec does not have."""
    fabric = superpod[1]
    extra = {"leaf": "su1-spine-01", "leaf_port": 17, "spine": "su1-spine-02", "spine_port": 17}
    cabled = _with_links(fabric, switch_links=[*[s.model_dump() for s in fabric.switch_links], extra])
    assert planted(cabled) == ["unexpected link su1-spine-01 port 17 ↔ su1-spine-02 port 17"]


def test_a_link_up_at_a_lower_speed(planted, superpod) -> None:
    """A link that trains at EDR on a 200 Gb/s (HDR) fabric is reported with both speeds."""
    spec, fabric = superpod
    lines = render_netlist(spec, fabric).splitlines()
    slow = [line.replace("4xHDR", "4xEDR") if '"H-su1-dgx-09-mlx5_1"[1]' in line or
            ('"S-su1-leaf-r1"[9]' in line) else line for line in lines]
    assert planted("\n".join(slow)) == ["link su1-dgx-09 mlx5_1 ↔ su1-leaf-r1 port 9 up at 4X EDR, expected 4X HDR"]


def test_fabric_check_command_live_and_from_a_file(tmp_path: Path, superpod) -> None:
    """`podforge fabric check --live` (ibnetdiscover run by podforge, here under the simulator) and
    `--ibnetdiscover FILE --json` agree on a planted fault and exit 1."""
    _need_tools()
    spec, fabric = superpod
    cabled = _recabled(fabric, {("su1-dgx-04", "mlx5_0"): None})
    with sim_fabric(render_netlist(spec, cabled), tmp_path / "sim") as sim:
        live = subprocess.run(["ibsim-run", sys.executable, "-m", "components.cli", "fabric", "check", "--stack",
                               STACK, "--fabric", fabric.name, "--live"], env=sim.env("su1-dgx-10 mlx5_6"),
                              capture_output=True, text=True, timeout=120, check=False)
        (tmp_path / "topo.txt").write_text(sim.discover(None))
    assert live.returncode == 1, live.stderr
    assert "missing link su1-dgx-04 mlx5_0 ↔ su1-leaf-r0 port 4" in live.stdout.splitlines()
    report = tmp_path / "report.json"
    assert main(["fabric", "check", "--stack", STACK, "--ibnetdiscover", str(tmp_path / "topo.txt"),
                 "--json", str(report)]) == 1
    data = json.loads(report.read_text())
    assert data["schema"] == 1 and data["ok"] is False
    [checked] = data["fabrics"]
    assert checked["name"] == fabric.name
    assert [p["kind"] for p in checked["problems"]] == ["missing"]
