"""The inventory rendered from the example specs: groups, rails, leaves, kubespray groups, host_vars."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.render.inventory import (
    connection_vars,
    dynamic_inventory,
    groups,
    host_vars,
    inventory_json,
    inventory_yaml,
    known_hosts_lines,
)
from components.spec import load_stack_spec


@pytest.fixture(scope="module")
def lab():
    return load_stack_spec("lab")[1].spec


@pytest.fixture(scope="module")
def superpod():
    return load_stack_spec("superpod")[1].spec


def test_lab_groups_follow_the_node_roles(lab) -> None:
    g = groups(lab)
    assert g["gpu_nodes"] == ["lab-dgx-01", "lab-dgx-02", "lab-dgx-03", "lab-dgx-04"]
    assert g["subnet_managers"] == ["lab-dgx-01"]
    assert g["kube_control_plane"] == ["lab-dgx-01"] and g["etcd"] == ["lab-dgx-01"]
    assert g["kube_node"] == ["lab-dgx-02", "lab-dgx-03", "lab-dgx-04"]
    # Every lab node mounts the gpu_node exports.
    assert g["storage_clients"] == g["gpu_nodes"]


def test_lab_has_one_group_per_rail_and_its_one_leaf(lab) -> None:
    g = groups(lab)
    assert [name for name in g if name.startswith("rail_")] == [f"rail_{r}" for r in range(8)]
    assert all(len(g[f"rail_{r}"]) == 4 for r in range(8))
    assert g["leaf_lab_leaf_01"] == g["gpu_nodes"]


def test_superpod_leaves_are_per_rail(superpod) -> None:
    g = groups(superpod)
    leaves = sorted(name for name in g if name.startswith("leaf_"))
    assert len(leaves) == 8
    assert all(len(g[leaf]) == 20 for leaf in leaves)
    assert len(g["subnet_managers"]) == 2
    assert g["kube_control_plane"] == ["su1-dgx-01", "su1-dgx-02", "su1-dgx-03"]
    assert "su1-dgx-20" not in g["kube_node"]  # the spec keeps one node out of Kubernetes


def test_scratch_mount_only_on_the_hosts_that_name_it(superpod) -> None:
    mounts = {n.hostname: [m["mount_point"] for m in host_vars(superpod, n)["podforge_mounts"]] for n in superpod.nodes}
    assert "/raid/scratch" in mounts["su1-dgx-19"] and "/raid/scratch" in mounts["su1-dgx-20"]
    assert "/raid/scratch" not in mounts["su1-dgx-01"]
    assert mounts["su1-dgx-01"] == ["/mnt/models", "/mnt/datasets"]


def test_compute_hcas_are_in_rail_order_with_their_leaf_ports(lab) -> None:
    hcas = host_vars(lab, lab.node("lab-dgx-02"))["podforge_compute_hcas"]
    assert [h["rail"] for h in hcas] == list(range(8))
    # DGX A100 80GB: the compute HCAs skip mlx5_4/mlx5_5 (storage adapter).
    assert [h["device"] for h in hcas] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]
    assert [h["port"] for h in hcas] == list(range(9, 17))  # node 2, rail r → port 8 + r + 1
    assert {h["switch"] for h in hcas} == {"lab-leaf-01"}


def test_host_vars_carry_versions_addresses_and_subnet_manager(lab) -> None:
    hv = host_vars(lab, lab.node("lab-dgx-01"))
    assert hv["podforge_addresses"]["management"] == "10.199.77.11"
    assert hv["podforge_versions"]["driver"] == hv["podforge_versions"]["fabric_manager"] == "535.183.06"
    assert hv["podforge_subnet_manager"] == [{"fabric": "lab-ib", "priority": 15, "device": "mlx5_0"}]
    assert host_vars(lab, lab.node("lab-dgx-02"))["podforge_subnet_manager"] == []
    assert hv["podforge_audit_log_days"] == 180


def test_yaml_inventory_has_kubespray_k8s_cluster_and_pinned_ssh(lab) -> None:
    doc = yaml.safe_load(inventory_yaml(lab))
    children = doc["all"]["children"]
    assert set(children["k8s_cluster"]["children"]) == {"kube_control_plane", "kube_node"}
    host = doc["all"]["hosts"]["lab-dgx-03"]
    assert host["ansible_host"] == "10.199.77.13"
    args = host["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=" in args and ".lab/known_hosts" in args
    assert "StrictHostKeyChecking=no" not in args
    assert "server 10.199.77.1 iburst" in host["podforge_files"]["/etc/chrony/chrony.conf"]


def test_list_json_has_meta_hostvars_and_every_group(superpod) -> None:
    data = json.loads(inventory_json(superpod))
    assert set(data["_meta"]["hostvars"]) == {n.hostname for n in superpod.nodes}
    assert data["rail_7"]["hosts"][0] == "su1-dgx-01"
    assert data["k8s_cluster"]["children"] == ["kube_control_plane", "kube_node"]
    assert "k8s_cluster" in data["all"]["children"]


def test_no_kubespray_groups_without_kubernetes_roles() -> None:
    data = dynamic_inventory({"a": {}}, {"gpu_nodes": ["a"]})
    assert "k8s_cluster" not in data and data["gpu_nodes"] == {"hosts": ["a"]}


def test_known_hosts_lines_match_the_management_address(lab, tmp_path: Path) -> None:
    file = tmp_path / "known_hosts"
    file.write_text("10.199.77.11 ssh-ed25519 AAAAone\n10.199.77.12 ssh-ed25519 AAAAtwo\n"
                    "# 10.199.77.11 ssh-rsa AAAAcomment\n10.199.77.111 ssh-ed25519 AAAAother\n")
    assert known_hosts_lines(lab.node("lab-dgx-01"), known_hosts=file) == ["10.199.77.11 ssh-ed25519 AAAAone"]
    assert known_hosts_lines(lab.node("lab-dgx-04"), known_hosts=file) == []


def test_a_key_pinned_in_the_spec_goes_to_ssh_without_a_file() -> None:
    args = connection_vars("10.199.77.20", 22, "root", None, ["10.199.77.20 ssh-ed25519 AAAAkey"])
    common = args["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in common and "KnownHostsCommand=/bin/echo 10.199.77.20 ssh-ed25519 AAAAkey" in common


def test_inventory_command_prints_yaml_and_json(capsys) -> None:
    assert main(["inventory", "--stack", "lab"]) == 0
    assert "lab-dgx-04" in yaml.safe_load(capsys.readouterr().out)["all"]["hosts"]
    assert main(["inventory", "--stack", "lab", "--list"]) == 0
    assert json.loads(capsys.readouterr().out)["subnet_managers"] == {"hosts": ["lab-dgx-01"]}


def test_inventory_command_unknown_stack_exits_2() -> None:
    assert main(["inventory", "--stack", "nope"]) == 2


def test_ansible_reads_the_list_output_as_an_inventory_script(tmp_path: Path) -> None:
    script = tmp_path / "inventory.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m components.cli inventory --stack lab \"$@\"\n")
    script.chmod(0o755)
    venv_bin = Path(sys.executable).parent
    out = subprocess.run([str(venv_bin / "ansible-inventory"), "-i", str(script), "--graph", "k8s_cluster"],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert "@kube_control_plane" in out.stdout and "lab-dgx-01" in out.stdout


def test_rendered_files_are_keyed_by_install_path(lab) -> None:
    sm = host_vars_files(lab, "lab-dgx-01")
    assert {"/etc/chrony/chrony.conf", "/etc/nccl.conf", "/etc/opensm/lab-ib/opensm.conf",
            "/etc/opensm/lab-ib/partitions.conf"} <= set(sm)
    assert "/etc/opensm/lab-ib/opensm.conf" not in host_vars_files(lab, "lab-dgx-02")
    assert "NCCL_IB_HCA==mlx5_0:1" in sm["/etc/nccl.conf"]


def test_package_sources_and_serving_come_from_the_spec(lab, superpod) -> None:
    hv = host_vars(superpod, superpod.nodes[0])
    assert [s["name"] for s in hv["podforge_package_sources"]] == ["nvidia-cuda", "nvidia-doca", "su1-mirror"]
    assert hv["podforge_serving"]["tensor_parallel_size"] == 8
    assert host_vars(lab, lab.nodes[0])["podforge_serving"] is None
    assert "inference_local" not in groups(lab)


def host_vars_files(spec, hostname: str) -> dict[str, str]:
    from components.render.inventory import rendered_files

    return rendered_files(spec, spec.node(hostname))
