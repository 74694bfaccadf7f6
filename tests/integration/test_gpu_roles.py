"""The GPU node roles (playbooks/gpu.yml, playbooks/acceptance.yml) against the lab hall: stand-in NVIDIA packages
from a flat repository on the lab bridge, real Debian packages, real systemd, real reboots.

What needs GPUs, RDMA or kernel modules reports "simulated:" in the play output; these tests check what the lab
can show for real: pinned and held packages, installed files, units, idempotency, the driver / Fabric Manager
refusal before any change, an upgrade that swaps both packages together and reboots, and the acceptance gate
failing a node marked failing.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.artifacts import stack_artifacts
from components.cli import main as podforge
from components.host import host_views
from components.provisioning.rollout import RolloutReport
from components.provisioning.runner import RunResult, TaskEvent, run_playbook
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec
from components.standins import build_stack_repositories, serve_directory

pytestmark = pytest.mark.lab

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
UPGRADE = "535.216.01"  # a second stand-in driver branch version, served beside the spec's
# Roles and the Debian packages (not stand-ins) each needs from the lab's image; a role whose package the image
# lacks cannot converge there and its tests skip, naming the package.
DEBIAN_PACKAGES = {"container_runtime": ["containerd"], "dcgm": ["prometheus-node-exporter"], "opensm": ["opensm"],
                   "storage_client": ["nfs-common"]}
GPU_NODE_ROLES = ["nvidia_driver", "doca_ofed", "nccl", "container_runtime", "dcgm"]


@pytest.fixture(scope="session")
def spec():
    return load_stack_spec("lab")[1].spec


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def standin_repository(lab, spec, tmp_path_factory) -> Iterator[str]:
    """The spec's stand-in repository answering at its URL on the lab bridge: the lab's own when it serves one,
    else one built and served for this session (with a second driver version for the upgrade test)."""
    source = spec.software.sources[0]
    if _answers(f"{source.url}/Packages"):
        yield source.url
        return
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed: the stand-in repository cannot be built")
    root = tmp_path_factory.mktemp("standins")
    build_stack_repositories(spec, root, driver_versions=(UPGRADE,))
    host, port = source.url.split("//", 1)[1].split("/", 1)[0].split(":")
    with serve_directory(root, host, int(port)):
        yield source.url


@pytest.fixture(scope="session")
def targets(lab, spec, standin_repository) -> dict[str, HostTarget]:
    """The hosts as the rendered inventory gives them (package sources and fabric files included), once the
    stand-in repository answers."""
    return {t.hostname: t for t in host_targets(host_views(spec), lab.known_hosts)}


def missing_debian_packages(lab, host: str, roles: list[str]) -> list[str]:
    """Debian packages `roles` need that the lab image lacks (lab hosts reach no Debian mirror)."""
    wanted = [p for r in roles for p in DEBIAN_PACKAGES.get(r, [])]
    return [p for p in wanted if lab.run(host, f"dpkg-query -W -f='${{Status}}' {p} 2>/dev/null").stdout.strip()
            != "install ok installed"]


def gpu_play(tmp: Path, leave_out: set[str]) -> Path:
    """playbooks/gpu.yml as it is, less the roles in `leave_out`, written to tmp."""
    plays = yaml.safe_load((PLAYBOOKS / "gpu.yml").read_text())
    for one in plays:
        if "roles" in one:
            one["roles"] = [r for r in one["roles"] if r["role"] not in leave_out]
    path = tmp / "gpu.yml"
    path.write_text(yaml.safe_dump([p for p in plays if p.get("roles", True)], sort_keys=False))
    return path


def roles_play(tmp: Path, roles: list[str], hosts: str = "all") -> Path:
    """The package-sources play of gpu.yml, then `roles` on `hosts` (facts with the virtual subset, as gpu.yml)."""
    sources = yaml.safe_load((PLAYBOOKS / "gpu.yml").read_text())[0]
    sources["hosts"] = hosts
    doc = [sources, {"name": "Roles under test", "hosts": hosts, "gather_facts": True,
                     "gather_subset": ["!all", "min", "virtual"], "roles": [{"role": r} for r in roles]}]
    path = tmp / "roles.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(lab, targets: list[HostTarget], playbook: Path, events: list[TaskEvent] | None = None) -> RunResult:
    return run_playbook(targets, playbook.name, private_key_file=lab.private_key, playbooks_dir=playbook.parent,
                        on_event=events.append if events is not None else None, timeout=900)


def shell(lab, host: str, command: str) -> str:
    done = lab.run(host, command)
    assert done.returncode == 0, f"{host}: {command}: {done.stderr}"
    return done.stdout


def dpkg_versions(lab, host: str, packages: list[str]) -> dict[str, str]:
    out = shell(lab, host, "dpkg-query -W -f='${Package} ${Version}\\n' " + " ".join(packages) + " 2>/dev/null || true")
    return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.fixture(scope="session")
def left_out(lab, spec) -> dict[str, list[str]]:
    """Roles that cannot converge in this lab (role → the Debian packages its image lacks)."""
    out: dict[str, list[str]] = {}
    for node in spec.nodes:
        for role in DEBIAN_PACKAGES:
            for package in missing_debian_packages(lab, node.hostname, [role]):
                if package not in out.setdefault(role, []):
                    out[role].append(package)
    return {role: missing for role, missing in out.items() if missing}


@pytest.fixture(scope="session")
def converged(lab, targets, left_out, site_rollout, tmp_path_factory) -> tuple[RolloutReport, RunResult]:
    """The session's rollout of the site play (which imports gpu.yml; it converged and rebooted the nodes), then
    gpu.yml on its own over the whole lab, which must change nothing."""
    second = run(lab, list(targets.values()), gpu_play(tmp_path_factory.mktemp("gpu"), set(left_out)))
    return site_rollout.report, second


def test_gpu_play_converges_on_the_lab(converged) -> None:
    first, _ = converged
    assert first.failed == [], first.summary()


def test_second_run_changes_nothing(converged) -> None:
    _, second = converged
    assert second.failed == [], [h.describe() for h in second.failed]
    assert {h.host: h.changed for h in second.hosts.values()} == {h: 0 for h in second.hosts}


def test_pinned_packages_are_installed_at_the_spec_versions_and_held(lab, spec, converged) -> None:
    sw = spec.software
    branch = sw.driver.branch
    pins = {f"nvidia-driver-{branch}-server": sw.driver.version, f"nvidia-fabricmanager-{branch}": sw.fabric_manager.version,
            f"libnvidia-nscq-{branch}": sw.driver.version, "doca-ofed": sw.doca_ofed.version, "libnccl2": sw.nccl.version,
            "libnccl-dev": sw.nccl.version}
    # DCGM (with its APT epoch) and dcgm-exporter, by the names `podforge artifacts` lists.
    pins |= {p.name: p.version for p in stack_artifacts(spec).packages if p.component in ("dcgm", "dcgm_exporter")}
    assert "datacenter-gpu-manager-exporter" in pins
    for node in spec.nodes:
        assert dpkg_versions(lab, node.hostname, list(pins)) == pins
        held = set(shell(lab, node.hostname, "apt-mark showhold").split())
        assert set(pins) <= held


def test_rendered_and_role_files_are_installed(lab, spec, targets, converged) -> None:
    for node in spec.nodes:
        host = node.hostname
        files = targets[host].files
        assert shell(lab, host, "cat /etc/nccl.conf") == files["/etc/nccl.conf"]
        # The fabric settings a node needs: the P_Key index NCCL uses, UCX's devices, IPoIB as netplan writes it.
        assert "NCCL_IB_PKEY=0" in files["/etc/nccl.conf"].splitlines()
        if targets[host].vars.get("podforge_compute_hcas"):
            # The lab spec gives the default partition an ipoib_cidr: every cabled compute HCA gets an address.
            for path in ("/etc/ucx/ucx.conf", "/etc/netplan/60-podforge-ipoib.yaml"):
                assert path in files, (host, path)
                assert shell(lab, host, f"cat {path}") == files[path], (host, path)
            assert shell(lab, host, "stat -c %a /etc/netplan/60-podforge-ipoib.yaml").strip() == "600"
            netplan = yaml.safe_load(files["/etc/netplan/60-podforge-ipoib.yaml"])["network"]["ethernets"]
            assert [i["name"] for i in targets[host].vars["podforge_ipoib_interfaces"]] == list(netplan)
        assert shell(lab, host, "ls /etc/systemd/network/ 2>/dev/null | grep -c podforge || true").strip() == "0"
        assert "blacklist nouveau" in shell(lab, host, "cat /etc/modprobe.d/podforge-blacklist-nouveau.conf")
        modules = shell(lab, host, "cat /etc/modules-load.d/podforge-rdma.conf").split()
        assert {"ib_ipoib", "mlx5_ib"} <= set(modules)
        if targets[host].vars.get("podforge_compute_hcas") or targets[host].vars.get("podforge_storage_hcas"):
            # nvidia-peermem loads after the driver (which the role installs after DOCA-OFED), from its own file.
            assert "nvidia_peermem" in shell(lab, host, "cat /etc/modules-load.d/podforge-peermem.conf").split()
        for mount in targets[host].vars["podforge_mounts"]:
            # One systemd mount unit per mount, named after its mount point as systemd-escape names it.
            unit = shell(lab, host, f"systemd-escape --path --suffix=mount {mount['mount_point']}").strip()
            text = shell(lab, host, f"cat /etc/systemd/system/{unit}")
            assert f"Where={mount['mount_point']}\n" in text and "Type=nfs" in text, (host, unit, text)
            assert any(f"What={server}:{mount['path']}\n" in text for server in mount["servers"]), (host, text)


def test_driver_services_and_the_container_runtime_run(lab, spec, left_out, converged) -> None:
    """nvidia-persistenced started at boot (its packaged unit has no [Install]: the role links it into
    multi-user.target.wants) and running with persistence mode on, as `nvidia-smi -q` reports it;
    nvidia-fabricmanager on NVSwitch SKUs enabled and running (stand-in units in the lab, built from the oracle);
    containerd running with the NVIDIA Container Toolkit at its pin, held."""
    toolkit = {p.name: p.version for p in stack_artifacts(spec).packages if p.component == "container_toolkit"}
    for node in spec.nodes:
        host = node.hostname
        assert shell(lab, host, "test -L /etc/systemd/system/multi-user.target.wants/nvidia-persistenced.service "
                                "&& systemctl is-active nvidia-persistenced").split() == ["active"], host
        modes = [line.split(":", 1)[1].strip() for line in shell(lab, host, "nvidia-smi -q").splitlines()
                 if line.strip().startswith("Persistence Mode")]
        assert modes and set(modes) == {"Enabled"}, (host, modes)
        units = ["nvidia-fabricmanager"] if spec.sku_of(node).has_nvswitch else []
        for unit in units:
            assert shell(lab, host, f"systemctl is-enabled {unit}; systemctl is-active {unit}").split() == [
                "enabled", "active"], (host, unit)
        if "container_runtime" in left_out:
            continue
        assert shell(lab, host, "systemctl is-active containerd").strip() == "active"
        assert dpkg_versions(lab, host, list(toolkit)) == toolkit
        assert set(toolkit) <= set(shell(lab, host, "apt-mark showhold").split())


def test_subnet_manager_gets_the_rendered_fabric_files(lab, spec, targets, left_out, converged) -> None:
    if "opensm" in left_out:
        pytest.skip(f"the lab image lacks {', '.join(left_out['opensm'])} (components/lab/rootfs.py BASE_PACKAGES)")
    for host in (n.hostname for n in spec.nodes if "subnet_manager" in n.roles):
        for path, content in targets[host].files.items():
            if path.startswith("/etc/opensm/"):
                assert shell(lab, host, f"cat {path}") == content


@pytest.mark.parametrize("role", sorted(DEBIAN_PACKAGES))
def test_role_needing_debian_packages_was_converged(role: str, left_out, converged) -> None:
    if role in left_out:
        pytest.skip(f"{role} not converged: the lab image lacks {', '.join(left_out[role])} "
                    f"(components/lab/rootfs.py BASE_PACKAGES)")
    first, _ = converged
    assert first.failed == [], first.summary()


def test_driver_and_fabric_manager_mismatch_is_refused_before_any_change(lab, spec, targets, converged, tmp_path) -> None:
    host = spec.nodes[1].hostname
    target = targets[host]
    versions = {**target.vars["podforge_versions"], "fabric_manager": UPGRADE}
    mismatched = replace(target, vars={**target.vars, "podforge_versions": versions})
    before = shell(lab, host, "dpkg -l; cat /proc/sys/kernel/random/boot_id")
    result = run(lab, [mismatched], roles_play(tmp_path, ["nvidia_driver"]))
    outcome = result.hosts[host]
    assert outcome.status == "failed"
    assert outcome.failed_task == "nvidia_driver : Refuse a driver and Fabric Manager of different versions"
    assert outcome.changed == 0
    assert shell(lab, host, "dpkg -l; cat /proc/sys/kernel/random/boot_id") == before


def test_driver_upgrade_swaps_both_packages_together_and_reboots(lab, spec, targets, converged, tmp_path) -> None:
    host = spec.nodes[2].hostname
    branch = spec.software.driver.branch
    packages = [f"nvidia-driver-{branch}-server", f"nvidia-compute-utils-{branch}-server", f"nvidia-utils-{branch}-server",
                f"nvidia-fabricmanager-{branch}", f"libnvidia-nscq-{branch}"]
    if UPGRADE not in shell(lab, host, f"apt-cache madison nvidia-driver-{branch}-server"):
        pytest.skip(f"the lab's stand-in repository has no driver {UPGRADE} to upgrade to")
    target = targets[host]

    def apply(version: str) -> RunResult:
        versions = {**target.vars["podforge_versions"], "driver": version, "fabric_manager": version}
        return run(lab, [replace(target, vars={**target.vars, "podforge_versions": versions})],
                   roles_play(tmp_path, ["nvidia_driver"]))

    boot = shell(lab, host, "cat /proc/sys/kernel/random/boot_id")
    try:
        upgraded = apply(UPGRADE)
        assert upgraded.failed == [], [h.describe() for h in upgraded.failed]
        assert dpkg_versions(lab, host, packages) == {p: UPGRADE for p in packages}
        # One APT transaction moved all three: they are never at different versions on the node.
        last = shell(lab, host, "tail -n 4 /var/log/apt/history.log")
        changed_line = next(line for line in last.splitlines() if line.startswith(("Upgrade:", "Install:")))
        assert all(f"{p}:" in changed_line for p in packages)
        assert shell(lab, host, "cat /proc/sys/kernel/random/boot_id") != boot  # rebooted (the supervisor restarted it)
        assert set(packages) <= set(shell(lab, host, "apt-mark showhold").split())
    finally:
        back = apply(spec.software.driver.version)
    assert back.failed == [], [h.describe() for h in back.failed]
    assert dpkg_versions(lab, host, packages) == {p: spec.software.driver.version for p in packages}


def test_acceptance_gate_fails_a_node_marked_failing_and_stops_the_wave(lab, spec, targets, converged) -> None:
    wave = [targets[n.hostname] for n in spec.waves()[0]]
    marked = wave[-1].hostname
    events: list[TaskEvent] = []
    shell(lab, marked, "mkdir -p /etc/podforge && echo 'GPU 3 fell off the bus' > /etc/podforge/acceptance-failure")
    try:
        gate = run(lab, wave, PLAYBOOKS / "acceptance.yml", events)
    finally:
        shell(lab, marked, "rm -f /etc/podforge/acceptance-failure; rmdir /etc/podforge 2>/dev/null || true")
    assert gate.rc != 0
    assert gate.hosts[marked].status == "failed"
    assert "GPU 3 fell off the bus" in gate.hosts[marked].message
    # max_fail_percentage 0: the play ends for the whole wave at the first failed node.
    assert not [e for e in events if e.task == "acceptance : Report the gate as simulated" and e.outcome == "ok"]
    clean = run(lab, wave, PLAYBOOKS / "acceptance.yml")
    assert clean.rc == 0 and clean.failed == []


def test_the_wave_gate_runs_one_multi_node_all_reduce_and_a_failed_one_stops_the_wave(lab, spec, targets,
                                                                                    converged) -> None:
    """Once per wave, across its GPU nodes with InfiniBand compute HCAs (simulated here: no GPU, no RDMA); a run
    marked failing on the wave's first such node fails the gate."""
    wave = [targets[n.hostname] for n in spec.waves()[0]]
    fabric_nodes = [t.hostname for t in wave if t.vars.get("podforge_compute_hcas")]
    assert len(fabric_nodes) >= 2, fabric_nodes  # the lab's first wave: two cabled DGX nodes
    events: list[TaskEvent] = []
    clean = run(lab, wave, PLAYBOOKS / "acceptance.yml", events)
    assert clean.rc == 0 and clean.failed == []
    reported = [e for e in events if e.task == "acceptance : Report the multi-node all-reduce as simulated"]
    assert len(reported) == 1 and reported[0].simulated, reported
    assert all(flag in reported[0].message for flag in ("-np", "-H")), reported[0].message
    first = fabric_nodes[0]
    shell(lab, first, "mkdir -p /etc/podforge && echo 'rail 3 cable swapped' > /etc/podforge/acceptance-multinode-failure")
    try:
        gate = run(lab, wave, PLAYBOOKS / "acceptance.yml")
    finally:
        shell(lab, first, "rm -f /etc/podforge/acceptance-multinode-failure; rmdir /etc/podforge 2>/dev/null || true")
    assert gate.rc != 0
    assert any("multi-node all_reduce_perf failed (marked failing): rail 3 cable swapped" in h.message
               for h in gate.failed), [h.describe() for h in gate.failed]


