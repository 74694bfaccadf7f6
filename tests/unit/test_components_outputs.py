"""The components' Output attributes, for programs that import `components`: what later steps consume."""

from __future__ import annotations

import pulumi

from components.access import host_keys
from components.cluster import GpuCluster, GpuClusterArgs
from components.host import host_views
from components.node import DgxNode, DgxNodeArgs
from components.offline.capture import run_program
from components.spec import load_stack_spec


def test_outputs_resolve_to_the_declared_state() -> None:
    _, loaded = load_stack_spec("superpod")
    seen: dict = {}

    def program() -> None:
        cluster = GpuCluster("su1", GpuClusterArgs.from_spec(loaded.spec))
        node = cluster.nodes["su1-dgx-02"]
        fabric = cluster.fabrics["su1-compute"]
        array = cluster.arrays["su1-flash-01"]
        pulumi.Output.all(node.addresses, node.compute_hcas, node.leaf_ports, fabric.subnet_managers,
                          fabric.partitions, array.kmip_scope, array.kmip_role, cluster.keys.kmip_scopes
                          ).apply(lambda values: seen.update(values=values))

    graph = run_program("superpod", {}, set(), program)
    addresses, hcas, ports, managers, partitions, scope, role, kmip_scopes = seen["values"]
    assert addresses["management"] == "10.10.0.12" and addresses["bmc"] == "10.10.8.12"
    assert hcas[0] == "mlx5_0" and hcas[4] == "mlx5_6" and len(hcas) == 8
    assert ports["mlx5_3"] == "su1-leaf-r3/2"
    assert managers[0] == {"host": "su1-dgx-01", "priority": 15}
    assert {p["pkey"] for p in partitions} == {"0x7fff", "0x0101"}
    assert (scope, role) == ("su1-flash-01", "ontap") == (kmip_scopes["su1-flash-01"]["scope"],
                                                         kmip_scopes["su1-flash-01"]["role"])
    assert len(graph.of_type("podforge:hw:DgxNode")) == 20


def test_a_node_can_be_declared_on_its_own_and_provisioned_with_a_secret_automation_key(tmp_path) -> None:
    _, loaded = load_stack_spec("lab")
    view = host_views(loaded.spec, tmp_path)["lab-dgx-01"]

    def program() -> None:
        pins = host_keys([view])[view.hostname]
        node = DgxNode(view.hostname, DgxNodeArgs(view, pins, pulumi.Output.secret("not-a-real-key")))
        node.provision()

    graph = run_program("lab", {}, set(), program)
    declared = graph.named("podforge:hw:DgxNode", view.hostname)
    assert declared.parent == graph.of_type("pulumi:pulumi:Stack")[0].urn
    assert declared.inputs["leafPorts"]["mlx5_0"] == "lab-leaf-01/1"
    assert "privateKey" not in declared.inputs["ssh"] and "privateKeyFile" not in declared.inputs["ssh"]
    provisioning = graph.named("pulumi-python:dynamic/podforge:NodeProvisioning", "lab-dgx-01-provisioning")
    assert provisioning.parent == declared.urn
    assert provisioning.inputs["private_key"] == "[secret]"  # the key's one registration
    assert "not-a-real-key" not in repr(graph.as_json())
