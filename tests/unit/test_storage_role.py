"""The storage_client role for every protocol of the examples: its plan (mount units, nvme connect arguments,
discovery lines, packages) from the superpod's real host vars, the host view spreading nodes over the array's
addresses, and ansible-playbook --check of the role on this machine (local connection; nothing is installed,
written or mounted) with the rendered units read from its diff."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.host import host_views
from components.spec import load_stack_spec
from components.verify.checks.storage import mount_unit_name as verify_unit_name

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "playbooks" / "roles" / "storage_client"
BIN = Path(sys.executable).parent
_spec = importlib.util.spec_from_file_location("storage_client_filters", ROLE / "filter_plugins" / "storage_client.py")
assert _spec is not None and _spec.loader is not None
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
NQN = "nqn.1992-08.com.netapp:sn.6f0ac1e2b9d411eeb1a3d039ea3b1c2e:subsystem.su1-dgx-20"


@pytest.fixture(scope="module")
def superpod_vars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    views = host_views(load_stack_spec("superpod")[1].spec, tmp_path_factory.mktemp("root"))
    return {name: view.host_vars() for name, view in views.items()}


def plan(host_vars: dict[str, Any]) -> dict[str, Any]:
    return plugin.storage_client_plan(host_vars["podforge_mounts"], DEFAULTS["storage_client_base_options"],
                                      DEFAULTS["storage_client_packages"], DEFAULTS["storage_client_rdma_packages"])


def test_every_protocol_gets_its_unit_packages_and_nvme_connect(superpod_vars) -> None:
    got = plan(superpod_vars["su1-dgx-20"])
    assert got["packages"] == ["nfs-common", "rdma-core", "nvme-cli"]
    units = {u["unit"]: u for u in got["units"]}
    assert list(units) == ["mnt-models.mount", "mnt-datasets.mount", "raid-scratch.mount"]
    assert (units["mnt-models.mount"]["what"], units["mnt-models.mount"]["type"]) == ("10.10.24.204:/models", "nfs")
    assert units["mnt-models.mount"]["options"] == ["ro", "vers=4.1", "proto=rdma", "port=20049", "nconnect=16",
                                                    "_netdev"]
    scratch = units["raid-scratch.mount"]
    assert (scratch["what"], scratch["type"], scratch["options"]) == ("/dev/disk/by-label/scratch-20", "xfs",
                                                                      ["noatime", "_netdev"])
    assert scratch["after"] == ["nvmf-autoconnect.service"]
    assert got["connects"][0]["args"] == [
        "nvme", "connect", "--transport=tcp", "--traddr=10.10.24.201", "--trsvcid=4420", f"--nqn={NQN}",
        "--nr-io-queues=8"]
    assert [c["server"] for c in got["connects"]] == ["10.10.24.201", "10.10.24.202", "10.10.24.203", "10.10.24.204"]
    assert got["discovery"] == [f"--transport=tcp --traddr=10.10.24.20{k} --trsvcid=8009 --nr-io-queues=8"
                                for k in range(1, 5)]
    assert [u["lab_mountable"] for u in got["units"]] == [False, False, False]


def test_nfs_over_rdma_gets_proto_and_port_when_the_spec_leaves_them_out() -> None:
    mount = {"export": "a/b", "servers": ["10.0.0.1"], "path": "/b", "protocol": "nfs-rdma", "mount_point": "/b",
             "options": ["vers=4.1"]}
    assert plugin.mount_options(mount, ["_netdev"]) == ["vers=4.1", "proto=rdma", "port=20049", "_netdev"]
    tcp = {**mount, "protocol": "nfs", "options": ["vers=4.1"]}
    assert plugin.mount_options(tcp, ["_netdev"]) == ["vers=4.1", "_netdev"]
    rdma_nvme = {**mount, "protocol": "nvme-of", "nvme": {"transport": "rdma", "nqn": NQN, "filesystem": "ext4",
                                                         "label": "b", "options": []}}
    got = plugin.storage_client_plan([rdma_nvme], ["_netdev"], DEFAULTS["storage_client_packages"], ["rdma-core"])
    assert got["packages"] == ["nvme-cli", "rdma-core"]
    assert got["discovery"] == ["--transport=rdma --traddr=10.0.0.1 --trsvcid=4420"]


def test_the_nodes_spread_over_the_arrays_data_addresses(superpod_vars) -> None:
    first = Counter(m["servers"][0] for hv in superpod_vars.values() for m in hv["podforge_mounts"]
                    if m["export"] == "su1-flash-01/models")
    assert first == {f"10.10.24.20{k}": 5 for k in range(1, 5)}
    assert all(sorted(m["servers"]) == [f"10.10.24.20{k}" for k in range(1, 5)]
               for hv in superpod_vars.values() for m in hv["podforge_mounts"])


@pytest.mark.parametrize("path", ["/raid/scratch", "/mnt/my-data", "/mnt/a.b/c_d", "/srv/x/"])
def test_unit_names_are_systemd_escaped_like_verify_reads_them(path: str) -> None:
    assert plugin.mount_unit_name(path) == verify_unit_name(path)
    escape = shutil.which("systemd-escape")
    if escape:
        done = subprocess.run([escape, "--path", "--suffix=mount", path], capture_output=True, text=True, check=True)
        assert plugin.mount_unit_name(path) == done.stdout.strip()


def run_check(tmp: Path, host_vars: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """ansible-playbook --check --diff of the role on localhost; the json callback's result."""
    play = [{"name": "storage_client under test", "hosts": "localhost", "connection": "local", "gather_facts": True,
             "gather_subset": ["!all", "min", "virtual"], "roles": [{"role": "storage_client"}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    (tmp / "vars.json").write_text(json.dumps({**host_vars, **(extra or {})}))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
           "ANSIBLE_DEPRECATION_WARNINGS": "False", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    done = subprocess.run([str(BIN / "ansible-playbook"), "--check", "--diff", "-i", "localhost,", "-e",
                           f"@{tmp / 'vars.json'}", str(tmp / "play.yml")], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return json.loads(done.stdout[start:])


def task_results(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [task["hosts"]["localhost"] for play in result["plays"] for task in play["tasks"]
            if task["task"]["name"].split(" : ", 1)[-1] == name and "localhost" in task["hosts"]]


def rendered(result: dict[str, Any], name: str) -> list[str]:
    out = []
    for res in task_results(result, name):
        for item in res.get("results", [res]):
            diffs = item.get("diff") or []
            out.extend(d["after"] for d in (diffs if isinstance(diffs, list) else [diffs]) if "after" in d)
    return out


def test_the_role_checks_clean_for_the_superpod_node_with_every_protocol(tmp_path: Path, superpod_vars) -> None:
    result = run_check(tmp_path, superpod_vars["su1-dgx-20"])
    assert result["stats"]["localhost"]["failures"] == 0, json.dumps(result)[:4000]
    units = rendered(result, "Write one systemd mount unit per mount")
    assert len(units) == 3
    assert "What=10.10.24.204:/models\nWhere=/mnt/models\nType=nfs\n" in units[0]
    assert "Options=ro,vers=4.1,proto=rdma,port=20049,nconnect=16,_netdev\n" in units[0]
    assert "What=/dev/disk/by-label/scratch-20\nWhere=/raid/scratch\nType=xfs\n" in units[2]
    assert "After=network-online.target nvmf-autoconnect.service\n" in units[2]
    assert "WantedBy=remote-fs.target" in units[2]
    (discovery,) = rendered(result, "Write the discovery controllers, one per portal (read by nvme connect-all)")
    assert [line for line in discovery.splitlines() if line.startswith("--")] == [
        f"--transport=tcp --traddr=10.10.24.20{k} --trsvcid=8009 --nr-io-queues=8" for k in range(1, 5)]


def test_a_node_without_nvme_mounts_plans_no_nvme_configuration(superpod_vars) -> None:
    got = plan(superpod_vars["su1-dgx-01"])
    assert (got["nvme"], got["connects"], got["discovery"]) == (False, [], [])
    assert got["packages"] == ["nfs-common", "rdma-core"]
    assert [u["unit"] for u in got["units"]] == ["mnt-models.mount", "mnt-datasets.mount"]


def test_on_a_lab_host_only_the_mounts_the_kernel_cannot_do_are_simulated(tmp_path: Path, superpod_vars) -> None:
    """This machine's own virtualization type stands in for the lab's nspawn hosts."""
    result = run_check(tmp_path, superpod_vars["su1-dgx-20"], {
        "storage_client_simulated_virtualization_types": ["systemd-nspawn", "docker", "container", "podman", "lxc"]})
    messages = [item.get("msg", "") for res in task_results(result, "Report the mounts the lab cannot do as simulated")
                for item in res.get("results", [])]
    if not any(messages):
        pytest.skip("this machine is not a container, so the lab branch cannot be taken here")
    assert result["stats"]["localhost"]["failures"] == 0
    assert [m.split(" (")[0] for m in messages] == ["simulated: su1-flash-01/models", "simulated: su1-flash-01/datasets",
                                                   "simulated: su1-flash-01/scratch-20"]
    assert all("this kernel cannot mount" in m for m in messages)
    assert len(rendered(result, "Write one systemd mount unit per mount")) == 3
