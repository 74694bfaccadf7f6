"""Cross-references a schema cannot express: duplicates, subnets, cabling, exports, versions, access.

Each check returns findings as (field path, value, expectation); the loader adds file and line.
Pure functions of a parsed ClusterSpec: no I/O, no servers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from ipaddress import IPv4Address, IPv4Network, ip_address

from components.spec.access import ACTION_PATTERN, SECOND_FACTORS, AccessRole
from components.spec.base import seconds
from components.spec.catalogue import builtin_catalogue
from components.spec.catalogue_models import Sku
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric, FabricPurpose, SwitchTier
from components.spec.nodes import NodeRole
from components.spec.software import dcgm_major

Path_ = tuple[str | int, ...]
Finding = tuple[Path_, object, str]
PKEY_MIN, PKEY_MAX = 0x0001, 0x7FFF


Rule = Callable[[ClusterSpec, dict[str, Sku]], Iterator[Finding]]
RULES: list[tuple[Rule, frozenset[str]]] = []


def needs(*sections: str) -> Callable[[Rule], Rule]:
    """Register a rule with the spec sections it reads; it runs only when all of them passed the schema."""
    def register(rule: Rule) -> Rule:
        RULES.append((rule, frozenset(sections)))
        return rule
    return register


def check(spec: ClusterSpec, parsed: Collection[str] | None = None) -> list[Finding]:
    """Every cross-reference problem of the spec, in a stable order.

    `parsed` names the top-level sections that passed the schema (all of them when None); a rule that
    reads any other section is skipped, so a typo in one section does not hide a duplicate in another.
    """
    ready = set(ClusterSpec.model_fields) if parsed is None else set(parsed)
    catalogue = {**builtin_catalogue(), **spec.catalogue} if "catalogue" in ready else builtin_catalogue()
    findings: list[Finding] = []
    for rule, sections in RULES:
        if sections <= ready:
            findings.extend(rule(spec, catalogue))
    return findings


def _duplicates(values: list[tuple[tuple[str | int, ...], object]], what: str) -> Iterator[Finding]:
    seen: dict[object, tuple[str | int, ...]] = {}
    for path, value in values:
        if value in seen:
            first = ".".join(map(str, seen[value]))
            yield path, value, f"a unique {what} (already used at {first})"
        else:
            seen[value] = path


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


def sku_problems(base: tuple[str | int, ...], sku: Sku) -> Iterator[Finding]:
    """Counts and indices inside one catalogue entry that contradict each other."""
    rails = [h.rail for h in sku.compute_hcas]
    if sku.compute_hcas and len(sku.compute_hcas) != sku.gpu.count:
        yield base + ("compute_hcas",), len(sku.compute_hcas), (
            f"one compute HCA per GPU ({sku.gpu.count}) in a rail-optimized SKU")
    if rails != list(range(len(rails))):
        yield base + ("compute_hcas",), rails, f"rails numbered 0..{len(rails) - 1}, once each, in rail order"
    if sku.nvswitch_count and not sku.gpu.nvlink:
        yield base + ("nvswitch_count",), sku.nvswitch_count, "0 for a SKU whose GPUs have no NVLink"
    seen: set[str] = set()
    for kind in ("compute_hcas", "storage_hcas"):
        for k, hca in enumerate(getattr(sku, kind)):
            if hca.device in seen:
                yield base + (kind, k, "device"), hca.device, "each HCA device listed once (compute or storage)"
            seen.add(hca.device)
            if hca.gpu is not None and hca.gpu >= sku.gpu.count:
                yield base + (kind, k, "gpu"), hca.gpu, f"a GPU index of this SKU (0..{sku.gpu.count - 1})"
            if hca.numa_node is not None and hca.numa_node >= sku.numa_nodes:
                yield base + (kind, k, "numa_node"), hca.numa_node, f"a NUMA node of this SKU (0..{sku.numa_nodes - 1})"
            if kind == "storage_hcas" and hca.rail is not None:
                yield base + (kind, k, "rail"), hca.rail, "no rail on a storage HCA (rails are compute HCAs)"


@needs("nodes", "catalogue")
def _nodes(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    yield from _duplicates([(("nodes", i, "hostname"), n.hostname) for i, n in enumerate(spec.nodes)], "hostname")
    yield from _duplicates([(("nodes", i, "serial"), n.serial) for i, n in enumerate(spec.nodes)], "serial")
    yield from _duplicates([(("nodes", i, "bmc"), n.bmc) for i, n in enumerate(spec.nodes)], "BMC endpoint")
    for i, node in enumerate(spec.nodes):
        if node.sku not in catalogue:
            yield ("nodes", i, "sku"), node.sku, f"a catalogue SKU ({', '.join(sorted(catalogue))})"
        for role, count in Counter(node.roles).items():
            if count > 1:
                yield ("nodes", i, "roles"), role.value, "each role once"
        known = node.ssh.known_hosts
        if known is not None and (known.startswith("/") or ".." in known.split("/")):
            yield ("nodes", i, "ssh", "known_hosts"), known, "a path inside the project (relative, no '..')"


@needs("networks", "nodes")
def _addresses(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
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
        by_node = [(p, v) for p, v in every if p[2] == "management_address"]
        yield from _duplicates(by_node, "address")
        owner = {v: p[1] for p, v in by_node}
        for path, value in every:
            if path[2] != "management_address" and value in owner and owner[value] != path[1]:
                yield path, value, f"an address not used by another node (nodes.{owner[value]} has it)"


@needs("networks", "nodes", "storage")
def _array_addresses(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    taken = {str(getattr(n, f)): i for i, n in enumerate(spec.nodes)
             for f in ("management_address", "inband_address", "storage_address") if getattr(n, f) is not None}
    for i, array in enumerate(spec.storage.arrays):
        for k, text in enumerate(array.data_addresses):
            path = ("storage", "arrays", i, "data_addresses", k)
            addr = _as_ip(text)
            if addr is None:
                continue
            yield from _inside(path, addr, spec.networks.storage.cidr, "storage")
            if text in taken:
                yield path, text, f"an address no node uses (nodes.{taken[text]} has it)"


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
def _fabric_names(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    yield from _duplicates([(("fabrics", i, "name"), f.name) for i, f in enumerate(spec.fabrics)], "fabric name")
    # Switch names become resource names, so they are unique across fabrics, not only within one.
    yield from _duplicates([(("fabrics", i, "switches", j, "name"), s.name)
                            for i, f in enumerate(spec.fabrics) for j, s in enumerate(f.switches)], "switch name")
    purposes = Counter(f.purpose for f in spec.fabrics)
    for i, fabric in enumerate(spec.fabrics):
        if purposes[fabric.purpose] > 1:
            yield ("fabrics", i, "purpose"), fabric.purpose.value, "one fabric per purpose (compute, storage)"
        yield from _fabric_ports(("fabrics", i), fabric)
        yield from _fabric_settings(("fabrics", i), fabric)


def _fabric_ports(base: Path_, fabric: Fabric) -> Iterator[Finding]:
    """Every cable ends on a port that exists, on a switch of the right tier, and no port takes two cables."""
    switches = {s.name: s for s in fabric.switches}
    taken: dict[tuple[str, int], str] = {}

    def port(switch_path: Path_, path: Path_, switch: str, number: int, tier: SwitchTier, what: str) -> Iterator[Finding]:
        sw = switches.get(switch)
        if sw is None:
            yield switch_path, switch, f"a {tier.value} switch declared in {_dotted(base)}.switches"
            return
        if sw.tier is not tier:
            yield switch_path, switch, f"a {tier.value} switch ({switch} is a {sw.tier.value})"
        if not 1 <= number <= sw.ports:
            yield path, number, f"a port of {switch} (1..{sw.ports})"
        elif (switch, number) in taken:
            yield path, number, f"a free port ({switch} port {number} is already cabled to {taken[switch, number]})"
        else:
            taken[switch, number] = what

    cabled: dict[tuple[str, str], int] = {}
    for j, link in enumerate(fabric.node_links):
        lp = base + ("node_links", j)
        if (link.node, link.hca) in cabled:
            yield lp + ("hca",), link.hca, f"one cable per HCA (already cabled at node_links.{cabled[link.node, link.hca]})"
        cabled.setdefault((link.node, link.hca), j)
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


def _fabric_settings(base: Path_, fabric: Fabric) -> Iterator[Finding]:
    for j, switch in enumerate(fabric.switches):
        if switch.tier is SwitchTier.spine and switch.rails:
            yield base + ("switches", j, "rails"), switch.rails, "no rails on a spine (a leaf serves rails)"
    if fabric.transport == "infiniband" and not fabric.subnet_managers:
        yield base + ("subnet_managers",), [], "at least one subnet manager on an InfiniBand fabric"
    if fabric.transport == "roce" and fabric.roce_gid_index is None:
        yield base + ("roce_gid_index",), None, "the RoCE GID index (NCCL_IB_GID_INDEX, usually 3)"
    yield from _duplicates([(base + ("subnet_managers", j, "host"), sm.host)
                            for j, sm in enumerate(fabric.subnet_managers)], "subnet manager host")
    yield from _duplicates([(base + ("partitions", j, "pkey"), hex(p.pkey)) for j, p in enumerate(fabric.partitions)],
                           "PKey")
    yield from _duplicates([(base + ("partitions", j, "name"), p.name) for j, p in enumerate(fabric.partitions)],
                           "partition name")
    for j, partition in enumerate(fabric.partitions):
        if not PKEY_MIN <= partition.pkey <= PKEY_MAX:
            yield base + ("partitions", j, "pkey"), hex(partition.pkey), "a PKey in 0x0001..0x7fff"


@needs("fabrics", "nodes", "catalogue")
def _fabric_nodes(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    """Cables start at a declared node's HCA of the right kind; every compute HCA and rail is cabled."""
    nodes = {n.hostname: n for n in spec.nodes}
    for i, fabric in enumerate(spec.fabrics):
        base: Path_ = ("fabrics", i)
        switches = {s.name: s for s in fabric.switches}
        cabled: set[tuple[str, str]] = set()
        rates: dict[int, str] = {}
        for j, link in enumerate(fabric.node_links):
            lp = base + ("node_links", j)
            node = nodes.get(link.node)
            if node is None:
                yield lp + ("node",), link.node, "a hostname declared in nodes"
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
            if hca.rail is not None and leaf is not None and leaf.rails and hca.rail not in leaf.rails:
                yield lp + ("switch",), link.switch, f"a leaf serving rail {hca.rail} ({link.hca}'s rail)"
        if any(rate != fabric.rate_gbps for rate in rates):
            yield base + ("rate_gbps",), fabric.rate_gbps, "the rate of the HCAs cabled into it (" + ", ".join(
                f"{rate} Gb/s: {example}" for rate, example in sorted(rates.items())) + ")"
        if fabric.purpose is FabricPurpose.compute:
            served = {r for s in fabric.leaves() for r in s.rails}
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


