"""Hypothesis strategies for cluster specs: valid ones, and single mistakes planted in them.

`valid_specs()` draws a spec as the plain data a YAML file holds (node count, SKUs, networks, a
one-leaf or rail-optimized fabric with a shuffled port map, an optional storage fabric, arrays,
exports and mounts, keys, access, rollout, serving). Each of `MUTATIONS` plants one mistake in such
data and say which field path the loader must blame.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from components.spec.access import AccessRole
from components.spec.catalogue import builtin_catalogue

Spec = dict[str, Any]
Draw = Callable[[st.SearchStrategy[Any]], Any]

SITE_SKU = {
    "vendor": "example",
    "model": "four-GPU HDR server",
    "gpu": {"model": "NVIDIA A100-SXM4-80GB", "count": 4, "memory_gib": 80, "nvlink": True},
    "nvswitch_count": 0,
    "cpu": "x86_64",
    "numa_nodes": 2,
    "compute_hcas": [{"device": f"mlx5_{r}", "model": "ConnectX-6", "rate_gbps": 200, "rail": r, "gpu": r,
                      "numa_node": r // 2} for r in range(4)],
    "storage_hcas": [{"device": "mlx5_4", "model": "ConnectX-6", "rate_gbps": 200}],
    "acceptance": {"allreduce_busbw_floor_gbs": 100},
    "sources": ["vendor datasheet"],
}
SKU_NAMES = ["dgx-a100-40g", "dgx-a100-80g", "gpu-h200-1", "site-quad"]
PERMISSIONS = {
    "system_admin": ["cluster:configure", "deployment:manage", "node:drain"],
    "security_admin": ["keys:manage", "certificates:issue", "access:grant"],
    "audit_admin": ["audit:read"],
    "model_engineer": ["model:tune", "model:release"],
    "data_analyst": ["inference:read", "metrics:view"],
    "api_user": ["inference:invoke"],
}
KMIP_OPS = ["create", "get", "get_attributes", "activate", "locate", "revoke", "destroy", "discover_versions", "query"]


def _sku(name: str) -> dict[str, Any]:
    if name == "site-quad":
        return SITE_SKU
    return builtin_catalogue()[name].model_dump(exclude={"name"})


@st.composite
def valid_specs(draw: Draw) -> Spec:
    """A spec that must validate."""
    site = draw(st.sampled_from(["lab", "su1", "hall-b", "pod7"]))
    octet = draw(st.integers(1, 250))
    shared = draw(st.booleans())
    nets = {n: f"10.{octet}.{0 if shared else k}.0/24" for k, n in enumerate(("management", "bmc", "inband", "storage"))}
    prefix = {n: c.rsplit(".", 2)[0] + "." + c.split(".")[2] for n, c in nets.items()}

    count = draw(st.integers(1, 6))
    skus = draw(st.lists(st.sampled_from(SKU_NAMES), min_size=count, max_size=count))
    uses_site_sku = "site-quad" in skus
    nodes: list[dict[str, Any]] = []
    for i, sku in enumerate(skus):
        node: dict[str, Any] = {
            "hostname": f"{site}-n{i + 1:02d}",
            "sku": sku,
            "serial": f"SN{octet:03d}{i:04d}",
            "roles": ["gpu_node", "kube_node"],
            "management_address": f"{prefix['management']}.{11 + i}",
            "bmc": f"redfish://{prefix['bmc']}.{(11 if not shared else 111) + i}/redfish/v1/Systems/1",
            "ssh": draw(st.sampled_from([{"known_hosts": "specs/known_hosts/site"},
                                         {"user": "podforge", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx"}])),
        }
        if not shared:
            node["inband_address"] = f"{prefix['inband']}.{11 + i}"
            node["storage_address"] = f"{prefix['storage']}.{11 + i}"
        nodes.append(node)
    nodes[0]["roles"] = ["gpu_node", "kube_control_plane", "etcd"]

    fabrics = []
    compute = _compute_fabric(draw, site, nodes)
    if compute is not None:
        fabrics.append(compute)
    storage_fabric = _storage_fabric(draw, site, nodes) if draw(st.booleans()) else None
    if storage_fabric is not None:
        fabrics.append(storage_fabric)

    arrays, mounts = _storage(draw, site, nodes, prefix["storage"])
    spec: Spec = {
        "site": {"name": site, "location": "somewhere", "ntp_servers": [f"{prefix['management']}.2"], "lab": shared},
        "networks": {n: {"cidr": c} for n, c in nets.items()},
        "nodes": nodes,
        "fabrics": fabrics,
        "storage": {"arrays": arrays, "mounts": mounts},
        "keys": _keys(draw, site, arrays),
        "software": _software(draw),
        "access": _access(draw),
    }
    spec["networks"]["management"]["gateway"] = f"{prefix['management']}.1"
    if uses_site_sku:
        spec["catalogue"] = {"site-quad": copy.deepcopy(SITE_SKU)}
    wave = draw(st.integers(1, 3))
    spec["rollout"] = {"wave_size": wave, "max_unavailable": wave + draw(st.integers(0, 2))}
    days = draw(st.integers(30, 120))
    spec["retention"] = {"data_days": days, "important_data_days": days + draw(st.integers(0, 90))}
    if draw(st.booleans()):
        spec["dr_site"] = {"name": "dr", "location": "elsewhere", "latency_ms": draw(st.floats(0.5, 80))}
    if arrays and draw(st.booleans()):
        server = nodes[-1]
        server["roles"] = [*server["roles"], "inference_local"]
        gpus = _sku(server["sku"])["gpu"]["count"]
        array, export = arrays[0]["name"], arrays[0]["exports"][0]["name"]
        weights = next(m for m in spec["storage"]["mounts"] if m["export"] == f"{array}/{export}")
        if "hosts" in weights and server["hostname"] not in weights["hosts"]:
            weights["hosts"].append(server["hostname"])
        tensor_parallel = draw(st.sampled_from([t for t in (1, 2, 4) if t <= gpus]))
        spec["serving"] = {"image": "vllm/vllm-openai:v0.11.0", "tensor_parallel_size": tensor_parallel,
                           "max_model_len": 32768,
                           "model": {"name": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "export": f"{array}/{export}",
                                     "path": "r1-distill-qwen-1.5b", "max_position_embeddings": 131072}}
    return spec


def _compute_fabric(draw: Draw, site: str, nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One leaf for all rails, or a rail-optimized two-tier tree (a leaf per rail, uplinks to spines)."""
    cabled = [(n, _sku(n["sku"])["compute_hcas"]) for n in nodes if _sku(n["sku"])["compute_hcas"]]
    if not cabled:
        return None
    rails = max(len(hcas) for _, hcas in cabled)
    rail_optimized = draw(st.booleans())
    leaves = [f"{site}-leaf-r{r}" for r in range(rails)] if rail_optimized else [f"{site}-leaf-01"]
    spines = [f"{site}-spine-{s + 1:02d}" for s in range(draw(st.integers(1, 3)))] if rail_optimized else []
    down = len(nodes) if rail_optimized else len(nodes) * rails
    uplinks = len(spines)
    ports = down + uplinks + draw(st.integers(0, 4))
    switches = [{"name": leaf, "tier": "leaf", "model": "QM8700", "ports": ports,
                 "rails": [leaves.index(leaf)] if rail_optimized else list(range(rails))} for leaf in leaves]
    switches += [{"name": s, "tier": "spine", "model": "QM8700", "ports": len(leaves)} for s in spines]
    free = {leaf: draw(st.permutations(range(1, down + 1))) for leaf in leaves}  # a shuffled port map
    node_links = []
    for node, hcas in cabled:
        for hca in hcas:
            leaf = leaves[hca["rail"]] if rail_optimized else leaves[0]
            node_links.append({"node": node["hostname"], "hca": hca["device"], "switch": leaf,
                               "port": free[leaf].pop()})
    switch_links = [{"leaf": leaf, "leaf_port": down + 1 + s, "spine": spine, "spine_port": li + 1}
                    for li, leaf in enumerate(leaves) for s, spine in enumerate(spines)]
    manager = cabled[0][0]
    if "subnet_manager" not in manager["roles"]:
        manager["roles"] = [*manager["roles"], "subnet_manager"]
    pkeys = draw(st.lists(st.integers(0x0001, 0x7FFE), max_size=3, unique=True))
    return {
        "name": f"{site}-ib", "purpose": "compute", "mtu": 4096,
        "routing_engine": "ftree" if rail_optimized else draw(st.sampled_from(["ftree", "updn", "minhop"])),
        "switches": switches, "node_links": node_links, "switch_links": switch_links,
        "subnet_managers": [{"host": manager["hostname"], "priority": 15}],
        "partitions": [{"name": "Default", "pkey": 0x7FFF}]
        + [{"name": f"p{k}", "pkey": p, "members": "compute"} for k, p in enumerate(pkeys)],
    }


