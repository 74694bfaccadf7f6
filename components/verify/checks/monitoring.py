"""Monitoring checks: the DCGM host engine sees the SKU's GPUs; dcgm-exporter (9400) and node-exporter
(9100) answer with their metrics. Listening ports are read from /proc/net/tcp, so no ss/netstat is needed.

The dcgm role installs DCGM and the node exporter on every gpu_node, and dcgm-exporter where the spec pins
software.dcgm_exporter: there, one that is missing fails."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from components.verify.checks import Check, Outcome, bad, lab_stand_in, ok, stand_in, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.listeners import listening_ports
from components.verify.shell import NodeShell


@dataclass(frozen=True)
class Exporter:
    name: str
    port: int
    binaries: tuple[str, ...]
    units: tuple[str, ...]
    metric: str          # a series every healthy exporter of this kind serves
    stand_in_in_lab: bool  # the lab runs a stand-in that names its fields without samples


DCGM_EXPORTER = Exporter("dcgm-exporter", 9400, ("dcgm-exporter",), ("nvidia-dcgm-exporter", "dcgm-exporter"),
                         "DCGM_FI_DEV_GPU_UTIL", True)
# Debian and Ubuntu ship node-exporter as prometheus-node-exporter: real in the lab too.
NODE_EXPORTER = Exporter("node-exporter", 9100, ("node_exporter", "prometheus-node-exporter"),
                         ("node_exporter", "node-exporter", "prometheus-node-exporter"), "node_cpu_seconds_total", False)


def _listening(shell: NodeShell) -> set[int]:
    return listening_ports(shell.read("/proc/net/tcp") or "") | listening_ports(shell.read("/proc/net/tcp6") or "")


def _unit_exists(shell: NodeShell, unit: str) -> bool:
    return shell.has("systemctl") and shell.run(f"systemctl cat {shlex.quote(unit)} >/dev/null 2>&1").rc == 0


_PY_FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def fetch(shell: NodeShell, url: str) -> str | None:
    """The body at `url`, fetched on the node with whichever client it has; None if it did not answer."""
    quoted = shlex.quote(url)
    if shell.has("curl"):
        command = f"curl -fsS --max-time 5 {quoted}"
    elif shell.has("wget"):
        command = f"wget -q -T 5 -O - {quoted}"
    elif shell.has("python3"):
        command = f"python3 -c {shlex.quote(_PY_FETCH)} {quoted}"
    else:
        return None
    result = shell.run(command)
    return result.stdout if result.rc == 0 else None


STAND_IN_MARK = "podforge_standin_simulated"  # the series the lab's stand-in exporter serves (components/standins)


def _has_sample(body: str, metric: str) -> bool:
    return re.search(rf"(?m)^{re.escape(metric)}[{{ ]", body) is not None


def _exporter(shell: NodeShell, expect: NodeExpectation, exporter: Exporter) -> Outcome:
    if not expect.gpu_node:
        return unneeded(f"{expect.hostname} has no gpu_node role")
    if exporter is DCGM_EXPORTER and not expect.dcgm_exporter:
        return unneeded("the spec pins no software.dcgm_exporter")
    if exporter.port not in _listening(shell):
        installed = any(shell.has(b) for b in exporter.binaries) or any(_unit_exists(shell, u) for u in exporter.units)
        if not installed:
            return bad(f"{exporter.name} not installed (no binary, no unit, nothing listening on :{exporter.port})")
        return bad(f"{exporter.name} is installed but nothing listens on :{exporter.port}")
    body = fetch(shell, f"http://127.0.0.1:{exporter.port}/metrics")
    if body is None:
        return bad(f"something listens on :{exporter.port} but /metrics did not answer")
    if exporter.stand_in_in_lab and STAND_IN_MARK in body:
        if not expect.lab:
            return bad(f":{exporter.port} serves the podforge lab stand-in on a node that is not in a lab")
        if f"# HELP {exporter.metric} " not in body:
            return bad(f"the lab stand-in on :{exporter.port} does not name {exporter.metric}")
        fields = len(re.findall(r"(?m)^# HELP DCGM_FI_", body))
        return stand_in(f"lab stand-in {exporter.name} answers on :{exporter.port} naming {fields} DCGM field(s), "
                        "no samples (no GPU)")
    if not _has_sample(body, exporter.metric):
        return bad(f":{exporter.port}/metrics answers without a {exporter.metric} sample")
    return ok(f"{exporter.name} answers on :{exporter.port} with {exporter.metric}")


def dcgm_exporter(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    return _exporter(shell, expect, DCGM_EXPORTER)


def node_exporter(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    return _exporter(shell, expect, NODE_EXPORTER)


def dcgm_host_engine(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    if not expect.gpu_node:
        return unneeded(f"{expect.hostname} has no gpu_node role")
    if expect.lab:
        return lab_stand_in(shell, "dcgmi", "DCGM", "DCGM is a stand-in (no GPU to manage)")
    if not shell.has("dcgmi"):
        return bad("DCGM not installed (no dcgmi); the dcgm role installs it on every gpu_node")
    result = shell.run("dcgmi discovery -l")
    if result.rc != 0:
        return bad(f"dcgmi discovery -l: {result.first_error_line} (nv-hostengine not running?)")
    found = re.search(r"(\d+)\s+GPUs?\s+found", result.stdout)
    if found is None:
        return bad("dcgmi discovery -l names no GPU count")
    if int(found.group(1)) != expect.sku.gpu.count:
        return bad(f"DCGM sees {found.group(1)} GPU(s), {expect.sku.name} has {expect.sku.gpu.count}")
    return ok(f"nv-hostengine answers; DCGM sees {found.group(1)} GPU(s)")


CHECKS = (
    Check("monitoring", "dcgm_host_engine", "DCGM's host engine answers and sees the SKU's GPUs", dcgm_host_engine),
    Check("monitoring", "dcgm_exporter", "dcgm-exporter answers on 9400 with GPU metrics", dcgm_exporter),
    Check("monitoring", "node_exporter", "node-exporter answers on 9100", node_exporter),
)
