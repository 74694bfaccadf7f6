"""What the lab builds, derived from the lab stack's spec: the bridge, and one host per spec node.

A lab spec declares one reserved subnet (the management network; every other network of a lab spec is the
same subnet), the bridge takes the management gateway address, and each node's host view becomes a host at
its management address. Nothing here touches the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from components.host import host_views
from components.spec import ClusterSpec, LoadedSpec, Problem, SpecError

BRIDGE = "pfbr0"
DEFAULT_INTERFACE = "host0"


@dataclass(frozen=True)
class LabHost:
    """One lab host: a spec node booted as an nspawn container in its own network namespace."""

    hostname: str
    address: IPv4Address
    network: IPv4Network
    gateway: IPv4Address
    interface: str  # the host's side of its veth, named as the spec's management interface

    @property
    def netns(self) -> str:
        return self.hostname

    @property
    def veth(self) -> str:
        """The bridge side of the host's veth: short (IFNAMSIZ is 16), unique per address."""
        return f"pfv{int(self.address) & 0xFFFF:05d}"

    @property
    def interface_address(self) -> IPv4Interface:
        return IPv4Interface(f"{self.address}/{self.network.prefixlen}")


@dataclass(frozen=True)
class LabTopology:
    stack: str
    bridge: str
    bridge_address: IPv4Interface
    hosts: tuple[LabHost, ...]
    spec: ClusterSpec | None = field(default=None, compare=False, repr=False)  # what the bridge services come from

    @property
    def subnet(self) -> IPv4Network:
        return self.bridge_address.network

    def host(self, hostname: str) -> LabHost:
        for host in self.hosts:
            if host.hostname == hostname:
                return host
        raise KeyError(hostname)


def lab_topology(stack: str, loaded: LoadedSpec) -> LabTopology:
    """The lab's bridge and hosts for a spec; SpecError (one line per problem) when it is no lab spec."""
    spec = loaded.spec
    mgmt = spec.networks.management
    problems: list[Problem] = []

    def problem(path: tuple[str | int, ...], value: object, expected: str) -> None:
        problems.append(Problem(loaded.file, loaded.line_of(*path), ".".join(map(str, path)), value, expected))

    if not spec.site.lab:
        problem(("site", "lab"), spec.site.lab, "true: `podforge lab` builds only a lab spec's hosts")
    if not mgmt.cidr.is_private:
        problem(("networks", "management", "cidr"), str(mgmt.cidr), "a private subnet reserved for the lab")
    for name in ("bmc", "inband", "storage"):
        cidr = getattr(spec.networks, name).cidr
        if cidr != mgmt.cidr:
            problem(("networks", name, "cidr"), str(cidr), f"the lab's one subnet {mgmt.cidr}")
    gateway = mgmt.gateway
    if gateway is None or gateway not in mgmt.cidr or gateway in (mgmt.cidr.network_address, mgmt.cidr.broadcast_address):
        problem(("networks", "management", "gateway"), gateway and str(gateway),
                f"a host address in {mgmt.cidr}: the lab bridge takes it")
    seen: set[IPv4Address] = set()
    for i, node in enumerate(spec.nodes):
        addr = node.management_address
        if addr not in mgmt.cidr or addr in (mgmt.cidr.network_address, mgmt.cidr.broadcast_address, gateway) or addr in seen:
            problem(("nodes", i, "management_address"), str(addr),
                    f"a free host address in {mgmt.cidr}, not the bridge's {gateway}")
        seen.add(addr)
    if problems:
        raise SpecError(problems)
    assert gateway is not None
    interface = mgmt.interface or DEFAULT_INTERFACE
    hosts = tuple(LabHost(view.hostname, IPv4Address(view.addresses["management"]), mgmt.cidr, gateway, interface)
                  for view in host_views(spec).values())
    return LabTopology(stack, BRIDGE, IPv4Interface(f"{gateway}/{mgmt.cidr.prefixlen}"), hosts, spec)