def _storage_fabric(draw: Draw, site: str, nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    cabled = [(n, _sku(n["sku"])["storage_hcas"]) for n in nodes if _sku(n["sku"])["storage_hcas"]]
    if not cabled:
        return None
    roce = draw(st.booleans())
    leaf = f"{site}-sleaf-01"
    wanted = sum(len(h) for _, h in cabled)
    ports = draw(st.permutations(range(1, wanted + 1)))
    links = [{"node": n["hostname"], "hca": h["device"], "switch": leaf, "port": ports[k]}
             for k, (n, h) in enumerate((n, h) for n, hcas in cabled for h in hcas)]
    fabric: dict[str, Any] = {"name": f"{site}-storage", "purpose": "storage",
                              "transport": "roce" if roce else "infiniband", "routing_engine": "updn",
                              "switches": [{"name": leaf, "tier": "leaf", "model": "SN4600", "ports": wanted}],
                              "node_links": links}
    if roce:
        fabric["roce_gid_index"] = 3
        fabric["mtu"] = 9000
    else:
        manager = cabled[-1][0]
        if "subnet_manager" not in manager["roles"]:
            manager["roles"] = [*manager["roles"], "subnet_manager"]
        fabric["subnet_managers"] = [{"host": manager["hostname"], "priority": 14}]
        fabric["partitions"] = [{"name": "Default", "pkey": 0x7FFF}]
    return fabric


def _storage(draw: Draw, site: str, nodes: list[dict[str, Any]],
             storage_prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    arrays, mounts = [], []
    for a in range(draw(st.integers(0, 2))):
        name = f"{site}-flash-{a + 1:02d}"
        exports = []
        for e in range(draw(st.integers(1, 3))):
            export = f"vol{e}"
            exports.append({"name": export, "path": f"/{export}", "size_tib": draw(st.integers(1, 500)),
                            "protocol": "nfs",
                            "purpose": draw(st.sampled_from(["model_weights", "datasets", "scratch", "results"]))})
            if draw(st.booleans()):
                mounts.append({"export": f"{name}/{export}", "role": "gpu_node", "mount_point": f"/mnt/{name}-{export}"})
            else:
                hosts = draw(st.lists(st.sampled_from([n["hostname"] for n in nodes]), min_size=1, unique=True))
                mounts.append({"export": f"{name}/{export}", "hosts": hosts, "mount_point": f"/mnt/{name}-{export}"})
        # NFS over TCP, which both vendors serve on any model (components/spec/storage.py SUPPORT); the
        # protocol/transport/model combinations are exercised by tests/unit/test_storage_validation.py.
        vendor = draw(st.sampled_from(["netapp", "dell"]))
        external_kmip = vendor != "dell" and draw(st.booleans())  # podforge has no KMIP driver for dell
        arrays.append({"name": name, "vendor": vendor, "model": "AFF A800",
                       "management": f"https://{name}.example.internal", "data_addresses": [f"{storage_prefix}.{201 + a}"],
                       "rated_iops": draw(st.integers(100_000, 2_000_000)),
                       "encryption": {"external_kmip": external_kmip}, "exports": exports})
    return arrays, mounts


def _keys(draw: Draw, site: str, arrays: list[dict[str, Any]]) -> dict[str, Any]:
    scopes = [{"array": a["name"], "scope": a["name"], "role": "array", "operations": KMIP_OPS}
              for a in arrays if a["encryption"]["external_kmip"]]
    transit = [{"name": f"key-{k}", "rotation_period": draw(st.sampled_from(["1h", "24h", "72h", "30d"])),
                "purpose": "data at rest"} for k in range(draw(st.integers(1, 3)))]
    return {"vault": {"address": f"https://vault.{site}.internal:8200",
                      "kmip": {"listen_addrs": ["10.0.0.10:5696"], "server_ips": ["10.0.0.10"], "scopes": scopes},
                      "transit": {"keys": transit},
                      "pki": {"common_name": f"{site} CA", "allowed_domains": [f"{site}.internal"]}}}


def _software(draw: Draw) -> dict[str, Any]:
    branch = draw(st.sampled_from(["535", "550", "570"]))
    version = f"{branch}.{draw(st.integers(0, 250))}.{draw(st.integers(0, 99)):02d}"
    pin = {"version": "1.0", "source": "mirror"}
    return {"sources": [{"name": "mirror", "kind": "mirror", "url": "http://mirror.example.internal/nvidia"}],
            "driver": {"branch": branch, "version": version, "source": "mirror"},
            "fabric_manager": {"version": version, "source": "mirror"},
            "nccl_tests": {"version": "1.0.0", "url": "http://mirror.example.internal/nccl-tests-1.0.0.tar.gz",
                           "sha256": "0" * 64},
            **{part: dict(pin) for part in ("doca_ofed", "nccl", "container_toolkit", "dcgm")}}


def _access(draw: Draw) -> dict[str, Any]:
    roles = {}
    for role in AccessRole:
        actions = draw(st.lists(st.sampled_from(PERMISSIONS[role.value]), min_size=1, unique=True))
        roles[role.value] = {"description": role.value,
                             "permissions": [{"action": a, "resources": draw(st.sampled_from([["any"], ["dataset_2023*"]]))}
                                             for a in actions]}
    admins = []
    for k, role in enumerate(draw(st.lists(st.sampled_from(["system_admin", "security_admin", "audit_admin"]),
                                           min_size=1, max_size=3, unique=True))):
        second = draw(st.sampled_from(["totp", "webauthn", "smartcard", "ssh_key", "client_cert"]))
        admins.append({"name": f"admin-{k}", "roles": [role], "auth_methods": ["password", second]})
    return {"roles": roles, "administrators": admins}


# Mutations: each plants one mistake in a deep copy of a valid spec and returns the field path the
# loader must blame, or None where the spec has nothing to plant it in.
Mutation = Callable[[Spec, Draw], "str | None"]


def _index(draw: Draw, items: list[Any]) -> int:
    return draw(st.integers(0, len(items) - 1))


def duplicate_hostname(spec: Spec, draw: Draw) -> str | None:
    nodes = spec["nodes"]
    if len(nodes) < 2:
        return None
    nodes[-1]["hostname"] = nodes[0]["hostname"]
    return f"nodes.{len(nodes) - 1}.hostname"


def duplicate_serial(spec: Spec, draw: Draw) -> str | None:
    nodes = spec["nodes"]
    if len(nodes) < 2:
        return None
    k = draw(st.integers(1, len(nodes) - 1))
    nodes[k]["serial"] = nodes[0]["serial"]
    return f"nodes.{k}.serial"


def duplicate_address(spec: Spec, draw: Draw) -> str | None:
    nodes = spec["nodes"]
    if len(nodes) < 2:
        return None
    k = draw(st.integers(1, len(nodes) - 1))
    nodes[k]["management_address"] = nodes[0]["management_address"]
    return f"nodes.{k}.management_address"


def address_outside_subnet(spec: Spec, draw: Draw) -> str | None:
    k = _index(draw, spec["nodes"])
    spec["nodes"][k]["management_address"] = "192.0.2.10"
    return f"nodes.{k}.management_address"


def unknown_key(spec: Spec, draw: Draw) -> str | None:
    where = draw(st.sampled_from(["site", "node", "rollout", "vault"]))
    if where == "node":
        k = _index(draw, spec["nodes"])
        spec["nodes"][k]["colour"] = "blue"
        return f"nodes.{k}.colour"
    if where == "vault":
        spec["keys"]["vault"]["adress"] = "https://vault.example:8200"
        return "keys.vault.adress"
    spec[where]["comment"] = "a typo'd or unknown key"
    return f"{where}.comment"


def wrong_type(spec: Spec, draw: Draw) -> str | None:
    k = _index(draw, spec["nodes"])
    field, value = draw(st.sampled_from([("roles", "gpu_node"), ("management_address", "ten.one"), ("ssh", 22)]))
    spec["nodes"][k][field] = value
    return f"nodes.{k}.{field}"


def missing_field(spec: Spec, draw: Draw) -> str | None:
    section, field = draw(st.sampled_from([("site", "location"), ("nodes", "serial"), ("software", "dcgm")]))
    if section == "nodes":
        k = _index(draw, spec["nodes"])
        del spec["nodes"][k][field]
        return f"nodes.{k}.{field}"
    del spec[section][field]
    return f"{section}.{field}"


def unknown_sku(spec: Spec, draw: Draw) -> str | None:
    k = _index(draw, spec["nodes"])
    spec["nodes"][k]["sku"] = "dgx-z900"
    return f"nodes.{k}.sku"


def sku_counts(spec: Spec, draw: Draw) -> str | None:
    if "catalogue" not in spec:
        return None
    del spec["catalogue"]["site-quad"]["compute_hcas"][-1]
    return "catalogue.site-quad.compute_hcas"


def versions_differ(spec: Spec, draw: Draw) -> str | None:
    spec["software"]["fabric_manager"]["version"] += "-1"
    return "software.fabric_manager.version"


def _ib_fabrics(spec: Spec) -> list[int]:
    return [i for i, f in enumerate(spec["fabrics"]) if f.get("transport", "infiniband") == "infiniband"]


def pkey_twice(spec: Spec, draw: Draw) -> str | None:
    fabrics = _ib_fabrics(spec)
    if not fabrics:
        return None
    i = draw(st.sampled_from(fabrics))
    partitions = spec["fabrics"][i]["partitions"]
    partitions.append({"name": "again", "pkey": partitions[0]["pkey"]})
    return f"fabrics.{i}.partitions.{len(partitions) - 1}.pkey"


def pkey_out_of_range(spec: Spec, draw: Draw) -> str | None:
    fabrics = _ib_fabrics(spec)
    if not fabrics:
        return None
    i = draw(st.sampled_from(fabrics))
    partitions = spec["fabrics"][i]["partitions"]
    j = _index(draw, partitions)
    partitions[j]["pkey"] = draw(st.sampled_from([0, 0x8000, 0xFFFF, 0x10000]))
    return f"fabrics.{i}.partitions.{j}.pkey"


def port_missing(spec: Spec, draw: Draw) -> str | None:
    if not spec["fabrics"]:
        return None
    i = _index(draw, spec["fabrics"])
    fabric = spec["fabrics"][i]
    j = _index(draw, fabric["node_links"])
    link = fabric["node_links"][j]
    ports = next(s["ports"] for s in fabric["switches"] if s["name"] == link["switch"])
    link["port"] = ports + draw(st.integers(1, 5))
    return f"fabrics.{i}.node_links.{j}.port"


def port_taken(spec: Spec, draw: Draw) -> str | None:
    candidates = [(i, j) for i, f in enumerate(spec["fabrics"]) for j in range(1, len(f["node_links"]))]
    if not candidates:
        return None
    i, j = draw(st.sampled_from(candidates))
    links = spec["fabrics"][i]["node_links"]
    a = draw(st.integers(0, j - 1))
    links[j]["switch"], links[j]["port"] = links[a]["switch"], links[a]["port"]
    return f"fabrics.{i}.node_links.{j}.port"


def hca_uncabled(spec: Spec, draw: Draw) -> str | None:
    compute = [i for i, f in enumerate(spec["fabrics"]) if f["purpose"] == "compute"]
    if not compute:
        return None
    links = spec["fabrics"][compute[0]]["node_links"]
    link = links.pop(_index(draw, links))
    host = next(k for k, n in enumerate(spec["nodes"]) if n["hostname"] == link["node"])
    return f"nodes.{host}.hostname"


def rail_without_leaf(spec: Spec, draw: Draw) -> str | None:
    compute = [i for i, f in enumerate(spec["fabrics"]) if f["purpose"] == "compute"]
    if not compute:
        return None
    leaves = [s for s in spec["fabrics"][compute[0]]["switches"] if s["tier"] == "leaf"]
    rail = draw(st.sampled_from(sorted({r for s in leaves for r in s["rails"]})))
    for leaf in leaves:
        leaf["rails"] = [r for r in leaf["rails"] if r != rail]
    return f"fabrics.{compute[0]}.switches"


def export_unconsumed(spec: Spec, draw: Draw) -> str | None:
    arrays = spec["storage"]["arrays"]
    if not arrays:
        return None
    i = _index(draw, arrays)
    j = _index(draw, arrays[i]["exports"])
    name = f"{arrays[i]['name']}/{arrays[i]['exports'][j]['name']}"
    spec["storage"]["mounts"] = [m for m in spec["storage"]["mounts"] if m["export"] != name]
    return f"storage.arrays.{i}.exports.{j}.name"


def export_missing(spec: Spec, draw: Draw) -> str | None:
    mounts = spec["storage"]["mounts"]
    if not mounts:
        return None
    k = _index(draw, mounts)
    mounts[k]["export"] = "no-array/no-export"
    return f"storage.mounts.{k}.export"


def star_action(spec: Spec, draw: Draw) -> str | None:
    role = draw(st.sampled_from(sorted(spec["access"]["roles"])))
    permissions = spec["access"]["roles"][role]["permissions"]
    j = _index(draw, permissions)
    permissions[j]["action"] = draw(st.sampled_from(["*", "inference:*", "*:read"]))
    return f"access.roles.{role}.permissions.{j}.action"


def single_factor(spec: Spec, draw: Draw) -> str | None:
    admins = spec["access"]["administrators"]
    k = _index(draw, admins)
    admins[k]["auth_methods"] = draw(st.sampled_from([["password"], ["password", "password"], ["totp"]]))
    return f"access.administrators.{k}.auth_methods"


def fabric_rate(spec: Spec, draw: Draw) -> str | None:
    if not spec["fabrics"]:
        return None
    i = _index(draw, spec["fabrics"])
    spec["fabrics"][i]["rate_gbps"] = draw(st.sampled_from([100, 400]))
    return f"fabrics.{i}.rate_gbps"


def wave_too_large(spec: Spec, draw: Draw) -> str | None:
    spec["rollout"]["wave_size"] = spec["rollout"]["max_unavailable"] + 1
    return "rollout.wave_size"


MUTATIONS: list[Mutation] = [
    duplicate_hostname, duplicate_serial, duplicate_address, address_outside_subnet, unknown_key, wrong_type,
    missing_field, unknown_sku, sku_counts, versions_differ, pkey_twice, pkey_out_of_range, port_missing, port_taken,
    hca_uncabled, rail_without_leaf, export_unconsumed, export_missing, star_action, single_factor, fabric_rate, wave_too_large,
]