METRICS = "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:9400/metrics\").read().decode())'"


def test_dcgm_exporter_runs_the_packaged_unit_with_podforges_fields(lab, spec, left_out, converged) -> None:
    if "dcgm" in left_out:
        pytest.skip(f"dcgm not converged: the lab image lacks {', '.join(left_out['dcgm'])}")
    fields = yaml.safe_load((PLAYBOOKS / "roles" / "dcgm" / "defaults" / "main.yml").read_text())["dcgm_exporter_fields"]
    for node in spec.nodes:
        host = node.hostname
        assert shell(lab, host, "systemctl is-active nvidia-dcgm-exporter").strip() == "active"
        unit = shell(lab, host, "systemctl cat nvidia-dcgm-exporter")
        assert "/etc/systemd/system/nvidia-dcgm-exporter.service.d/podforge.conf" in unit
        assert ("--address :9400 --collectors /etc/dcgm-exporter/podforge-counters.csv --collect-interval 30000 "
                "--remote-hostengine-info localhost:5555") in unit
        body = shell(lab, host, METRICS)
        assert [f"# HELP {f['name']} {f['help']}" for f in fields] == [
            line for line in body.splitlines() if line.startswith("# HELP DCGM_FI_")]
        assert "podforge_standin_simulated" in body  # the lab's exporter says it is a stand-in


