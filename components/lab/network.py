"""The lab's network: one bridge holding the lab subnet's gateway address, and per host a network namespace
joined to the bridge by a veth pair. Only the lab subnet is configured; IPv6 is off on every lab link, and the
bridge does not forward, so lab hosts reach the lab subnet and nothing beyond it.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.lab.errors import LabError, sh
from components.lab.topology import LabHost, LabTopology

NETNS_DIR = Path("/run/netns")


def _ip(*args: str, step: str, check: bool = True) -> str:
    return sh(["ip", *args], step=step, check=check).stdout


def link_exists(name: str, netns: str | None = None) -> bool:
    args = ["-n", netns] if netns else []
    return sh(["ip", *args, "link", "show", "dev", name], step="", check=False).returncode == 0


def addresses(name: str, netns: str | None = None) -> list[str]:
    """IPv4 and IPv6 addresses on a link, as `ADDR/PREFIX`."""
    args = ["-n", netns] if netns else []
    done = sh(["ip", "-j", *args, "addr", "show", "dev", name], step="", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return []
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(done.stdout) for a in link.get("addr_info", [])]


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def _write_sysctl(path: str, value: str, netns: str | None = None) -> None:
    """Set a /proc/sys value, inside a namespace when one is named (there /proc/sys/net is the namespace's)."""
    if netns:
        sh(["ip", "netns", "exec", netns, "sh", "-c", f"echo {value} > /proc/sys/{path}"], step=f"setting {path} in {netns}")
    else:
        Path("/proc/sys", path).write_text(value)


def ensure_bridge(topo: LabTopology) -> bool:
    """Create the bridge with the lab gateway address; True when something had to change."""
    step = f"creating the lab bridge {topo.bridge}"
    changed = False
    if not link_exists(topo.bridge):
        _ip("link", "add", topo.bridge, "type", "bridge", step=step)
        changed = True
    if Path(f"/proc/sys/net/ipv6/conf/{topo.bridge}/disable_ipv6").read_text().strip() != "1":
        _write_sysctl(f"net/ipv6/conf/{topo.bridge}/disable_ipv6", "1")
        changed = True
    # Packets arriving from lab hosts are never routed off the bridge, whatever the machine's ip_forward says.
    if Path(f"/proc/sys/net/ipv4/conf/{topo.bridge}/forwarding").read_text().strip() != "0":
        _write_sysctl(f"net/ipv4/conf/{topo.bridge}/forwarding", "0")
        changed = True
    want = str(topo.bridge_address)
    if want not in addresses(topo.bridge):
        _ip("addr", "add", want, "dev", topo.bridge, step=step)
        changed = True
    if "UP" not in _ip("-br", "link", "show", "dev", topo.bridge, step=step).split()[1]:
        _ip("link", "set", topo.bridge, "up", step=step)
        changed = True
    return changed


def ensure_host_network(topo: LabTopology, host: LabHost) -> bool:
    """The host's namespace, veth pair on the bridge, address and route; True when something had to change."""
    step = f"wiring {host.hostname} ({host.address}) to {topo.bridge}"
    changed = False
    if not netns_exists(host.netns):
        _ip("netns", "add", host.netns, step=step)
        changed = True
    if not link_exists(host.interface, host.netns):
        if link_exists(host.veth):  # half a pair left over from an interrupted run
            _ip("link", "del", host.veth, step=step)
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", host.interface, "netns", host.netns, step=step)
        changed = True
    if not link_exists(host.veth):
        _ip("-n", host.netns, "link", "del", host.interface, step=step)
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", host.interface, "netns", host.netns, step=step)
        changed = True
    for conf in ("all", "default", host.interface):
        path = f"net/ipv6/conf/{conf}/disable_ipv6"
        if sh(["ip", "netns", "exec", host.netns, "cat", f"/proc/sys/{path}"], step=step).stdout.strip() != "1":
            _write_sysctl(path, "1", host.netns)
            changed = True
    master = json.loads(_ip("-j", "link", "show", "dev", host.veth, step=step))[0]
    if master.get("master") != topo.bridge or "UP" not in master.get("flags", []):
        _ip("link", "set", host.veth, "master", topo.bridge, "up", step=step)
        changed = True
    want = str(host.interface_address)
    have = addresses(host.interface, host.netns)
    for stray in (a for a in have if a != want):
        _ip("-n", host.netns, "addr", "del", stray, "dev", host.interface, step=step)
        changed = True
    if want not in have:
        _ip("-n", host.netns, "addr", "add", want, "dev", host.interface, step=step)
        changed = True
    for link in ("lo", host.interface):
        if "UP" not in json.loads(_ip("-j", "-n", host.netns, "link", "show", "dev", link, step=step))[0].get("flags", []):
            _ip("-n", host.netns, "link", "set", link, "up", step=step)
            changed = True
    # The gateway is the bridge: facts such as the default IPv4 address work, and the bridge routes nowhere.
    if f"default via {host.gateway} " not in _ip("-n", host.netns, "route", "show", "default", step=step) + " ":
        _ip("-n", host.netns, "route", "replace", "default", "via", str(host.gateway), "dev", host.interface, step=step)
        changed = True
    return changed


def remove_host_network(host: LabHost) -> list[str]:
    """Delete the host's namespace (its end of the veth goes with it) and the bridge end; what was removed."""
    removed: list[str] = []
    if netns_exists(host.netns):
        sh(["ip", "netns", "del", host.netns], step=f"removing the network namespace {host.netns}")
        removed.append(f"namespace {host.netns}")
    # Deleting the namespace takes its end of the pair, and the pair with it, a moment later.
    if link_exists(host.veth) and sh(["ip", "link", "del", host.veth], step="", check=False).returncode == 0:
        removed.append(f"veth {host.veth}")
    if link_exists(host.veth):
        raise LabError(f"could not remove the veth {host.veth} of {host.hostname}")
    return removed


def remove_bridge(topo: LabTopology) -> list[str]:
    if link_exists(topo.bridge):
        sh(["ip", "link", "del", topo.bridge], step=f"removing the lab bridge {topo.bridge}")
        return [f"bridge {topo.bridge}"]
    return []
