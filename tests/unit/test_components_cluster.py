"""GpuCluster and its children, declared by the real program for both example stacks (mock runtime, preview)."""

from __future__ import annotations

import json

import pytest

from components.offline import Graph, capture
from components.spec import load_stack_spec
from tests.unit.plan_roots import stack_root

CLUSTER = "podforge:cluster:GpuCluster"
NODE = "podforge:hw:DgxNode"
FABRIC = "podforge:fabric:InfiniBandFabric"
ARRAY = "podforge:storage:FlashStorageArray"
KEYS = "podforge:keys:VaultKmip"
STACK = "pulumi:pulumi:Stack"
GOVERNANCE = "podforge:site:Governance"
SOFTWARE = "podforge:hw:SoftwareSet"
SERVING = "podforge:serving:ModelServing"
PROVISIONING = "pulumi-python:dynamic/podforge:NodeProvisioning"
WAVE = "pulumi-python:dynamic/podforge:RolloutWave"
CHILDREN = (NODE, FABRIC, ARRAY, KEYS, GOVERNANCE, SOFTWARE, SERVING, WAVE)

# One NodeProvisioning per node; one RolloutWave barrier after every wave but the last (lab: 2 waves of 2,
# superpod: 5 waves of 4).
EXPECTED = {
    "lab": {STACK: 1, CLUSTER: 1, NODE: 4, FABRIC: 1, ARRAY: 1, KEYS: 1, GOVERNANCE: 1, SOFTWARE: 1, SERVING: 1,
            PROVISIONING: 4, WAVE: 1},
    "superpod": {STACK: 1, CLUSTER: 1, NODE: 20, FABRIC: 2, ARRAY: 1, KEYS: 1, GOVERNANCE: 1, SOFTWARE: 1, SERVING: 1,
                 PROVISIONING: 20, WAVE: 4},
}


@pytest.fixture(scope="module", params=["lab", "superpod"])
def planned(request) -> tuple[str, Graph]:
    return request.param, capture(request.param)


def test_counts_per_podforge_type_match_the_spec(planned) -> None:
    stack, graph = planned
    counts = graph.counts()
    assert {t: counts.get(t, 0) for t in EXPECTED[stack]} == EXPECTED[stack]
    assert sum(counts.values()) == len(graph)


def test_the_cluster_is_named_after_the_site_and_parents_every_component(planned) -> None:
    stack, graph = planned
    _, loaded = load_stack_spec(stack)
    (root,) = graph.of_type(STACK)
    (cluster,) = graph.of_type(CLUSTER)
    assert cluster.name == loaded.spec.site.name and cluster.parent == root.urn
    for type_ in CHILDREN:
        assert {r.parent for r in graph.of_type(type_)} <= {cluster.urn}, type_
    (keys,) = graph.of_type(KEYS)
    vault = [r for r in graph.resources if r.type.startswith("vault:")]
    assert vault and {r.parent for r in vault} == {keys.urn}
    assert len(graph.children(cluster.urn)) == sum(EXPECTED[stack][t] for t in CHILDREN)


def test_names_and_urns_derive_from_spec_names(planned) -> None:
    stack, graph = planned
    _, loaded = load_stack_spec(stack)
    spec = loaded.spec
    assert sorted(r.name for r in graph.of_type(NODE)) == sorted(n.hostname for n in spec.nodes)
    assert sorted(r.name for r in graph.of_type(FABRIC)) == sorted(f.name for f in spec.fabrics)
    assert sorted(r.name for r in graph.of_type(ARRAY)) == sorted(a.name for a in spec.storage.arrays)
    node = graph.named(NODE, spec.nodes[0].hostname)
    assert node.urn == f"urn:pulumi:{stack}::podforge::{CLUSTER}${NODE}::{spec.nodes[0].hostname}"


def test_waves_are_joined_by_one_barrier_each(planned) -> None:
    """Wave k+1 depends on wave k only through wave k's barrier, which depends on every node of wave k."""
    stack, graph = planned
    _, loaded = load_stack_spec(stack)
    waves = [[n.hostname for n in wave] for wave in loaded.spec.waves()]
    cluster = graph.of_type(CLUSTER)[0]
    barriers = sorted(graph.of_type(WAVE), key=lambda r: r.inputs["wave"])
    assert [(b.name, b.inputs["wave"], b.inputs["hostnames"]) for b in barriers] == [
        (f"{cluster.name}-wave-{k}", k, hosts) for k, hosts in enumerate(waves[:-1], start=1)]
    provisioning = {r.inputs["hostname"]: r for r in graph.of_type(PROVISIONING)}
    for k, hosts in enumerate(waves):
        for host in hosts:
            node = provisioning[host]
            assert node.parent == graph.named(NODE, host).urn  # still a child of its DgxNode
            assert set(node.dependencies) == ({barriers[k - 1].urn} if k else set()), host
        if k < len(barriers):
            assert set(barriers[k].dependencies) == {provisioning[h].urn for h in hosts}
            assert barriers[k].parent == cluster.urn


