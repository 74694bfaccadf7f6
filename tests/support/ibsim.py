"""A simulated InfiniBand fabric for tests: the OFA fabric simulator (`ibsim`, Debian ibsim-utils) on a netlist,
real OpenSM and real infiniband-diags attached to it through `ibsim-run` (which preloads libumad2sim).

How the simulator places a client (linux-rdma/ibsim, umad2sim/sim_client.c `sim_init` and ibsim/ibsim.c
`sim_ctl_new_client`): a client attaches at the node named by SIM_HOST, matched against node IDs and then node
descriptions (so `su1-dgx-01 mlx5_0` places it at that HCA), else at the first node of the netlist; a node can
hold one SM client; at most IBSIM_MAX_CLIENTS (10, include/ibsim.h) clients attach at once. The socket name
comes from IBSIM_SOCKNAME (abstract Unix namespace), so every fabric here gets its own and runs beside others.

Every process runs in its own process group and is killed as a group when the fabric stops. ibsim-run appends
to an LD_PRELOAD already set with a typo (`$LD_PRELOAD:sim_so`), so LD_PRELOAD is removed from the environment.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("ibsim", "ibsim-run", "opensm", "ibnetdiscover", "smpquery", "sminfo")
MAX_CLIENTS = 10
# OpenSM's P_Key membership bit (linux-rdma/opensm include/iba/ib_types.h: IB_PKEY_TYPE_MASK 0x8000,
# ib_pkey_is_full_member): set = full member, clear = limited.
FULL_MEMBER = 0x8000


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = 10.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def wait_for(check: Callable[[], object], what: str, timeout_s: float, interval_s: float = 0.2) -> object:
    """Poll `check` until it returns something truthy; RuntimeError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class SubnetManager:
    host: str
    """Where it is attached: the SIM_HOST (an HCA's node description)."""
    proc: subprocess.Popen
    log: Path
    out: Path

    def stop(self) -> None:
        _kill_group(self.proc)

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class SimFabric:
    dir: Path
    netlist: Path
    sockname: str
    proc: subprocess.Popen
    managers: list[SubnetManager] = field(default_factory=list)

    def env(self, at: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        env["IBSIM_SOCKNAME"] = self.sockname
        if at is not None:
            env["SIM_HOST"] = at
        env.update(extra or {})
        return env

    def run(self, args: list[str], at: str | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
        """`args` under ibsim-run, attached at node `at` (an ID or node description)."""
        return subprocess.run(["ibsim-run", *args], env=self.env(at), capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def start_sm(self, at: str, config: Path, partitions: Path, name: str) -> SubnetManager:
        """Real OpenSM attached at `at`, reading `config` (-F) unchanged; -P and -f only place the partitions
        file and the log in this fabric's directory (the rendered paths are the node's, under /etc and /var)."""
        state = self.dir / name
        state.mkdir(exist_ok=True)
        log, out = state / "opensm.log", state / "stdout.txt"
        with out.open("w") as sink:
            proc = subprocess.Popen(["ibsim-run", "opensm", "-F", str(config), "-P", str(partitions), "-f", str(log)],
                                    env=self.env(at, {"OSM_TMP_DIR": str(state), "OSM_CACHE_DIR": str(state)}),
                                    stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        manager = SubnetManager(at, proc, log, out)
        self.managers.append(manager)
        return manager

    def sminfo(self, at: str, lid: int | None = None) -> str:
        done = self.run(["sminfo", *([str(lid)] if lid is not None else [])], at=at)
        return done.stdout.strip()

    def port_active(self, at: str) -> bool:
        done = self.run(["ibstat"], at=at)
        return "State: Active" in done.stdout

    def discover(self, at: str) -> str:
        done = self.run(["ibnetdiscover"], at=at)
        if done.returncode != 0:
            raise RuntimeError(f"ibnetdiscover failed: {done.stderr[-500:]}")
        return done.stdout

    def pkeys(self, lid: int, at: str) -> list[int]:
        """The port's P_Key table (smpquery pkeys), valid entries only, in table order."""
        done = self.run(["smpquery", "pkeys", str(lid), "1"], at=at)
        if done.returncode != 0:
            raise RuntimeError(f"smpquery pkeys {lid} failed: {done.stderr[-300:]}")
        values = []
        for line in done.stdout.splitlines():
            if re.match(r"^\s*\d+:", line):
                values += [int(v, 16) for v in re.findall(r"0x[0-9a-fA-F]{4}", line)]
        return [v for v in values if v & 0x7FFF]

    def stop(self) -> None:
        for manager in self.managers:
            manager.stop()
        _kill_group(self.proc)


def netlist_sizes(text: str) -> tuple[int, int, int]:
    """(nodes, switches, ports) a netlist declares, for ibsim's -N/-S/-P limits (switch port 0 counted)."""
    nodes = switches = ports = 0
    for line in text.splitlines():
        head = re.match(r"^(Switch|Hca|Ca)\s+(\d+)", line)
        if head:
            nodes += 1
            ports += int(head.group(2)) + 1
            switches += head.group(1) == "Switch"
    return nodes, switches, ports


@contextmanager
def sim_fabric(netlist_text: str, directory: Path, start_timeout_s: float = 60) -> Iterator[SimFabric]:
    """ibsim running `netlist_text` (written to `directory`), stopped with every SM started on it."""
    directory.mkdir(parents=True, exist_ok=True)
    netlist = directory / "fabric.net"
    netlist.write_text(netlist_text)
    nodes, switches, ports = netlist_sizes(netlist_text)
    sockname = f"podforge-{uuid.uuid4().hex[:12]}"
    log = directory / "ibsim.log"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["IBSIM_SOCKNAME"] = sockname
    with log.open("w") as sink:
        proc = subprocess.Popen(["ibsim", "-s", "-n", "-N", str(max(nodes + 16, 2048)),
                                 "-S", str(max(switches + 16, 256)), "-P", str(max(ports + 64, 13312)),
                                 str(netlist)], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    fabric = SimFabric(directory, netlist, sockname, proc)
    try:
        first = re.search(r'^Hca\s+\d+\s+"[^"]+"\s*#\s*"([^"]+)"', netlist_text, re.M)
        at = first.group(1) if first else None

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"ibsim exited with {proc.returncode}: {log.read_text()[-2000:]}")
            return fabric.run(["ibaddr"], at=at, timeout_s=20).returncode == 0

        wait_for(up, "ibsim to load the netlist", start_timeout_s)
        yield fabric
    finally:
        fabric.stop()


def ca_lids(ibnetdiscover_text: str) -> dict[str, int]:
    """Node description → LID of every CA port in ibnetdiscover output (the `# lid N` of its port line)."""
    out: dict[str, int] = {}
    desc = None
    for line in ibnetdiscover_text.splitlines():
        head = re.match(r'^Ca\s+\d+\s+"[^"]+"\s*#\s*"([^"]*)"', line)
        if head:
            desc = head.group(1)
            continue
        if desc is not None and line.startswith("["):
            lid = re.search(r"#\s*lid (\d+)", line)
            if lid:
                out[desc] = int(lid.group(1))
            desc = None
    return out


def effective_config(config: Path, dump: Path) -> dict[str, str]:
    """OpenSM's effective options for `config` (its values over OpenSM's defaults): `opensm -F config -c dump`."""
    subprocess.run(["opensm", "-F", str(config), "-c", str(dump)], capture_output=True, text=True, timeout=30,
                   check=False)
    options = {}
    for line in dump.read_text().splitlines():
        if line and not line.startswith("#") and " " in line:
            key, value = line.split(" ", 1)
            options[key] = value.strip()
    return options
