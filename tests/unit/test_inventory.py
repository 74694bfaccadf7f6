"""The inventory rendered from the example specs: groups, rails, leaves, kubespray groups, host_vars, connection
settings, and that it is the very inventory a rollout hands to Ansible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from components.cli import main
from components.commands import rollout as rollout_command
from components.host import group_members, host_views
from components.provisioning import runner as runner_module
from components.provisioning.target import host_targets, inventory
from components.render.inventory import dynamic_inventory, inventory_json, inventory_yaml
from tests.unit.plan_roots import example_spec, stack_root

LAB_PINS = "".join(f"10.199.77.1{n} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL{n}\n" for n in range(1, 5))


def groups(spec) -> dict[str, list[str]]:
    return group_members(host_views(spec).values())


def host_vars(spec, hostname: str) -> dict:
    return host_views(spec)[hostname].host_vars()


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
    mounts = {h: [m.mount_point for m in v.mounts] for h, v in host_views(superpod).items()}
    assert "/raid/scratch" in mounts["su1-dgx-19"] and "/raid/scratch" in mounts["su1-dgx-20"]
    assert "/raid/scratch" not in mounts["su1-dgx-01"]
    assert mounts["su1-dgx-01"] == ["/mnt/models", "/mnt/datasets"]


def test_compute_hcas_are_in_rail_order_with_their_leaf_ports(lab) -> None:
    hcas = host_vars(lab, "lab-dgx-02")["podforge_compute_hcas"]
    assert [h["rail"] for h in hcas] == list(range(8))
    # DGX A100 80GB: the compute HCAs skip mlx5_4/mlx5_5 (storage adapter).
    assert [h["device"] for h in hcas] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]
    assert [h["port"] for h in hcas] == list(range(9, 17))  # node 2, rail r → port 8 + r + 1
    assert {h["switch"] for h in hcas} == {"lab-leaf-01"}


def test_host_vars_carry_versions_addresses_and_subnet_manager(lab) -> None:
    hv = host_vars(lab, "lab-dgx-01")
    assert hv["podforge_addresses"]["management"] == "10.199.77.11"
    assert hv["podforge_versions"]["driver"] == hv["podforge_versions"]["fabric_manager"] == "535.183.06"
    assert hv["podforge_subnet_manager"] == [{"fabric": "lab-ib", "priority": 15, "device": "mlx5_0"}]
    assert host_vars(lab, "lab-dgx-02")["podforge_subnet_manager"] == []
    assert hv["podforge_audit_log_days"] == 180


def test_yaml_inventory_has_kubespray_k8s_cluster_and_pinned_ssh(lab) -> None:
    hosts, members = inventory(host_targets(host_views(lab)))
    doc = yaml.safe_load(inventory_yaml("lab", hosts, members))
    children = doc["all"]["children"]
    assert set(children["k8s_cluster"]["children"]) == {"kube_control_plane", "kube_node"}
    host = doc["all"]["hosts"]["lab-dgx-03"]
    assert host["ansible_host"] == "10.199.77.13"
    args = host["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=" in args and ".lab/known_hosts" in args
    assert "StrictHostKeyChecking=no" not in args
    assert "server 10.199.77.1 iburst" in host["podforge_files"]["/etc/chrony/chrony.conf"]


def test_list_json_has_meta_hostvars_and_every_group(superpod) -> None:
    data = json.loads(inventory_json(*inventory(host_targets(host_views(superpod)))))
    assert set(data["_meta"]["hostvars"]) == {n.hostname for n in superpod.nodes}
    assert data["rail_7"]["hosts"][0] == "su1-dgx-01"
    assert data["k8s_cluster"]["children"] == ["kube_control_plane", "kube_node"]
    assert "k8s_cluster" in data["all"]["children"]


def test_no_kubespray_groups_without_kubernetes_roles() -> None:
    data = dynamic_inventory({"a": {}}, {"gpu_nodes": ["a"]})
    assert "k8s_cluster" not in data and data["gpu_nodes"] == {"hosts": ["a"]}


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
    views = host_views(lab)
    sm = views["lab-dgx-01"].files()
    assert {"/etc/chrony/chrony.conf", "/etc/nccl.conf", "/etc/opensm/lab-ib/opensm.conf",
            "/etc/opensm/lab-ib/partitions.conf"} <= set(sm)
    assert "/etc/opensm/lab-ib/opensm.conf" not in views["lab-dgx-02"].files()
    assert "NCCL_IB_HCA==mlx5_0:1" in sm["/etc/nccl.conf"]


def test_package_sources_and_serving_come_from_the_spec(lab, superpod) -> None:
    hv = host_vars(superpod, "su1-dgx-01")
    assert [s["name"] for s in hv["podforge_package_sources"]] == ["nvidia-cuda", "nvidia-doca", "su1-mirror"]
    assert hv["podforge_serving"]["tensor_parallel_size"] == 8
    assert host_vars(lab, "lab-dgx-02")["podforge_serving"]["model"]["name"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert "inference_local" not in groups(lab)


def test_the_inventory_names_the_stacks_automation_key_or_the_one_given(monkeypatch, capsys) -> None:
    monkeypatch.delenv("PODFORGE_SSH_PRIVATE_KEY_FILE", raising=False)
    assert main(["inventory", "--stack", "lab", "--host", "lab-dgx-02"]) == 0
    host = json.loads(capsys.readouterr().out)
    assert host["ansible_ssh_private_key_file"] == str(Path.cwd() / ".lab" / "id_ed25519")  # Pulumi.lab.yaml's
    assert main(["inventory", "--stack", "lab", "--host", "lab-dgx-02", "--ssh-key", "keys/automation"]) == 0
    assert json.loads(capsys.readouterr().out)["ansible_ssh_private_key_file"] == str(Path.cwd() / "keys/automation")
    assert main(["inventory", "--stack", "superpod", "--host", "su1-dgx-01"]) == 0  # no key named: the ssh-agent
    assert "ansible_ssh_private_key_file" not in json.loads(capsys.readouterr().out)


class _Ansible:
    """ansible_runner.run as the runner calls it: keeps the inventory file the runner wrote, as Ansible would read
    it, and reports every host ok (nothing is run)."""

    def __init__(self) -> None:
        self.inventories: list[dict] = []

    def __call__(self, **kwargs):
        self.inventories.append(json.loads(Path(kwargs["inventory"]).read_text()))
        hosts = {h: 1 for h in self.inventories[-1]["all"]["hosts"]}
        return SimpleNamespace(rc=0, status="successful", stats={"ok": hosts, "changed": {}, "processed": hosts})


def _roll_out_and_print_inventory(monkeypatch, capsys, state_file: Path, project: list[str],
                                  shared: list[str]) -> tuple[list[dict], dict]:
    """The inventories `podforge rollout` wrote, and the one `podforge inventory` prints, with the options `shared`."""
    ansible = _Ansible()
    monkeypatch.setattr(runner_module.ansible_runner, "run", ansible)
    monkeypatch.setattr(rollout_command, "lab_is_down", lambda spec: False)
    assert main([*project, "rollout", "--stack", "lab", "--force", "--state-file", str(state_file), *shared]) == 0
    capsys.readouterr()
    assert main([*project, "inventory", "--stack", "lab", *shared]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert main([*project, "inventory", "--stack", "lab", "--list", *shared]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == dynamic_inventory(printed["all"]["hosts"], {g: list(c["hosts"]) for g, c in
                                                                 printed["all"]["children"].items() if "hosts" in c})
    return ansible.inventories, printed


def test_the_inventory_a_rollout_writes_is_the_one_podforge_inventory_prints(tmp_path, monkeypatch, capsys) -> None:
    # The lab stack in one wave: its site run and its health gate cover every host, so each writes the whole inventory.
    one_wave = example_spec("lab").replace("wave_size: 2", "wave_size: 4").replace("max_unavailable: 2",
                                                                                    "max_unavailable: 4")
    (tmp_path / "project").mkdir()
    root = stack_root(tmp_path / "project", "lab", spec_text=one_wave)
    (root / ".lab").mkdir()
    (root / ".lab" / "known_hosts").write_text(LAB_PINS)
    (root / ".lab" / "id_ed25519").write_text("not a real key\n")
    monkeypatch.delenv("PODFORGE_SSH_PRIVATE_KEY_FILE", raising=False)
    written, printed = _roll_out_and_print_inventory(monkeypatch, capsys, tmp_path / "state.json",
                                                     ["--project-dir", str(root)], [])
    assert len(written) == 2  # site.yml, then the health gate
    assert written[0] == written[1] == printed
    host = printed["all"]["hosts"]["lab-dgx-01"]
    assert host["ansible_ssh_private_key_file"] == str(root / ".lab" / "id_ed25519")
    assert f"UserKnownHostsFile={root / '.lab' / 'known_hosts'}" in host["ansible_ssh_common_args"]


def test_each_wave_of_a_rollout_gets_its_hosts_of_that_inventory(tmp_path, monkeypatch, capsys) -> None:
    pins = tmp_path / "known_hosts"
    pins.write_text(LAB_PINS)
    key = tmp_path / "id_automation"
    key.write_text("not a real key\n")
    written, printed = _roll_out_and_print_inventory(monkeypatch, capsys, tmp_path / "state.json", [],
                                                     ["--ssh-key", str(key), "--known-hosts", str(pins)])
    assert [sorted(w["all"]["hosts"]) for w in written] == [["lab-dgx-01", "lab-dgx-02"]] * 2 + [
        ["lab-dgx-03", "lab-dgx-04"]] * 2
    for run in written:
        for hostname, host in run["all"]["hosts"].items():
            assert host == printed["all"]["hosts"][hostname]
            assert host["ansible_ssh_private_key_file"] == str(key)
        for group, child in run["all"]["children"].items():
            members = printed["all"]["children"][group].get("hosts") or {}
            assert child.get("hosts", {}) == {h: None for h in members if h in run["all"]["hosts"]}, group
