"""Cross-references a schema cannot express: duplicates, subnets, cabling, exports, versions, access.

Each check returns findings as (field path, value, expectation); the loader adds file and line.
Pure functions of a parsed ClusterSpec: no I/O, no servers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network, ip_address

from components.spec.access import SECOND_FACTORS, AccessRole
from components.spec.base import seconds
from components.spec.catalogue import builtin_catalogue
from components.spec.catalogue_models import Sku
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric, FabricPurpose, SwitchTier
from components.spec.nodes import NodeRole

Finding = tuple[tuple[str | int, ...], object, str]
PKEY_MIN, PKEY_MAX = 0x0001, 0x7FFF


def check(spec: ClusterSpec) -> list[Finding]:
    """Every cross-reference problem of the spec, in a stable order."""
    catalogue = {**builtin_catalogue(), **spec.catalogue}
    findings: list[Finding] = []
    for rule in (_catalogue_entries, _nodes, _addresses, _fabrics, _storage, _keys, _software, _access,
                 _operations):
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


def _catalogue_entries(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    builtin = builtin_catalogue()
    for name, sku in spec.catalogue.items():
        base = ("catalogue", name)
        if name in builtin:
            yield base, name, "a new SKU name (this one is built in; use it as it is)"
        if sku.name != name:
            yield base + ("name",), sku.name, f"the entry's own key {name!r}"
        yield from _sku_counts(base, sku)


def _sku_counts(base: tuple[str | int, ...], sku: Sku) -> Iterator[Finding]:
    rails = [h.rail for h in sku.compute_hcas]
    if sku.compute_hcas and len(sku.compute_hcas) != sku.gpu.count:
        yield base + ("compute_hcas",), len(sku.compute_hcas), (
            f"one compute HCA per GPU ({sku.gpu.count}) in a rail-optimized SKU")
    if rails and sorted(r for r in rails if r is not None) != list(range(len(rails))):
        yield base + ("compute_hcas",), rails, f"rails numbered 0..{len(rails) - 1}, once each, in rail order"
    if sku.nvswitch_count and not sku.gpu.nvlink:
        yield base + ("nvswitch_count",), sku.nvswitch_count, "0 for a SKU whose GPUs have no NVLink"
    devices = [h.device for h in sku.compute_hcas + sku.storage_hcas]
    for device, count in Counter(devices).items():
        if count > 1:
            yield base + ("storage_hcas",), device, "each HCA device listed once (compute or storage)"


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


def _addresses(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    nets = spec.networks
    for name in ("management", "bmc", "inband", "storage"):
        net = getattr(nets, name)
        if net.gateway is not None and net.gateway not in net.cidr:
            yield ("networks", name, "gateway"), str(net.gateway), f"an address inside {net.cidr}"
    every: list[tuple[tuple[str | int, ...], object]] = []
    for i, node in enumerate(spec.nodes):
        for field, net in (("management_address", nets.management.cidr), ("inband_address", nets.inband.cidr),
                           ("storage_address", nets.storage.cidr)):
            addr = getattr(node, field)
            if addr is None:
                continue
            every.append((("nodes", i, field), str(addr)))
            yield from _inside(("nodes", i, field), addr, net, field.removesuffix("_address"))
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


def _as_ip(host: str) -> IPv4Address | None:
    try:
        addr = ip_address(host)
    except ValueError:
        return None
    return addr if isinstance(addr, IPv4Address) else None


def _inside(path: tuple[str | int, ...], addr: IPv4Address, net: IPv4Network, name: str) -> Iterator[Finding]:
    if addr not in net:
        yield path, str(addr), f"an address inside the {name} network {net}"
    elif addr in (net.network_address, net.broadcast_address):
        yield path, str(addr), f"a host address of {net} (not its network or broadcast address)"


def _fabrics(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    yield from _duplicates([(("fabrics", i, "name"), f.name) for i, f in enumerate(spec.fabrics)], "fabric name")
    purposes = Counter(f.purpose for f in spec.fabrics)
    for i, fabric in enumerate(spec.fabrics):
        if purposes[fabric.purpose] > 1:
            yield ("fabrics", i, "purpose"), fabric.purpose.value, "one fabric per purpose (compute, storage)"
        yield from _fabric(spec, catalogue, ("fabrics", i), fabric)


def _fabric(spec: ClusterSpec, catalogue: dict[str, Sku], base: tuple[str | int, ...],
            fabric: Fabric) -> Iterator[Finding]:
    switches = {s.name: s for s in fabric.switches}
    nodes = {n.hostname: n for n in spec.nodes}
    yield from _duplicates([(base + ("switches", j, "name"), s.name) for j, s in enumerate(fabric.switches)],
                           "switch name")
    taken: dict[tuple[str, int], str] = {}

    def port(switch_path: tuple[str | int, ...], path: tuple[str | int, ...], switch: str, number: int,
             tier: SwitchTier, what: str) -> Iterator[Finding]:
        sw = switches.get(switch)
        if sw is None:
            yield switch_path, switch, f"a {tier.value} switch declared in {'.'.join(map(str, base))}.switches"
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
        node = nodes.get(link.node)
        if node is None:
            yield lp + ("node",), link.node, "a hostname declared in nodes"
            continue
        sku = catalogue.get(node.sku)
        hcas = {} if sku is None else {h.device: h for h in (
            sku.compute_hcas if fabric.purpose is FabricPurpose.compute else sku.storage_hcas)}
        hca = hcas.get(link.hca)
        if sku is not None and hca is None:
            yield lp + ("hca",), link.hca, (f"a {fabric.purpose.value} HCA of {node.sku} "
                                            f"({', '.join(hcas) or 'it has none'})")
        if (link.node, link.hca) in cabled:
            yield lp + ("hca",), link.hca, f"one cable per HCA (already cabled at node_links.{cabled[link.node, link.hca]})"
        cabled[link.node, link.hca] = j
        yield from port(lp + ("switch",), lp + ("port",), link.switch, link.port, SwitchTier.leaf, f"{link.node}/{link.hca}")
        leaf = switches.get(link.switch)
        if (hca is not None and hca.rail is not None and leaf is not None and leaf.rails
                and hca.rail not in leaf.rails):
            yield lp + ("switch",), link.switch, f"a leaf serving rail {hca.rail} ({link.hca}'s rail)"
    for j, link in enumerate(fabric.switch_links):
        lp = base + ("switch_links", j)
        yield from port(lp + ("leaf",), lp + ("leaf_port",), link.leaf, link.leaf_port, SwitchTier.leaf, f"{link.spine}")
        yield from port(lp + ("spine",), lp + ("spine_port",), link.spine, link.spine_port, SwitchTier.spine, f"{link.leaf}")

    if fabric.purpose is FabricPurpose.compute:
        served = {r for s in fabric.leaves() for r in s.rails}
        rails_needed: set[int] = set()
        for i, node in enumerate(spec.nodes):
            sku = catalogue.get(node.sku)
            if sku is None or NodeRole.gpu_node not in node.roles:
                continue
            for hca in sku.compute_hcas:
                if hca.rail is not None:
                    rails_needed.add(hca.rail)
                if (node.hostname, hca.device) not in cabled:
                    yield ("nodes", i, "hostname"), node.hostname, (
                        f"compute HCA {hca.device} (rail {hca.rail}) cabled in {'.'.join(map(str, base))}.node_links")
        for rail in sorted(rails_needed - served):
            yield base + ("switches",), f"rail {rail}", f"a leaf switch with rail {rail} in its rails"
        uplinked = {link.leaf for link in fabric.switch_links}
        if fabric.spines():
            for j, leaf in enumerate(fabric.switches):
                if leaf.tier is SwitchTier.leaf and leaf.name not in uplinked:
                    yield base + ("switches", j, "name"), leaf.name, "a leaf with uplinks to the spines (switch_links)"

    if fabric.transport == "infiniband" and not fabric.subnet_managers:
        yield base + ("subnet_managers",), [], "at least one subnet manager on an InfiniBand fabric"
    if fabric.transport == "roce" and fabric.roce_gid_index is None:
        yield base + ("roce_gid_index",), None, "the RoCE GID index (NCCL_IB_GID_INDEX, usually 3)"
    yield from _duplicates([(base + ("subnet_managers", j, "host"), sm.host)
                            for j, sm in enumerate(fabric.subnet_managers)], "subnet manager host")
    for j, sm in enumerate(fabric.subnet_managers):
        node = nodes.get(sm.host)
        if node is None:
            yield base + ("subnet_managers", j, "host"), sm.host, "a hostname declared in nodes"
        elif NodeRole.subnet_manager not in node.roles:
            yield base + ("subnet_managers", j, "host"), sm.host, "a node with the subnet_manager role"
    yield from _duplicates([(base + ("partitions", j, "pkey"), hex(p.pkey)) for j, p in enumerate(fabric.partitions)],
                           "PKey")
    yield from _duplicates([(base + ("partitions", j, "name"), p.name) for j, p in enumerate(fabric.partitions)],
                           "partition name")
    for j, partition in enumerate(fabric.partitions):
        if not PKEY_MIN <= partition.pkey <= PKEY_MAX:
            yield base + ("partitions", j, "pkey"), hex(partition.pkey), "a PKey in 0x0001..0x7fff"


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
    if spec.serving is not None:
        consumed.add(spec.serving.model.export)
        if spec.serving.model.export not in exports:
            yield ("serving", "model", "export"), spec.serving.model.export, "an export declared on an array"
        elif spec.serving.model.export not in {m.export for m in storage.mounts}:
            yield ("serving", "model", "export"), spec.serving.model.export, "an export mounted on the serving nodes"
    for name, (i, j) in exports.items():
        if name not in consumed:
            yield ("storage", "arrays", i, "exports", j, "name"), name.split("/")[1], (
                "an export some node mounts (add it to storage.mounts or remove it)")


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
    for part in ("driver", "fabric_manager", "doca_ofed", "nccl", "nccl_tests", "container_toolkit", "dcgm"):
        source = getattr(sw, part).source
        if source not in names:
            yield ("software", part, "source"), source, f"a source declared in software.sources ({', '.join(sorted(names))})"


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


def _operations(spec: ClusterSpec, catalogue: dict[str, Sku]) -> Iterator[Finding]:
    rollout = spec.rollout
    if rollout.wave_size > rollout.max_unavailable:
        yield (("rollout", "wave_size"), rollout.wave_size,
               f"at most max_unavailable ({rollout.max_unavailable}): a wave takes its nodes out of service")
    ret = spec.retention
    if ret.important_data_days < ret.data_days:
        yield (("retention", "important_data_days"), ret.important_data_days,
               f"at least data_days ({ret.data_days})")
    serving = spec.serving
    if serving is not None:
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
