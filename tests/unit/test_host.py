"""The host view: one pass over the spec gives each node's identity, addresses, cabling, mounts, groups and pin,
and its host_vars and rendered files are exactly the ones recorded for every host of both example stacks
(tests/fixtures/hosts, written by the inventory renderer the views replace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.host import group_members, host_views
from components.spec import load_stack_spec

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_host_vars_and_files_are_the_recorded_ones_key_order_included(stack: str, tmp_path: Path) -> None:
    recorded = json.loads((HOSTS / f"{stack}.json").read_text())
    views = host_views(load_stack_spec(stack)[1].spec, tmp_path)
    assert list(views) == list(recorded)
    for hostname, view in views.items():
        host_vars, files = view.host_vars(), view.files()
        assert host_vars == recorded[hostname]["host_vars"], hostname
        assert list(host_vars) == list(recorded[hostname]["host_vars"]), hostname
        assert files == recorded[hostname]["files"], hostname


def test_views_hold_rail_ordered_hcas_with_their_leaf_ports_and_the_storage_cabling(superpod, tmp_path) -> None:
    view = host_views(superpod, tmp_path)["su1-dgx-02"]
    assert [h.rail for h in view.compute_hcas] == list(range(8))
    assert [(h.device, h.switch, h.port) for h in view.compute_hcas][:5] == [
        ("mlx5_0", "su1-leaf-r0", 2), ("mlx5_1", "su1-leaf-r1", 2), ("mlx5_2", "su1-leaf-r2", 2),
        ("mlx5_3", "su1-leaf-r3", 2), ("mlx5_6", "su1-leaf-r4", 2)]
    assert [(h.device, h.switch) for h in view.storage_hcas] == [("mlx5_4", "su1-sleaf-01"), ("mlx5_10", "su1-sleaf-02")]
    assert {p.label for p in view.leaf_ports if p.fabric == "su1-storage"} == {"su1-sleaf-01/2", "su1-sleaf-02/2"}
    assert len(view.leaf_ports) == 10
    assert view.addresses == {"management": "10.10.0.12", "inband": "10.10.16.12", "storage": "10.10.24.12",
                              "bmc": "10.10.8.12"}
    assert [m.mount_point for m in view.mounts] == ["/mnt/models", "/mnt/datasets"]
    # The storage fabric is RoCE (no subnet manager): only the compute fabric's OpenSM instance runs here.
    assert [(d.fabric, d.priority, d.device) for d in view.subnet_manager] == [("su1-compute", 14, "mlx5_0")]


def test_groups_per_host_add_up_to_the_inventory_groups(lab, tmp_path) -> None:
    views = host_views(lab, tmp_path)
    members = group_members(views.values())
    assert list(members)[:6] == ["gpu_nodes", "subnet_managers", "storage_clients", "kube_control_plane", "kube_node",
                                 "etcd"]
    assert [g for g in members if g.startswith("rail_")] == [f"rail_{r}" for r in range(8)]
    assert members["subnet_managers"] == ["lab-dgx-01"] and members["leaf_lab_leaf_01"] == list(views)
    assert views["lab-dgx-02"].groups == ("gpu_nodes", "storage_clients", "kube_node", *(f"rail_{r}" for r in range(8)),
                                          "leaf_lab_leaf_01")


def test_the_pin_names_the_known_hosts_file_in_the_project(lab, tmp_path) -> None:
    login = host_views(lab, tmp_path)["lab-dgx-03"].login
    assert (login.address, login.port, login.user) == ("10.199.77.13", 22, "root")
    assert login.known_hosts == ".lab/known_hosts" and login.known_hosts_file == tmp_path / ".lab" / "known_hosts"
    assert login.host_key is None


def test_host_vars_are_fresh_objects_for_each_call(lab, tmp_path) -> None:
    view = host_views(lab, tmp_path)["lab-dgx-01"]
    first = view.host_vars()
    first["podforge_versions"]["driver"] = "changed"
    first["podforge_ntp_servers"].append("changed")
    assert view.host_vars()["podforge_versions"]["driver"] == "535.183.06"
    assert "changed" not in view.host_vars()["podforge_ntp_servers"]
