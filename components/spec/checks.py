"""Cross-references a schema cannot express: duplicates, subnets, cabling, exports, versions, ports, access.

Each check returns findings as (field path, value, expectation); the loader adds file and line. Two fields that
cannot both stand (a duplicate, a clash) are one Clash: the loader reports it at the one declared later, naming
the earlier one's field and line where the expectation says OTHER. One mistake gives one finding: a check does
not report what only follows from a mistake another check reports.
Pure functions of a parsed ClusterSpec and the time zone database: no servers.
"""

from __future__ import annotations

import posixpath
import re
import zoneinfo
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from ipaddress import IPv4Address, IPv4Network, ip_address

from components.spec.access import ACTION_PATTERN, SECOND_FACTORS, AccessRole
from components.spec.base import seconds
from components.spec.catalogue import builtin_catalogue
from components.spec.catalogue_models import Sku
from components.spec.cluster import ClusterSpec
from components.spec.fabric import DEFAULT_PKEY, Fabric, FabricPurpose, SwitchTier, host_number
from components.spec.nodes import Node, NodeRole
from components.spec.ports import GPU_NODE_PORTS, KMIP, NFS, NFS_RDMA, SSH, VAULT, StandardPort, url_port
from components.spec.software import dcgm_major, pinned_version
from components.spec.storage import (
    KMIP_DRIVER_VENDORS,
    LABEL_MAX,
    MAX_KMIP_SERVERS,
    NFS_MAX_NCONNECT,
    NFS_RDMA_VERSIONS,
    NQN_MAX_BYTES,
    NQN_RE,
    NVME_CONNECT_OPTIONS,
    SUPPORT,
    Export,
    ExportProtocol,
    StorageArray,
    Transport,
    supported,
    version_tuple,
)

Path_ = tuple[str | int, ...]
Finding = tuple[Path_, object, str]
PKEY_MIN, PKEY_MAX = 0x0001, 0x7FFF
IB_MTUS = (256, 512, 1024, 2048, 4096)
"""The MTUs an InfiniBand port takes (IBTA MTU enum; OpenSM's partitions.conf `mtu=` codes 1..5)."""
OTHER = "{other}"
"""Where a Clash's expectation names the other field: the loader writes `FIELD on line N` there."""


@dataclass(frozen=True)
class Clash:
    """Two findings about one mistake: reported once, at the side declared later, naming the earlier side."""

    first: Finding
    second: Finding


Rule = Callable[[ClusterSpec, dict[str, Sku]], Iterator[Finding | Clash]]
RULES: list[tuple[Rule, frozenset[str]]] = []


def needs(*sections: str) -> Callable[[Rule], Rule]:
    """Register a rule with the spec sections it reads; it runs only when all of them passed the schema."""
    def register(rule: Rule) -> Rule:
        RULES.append((rule, frozenset(sections)))
        return rule
    return register


def check(spec: ClusterSpec, parsed: Collection[str] | None = None) -> list[Finding | Clash]:
    """Every cross-reference problem of the spec, in a stable order.

    `parsed` names the top-level sections that passed the schema (all of them when None); a rule that
    reads any other section is skipped, so a typo in one section does not hide a duplicate in another.
    A site entry that redefines a built-in SKU is refused, and the other rules read the built-in one.
    """
    ready = set(ClusterSpec.model_fields) if parsed is None else set(parsed)
    catalogue = {**spec.catalogue, **builtin_catalogue()} if "catalogue" in ready else builtin_catalogue()
    findings: list[Finding | Clash] = []
    for rule, sections in RULES:
        if sections <= ready:
            findings.extend(rule(spec, catalogue))
    return findings


def _clash(earlier: Path_, later: Path_, value: object, expected: str) -> Clash:
    """Two fields holding the same value that may be there once; `expected` names the other one as OTHER."""
    return Clash((earlier, value, expected), (later, value, expected))


def _duplicates(values: list[tuple[tuple[str | int, ...], object]], what: str) -> Iterator[Clash]:
    seen: dict[object, tuple[str | int, ...]] = {}
    for path, value in values:
        if value in seen:
            yield _clash(seen[value], path, value, f"a unique {what} (already used at {OTHER})")
        else:
            seen[value] = path


def _nonstandard_port(path: Path_, value: object, port: int, standard: StandardPort, exception: str | None,
                      exception_field: str) -> Iterator[Finding]:
    if port != standard.port and not (exception or "").strip():
        yield path, value, (f"port {standard.port}, {standard.protocol}'s ({standard.source}), or {exception_field} "
                            f"saying why this one differs")


@cache
def _timezones() -> frozenset[str]:
    # zoneinfo reads the system's tz database, else the tzdata package
    # (https://docs.python.org/3/library/zoneinfo.html#zoneinfo.available_timezones).
    return frozenset(zoneinfo.available_timezones())


