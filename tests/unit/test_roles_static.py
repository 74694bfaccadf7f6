"""The GPU node roles, read without running them: every role has its files, every variable in defaults/main.yml is
documented there and declared in meta/argument_specs.yml (and nothing else is), the plays apply the roles to the
right groups, steps that cannot run in the lab say "simulated:", and ansible-lint's production profile and
ansible-playbook --syntax-check pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
ROLES = ["nvidia_driver", "doca_ofed", "nccl", "container_runtime", "dcgm", "storage_client", "opensm",
         "inference_local", "acceptance"]
BIN = Path(sys.executable).parent
REQUIRED_FILES = ["defaults/main.yml", "tasks/main.yml", "handlers/main.yml", "meta/main.yml", "meta/argument_specs.yml"]


def load(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def defaults_of(role: str) -> dict[str, object]:
    return load(PLAYBOOKS / "roles" / role / "defaults" / "main.yml") or {}


def options_of(role: str) -> dict[str, dict[str, object]]:
    spec = load(PLAYBOOKS / "roles" / role / "meta" / "argument_specs.yml")
    assert isinstance(spec, dict)
    return spec["argument_specs"]["main"]["options"]


def ansible_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_defaults_tasks_handlers_and_meta(role: str) -> None:
    missing = [f for f in REQUIRED_FILES if not (PLAYBOOKS / "roles" / role / f).is_file()]
    assert missing == []
    meta = load(PLAYBOOKS / "roles" / role / "meta" / "main.yml")
    assert isinstance(meta, dict) and meta["galaxy_info"]["role_name"] == role
    assert meta["dependencies"] == []


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_declare_exactly_the_defaults(role: str) -> None:
    options = options_of(role)
    assert sorted(options) == sorted(defaults_of(role))
    for name, option in options.items():
        assert option.get("description"), f"{role}: {name} has no description"
        assert option.get("type"), f"{role}: {name} has no type"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_by_a_comment(role: str) -> None:
    """Each variable sits in a block (lines between blank lines) that holds a comment saying what it is."""
    text = (PLAYBOOKS / "roles" / role / "defaults" / "main.yml").read_text()
    undocumented = []
    for block in re.split(r"\n\s*\n", text):
        keys = re.findall(r"^([a-z_][a-z0-9_]*):", block, re.M)
        if keys and not re.search(r"^\s*#", block, re.M):
            undocumented += keys
    assert undocumented == []


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role: str) -> None:
    prefix = "nccl" if role == "nccl" else role
    assert [v for v in defaults_of(role) if not v.startswith(prefix + "_")] == []


def debug_messages(role: str) -> list[str]:
    out = []
    for path in sorted((PLAYBOOKS / "roles" / role / "tasks").glob("*.yml")):
        for task in load(path) or []:
            if "ansible.builtin.debug" in task:
                out.append(str(task["ansible.builtin.debug"]["msg"]).strip())
    return out


@pytest.mark.parametrize("role", ROLES)
def test_steps_the_lab_cannot_run_report_simulated(role: str) -> None:
    """Each role with hardware steps gates them and reports them with a message starting "simulated:"."""
    messages = debug_messages(role)
    assert any(m.startswith("simulated:") for m in messages)
    assert [m for m in messages if "simulated" in m and not m.startswith("simulated:")] == []


def test_gpu_play_applies_each_role_to_its_group() -> None:
    plays = load(PLAYBOOKS / "gpu.yml")
    assert isinstance(plays, list)
    applied = {play["hosts"]: [r["role"] for r in play.get("roles", [])] for play in plays}
    # DOCA-OFED before the driver: nvidia_peermem needs the RDMA stack's peer-memory API.
    assert applied["gpu_nodes"] == ["doca_ofed", "nvidia_driver", "nccl", "container_runtime", "dcgm"]
    assert applied["storage_clients"] == ["storage_client"]
    assert applied["subnet_managers"] == ["opensm"]
    assert applied["inference_local"] == ["inference_local"]
    # Package sources come first, on every host a later play touches.
    assert set(plays[0]["hosts"].split(":")) == {"gpu_nodes", "subnet_managers", "storage_clients", "inference_local"}
    for play in plays[1:]:
        assert "virtual" in play["gather_subset"]  # the roles decide `simulated` from virtualization facts


def test_acceptance_play_stops_the_wave_at_the_first_failed_node() -> None:
    (play,) = load(PLAYBOOKS / "acceptance.yml")  # type: ignore[misc]
    assert play["hosts"] == "gpu_nodes"
    assert play["max_fail_percentage"] == 0
    assert [r["role"] for r in play["roles"]] == ["acceptance"]


def test_driver_refusal_is_the_first_task() -> None:
    tasks = load(PLAYBOOKS / "roles" / "nvidia_driver" / "tasks" / "main.yml")
    assert isinstance(tasks, list)
    first = tasks[0]
    assert "ansible.builtin.assert" in first
    assert "nvidia_driver_fabric_manager_version == nvidia_driver_version" in first["ansible.builtin.assert"]["that"]


@pytest.mark.parametrize("playbook", ["gpu.yml", "acceptance.yml"])
def test_playbook_syntax(playbook: str, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {g: {"hosts": {"n1": None}} for g in
                                                              ("gpu_nodes", "subnet_managers", "storage_clients",
                                                               "inference_local")}}}))
    done = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inventory),
                           str(PLAYBOOKS / playbook)], capture_output=True, text=True, env=ansible_env(), timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ansible_lint_production_profile() -> None:
    if not (BIN / "ansible-lint").exists():
        pytest.skip("ansible-lint is not installed in the venv")
    paths = [str(PLAYBOOKS / "gpu.yml"), str(PLAYBOOKS / "acceptance.yml")] + [str(PLAYBOOKS / "roles" / r) for r in ROLES]
    done = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--profile", "production", "--nocolor", *paths],
                          capture_output=True, text=True, env=ansible_env(), cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rendered_inventory_carries_what_the_roles_read() -> None:
    """The host_vars shapes the role defaults map from (components/host.py), for every lab node."""
    from components.host import host_views
    from components.spec import load_stack_spec

    for view in host_views(load_stack_spec("lab")[1].spec).values():
        hv = view.host_vars()
        assert {"driver_branch", "driver", "fabric_manager", "doca_ofed", "nccl", "nccl_tests", "container_toolkit",
                "dcgm"} <= set(hv["podforge_versions"])
        assert {"name", "gpu_count", "nvswitch", "firmware", "allreduce_multinode_busbw_floor_gbs"} <= set(hv["podforge_sku"])
        assert {"gpu_vbios", "compute_hca", "storage_hca"} <= set(hv["podforge_sku"]["firmware"])
        assert set(hv["podforge_nccl_tests"]) == {"version", "url", "sha256"}
        assert all({"device", "rate_gbps"} <= set(h) for h in hv["podforge_storage_hca_ports"])
        assert all({"device", "rate_gbps", "netdev"} <= set(h) for h in hv["podforge_compute_hcas"])
        assert all({"export", "servers", "path", "protocol", "mount_point", "options"} <= set(m)
                   for m in hv["podforge_mounts"])
        assert all({"fabric", "priority"} <= set(sm) for sm in hv["podforge_subnet_manager"])
        assert isinstance(hv["podforge_lab"], bool) and isinstance(hv["podforge_roles"], list)


def test_nccl_builds_nccl_tests_from_its_checked_tarball_into_a_versioned_directory() -> None:
    """The release is fetched with the spec's sha256, unpacked and built with MPI, each step idempotent (creates);
    no nccl-tests package is installed or held."""
    tasks = load(PLAYBOOKS / "roles" / "nccl" / "tasks" / "nccl_tests.yml")
    assert isinstance(tasks, list)
    (build,) = [t for t in tasks if "block" in t]
    steps = {next(k for k in t if k.startswith("ansible.builtin.")): t[next(k for k in t if k.startswith("ansible."))]
             for t in build["block"]}
    assert steps["ansible.builtin.get_url"]["checksum"] == "sha256:{{ nccl_tests_sha256 }}"
    assert steps["ansible.builtin.unarchive"]["creates"].startswith("{{ nccl_tests_dir }}/")
    make = steps["ansible.builtin.command"]
    assert make["argv"][0] == "make" and "MPI=1" in make["argv"]
    assert {a.split("=")[0] for a in make["argv"] if "=" in a} >= {"MPI", "MPI_HOME", "CUDA_HOME", "NCCL_HOME"}
    assert make["creates"] == "{{ nccl_tests_dir }}/src/build/all_reduce_perf"
    assert "{{ nccl_tests_version }}" in defaults_of("nccl")["nccl_tests_dir"]  # type: ignore[operator]
    installed = [t for t in load(PLAYBOOKS / "roles" / "nccl" / "tasks" / "main.yml")  # type: ignore[union-attr]
                 if "ansible.builtin.apt" in t or "ansible.builtin.dpkg_selections" in t]
    assert installed and not any("nccl_tests" in yaml.safe_dump(t) or "nccl-tests" in yaml.safe_dump(t)
                                 for t in installed)


def test_acceptance_runs_the_binary_the_nccl_role_builds() -> None:
    """Both roles name the same versioned build directory (the acceptance role cannot read the nccl role's vars)."""
    built = str(defaults_of("nccl")["nccl_tests_dir"]).replace("{{ nccl_tests_version }}",
                                                              "{{ podforge_versions['nccl_tests'] }}")
    assert defaults_of("acceptance")["acceptance_all_reduce_binary"] == built + "/src/build/all_reduce_perf"


def test_the_multinode_all_reduce_runs_once_per_wave_after_the_node_checks() -> None:
    main = load(PLAYBOOKS / "roles" / "acceptance" / "tasks" / "main.yml")
    assert isinstance(main, list)
    assert main[-1]["ansible.builtin.include_tasks"] == "multinode.yml"
    tasks = load(PLAYBOOKS / "roles" / "acceptance" / "tasks" / "multinode.yml")
    assert isinstance(tasks, list) and all(t.get("run_once") is True for t in tasks)