@needs("storage", "nodes")
def _storage(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
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
    consumed: set[str] = set()
    for k, mount in enumerate(storage.mounts):
        mp = ("storage", "mounts", k)
        if mount.export not in exports:
            yield mp + ("export",), mount.export, f"an export declared on an array ({', '.join(sorted(exports)) or 'none'})"
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


def _mount_points(spec: ClusterSpec) -> Iterator[Finding]:
    """Two mounts may share a mount point only on disjoint sets of hosts."""
    claimed: dict[tuple[str, str], int] = {}
    for k, mount in enumerate(spec.storage.mounts):
        hosts = set(mount.hosts) if mount.role is None else {n.hostname for n in spec.nodes_with(mount.role)}
        clash = sorted({claimed[h, mount.mount_point] for h in hosts if (h, mount.mount_point) in claimed})
        if clash:
            yield (("storage", "mounts", k, "mount_point"), mount.mount_point,
                   f"a mount point free on these hosts (storage.mounts.{clash[0]} mounts there too)")
        for host in hosts:
            claimed.setdefault((host, mount.mount_point), k)


@needs("keys", "storage")
def _keys(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    vault = spec.keys.vault
    kmip = vault.kmip
    arrays = {a.name: a for a in spec.storage.arrays}
    if kmip.tls_min_version == "tls12" and not kmip.tls_exception:
        yield (("keys", "vault", "kmip", "tls_min_version"), "tls12",
               "tls13, or a tls_exception naming the peer that cannot do TLS 1.3")
    yield from _duplicates([(("keys", "vault", "kmip", "scopes", i, "scope"), s.scope)
                            for i, s in enumerate(kmip.scopes)], "KMIP scope")
    yield from _duplicates([(("keys", "vault", "kmip", "scopes", i, "array"), s.array)
                            for i, s in enumerate(kmip.scopes)], "array (one KMIP scope per array)")
    for i, scope in enumerate(kmip.scopes):
        if scope.array not in arrays:
            yield ("keys", "vault", "kmip", "scopes", i, "array"), scope.array, "an array declared in storage.arrays"
        for op, count in Counter(scope.operations).items():
            if count > 1:
                yield ("keys", "vault", "kmip", "scopes", i, "operations"), op, "each operation once"
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


@needs("software")
def _software(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    sw = spec.software
    names = {s.name for s in sw.sources}
    yield from _duplicates([(("software", "sources", i, "name"), s.name) for i, s in enumerate(sw.sources)],
                           "source name")
    if sw.fabric_manager.version != sw.driver.version:
        yield (("software", "fabric_manager", "version"), sw.fabric_manager.version,
               f"the driver's version {sw.driver.version} (the fabric manager refuses to start on a mismatch)")
    if not sw.driver.version.startswith(sw.driver.branch + "."):
        yield ("software", "driver", "version"), sw.driver.version, f"a version of branch {sw.driver.branch}"
    for part in ("driver", "fabric_manager", "doca_ofed", "nccl", "nccl_tests", "container_toolkit", "dcgm",
                 "dcgm_exporter"):
        pin = getattr(sw, part)
        if pin is not None and pin.source not in names:
            yield (("software", part, "source"), pin.source,
                   f"a source declared in software.sources ({', '.join(sorted(names))})")
    if sw.dcgm_exporter is not None and dcgm_major(sw.dcgm.version) < 4:
        yield (("software", "dcgm", "version"), sw.dcgm.version,
               "DCGM 4 or later when software.dcgm_exporter is pinned (datacenter-gpu-manager-exporter depends on "
               "datacenter-gpu-manager-4-core)")


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


@needs("serving", "nodes", "catalogue")
def _serving(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    serving = spec.serving
    if serving is None:
        return
    if serving.max_model_len > serving.model.max_position_embeddings:
        yield (("serving", "max_model_len"), serving.max_model_len,
               f"at most the model's max_position_embeddings ({serving.model.max_position_embeddings})")
    servers = spec.nodes_with(NodeRole.inference_local)
    if not servers:
        yield ("serving",), serving.engine, "a node with the inference_local role to run it"
    gpus = [catalogue[n.sku].gpu.count for n in servers if n.sku in catalogue]
    if gpus and serving.tensor_parallel_size > min(gpus):
        yield (("serving", "tensor_parallel_size"), serving.tensor_parallel_size,
               f"at most the GPUs of one serving node ({min(gpus)})")