@needs("catalogue")
def _catalogue_entries(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    builtin = builtin_catalogue()
    for name, sku in spec.catalogue.items():
        base = ("catalogue", name)
        if name in builtin:
            yield base, name, "a new SKU name (this one is built in; use it as it is)"
        if sku.name != name:
            yield base + ("name",), sku.name, f"the entry's own key {name!r}"
        yield from sku_problems(base, sku)


def sku_problems(base: tuple[str | int, ...], sku: Sku) -> Iterator[Finding | Clash]:
    """Counts and indices inside one catalogue entry that contradict each other."""
    rails = [h.rail for h in sku.compute_hcas]
    if sku.compute_hcas and len(sku.compute_hcas) != sku.gpu.count:
        yield base + ("compute_hcas",), len(sku.compute_hcas), (
            f"one compute HCA per GPU ({sku.gpu.count}) in a rail-optimized SKU")
    if rails != list(range(len(rails))):
        yield base + ("compute_hcas",), rails, f"rails numbered 0..{len(rails) - 1}, once each, in rail order"
    if sku.nvswitch_count and not sku.gpu.nvlink:
        yield base + ("nvswitch_count",), sku.nvswitch_count, "0 for a SKU whose GPUs have no NVLink"
    seen: dict[str, Path_] = {}
    for kind in ("compute_hcas", "storage_hcas"):
        for k, hca in enumerate(getattr(sku, kind)):
            if hca.device in seen:
                yield _clash(seen[hca.device], base + (kind, k, "device"), hca.device,
                             f"each HCA device listed once, compute or storage (already at {OTHER})")
            seen.setdefault(hca.device, base + (kind, k, "device"))
            if hca.gpu is not None and hca.gpu >= sku.gpu.count:
                yield base + (kind, k, "gpu"), hca.gpu, f"a GPU index of this SKU (0..{sku.gpu.count - 1})"
            if hca.numa_node is not None and hca.numa_node >= sku.numa_nodes:
                yield base + (kind, k, "numa_node"), hca.numa_node, f"a NUMA node of this SKU (0..{sku.numa_nodes - 1})"
            if kind == "storage_hcas" and hca.rail is not None:
                yield base + (kind, k, "rail"), hca.rail, "no rail on a storage HCA (rails are compute HCAs)"


@needs("site")
def _site(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    zone = spec.site.timezone
    zones = _timezones()
    if not zones:
        yield (("site", "timezone"), zone, "an IANA time zone; this machine has no time zone database to check it "
                                           "against (install tzdata)")
    elif zone not in zones:
        by_case = {z.lower(): z for z in zones}
        close = [by_case[zone.lower()]] if zone.lower() in by_case else get_close_matches(zone, sorted(zones), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        yield ("site", "timezone"), zone, f"a time zone of the IANA tz database, e.g. Asia/Shanghai or UTC{guess}"


@needs("nodes", "catalogue")
def _nodes(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    yield from _duplicates([(("nodes", i, "hostname"), n.hostname) for i, n in enumerate(spec.nodes)], "hostname")
    yield from _duplicates([(("nodes", i, "serial"), n.serial) for i, n in enumerate(spec.nodes)], "serial")
    yield from _duplicates([(("nodes", i, "bmc"), n.bmc) for i, n in enumerate(spec.nodes)], "BMC endpoint")
    for i, node in enumerate(spec.nodes):
        if node.sku not in catalogue:
            yield ("nodes", i, "sku"), node.sku, f"a catalogue SKU ({', '.join(sorted(catalogue))})"
        yield from _duplicates([(("nodes", i, "roles", r), role.value) for r, role in enumerate(node.roles)], "role")
        known = node.ssh.known_hosts
        if known is not None and _outside_project(known):
            yield (("nodes", i, "ssh", "known_hosts"), known,
                   "a file inside the project: a path relative to it that does not leave it with '..'")
        yield from _nonstandard_port(("nodes", i, "ssh", "port"), node.ssh.port, node.ssh.port, SSH,
                                     node.ssh.port_exception, "ssh.port_exception")


def _outside_project(path: str) -> bool:
    """Absolute, home-relative or escaping with `..`; a file that does not exist (yet) is not refused here."""
    return path.startswith(("/", "~")) or posixpath.normpath(path).split("/")[0] == ".."


@needs("networks", "nodes")
def _addresses(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    nets = spec.networks
    gateways: dict[IPv4Address, str] = {}
    for name in ("management", "bmc", "inband", "storage"):
        net = getattr(nets, name)
        if net.gateway is not None:
            gateways[net.gateway] = name
            yield from _inside(("networks", name, "gateway"), net.gateway, net.cidr, name)
    every: list[tuple[tuple[str | int, ...], object]] = []
    for i, node in enumerate(spec.nodes):
        for field, net in (("management_address", nets.management.cidr), ("inband_address", nets.inband.cidr),
                           ("storage_address", nets.storage.cidr)):
            addr = getattr(node, field)
            if addr is None:
                continue
            every.append((("nodes", i, field), str(addr)))
            yield from _inside(("nodes", i, field), addr, net, field.removesuffix("_address"))
            if addr in gateways:
                yield ("nodes", i, field), str(addr), f"a node address, not the {gateways[addr]} network's gateway"
        bmc = _as_ip(node.bmc_host)
        if bmc is not None:
            yield from _inside(("nodes", i, "bmc"), bmc, nets.bmc.cidr, "bmc")
    shared = {str(n.cidr) for n in (nets.management, nets.inband, nets.storage)}
    if len(shared) == 3:
        yield from _duplicates(every, "address")
    else:
        # Networks that share one subnet (the lab) may reuse a node's address across them, not across nodes.
        seen: dict[object, Path_] = {}
        for path, value in every:
            if value in seen and seen[value][1] != path[1]:
                yield _clash(seen[value], path, value, f"a unique address (already used at {OTHER})")
            seen.setdefault(value, path)


@needs("networks", "nodes", "storage")
def _array_addresses(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    taken: dict[str, Path_] = {}
    for i, n in enumerate(spec.nodes):
        for f in ("management_address", "inband_address", "storage_address"):
            if getattr(n, f) is not None:
                taken.setdefault(str(getattr(n, f)), ("nodes", i, f))
    for i, array in enumerate(spec.storage.arrays):
        for k, text in enumerate(array.data_addresses):
            path = ("storage", "arrays", i, "data_addresses", k)
            addr = _as_ip(text)
            if addr is None:
                continue
            yield from _inside(path, addr, spec.networks.storage.cidr, "storage")
            if text in taken:
                yield _clash(taken[text], path, text, f"an address no node uses (already used at {OTHER})")


def _as_ip(host: str) -> IPv4Address | None:
    try:
        addr = ip_address(host)
    except ValueError:
        return None
    return addr if isinstance(addr, IPv4Address) else None


def _inside(path: tuple[str | int, ...], addr: IPv4Address, net: IPv4Network, name: str) -> Iterator[Finding]:
    if addr not in net:
        yield path, str(addr), f"an address inside the {name} network {net}"
    elif net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
        yield path, str(addr), f"a host address of {net} (not its network or broadcast address)"


@needs("fabrics")
def _fabric_names(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    yield from _duplicates([(("fabrics", i, "name"), f.name) for i, f in enumerate(spec.fabrics)], "fabric name")
    # Switch names become resource names, so they are unique across fabrics, not only within one.
    yield from _duplicates([(("fabrics", i, "switches", j, "name"), s.name)
                            for i, f in enumerate(spec.fabrics) for j, s in enumerate(f.switches)], "switch name")
    yield from _duplicates([(("fabrics", i, "purpose"), f.purpose.value) for i, f in enumerate(spec.fabrics)],
                           "purpose: one fabric per purpose, compute or storage")
    for i, fabric in enumerate(spec.fabrics):
        yield from _fabric_ports(("fabrics", i), fabric)
        yield from _fabric_settings(("fabrics", i), fabric)


def _fabric_ports(base: Path_, fabric: Fabric) -> Iterator[Finding | Clash]:
    """Every cable ends on a port that exists, on a switch of the right tier, and no port takes two cables."""
    switches = {s.name: s for s in fabric.switches}
    taken: dict[tuple[str, int], tuple[str, Path_]] = {}

    def port(switch_path: Path_, path: Path_, switch: str, number: int, tier: SwitchTier,
             what: str) -> Iterator[Finding | Clash]:
        sw = switches.get(switch)
        if sw is None:
            yield switch_path, switch, f"a {tier.value} switch declared in {_dotted(base)}.switches"
            return
        if sw.tier is not tier:
            yield switch_path, switch, f"a {tier.value} switch ({switch} is a {sw.tier.value})"
        if not 1 <= number <= sw.ports:
            yield path, number, f"a port of {switch} (1..{sw.ports})"
        elif (switch, number) in taken:
            owner, earlier = taken[switch, number]
            yield _clash(earlier, path, number,
                         f"a free port ({switch} port {number} is already cabled to {owner} at {OTHER})")
        else:
            taken[switch, number] = (what, path)

    cabled: dict[tuple[str, str], Path_] = {}
    for j, link in enumerate(fabric.node_links):
        lp = base + ("node_links", j)
        if (link.node, link.hca) in cabled:
            yield _clash(cabled[link.node, link.hca], lp + ("hca",), link.hca,
                         f"one cable per HCA ({link.node} {link.hca} is already cabled at {OTHER})")
        cabled.setdefault((link.node, link.hca), lp + ("hca",))
        yield from port(lp + ("switch",), lp + ("port",), link.switch, link.port, SwitchTier.leaf, f"{link.node}/{link.hca}")
    for j, link in enumerate(fabric.switch_links):
        lp = base + ("switch_links", j)
        yield from port(lp + ("leaf",), lp + ("leaf_port",), link.leaf, link.leaf_port, SwitchTier.leaf, link.spine)
        yield from port(lp + ("spine",), lp + ("spine_port",), link.spine, link.spine_port, SwitchTier.spine, link.leaf)
    if fabric.spines():
        uplinked = {link.leaf for link in fabric.switch_links}
        for j, leaf in enumerate(fabric.switches):
            if leaf.tier is SwitchTier.leaf and leaf.name not in uplinked:
                yield base + ("switches", j, "name"), leaf.name, "a leaf with uplinks to the spines (switch_links)"


def _fabric_settings(base: Path_, fabric: Fabric) -> Iterator[Finding | Clash]:
    for j, switch in enumerate(fabric.switches):
        if switch.tier is SwitchTier.spine and switch.rails:
            yield base + ("switches", j, "rails"), switch.rails, "no rails on a spine (a leaf serves rails)"
    if fabric.transport == "infiniband" and not fabric.subnet_managers:
        yield base + ("subnet_managers",), [], "at least one subnet manager on an InfiniBand fabric"
    if fabric.transport == "roce" and fabric.subnet_managers:
        yield (base + ("subnet_managers",), [sm.host for sm in fabric.subnet_managers],
               "no subnet manager on a RoCE fabric (OpenSM manages InfiniBand fabrics; podforge renders its "
               "opensm.conf only for those)")
    if fabric.transport == "roce" and fabric.roce_gid_index is None:
        yield base + ("roce_gid_index",), None, "the RoCE GID index (NCCL_IB_GID_INDEX, usually 3)"
    if fabric.transport == "infiniband" and fabric.mtu not in IB_MTUS:
        yield (base + ("mtu",), fabric.mtu, "an InfiniBand MTU: 256, 512, 1024, 2048 or 4096 (9000 is an Ethernet "
                                            "MTU, for RoCE)")
    for j, partition in enumerate(fabric.partitions):
        if partition.members not in ("ALL", fabric.purpose.value):
            yield (base + ("partitions", j, "members"), partition.members,
                   f"ALL or {fabric.purpose.value}: fabric {fabric.name} carries only {fabric.purpose.value} HCAs")
    yield from _duplicates([(base + ("subnet_managers", j, "host"), sm.host)
                            for j, sm in enumerate(fabric.subnet_managers)], "subnet manager host")
    yield from _duplicates([(base + ("partitions", j, "pkey"), hex(p.pkey)) for j, p in enumerate(fabric.partitions)],
                           "PKey")
    yield from _duplicates([(base + ("partitions", j, "name"), p.name) for j, p in enumerate(fabric.partitions)],
                           "partition name")
    for j, partition in enumerate(fabric.partitions):
        if not PKEY_MIN <= partition.pkey <= PKEY_MAX:
            yield base + ("partitions", j, "pkey"), hex(partition.pkey), "a PKey in 0x0001..0x7fff"
    index = fabric.limited_default_partition()
    if index is not None:
        yield (base + ("partitions", index, "membership"), "limited",
               "full: NCCL uses P_Key index 0 (NCCL_IB_PKEY's default), where OpenSM puts the default partition, "
               "and two limited members cannot talk")


@needs("fabrics", "nodes", "catalogue")
def _fabric_nodes(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """Cables start at a declared node's HCA of the right kind; every compute HCA and rail is cabled.

    Cables naming an unknown node are one finding per name, and stand for the node that name looks like
    (a typo is one line, not one per cable plus every HCA of that node left uncabled)."""
    nodes = {n.hostname: n for n in spec.nodes}
    for i, fabric in enumerate(spec.fabrics):
        base: Path_ = ("fabrics", i)
        switches = {s.name: s for s in fabric.switches}
        served = {r for s in fabric.leaves() for r in s.rails}
        cabled: set[tuple[str, str]] = set()
        rates: dict[int, str] = {}
        unknown: dict[str, str | None] = {}
        for j, link in enumerate(fabric.node_links):
            lp = base + ("node_links", j)
            node = nodes.get(link.node)
            if node is None:
                if link.node not in unknown:
                    unknown[link.node] = next(iter(get_close_matches(link.node, list(nodes), n=1)), None)
                    count = sum(1 for other in fabric.node_links if other.node == link.node)
                    guess = f"; did you mean {unknown[link.node]!r}?" if unknown[link.node] else ""
                    yield lp + ("node",), link.node, (f"a hostname declared in nodes ({count} cable(s) of "
                                                      f"{_dotted(base)}.node_links name it{guess})")
                if unknown[link.node] is not None:
                    cabled.add((str(unknown[link.node]), link.hca))
                continue
            cabled.add((link.node, link.hca))
            sku = catalogue.get(node.sku)
            if sku is None:
                continue  # the unknown SKU is reported on the node
            hcas = {h.device: h for h in (sku.compute_hcas if fabric.purpose is FabricPurpose.compute
                                          else sku.storage_hcas)}
            hca = hcas.get(link.hca)
            if hca is None:
                yield lp + ("hca",), link.hca, (f"a {fabric.purpose.value} HCA of {node.sku} "
                                                f"({', '.join(hcas) or 'it has none'})")
                continue
            rates.setdefault(hca.rate_gbps, f"{node.sku} {hca.device}")
            leaf = switches.get(link.switch)
            if (hca.rail is not None and leaf is not None and leaf.rails and hca.rail not in leaf.rails
                    and hca.rail in served):  # a rail no leaf serves is reported once, on the switches
                yield lp + ("switch",), link.switch, f"a leaf serving rail {hca.rail} ({link.hca}'s rail)"
        if any(rate != fabric.rate_gbps for rate in rates):
            yield base + ("rate_gbps",), fabric.rate_gbps, "the rate of the HCAs cabled into it (" + ", ".join(
                f"{rate} Gb/s: {example}" for rate, example in sorted(rates.items())) + ")"
        if fabric.purpose is FabricPurpose.compute:
            rails_needed: set[int] = set()
            for n, node in enumerate(spec.nodes):
                sku = catalogue.get(node.sku)
                if sku is None or NodeRole.gpu_node not in node.roles:
                    continue
                for hca in sku.compute_hcas:
                    if hca.rail is not None:
                        rails_needed.add(hca.rail)
                    if (node.hostname, hca.device) not in cabled:
                        yield ("nodes", n, "hostname"), node.hostname, (
                            f"compute HCA {hca.device} (rail {hca.rail}) cabled in {_dotted(base)}.node_links")
            for rail in sorted(rails_needed - served):
                yield base + ("switches",), f"rail {rail}", f"a leaf switch with rail {rail} in its rails"
        for j, sm in enumerate(fabric.subnet_managers):
            node = nodes.get(sm.host)
            if node is None:
                yield base + ("subnet_managers", j, "host"), sm.host, "a hostname declared in nodes"
            elif NodeRole.subnet_manager not in node.roles:
                yield base + ("subnet_managers", j, "host"), sm.host, "a node with the subnet_manager role"
            elif fabric.transport == "infiniband" and not any(link.node == sm.host for link in fabric.node_links):
                yield (base + ("subnet_managers", j, "host"), sm.host,
                       f"a node cabled into {fabric.name} (OpenSM manages the fabric through the host's own HCA)")


def _dotted(path: Path_) -> str:
    return ".".join(map(str, path))


@needs("fabrics", "nodes", "networks", "catalogue")
def _ipoib(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    """IPoIB networks (fabrics[].partitions[].ipoib_cidr): on an InfiniBand compute fabric, on a partition with an
    IPoIB group whose nodes are full members, room for every rail and every node's host number, a netdev for
    every compute HCA, and no overlap with another IPoIB network or a site network."""
    nets = spec.networks
    declared: list[tuple[Path_, IPv4Network]] = []
    reported: set[str] = set()  # a SKU without netdevs is one mistake, reported at its first node
    for i, fabric in enumerate(spec.fabrics):
        for j, partition in enumerate(fabric.partitions):
            if partition.ipoib_cidr is None:
                continue
            base: Path_ = ("fabrics", i, "partitions", j)
            cidr = partition.ipoib_cidr
            if fabric.purpose is not FabricPurpose.compute or fabric.transport != "infiniband":
                yield (base + ("ipoib_cidr",), str(cidr),
                       f"null: IPoIB addresses are rendered on InfiniBand compute fabrics only ({fabric.name} is "
                       f"{fabric.transport} {fabric.purpose.value})")
                continue
            if not partition.ipoib:
                yield base + ("ipoib",), False, "true on a partition with an ipoib_cidr (its IPoIB broadcast group)"
            if partition.membership == "limited" and fabric.limited_default_partition() != j:  # else reported there
                yield (base + ("membership",), "limited",
                       "full on a partition with an ipoib_cidr (two limited members cannot talk over IPoIB)")
            for path, other in declared:
                if cidr.overlaps(other):
                    yield _clash(path, base + ("ipoib_cidr",), str(cidr),
                                 f"an IPoIB network overlapping no other (overlaps {other} at {OTHER})")
                    break
            declared.append((base + ("ipoib_cidr",), cidr))
            for name in ("management", "bmc", "inband", "storage"):
                net = getattr(nets, name).cidr
                if cidr.overlaps(net):
                    yield (base + ("ipoib_cidr",), str(cidr),
                           f"a network overlapping none of the site's networks (overlaps networks.{name} {net})")
                    break
            rails = {h.rail for n in spec.nodes if n.hostname in fabric.cables_by_node and n.sku in catalogue
                     for h in catalogue[n.sku].compute_hcas if h.rail is not None}
            capacity = partition.rail_capacity()
            if partition.ipoib_rail_prefix < cidr.prefixlen or (rails and max(rails) >= capacity):
                yield (base + ("ipoib_rail_prefix",), partition.ipoib_rail_prefix,
                       f"a prefix from /{cidr.prefixlen} up that splits {cidr} into a subnet per rail "
                       f"({max(rails, default=0) + 1} rails)")
                continue
            last = (1 << (32 - partition.ipoib_rail_prefix)) - 2  # the rail subnet's broadcast address is not a host
            for n, node in enumerate(spec.nodes):
                if node.hostname not in fabric.cables_by_node:
                    continue
                host = host_number(node.management_address, nets.management.cidr)
                if node.management_address in nets.management.cidr and not 1 <= host <= last:  # else reported
                    yield (("nodes", n, "management_address"), str(node.management_address),
                           f"a host number 1..{last} on the management network: it is the node's host number on "
                           f"the /{partition.ipoib_rail_prefix} IPoIB rail subnets of {_dotted(base)}")
                sku = catalogue.get(node.sku)
                if sku is None or node.sku in reported:
                    continue
                unnamed = [h.device for h in sku.compute_hcas if h.netdev is None]
                if unnamed:
                    reported.add(node.sku)
                    yield (("nodes", n, "sku"), node.sku,
                           f"a SKU whose compute HCAs name their netdev (catalogue compute_hcas[].netdev; "
                           f"{', '.join(unnamed)} name none), for the IPoIB addresses of {_dotted(base)}")
                elif partition.pkey != DEFAULT_PKEY:
                    long = [f"{h.netdev}.{partition.ipoib_pkey():04x}" for h in sku.compute_hcas
                            if len(f"{h.netdev}.{partition.ipoib_pkey():04x}") > 15]
                    if long:
                        reported.add(node.sku)
                        yield (("nodes", n, "sku"), node.sku,
                               f"netdevs short enough for the IPoIB child interface names of {_dotted(base)} (at "
                               f"most 15 characters: {', '.join(long)})")


@needs("storage", "nodes")
def _storage(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    storage = spec.storage
    hosts = {n.hostname for n in spec.nodes}
    roles = {r for n in spec.nodes for r in n.roles}
    yield from _duplicates([(("storage", "arrays", i, "name"), a.name) for i, a in enumerate(storage.arrays)],
                           "array name")
    exports: dict[str, tuple[int, int]] = {}
    for i, array in enumerate(storage.arrays):
        yield from _duplicates([(("storage", "arrays", i, "exports", j, "name"), e.name)
                                for j, e in enumerate(array.exports)], "export name")
        for j, export in enumerate(array.exports):
            exports[f"{array.name}/{export.name}"] = (i, j)
        enc = array.encryption
        if enc.tls_min_version == "1.2" and not enc.tls_exception:
            yield (("storage", "arrays", i, "encryption", "tls_min_version"), "1.2",
                   "1.3, or a tls_exception saying why this array's KMIP client cannot do TLS 1.3")
        if enc.external_kmip and array.vendor not in KMIP_DRIVER_VENDORS:
            yield (("storage", "arrays", i, "encryption", "external_kmip"), True,
                   f"false for a {array.vendor.value} array: podforge configures external KMIP on "
                   f"{' and '.join(sorted(v.value for v in KMIP_DRIVER_VENDORS))} arrays only")
    consumed: set[str] = set()
    for k, mount in enumerate(storage.mounts):
        mp = ("storage", "mounts", k)
        if mount.export not in exports:
            yield mp + ("export",), mount.export, f"an export declared on an array ({', '.join(sorted(exports)) or 'none'})"
            consumed.update(get_close_matches(mount.export, list(exports), n=1))  # the export it misspells
        else:
            i, j = exports[mount.export]
            yield from _mount_port(mp, mount.options, storage.arrays[i].exports[j].protocol, mount.port_exception)
        consumed.add(mount.export)
        if (mount.role is None) == (not mount.hosts):
            yield mp, mount.export, "exactly one of role or hosts (who mounts it)"
        if mount.role is not None and mount.role not in roles:
            yield mp + ("role",), mount.role.value, "a role at least one node has"
        for h, host in enumerate(mount.hosts):
            if host not in hosts:
                yield mp + ("hosts", h), host, "a hostname declared in nodes"
    yield from _mount_points(spec)
    for name, (i, j) in exports.items():
        if name not in consumed:
            yield ("storage", "arrays", i, "exports", j, "name"), name.split("/")[1], (
                "an export some node mounts (add it to storage.mounts or remove it)")


@needs("storage", "fabrics", "nodes")
def _storage_protocols(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """Each export is a combination its vendor supports over the array's transport (components/spec/storage.py
    SUPPORT, with the vendor document per row); NVMe-oF exports name their transport, subsystem and label; mount
    options belong to the protocol (nvme connect options in nvme_options); an NVMe-oF namespace has one node."""
    storage = spec.storage
    fabrics = {f.name: f for f in spec.fabrics}
    default_fabric = next((f.name for f in spec.fabrics if f.purpose is FabricPurpose.storage), None)
    resolved: dict[str, tuple[StorageArray, Export]] = {}
    for i, array in enumerate(storage.arrays):
        base: Path_ = ("storage", "arrays", i)
        fabric_name = array.fabric or default_fabric
        if array.fabric is not None and (array.fabric not in fabrics
                                         or fabrics[array.fabric].purpose is not FabricPurpose.storage):
            storage_fabrics = sorted(n for n, f in fabrics.items() if f.purpose is FabricPurpose.storage)
            yield (base + ("fabric",), array.fabric,
                   f"a fabric of purpose storage declared in fabrics ({', '.join(storage_fabrics) or 'none'})")
            for export in array.exports:  # its transports follow from the fabric: not checked now
                resolved[f"{array.name}/{export.name}"] = (array, export)
            continue
        rdma: Transport | None = fabrics[fabric_name].transport if fabric_name in fabrics else None
        for j, export in enumerate(array.exports):
            resolved[f"{array.name}/{export.name}"] = (array, export)
            yield from _export_fields(base + ("exports", j), export)
            transport = _export_transport(export, rdma)
            if transport is None:
                if export.protocol is ExportProtocol.nfs_rdma or export.nvme_transport == "rdma":
                    field = "protocol" if export.protocol is ExportProtocol.nfs_rdma else "nvme_transport"
                    yield (base + ("exports", j, field), str(getattr(export, field)),
                           f"a TCP protocol (nfs, or nvme-of with nvme_transport tcp): array {array.name} is on no "
                           "storage fabric, so nothing carries RDMA to it (name one in storage.arrays.N.fabric)")
                continue
            rows = supported(array.vendor, array.model, export.protocol, transport)
            field = "nvme_transport" if export.protocol is ExportProtocol.nvme_of else "protocol"
            if not rows:
                yield (base + ("exports", j, field), str(getattr(export, field)),
                       _unsupported(array, export.protocol, transport, fabric_name))
                continue
            first = min((r.min_version for r in rows if r.min_version), key=version_tuple, default=None)
            if array.os_version and first and version_tuple(array.os_version) < version_tuple(first):
                yield (base + ("os_version",), array.os_version,
                       f"{rows[0].product} {first} or later for {_combination(export.protocol, transport)} on "
                       f"{array.model} (storage.arrays.{i}.exports.{j}; source: {rows[0].source})")
    consumers: dict[str, list[tuple[int, set[str]]]] = {}
    for k, mount in enumerate(storage.mounts):
        if mount.export not in resolved:
            continue  # reported by _storage
        array, export = resolved[mount.export]
        hosts = set(mount.hosts) if mount.role is None else {n.hostname for n in spec.nodes_with(mount.role)}
        consumers.setdefault(mount.export, []).append((k, hosts))
        yield from _mount_options(("storage", "mounts", k), mount.options, mount.nvme_options, array, export)
    for name, users in consumers.items():
        if resolved[name][1].protocol is not ExportProtocol.nvme_of:
            continue
        every = sorted(set().union(*(h for _, h in users)))
        if len(every) > 1:
            k, hosts = users[-1]
            mount = storage.mounts[k]
            field: Path_ = ("hosts",) if mount.role is None else ("role",)
            value = mount.hosts if mount.role is None else mount.role.value
            yield (("storage", "mounts", k) + field, value,
                   f"one node per NVMe-oF namespace: {name} holds a {resolved[name][1].filesystem} filesystem, which "
                   f"only one node may mount, and {len(every)} do ({', '.join(every)}); give each node its own "
                   "namespace")


def _export_transport(export: Export, rdma: Transport | None) -> Transport | None:
    """The transport an export travels over: TCP for nfs and NVMe/TCP, the fabric's RDMA otherwise (None: none)."""
    if export.protocol is ExportProtocol.nfs:
        return "tcp"
    if export.protocol is ExportProtocol.nvme_of:
        if export.nvme_transport is None:
            return None
        if export.nvme_transport == "tcp":
            return "tcp"
    return rdma


def _combination(protocol: ExportProtocol, transport: Transport) -> str:
    name = {ExportProtocol.nfs: "NFS", ExportProtocol.nfs_rdma: "NFS over RDMA", ExportProtocol.nvme_of: "NVMe-oF"}
    return f"{name[protocol]} over {'TCP' if transport == 'tcp' else 'RoCE' if transport == 'roce' else 'InfiniBand'}"


def _unsupported(array: StorageArray, protocol: ExportProtocol, transport: Transport, fabric: str | None) -> str:
    rows = [r for r in SUPPORT if r.vendor is array.vendor]
    where = f" (fabric {fabric})" if fabric and transport != "tcp" else ""
    if not rows:
        return f"a vendor in podforge's support matrix for {_combination(protocol, transport)} (none for {array.vendor.value})"
    models: dict[str, list[str]] = {}
    for row in rows:
        models.setdefault(_combination(row.protocol, row.transport), []).extend(row.models or ["any model"])
    offers = [f"{combination} ({'/'.join(dict.fromkeys(names))})" for combination, names in models.items()]
    sources = list(dict.fromkeys(r.source for r in rows if r.protocol is protocol) or
                   dict.fromkeys(r.source for r in rows))
    return (f"a combination {rows[0].product} supports: {array.model} does not serve "
            f"{_combination(protocol, transport)}{where}; it serves {', '.join(offers)} (source: {'; '.join(sources)})")


def _export_fields(path: Path_, export: Export) -> Iterator[Finding]:
    """NVMe-oF exports name their transport and subsystem; the NVMe-only fields stay off NFS exports."""
    if export.protocol is not ExportProtocol.nvme_of:
        for field in ("nvme_transport", "nqn", "label"):
            if getattr(export, field) is not None:
                yield path + (field,), getattr(export, field), "no value: only an nvme-of export takes it"
        return
    if export.nvme_transport is None:
        yield (path + ("nvme_transport",), None,
               "tcp or rdma: the NVMe-oF transport `nvme connect --transport` uses")
    if export.nqn is None:
        yield path + ("nqn",), None, "the NQN of the array's NVMe subsystem holding the namespace (nqn.YYYY-MM.domain:…)"
    elif not NQN_RE.match(export.nqn) or len(export.nqn.encode()) > NQN_MAX_BYTES:
        yield (path + ("nqn",), export.nqn,
               f"an NVMe Qualified Name nqn.YYYY-MM.reverse-domain:… of at most {NQN_MAX_BYTES} bytes")
    limit = LABEL_MAX[export.filesystem]
    if len(export.fs_label) > limit or not re.fullmatch(r"[A-Za-z0-9_.-]+", export.fs_label):
        yield (path + ("label",), export.fs_label,
               f"a {export.filesystem} label of at most {limit} letters, digits, '_', '.' or '-' (set label: when the "
               "export name is longer)")


_NFS_ONLY = ("vers", "nfsvers", "proto", "port", "nconnect", "rdma", "tcp", "udp", "max_connect", "sec")


def _mount_options(path: Path_, options: list[str], nvme_options: list[str], array: StorageArray,
                   export: Export) -> Iterator[Finding]:
    """Each option belongs to the export's protocol: NFS transport options match nfs / nfs-rdma, nvme connect options
    sit in nvme_options, and the NFS version is one the array serves over RDMA from its release on."""
    for o, option in enumerate(options):
        name, _, value = option.partition("=")
        name, value = name.strip(), value.strip()
        op = path + ("options", o)
        if export.protocol is ExportProtocol.nvme_of:
            if name in NVME_CONNECT_OPTIONS:
                yield (op, option, f"a mount option of the {export.filesystem} filesystem: {name} is an `nvme connect` "
                                   "option (nvme-cli), put it in nvme_options")
            elif name in _NFS_ONLY:
                yield op, option, f"a mount option of the {export.filesystem} filesystem, not an NFS one"
            continue
        rdma = export.protocol is ExportProtocol.nfs_rdma
        if (name == "proto" and value == "rdma") or name == "rdma":
            if not rdma:
                yield (op, option, f"no RDMA on {export.name}: it is an nfs (TCP) export (declare it nfs-rdma where "
                                   "the array serves NFS over RDMA)")
        elif (name == "proto" and value in ("tcp", "udp")) or name in ("tcp", "udp"):
            if rdma:
                yield op, option, f"proto=rdma or nothing: {export.name} is an nfs-rdma export (the role sets proto=rdma)"
        elif name == "nconnect" and not (value.isdigit() and 1 <= int(value) <= NFS_MAX_NCONNECT):
            yield op, option, f"nconnect=1..{NFS_MAX_NCONNECT} (nfs(5); Linux NFS_MAX_CONNECTIONS)"
        elif rdma and name in ("vers", "nfsvers") and array.vendor in NFS_RDMA_VERSIONS:
            versions = NFS_RDMA_VERSIONS[array.vendor]
            if value not in versions:
                yield (op, option, f"an NFS version {array.vendor.value} serves over RDMA ({', '.join(versions)}; "
                                   f"source: {SUPPORT[1].source})")
            elif array.os_version and version_tuple(array.os_version) < version_tuple(versions[value]):
                yield (op, option, f"an NFS version ONTAP {array.os_version} serves over RDMA: NFS {value} over RDMA "
                                   f"needs ONTAP {versions[value]} or later (source: {SUPPORT[1].source})")
    for o, option in enumerate(nvme_options):
        op = path + ("nvme_options", o)
        if export.protocol is not ExportProtocol.nvme_of:
            yield op, option, "no nvme_options: only an nvme-of export is connected with `nvme connect`"
            continue
        name, _, value = option.partition("=")
        if name not in NVME_CONNECT_OPTIONS or not value.isdigit() or int(value) < 1:
            yield (op, option, f"NAME=N with NAME one of {', '.join(NVME_CONNECT_OPTIONS)} (the `nvme connect` options a "
                               "discovery.conf line also takes)")


@needs("serving", "storage", "nodes")
def _served_export(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    if spec.serving is None:
        return
    export = spec.serving.model.export
    declared = {f"{a.name}/{e.name}" for a in spec.storage.arrays for e in a.exports}
    if export not in declared:
        yield ("serving", "model", "export"), export, "an export declared on an array"
        return
    mounts = [m for m in spec.storage.mounts if m.export == export]
    for node in spec.nodes_with(NodeRole.inference_local):
        if not any(node.hostname in m.hosts or (m.role is not None and m.role in node.roles) for m in mounts):
            yield ("serving", "model", "export"), export, f"an export mounted on every serving node ({node.hostname} lacks it)"
            return


def _mount_port(path: Path_, options: list[str], protocol: ExportProtocol,
                exception: str | None) -> Iterator[Finding]:
    """A `port=` mount option is the protocol's port unless the mount says why not (NVMe-oF takes no port=)."""
    standard = {ExportProtocol.nfs: NFS, ExportProtocol.nfs_rdma: NFS_RDMA}.get(protocol)
    for o, option in enumerate(options):
        name, _, value = option.partition("=")
        if standard is not None and name.strip() == "port" and value.strip().isdigit():
            yield from _nonstandard_port(path + ("options", o), option, int(value), standard, exception,
                                         "the mount's port_exception")


def _mount_points(spec: ClusterSpec) -> Iterator[Clash]:
    """Two mounts may share a mount point only on disjoint sets of hosts."""
    claimed: dict[tuple[str, str], int] = {}
    for k, mount in enumerate(spec.storage.mounts):
        hosts = set(mount.hosts) if mount.role is None else {n.hostname for n in spec.nodes_with(mount.role)}
        clash = sorted({claimed[h, mount.mount_point] for h in hosts if (h, mount.mount_point) in claimed})
        if clash:
            yield _clash(("storage", "mounts", clash[0], "mount_point"), ("storage", "mounts", k, "mount_point"),
                         mount.mount_point, f"a mount point free on these hosts ({OTHER} mounts there too)")
        for host in hosts:
            claimed.setdefault((host, mount.mount_point), k)


@needs("keys", "storage")
def _keys(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    vault = spec.keys.vault
    kmip = vault.kmip
    arrays = {a.name: a for a in spec.storage.arrays}
    base: Path_ = ("keys", "vault", "kmip")
    if vault.tls_min_version == "1.2":  # components/vault/server_config.py renders no TLS 1.2 listener
        yield (("keys", "vault", "tls_min_version"), "1.2",
               "1.3: the Vault API is podforge's own endpoint, no peer of it needs TLS 1.2 (only the KMIP listener and "
               "an array's KMIP client may declare a tls_exception)")
    vault_port = url_port(vault.address)
    if vault_port is not None:
        yield from _nonstandard_port(("keys", "vault", "address"), vault.address, vault_port, VAULT,
                                     vault.port_exception, "keys.vault.port_exception")
    for k, address in enumerate(kmip.listen_addrs):
        yield from _nonstandard_port(base + ("listen_addrs", k), address, int(address.rsplit(":", 1)[1]), KMIP,
                                     kmip.port_exception, "keys.vault.kmip.port_exception")
    if kmip.tls_min_version == "tls12" and not kmip.tls_exception:
        yield (base + ("tls_min_version",), "tls12", "tls13, or a tls_exception naming the peer that cannot do TLS 1.3")
    yield from _kmip_clients(spec, base)
    yield from _duplicates([(("keys", "vault", "kmip", "scopes", i, "scope"), s.scope)
                            for i, s in enumerate(kmip.scopes)], "KMIP scope")
    yield from _duplicates([(("keys", "vault", "kmip", "scopes", i, "array"), s.array)
                            for i, s in enumerate(kmip.scopes)], "array (one KMIP scope per array)")
    for i, scope in enumerate(kmip.scopes):
        if scope.array not in arrays:
            yield ("keys", "vault", "kmip", "scopes", i, "array"), scope.array, "an array declared in storage.arrays"
        yield from _duplicates([(base + ("scopes", i, "operations", o), op) for o, op in enumerate(scope.operations)],
                               "operation: each one once")
    scoped = {s.array for s in kmip.scopes}
    for i, array in enumerate(spec.storage.arrays):
        if array.encryption.external_kmip and array.name not in scoped:
            yield (("storage", "arrays", i, "name"), array.name,
                   "a KMIP scope for this array in keys.vault.kmip.scopes (it encrypts through external KMIP)")
    yield from _duplicates([(("keys", "vault", "transit", "keys", i, "name"), k.name)
                            for i, k in enumerate(vault.transit.keys)], "transit key name")
    for i, key in enumerate(vault.transit.keys):
        if seconds(key.rotation_period) < 3600:
            yield (("keys", "vault", "transit", "keys", i, "rotation_period"), key.rotation_period,
                   "at least 1h (Vault's minimum auto_rotate_period)")


def _kmip_clients(spec: ClusterSpec, base: Path_) -> Iterator[Finding | Clash]:
    """The arrays that encrypt through Vault's KMIP listener can reach it: by name, within their vendor's limit
    of key servers, and over a TLS version both ends accept."""
    kmip = spec.keys.vault.kmip
    names, field = (kmip.server_hostnames, "server_hostnames") if kmip.server_hostnames else (kmip.server_ips,
                                                                                               "server_ips")
    clients = [(i, a) for i, a in enumerate(spec.storage.arrays)
               if a.encryption.external_kmip and a.vendor in KMIP_DRIVER_VENDORS]
    if clients and not names:
        yield (base + ("server_hostnames",), [], f"the names the arrays reach the KMIP listener by, in server_hostnames "
                                                 f"or server_ips (storage.arrays.{clients[0][0]} encrypts through it)")
    for i, array in clients:
        limit = MAX_KMIP_SERVERS.get(array.vendor)
        if limit is not None and len(names) > limit:
            yield (base + (field,), names, f"at most {limit} names: a {array.vendor.value} array takes up to {limit} "
                                           f"KMIP servers (storage.arrays.{i} encrypts through them)")
            break
    for i, array in clients:
        if array.encryption.tls_min_version == "1.2" and array.encryption.tls_exception and \
                kmip.tls_min_version == "tls13":
            expected = (f"one TLS version both ends of KMIP accept: storage.arrays.{i}'s client needs TLS 1.2 and the "
                        f"listener accepts only TLS 1.3 ({OTHER}); set keys.vault.kmip.tls_min_version to tls12 with a "
                        "tls_exception, or the array to 1.3")
            yield Clash((base + ("tls_min_version",), "tls13", expected),
                        (("storage", "arrays", i, "encryption", "tls_min_version"), "1.2", expected))


@needs("software")
def _software(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    sw = spec.software
    names = {s.name for s in sw.sources}
    yield from _duplicates([(("software", "sources", i, "name"), s.name) for i, s in enumerate(sw.sources)],
                           "source name")
    for i, source in enumerate(sw.sources):
        if source.kind == "vendor" and source.url.startswith("http://"):
            yield (("software", "sources", i, "url"), source.url,
                   "an https:// URL for a vendor repository (fetched from outside the site: TLS required); only the "
                   "site's own mirror (kind: mirror) may be http://")
    unpinned: set[str] = set()
    for part in ("driver", "fabric_manager", "doca_ofed", "nccl", "container_toolkit", "dcgm", "dcgm_exporter"):
        pin = getattr(sw, part)
        if pin is None:
            continue
        if not pinned_version(pin.version):
            unpinned.add(part)
            yield (("software", part, "version"), pin.version,
                   "a pinned version, as APT prints it: digits first (e.g. 535.183.06, 1:4.4.1-1), not a tag such as "
                   "latest or v1.2, a range or a wildcard")
        if pin.source not in names:
            yield (("software", part, "source"), pin.source,
                   f"a source declared in software.sources ({', '.join(sorted(names))})")
    if not unpinned & {"driver", "fabric_manager"} and sw.fabric_manager.version != sw.driver.version:
        yield (("software", "fabric_manager", "version"), sw.fabric_manager.version,
               f"the driver's version {sw.driver.version} (the fabric manager refuses to start on a mismatch)")
    if "driver" not in unpinned and not sw.driver.version.startswith(sw.driver.branch + "."):
        yield ("software", "driver", "version"), sw.driver.version, f"a version of branch {sw.driver.branch}"
    if "dcgm" not in unpinned and sw.dcgm_exporter is not None and dcgm_major(sw.dcgm.version) < 4:
        yield (("software", "dcgm", "version"), sw.dcgm.version,
               "DCGM 4 or later when software.dcgm_exporter is pinned (datacenter-gpu-manager-exporter depends on "
               "datacenter-gpu-manager-4-core)")


@needs("software", "nodes")
def _software_per_sku(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """Firmware versions and multi-node floors are per SKU: each key names a SKU a GPU node of this spec runs."""
    sw = spec.software
    gpu_skus = sorted({n.sku for n in spec.nodes if NodeRole.gpu_node in n.roles})
    keyed = [(("software", "firmware"), sku, "firmware versions") for sku in sw.firmware]
    keyed += [(("software", "nccl_tests", "multinode_busbw_floor_gbs"), sku, "a multi-node floor")
              for sku in sw.nccl_tests.multinode_busbw_floor_gbs]
    for path, sku, what in keyed:
        if sku not in gpu_skus:
            yield (path + (sku,), sku, f"the SKU of a GPU node of this spec ({', '.join(gpu_skus) or 'none'}) for "
                                       f"{what} to apply to")


@needs("access")
def _access(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    access = spec.access
    for role in AccessRole:
        if role not in access.roles:
            yield ("access", "roles"), role.value, "all six roles of the access model declared (this one is missing)"
    for role, grant in access.roles.items():
        for j, perm in enumerate(grant.permissions):
            pp = ("access", "roles", role.value, "permissions", j)
            if "*" in perm.action:
                yield pp + ("action",), perm.action, "one named action on an API endpoint, never '*'"
            elif not re.fullmatch(ACTION_PATTERN, perm.action):
                yield pp + ("action",), perm.action, "an action AREA:VERB on an API endpoint (e.g. inference:invoke)"
            for r, pattern in enumerate(perm.resources):
                if "*" in pattern[:-1] or pattern == "*":
                    yield pp + ("resources", r), pattern, "a name, or a prefix ending in one '*' (e.g. dataset_2023*)"
    yield from _duplicates([(("access", "administrators", i, "name"), a.name)
                            for i, a in enumerate(access.administrators)], "administrator name")
    for i, admin in enumerate(access.administrators):
        methods = set(admin.auth_methods)
        if len(methods) < 2 or not methods & SECOND_FACTORS:
            yield (("access", "administrators", i, "auth_methods"), [m.value for m in admin.auth_methods],
                   "two authentication factors, one of them totp, webauthn, smartcard, ssh_key or client_cert")
        for r, role in enumerate(admin.roles):
            if role not in access.roles:
                yield ("access", "administrators", i, "roles", r), role.value, "a role declared in access.roles"


@needs("rollout")
def _rollout(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    rollout = spec.rollout
    if rollout.wave_size > rollout.max_unavailable:
        yield (("rollout", "wave_size"), rollout.wave_size,
               f"at most max_unavailable ({rollout.max_unavailable}): a wave takes its nodes out of service")


@needs("retention")
def _retention(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    ret = spec.retention
    if ret.important_data_days < ret.data_days:
        yield (("retention", "important_data_days"), ret.important_data_days,
               f"at least data_days ({ret.data_days})")


def serving_nodes(spec: ClusterSpec) -> list[Node]:
    """The nodes that run the serving section's engine: the inference_local nodes (the local deployment), else
    the GPU nodes that are Kubernetes workers (gpu_node and kube_node: the inference stack on Kubernetes)."""
    local = spec.nodes_with(NodeRole.inference_local)
    if local:
        return local
    return [n for n in spec.nodes if NodeRole.gpu_node in n.roles and NodeRole.kube_node in n.roles]


@needs("gateway")
def _gateway_audit_topic(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """An audit topic needs brokers to produce to."""
    if spec.gateway.audit_topic and not spec.gateway.audit_bootstrap_servers:
        yield (("gateway", "audit_bootstrap_servers"), None,
               "the Kafka brokers (HOST:PORT) when gateway.audit_topic is set")


@needs("gateway")
def _gateway_on_kubernetes_jwks(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """On Kubernetes (`gateway.image`) the network policies let the gateway reach only the engine, DNS and the
    audit brokers, so the issuer's keys must come with the project (a file in the pod's ConfigMap)."""
    oidc = spec.gateway.oidc
    if spec.gateway.image is not None and oidc is not None and oidc.jwks.startswith("https://"):
        yield (("gateway", "oidc", "jwks"), oidc.jwks,
               "a JWKS file in the project when gateway.image is set (the gateway pod may not reach the issuer)")


@needs("serving")
def _release(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    """Blue-green needs two releases: a candidate named like the active one could not be told apart by its label."""
    release = spec.serving.release if spec.serving is not None else None
    if release is not None and release.candidate is not None and release.candidate.name == release.active.name:
        yield _clash(("serving", "release", "active", "name"), ("serving", "release", "candidate", "name"),
                     release.candidate.name, f"a release name other than the active one's ({OTHER})")


@needs("serving", "nodes", "catalogue")
def _serving(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    serving = spec.serving
    if serving is None:
        return
    if serving.max_model_len > serving.model.max_position_embeddings:
        yield (("serving", "max_model_len"), serving.max_model_len,
               f"at most the model's max_position_embeddings ({serving.model.max_position_embeddings})")
    servers = serving_nodes(spec)
    if not servers:
        yield (("serving",), serving.engine,
               "a node to run it: one with the inference_local role, or GPU nodes with the kube_node role (Kubernetes)")

    gpus = [catalogue[n.sku].gpu.count for n in servers if n.sku in catalogue]
    if gpus and serving.tensor_parallel_size > min(gpus):
        yield (("serving", "tensor_parallel_size"), serving.tensor_parallel_size,
               f"at most the GPUs of one serving node ({min(gpus)})")


@needs("serving", "nodes")
def _vault_auth(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """Vault's Kubernetes auth for cert-manager (on a site with Kubernetes nodes) needs an API server to review
    tokens with, and a CA file in the project."""
    if spec.serving is None:
        return
    auth = spec.serving.platform.vault_auth
    base = ("serving", "platform", "vault_auth")
    kubernetes = spec.nodes_with(NodeRole.kube_node)
    if kubernetes and auth.kubernetes_host is None and not spec.nodes_with(NodeRole.kube_control_plane):
        yield (base + ("kubernetes_host",), None,
               "the API server's https:// URL (no node has the kube_control_plane role to default to)")
    if auth.ca_file is not None and _outside_project(auth.ca_file):
        yield (base + ("ca_file",), auth.ca_file,
               "a file inside the project: a path relative to it that does not leave it with '..'")


@needs("serving", "nodes", "software")
def _serving_port(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding | Clash]:
    """The engine's port is free on its nodes: not sshd's, not one of the dcgm role's services on a gpu_node."""
    serving = spec.serving
    if serving is None:
        return
    servers = spec.nodes_with(NodeRole.inference_local)
    taken = {port: what for port, what in GPU_NODE_PORTS.items()
             if port != 9400 or spec.software.dcgm_exporter is not None}
    if serving.port in taken and any(NodeRole.gpu_node in n.roles for n in servers):
        yield (("serving", "port"), serving.port,
               f"a port free on the serving nodes: {taken[serving.port]} listens on {serving.port} on every gpu_node")
    for n, node in enumerate(spec.nodes):
        if node in servers and node.ssh.port == serving.port:
            yield _clash(("nodes", n, "ssh", "port"), ("serving", "port"), serving.port,
                         f"a port free on the serving nodes (sshd listens there: {OTHER})")
            return


# The capacity planner's rule on the `serving` section (components/capacity/check.py) registers itself with
# `needs` above; importing it here makes every loader of the spec run it, the Pulumi program included.
import components.capacity.check  # noqa: E402,F401
