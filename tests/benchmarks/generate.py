"""Generated clusters for the plan benchmark: the superpod example scaled to N DGX A100 nodes.

The superpod spec is the template (site, keys, software, access, storage stay as they are); nodes and
fabrics are rebuilt for N nodes: one leaf per rail for every 20 nodes (ports 1-20 down), no spines (a
single-tier rail fabric needs no uplinks), and a storage fabric of 40-port leaves. The result writes a
project (Pulumi.yaml, __main__.py, spec, Pulumi.NAME.yaml) that `components.offline.capture` reads like the real one.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml

from tests.unit.plan_roots import CHECKOUT

COMPUTE_HCAS = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]
STORAGE_HCAS = ["mlx5_4", "mlx5_10"]
NODES_PER_LEAF = 20
STORAGE_PORTS = 40


def host(n: int) -> str:
    return f"gen-dgx-{n:04d}"


def _address(base: str, n: int) -> str:
    return str(IPv4Address(base) + 10 + n)


def _roles(n: int, nodes: int) -> list[str]:
    # As in the superpod example: two subnet managers, three control-plane nodes, the last node serves.
    if n == nodes:
        return ["gpu_node", "inference_local"]
    return ["gpu_node", "kube_node"] + (["subnet_manager"] if n <= 2 else []) + (
        ["kube_control_plane", "etcd"] if n <= 3 else [])


def cluster(nodes: int) -> dict[str, Any]:
    """The superpod spec as data, scaled to `nodes` DGX A100 80GB nodes."""
    spec = yaml.safe_load((CHECKOUT / "specs" / "superpod.yaml").read_text())
    spec["site"]["name"] = f"gen{nodes}"
    spec["networks"] = {
        "management": {"cidr": "10.16.0.0/16", "gateway": "10.16.0.1", "interface": "enp225s0f0"},
        "bmc": {"cidr": "10.17.0.0/16", "gateway": "10.17.0.1"},
        "inband": {"cidr": "10.18.0.0/16", "gateway": "10.18.0.1", "interface": "enp225s0f1"},
        "storage": {"cidr": "10.19.0.0/16"},
    }
    spec["nodes"] = [{
        "hostname": host(n), "sku": "dgx-a100-80g", "serial": f"GEN{n:010d}",
        "roles": _roles(n, nodes),
        "management_address": _address("10.16.0.0", n), "inband_address": _address("10.18.0.0", n),
        "storage_address": _address("10.19.0.0", n), "bmc": f"redfish://{_address('10.17.0.0', n)}/redfish/v1/Systems/1",
        "ssh": {"user": "podforge", "known_hosts": "specs/known_hosts/gen"},
    } for n in range(1, nodes + 1)]
    groups = (nodes + NODES_PER_LEAF - 1) // NODES_PER_LEAF
    compute = next(f for f in spec["fabrics"] if f["purpose"] == "compute")
    compute.update(name="gen-compute", switch_links=[], subnet_managers=[
        {"host": host(1), "priority": 15}, {"host": host(2), "priority": 14}])
    compute["switches"] = [{"name": f"gen-leaf-r{r}-{g:02d}", "tier": "leaf", "model": "QM8700", "ports": 40, "rails": [r]}
                           for g in range(groups) for r in range(len(COMPUTE_HCAS))]
    compute["node_links"] = [{"node": host(n), "hca": hca, "switch": f"gen-leaf-r{r}-{(n - 1) // NODES_PER_LEAF:02d}",
                              "port": (n - 1) % NODES_PER_LEAF + 1}
                             for n in range(1, nodes + 1) for r, hca in enumerate(COMPUTE_HCAS)]
    storage = next(f for f in spec["fabrics"] if f["purpose"] == "storage")
    sgroups = (nodes + STORAGE_PORTS - 1) // STORAGE_PORTS
    storage.update(name="gen-storage", subnet_managers=compute["subnet_managers"])
    storage["switches"] = [{"name": f"gen-sleaf-{k}-{g:02d}", "tier": "leaf", "model": "QM8700", "ports": STORAGE_PORTS}
                           for g in range(sgroups) for k in range(len(STORAGE_HCAS))]
    storage["node_links"] = [{"node": host(n), "hca": hca, "switch": f"gen-sleaf-{k}-{(n - 1) // STORAGE_PORTS:02d}",
                              "port": (n - 1) % STORAGE_PORTS + 1}
                             for n in range(1, nodes + 1) for k, hca in enumerate(STORAGE_HCAS)]
    spec["storage"]["arrays"][0]["data_addresses"] = [f"10.19.255.{k}" for k in range(201, 205)]
    for mount in spec["storage"]["mounts"]:
        if mount.get("hosts"):
            mount["hosts"] = [host(nodes)]
    spec["access"]["roles"]["system_admin"]["permissions"][0]["resources"] = [f"gen{nodes}-*"]
    return spec


def write_project(root: Path, nodes: int) -> str:
    """Write specs/gen-N.yaml and Pulumi.gen-N.yaml under `root`, a project; return the stack name."""
    stack = f"gen-{nodes}"
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((CHECKOUT / name).read_text())
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "specs" / f"{stack}.yaml").write_text(yaml.safe_dump(cluster(nodes), sort_keys=False, allow_unicode=True))
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"podforge:spec": f"specs/{stack}.yaml"}}))
    return stack