def test_the_same_spec_gives_the_same_urns_and_inputs_twice(planned) -> None:
    stack, graph = planned
    again = capture(stack)
    assert [r.urn for r in again.resources] == [r.urn for r in graph.resources]
    assert again.as_json() == graph.as_json()


def test_a_node_declares_addresses_rail_ordered_hcas_and_its_leaf_ports() -> None:
    graph = capture("superpod")
    _, loaded = load_stack_spec("superpod")
    spec = loaded.spec
    node = graph.named(NODE, "su1-dgx-01").inputs
    assert node["addresses"] == {"management": "10.10.0.11", "inband": "10.10.16.11", "storage": "10.10.24.11",
                                 "bmc": "10.10.8.11"}
    rails = sorted(spec.sku_of(spec.nodes[0]).compute_hcas, key=lambda h: h.rail)
    assert node["computeHcas"] == [h.device for h in rails] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3",
                                                               "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]
    # Rail r of node n → leaf r, port n; storage HCA k → storage leaf k+1 (specs/superpod.yaml).
    assert node["leafPorts"]["mlx5_0"] == "su1-leaf-r0/1"
    assert node["leafPorts"]["mlx5_9"] == "su1-leaf-r7/1"
    assert node["leafPorts"]["mlx5_10"] == "su1-sleaf-02/1"
    assert len(node["leafPorts"]) == 10
    assert node["ssh"] == {"user": "podforge", "port": 22, "knownHosts": "specs/known_hosts/su1"}
    assert "subnet_manager" in node["roles"]


def test_the_automation_key_is_registered_once_per_node_as_a_secret_of_its_provisioning(tmp_path) -> None:
    """The lab stack names a key file: the program reads it and registers its text on NodeProvisioning only."""
    (tmp_path / "project").mkdir()
    root = stack_root(tmp_path / "project", "lab")
    (root / ".lab").mkdir()
    (root / ".lab" / "id_ed25519").write_text("planted-lab-key-material\n")
    graph = capture("lab", root)
    assert all(set(n.inputs["ssh"]) == {"user", "port", "knownHosts"} for n in graph.of_type(NODE))
    assert all(p.inputs["private_key"] == "[secret]" for p in graph.of_type(PROVISIONING))
    assert "planted-lab-key-material" not in json.dumps(graph.as_json())


def test_fabrics_declare_partitions_and_subnet_managers_master_first() -> None:
    graph = capture("superpod")
    compute = graph.named(FABRIC, "su1-compute").inputs
    assert compute["subnetManagers"] == [{"host": "su1-dgx-01", "priority": 15}, {"host": "su1-dgx-02", "priority": 14}]
    assert [(p["name"], p["pkey"], p["membership"]) for p in compute["partitions"]] == [
        ("Default", "0x7fff", "full"), ("compute", "0x0101", "full")]
    assert compute["routingEngine"] == "ftree" and compute["nodeCables"] == 160
    assert len(compute["uplinks"]) == 160 and len(compute["switches"]) == 18
    storage = graph.named(FABRIC, "su1-storage").inputs  # RoCE: no subnet manager, no partitions
    assert storage["transport"] == "roce" and storage["subnetManagers"] == [] and storage["partitions"] == []


def test_an_array_declares_its_kmip_scope_role_and_endpoint_with_secret_credentials() -> None:
    graph = capture("lab")
    array = graph.named(ARRAY, "lab-flash")
    inputs = array.inputs
    assert inputs["encryption"]["kmipScope"] == "lab-flash" and inputs["encryption"]["kmipRole"] == "array"
    assert inputs["kmip"]["servers"] == ["10.199.77.1:5696"]
    assert inputs["kmip"]["clientKeyPem"] == "[secret]"
    assert [m["mountPoint"] for m in inputs["mounts"]] == ["/mnt/models", "/mnt/datasets"]
    # The credential comes from VaultKmip: the array depends on it.
    assert any("$vault:generic/endpoint:Endpoint::lab-vault-kmip-lab-flash" in d for d in array.dependencies)