def _verify_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, dict]], str]:
    out = tmp_path / "verify.json"
    rc = podforge(["verify", "--stack", "lab", "--json", str(out)])
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    by_node = {n["node"]: {f"{r['area']}/{r['check']}": r for r in n["results"]} for n in report["nodes"]}
    return rc, by_node, text


def test_verify_checks_every_lab_node_over_ssh_with_pinned_keys(lab, spec, left_out, converged, tmp_path,
                                                                capsys) -> None:
    fields = yaml.safe_load((PLAYBOOKS / "roles" / "dcgm" / "defaults" / "main.yml").read_text())["dcgm_exporter_fields"]
    if "dcgm" in left_out:
        pytest.skip(f"dcgm not converged: the lab image lacks {', '.join(left_out['dcgm'])}")
    rc, by_node, text = _verify_report(tmp_path, capsys)
    assert rc == 0, text
    assert sorted(by_node) == sorted(n.hostname for n in spec.nodes)
    for node, results in by_node.items():
        assert "node/reachable" not in results, results.get("node/reachable")
        assert results["monitoring/node_exporter"]["status"] == "passed"  # real in the lab
        assert results["nccl/nccl_conf"]["status"] == "passed"
        exporter = results["monitoring/dcgm_exporter"]
        assert exporter["status"] == "simulated" and (
            f"lab stand-in dcgm-exporter answers on :9400 naming {len(fields)} DCGM field(s)") in exporter[
            "detail"], (node, exporter)
        assert not [k for k, r in results.items() if r["status"] == "passed" and "stand-in" in r["detail"]]
    assert "stack lab: 4 node(s);" in text and " 0 failed," in text


def test_verify_fails_the_node_whose_exporter_stopped_and_names_it(lab, spec, left_out, converged, tmp_path,
                                                                   capsys) -> None:
    if "dcgm" in left_out:
        pytest.skip(f"dcgm not converged: the lab image lacks {', '.join(left_out['dcgm'])}")
    host = spec.nodes[3].hostname
    shell(lab, host, "systemctl stop prometheus-node-exporter")
    try:
        rc, by_node, _ = _verify_report(tmp_path, capsys)
    finally:
        shell(lab, host, "systemctl start prometheus-node-exporter")
    assert rc == 1
    failed = {(node, key) for node, results in by_node.items() for key, r in results.items() if r["status"] == "failed"}
    assert failed == {(host, "monitoring/node_exporter")}
    assert by_node[host]["monitoring/node_exporter"]["detail"] == (
        "node-exporter is installed but nothing listens on :9100")
