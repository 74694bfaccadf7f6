"""Node checks on a replayed H200 (its real captures), on nodes without the tools, and on wrong nodes.

What the spec declares for a node and the node lacks is failed; "not present" is only what the spec does not
declare there; a lab host's stand-ins answer simulated, never passed."""

from __future__ import annotations

import dataclasses
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from components.host import host_views
from components.spec import load_stack_spec
from components.spec.software import Firmware
from components.verify.checks import Check, all_checks, check_named, run_check
from components.verify.checks.monitoring import _PY_FETCH
from components.verify.checks.storage import mount_unit_name
from components.verify.expectations import NodeExpectation
from components.verify.results import Status
from components.verify.shell import Completed

ROOT = Path(__file__).resolve().parents[2]
H200 = ROOT / "tests" / "fixtures" / "gpu-node-h200"
NOT_FOUND = Completed(127, "", "command not found")


class FakeShell:
    """A node that answers from recorded outputs; anything not recorded is absent."""

    def __init__(self, files: dict[str, str] | None = None, commands: dict[str, Completed | str] | None = None,
                 tools: set[str] | None = None) -> None:
        self.files = files or {}
        self.commands = {k: v if isinstance(v, Completed) else Completed(0, v, "") for k, v in (commands or {}).items()}
        self.tools = tools or set()
        self.ran: list[str] = []

    def run(self, command: str) -> Completed:
        self.ran.append(command)
        return self.commands.get(command, NOT_FOUND)

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def has(self, tool: str) -> bool:
        return tool in self.tools

    def hostname(self) -> str:
        return "h200"


def h200_node(**changes: str) -> FakeShell:
    """The live H200 node as captured; `changes` replace text in its nvidia-smi -q -x."""
    xml = (H200 / "nvidia-smi-q.xml").read_text()
    for old, new in changes.items():
        xml = xml.replace(old, new)
    return FakeShell(files={"/proc/driver/nvidia/version": (H200 / "driver-version.txt").read_text()},
                     commands={"nvidia-smi -q -x": xml,
                               "nvidia-smi --query-gpu=driver_version --format=csv,noheader": "580.159.04\n",
                               "nvidia-smi nvlink -s": ""},
                     tools={"nvidia-smi"})


TCP_LISTEN_9100_9400 = ("  sl  local_address rem_address   st\n"
                        "   0: 00000000:238C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
                        "   1: 00000000:24B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n")


def provisioned_h200() -> FakeShell:
    """The live H200 as the roles would leave it: nccl.conf, DCGM and both exporters answering."""
    shell = h200_node()
    shell.files |= {"/etc/nccl.conf": "NCCL_DEBUG=WARN\n", "/proc/net/tcp": TCP_LISTEN_9100_9400}
    shell.tools |= {"dcgmi", "curl"}
    shell.commands |= {
        "dcgmi discovery -l": Completed(0, "1 GPU found.\n", ""),
        "curl -fsS --max-time 5 http://127.0.0.1:9400/metrics": Completed(0, 'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 0\n', ""),
        "curl -fsS --max-time 5 http://127.0.0.1:9100/metrics": Completed(0, 'node_cpu_seconds_total{cpu="0"} 1\n', "")}
    return shell


@cache
def expectation(stack: str, node: int = 0) -> NodeExpectation:
    _, loaded = load_stack_spec(stack)
    return NodeExpectation.of(stack, loaded.spec, host_views(loaded.spec)[loaded.spec.nodes[node].hostname])


def outcome(key: str, shell: FakeShell, expect: NodeExpectation) -> tuple[Status, str]:
    result = run_check(check_named(key), shell, expect)
    return result.status, result.detail


UNPROVISIONED = {"nccl/nccl_conf", "monitoring/dcgm_host_engine", "monitoring/dcgm_exporter",
                 "monitoring/node_exporter"}
"""What the H200 machine lacked when it was captured: the spec declares all four on a gpu_node."""


def test_the_live_h200_passes_every_gpu_check_and_fails_what_it_was_not_provisioned_with() -> None:
    expect = expectation("h200")
    results = {f"{r.area}/{r.check}": r for r in (run_check(c, h200_node(), expect) for c in all_checks())}
    by_status = {s: {k for k, r in results.items() if r.status is s} for s in Status}
    assert by_status[Status.passed] == {"gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc"}
    assert by_status[Status.failed] == UNPROVISIONED
    assert by_status[Status.simulated] == set()
    assert by_status[Status.not_present] == {"gpu/nvlink", "gpu/fabric_manager", "hca/ports_active", "hca/cabling",
                                             "storage/mounts", "serving/inference_health", "gpu/vbios",
                                             "hca/firmware"}
    assert all(results[k].detail.startswith("not required: ") for k in by_status[Status.not_present])
    assert results["gpu/inventory"].detail.startswith("1 × NVIDIA H200, 143771 MiB each")
    assert "580.159.04 (open, branch 580)" in results["gpu/driver_loaded"].detail
    assert results["gpu/fabric_manager"].detail == "not required: gpu-h200-1 has no NVSwitch"
    assert results["hca/ports_active"].detail == "not required: gpu-h200-1 has no InfiniBand or RoCE HCA"
    assert results["monitoring/dcgm_host_engine"].detail == (
        "DCGM not installed (no dcgmi); the dcgm role installs it on every gpu_node")
    assert results["nccl/nccl_conf"].detail.startswith("/etc/nccl.conf absent")


def test_a_provisioned_h200_passes_with_nothing_failed() -> None:
    results = [run_check(c, provisioned_h200(), expectation("h200")) for c in all_checks()]
    assert {r.name for r in results if r.status is Status.passed} == {
        "gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc", *UNPROVISIONED}
    assert not [r for r in results if r.status is Status.failed]


@pytest.mark.parametrize("stack", ["h200", "superpod", "lab"])
def test_a_node_without_any_tool_fails_what_its_spec_declares(stack: str) -> None:
    expect = expectation(stack)
    for check in all_checks():
        result = run_check(check, FakeShell(), expect)
        assert result.status in (Status.failed, Status.not_present), (check.key, result)
        if result.status is Status.not_present:  # only what the spec does not declare for the node
            assert result.detail.startswith("not required: "), (check.key, result)
    failed = {r.name for r in (run_check(c, FakeShell(), expect) for c in all_checks()) if r.status is Status.failed}
    assert {"gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc", *UNPROVISIONED} <= failed


def test_a_gpu_node_without_a_driver_fails_every_gpu_check() -> None:
    expect = expectation("superpod")
    for key in ("gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc", "gpu/nvlink",
                "gpu/fabric_manager"):
        status, detail = outcome(key, FakeShell(tools={"nvidia-smi"}), expect)
        assert (status, detail) == (Status.failed, "no NVIDIA kernel module loaded (/proc/driver/nvidia/version "
                                                   "absent); the spec pins driver 535.183.06"), key


def test_a_missing_nvidia_smi_fails() -> None:
    no_smi = h200_node()
    no_smi.tools.clear()
    assert outcome("gpu/inventory", no_smi, expectation("h200")) == (
        Status.failed, "nvidia-smi not installed (the driver's user-space tools are missing)")
    status, detail = outcome("gpu/driver_loaded", no_smi, expectation("h200"))
    assert status is Status.failed and detail == ("kernel module 580.159.04 as pinned, but nvidia-smi is not "
                                                  "installed (the driver's user-space tools are missing)")


def test_driver_version_other_than_the_pin_fails() -> None:
    expect = dataclasses.replace(expectation("h200"), driver_version="580.65.06")
    status, detail = outcome("gpu/driver_loaded", h200_node(), expect)
    assert status is Status.failed
    assert detail == "kernel module 580.159.04 loaded; the spec pins 580.65.06 (software.driver, branch 580)"


def test_driver_library_mismatch_fails() -> None:
    shell = h200_node()
    shell.commands["nvidia-smi --query-gpu=driver_version --format=csv,noheader"] = Completed(
        18, "Failed to initialize NVML: Driver/library version mismatch\n", "")
    status, detail = outcome("gpu/driver_loaded", shell, expectation("h200"))
    assert status is Status.failed and detail.endswith("Driver/library version mismatch")


def test_one_h200_is_not_a_dgx_a100() -> None:
    expect = dataclasses.replace(expectation("superpod"), lab=False)
    status, detail = outcome("gpu/inventory", h200_node(), expect)
    assert status is Status.failed
    assert detail.startswith("1 GPU(s) found, SKU dgx-a100-80g has 8; 00000000:00:06.0 is 'NVIDIA H200', "
                             "not 'NVIDIA A100-SXM4-80GB'")


def test_persistence_mode_off_fails() -> None:
    shell = h200_node(**{"<persistence_mode>Enabled": "<persistence_mode>Disabled"})
    status, detail = outcome("gpu/persistence_mode", shell, expectation("h200"))
    assert status is Status.failed and detail.startswith("persistence mode off on 00000000:00:06.0 (Disabled)")


def test_ecc_off_or_pending_off_fails() -> None:
    off = h200_node(**{"<current_ecc>Enabled": "<current_ecc>Disabled"})
    assert outcome("gpu/ecc", off, expectation("h200")) == (Status.failed, "00000000:00:06.0 ECC Disabled")
    pending = h200_node(**{"<pending_ecc>Enabled": "<pending_ecc>Disabled"})
    status, detail = outcome("gpu/ecc", pending, expectation("h200"))
    assert status is Status.failed and "off after the next reboot" in detail


def test_nvidia_smi_failing_is_failed_with_its_message() -> None:
    shell = h200_node()
    shell.commands["nvidia-smi -q -x"] = Completed(9, "", "NVIDIA-SMI has failed because it couldn't communicate "
                                                          "with the NVIDIA driver.\n")
    status, detail = outcome("gpu/ecc", shell, expectation("h200"))
    assert status is Status.failed and "couldn't communicate with the NVIDIA driver" in detail


def test_fabric_manager_on_an_nvswitch_sku() -> None:
    expect = dataclasses.replace(expectation("superpod"), driver_version="580.159.04",
                                 fabric_manager_version="580.159.04")
    shell = h200_node()
    assert outcome("gpu/fabric_manager", shell, expect) == (
        Status.failed, "nv-fabricmanager not installed; dgx-a100-80g has NVSwitches and the spec pins the fabric "
                       "manager 580.159.04")
    shell.tools |= {"nv-fabricmanager", "systemctl"}
    shell.commands["nv-fabricmanager --version"] = Completed(0, "Fabric Manager version is : 580.159.04\n", "")
    shell.commands["systemctl is-active nvidia-fabricmanager"] = Completed(0, "active\n", "")
    assert outcome("gpu/fabric_manager", shell, expect) == (
        Status.passed, "nvidia-fabricmanager active at 580.159.04, the driver's version")
    shell.commands["nv-fabricmanager --version"] = Completed(0, "Fabric Manager version is : 580.65.06\n", "")
    shell.commands["systemctl is-active nvidia-fabricmanager"] = Completed(3, "failed\n", "")
    status, detail = outcome("gpu/fabric_manager", shell, expect)
    assert status is Status.failed
    assert "differs from the loaded driver 580.159.04" in detail and "nvidia-fabricmanager is failed" in detail


LAB_STAND_INS = {"nvidia-smi", "nv-fabricmanager", "ofed_info", "dcgmi"}
"""The stand-in commands the lab's packages install for the driver, fabric manager, DOCA-OFED and DCGM."""


def test_lab_hosts_report_hardware_checks_simulated_through_their_stand_ins() -> None:
    expect = expectation("lab")
    keys = ("gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc", "gpu/nvlink",
            "gpu/fabric_manager", "hca/ports_active", "monitoring/dcgm_host_engine")
    for key in keys:
        status, detail = outcome(key, FakeShell(tools=set(LAB_STAND_INS)), expect)
        assert status is Status.simulated and detail.startswith("lab host:"), key
    # A real H200 answering on a lab host is still not a pass: a lab result is never passed.
    assert outcome("gpu/inventory", h200_node(), expect)[0] is Status.simulated


def test_a_lab_host_missing_a_declared_stand_in_fails() -> None:
    expect = expectation("lab")
    assert outcome("gpu/ecc", FakeShell(), expect) == (
        Status.failed, "lab host: the spec declares the NVIDIA driver 535.183.06, but its stand-in nvidia-smi is "
                       "not installed")
    assert outcome("gpu/fabric_manager", FakeShell(tools={"nvidia-smi"}), expect) == (
        Status.failed, "lab host: the spec declares the fabric manager 535.183.06, but its stand-in "
                       "nv-fabricmanager is not installed")
    assert outcome("hca/ports_active", FakeShell(), expect)[1].endswith("its stand-in ofed_info is not installed")
    assert outcome("monitoring/dcgm_host_engine", FakeShell(), expect)[1] == (
        "lab host: the spec declares DCGM, but its stand-in dcgmi is not installed")


def test_no_check_passes_a_lab_stand_in() -> None:
    expect = expectation("lab")
    shell = FakeShell(files={"/proc/net/tcp": TCP_LISTEN_9400, "/etc/fstab": LAB_FSTAB},
                      commands={f"python3 -c {shlex.quote(_PY_FETCH)} http://127.0.0.1:9400/metrics": STAND_IN_METRICS},
                      tools=LAB_STAND_INS | {"python3"})
    results = {r.name: r for r in (run_check(c, shell, expect) for c in all_checks())}
    stand_ins = [k for k, r in results.items() if "stand-in" in r.detail]
    assert stand_ins and all(results[k].status is Status.simulated for k in stand_ins), results
    assert not [r for r in results.values() if r.status is Status.passed and "stand-in" in r.detail]


def _sysfs(hcas: list[str], state: str = "4: ACTIVE\n", rate: str = "200 Gb/sec (4X HDR)\n") -> FakeShell:
    files = {}
    for hca in hcas:
        files[f"/sys/class/infiniband/{hca}/ports/1/state"] = state
        files[f"/sys/class/infiniband/{hca}/ports/1/rate"] = rate
    return FakeShell(files=files, commands={"ls -1 /sys/class/infiniband": "\n".join(hcas) + "\n"})


DGX_A100_80G_HCAS = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9", "mlx5_4",
                     "mlx5_10"]


def test_hca_ports_of_a_dgx_a100() -> None:
    expect = dataclasses.replace(expectation("superpod"), lab=False)
    status, detail = outcome("hca/ports_active", _sysfs(DGX_A100_80G_HCAS), expect)
    assert status is Status.passed and detail.startswith("10 HCA port(s) ACTIVE")
    status, detail = outcome("hca/ports_active", _sysfs(DGX_A100_80G_HCAS, rate="100 Gb/sec (4X EDR)\n"), expect)
    assert status is Status.failed and "mlx5_0 port 1 at 100.0 Gb/s, expected 200" in detail
    status, detail = outcome("hca/ports_active", _sysfs(DGX_A100_80G_HCAS[:-1], state="1: DOWN\n"), expect)
    assert status is Status.failed and detail.startswith("mlx5_0 port 1 is DOWN") and "mlx5_10 missing" in detail
    status, detail = outcome("hca/ports_active", FakeShell(), expect)
    assert status is Status.failed and detail.startswith("no RDMA device (/sys/class/infiniband absent or empty")
    assert detail.endswith("dgx-a100-80g has 10 HCA(s): " + ", ".join(DGX_A100_80G_HCAS))


def test_nccl_conf_names_the_compute_hcas_in_rail_order() -> None:
    expect = expectation("superpod")
    good = "NCCL_IB_HCA==mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_6:1,mlx5_7:1,mlx5_8:1,mlx5_9:1\nNCCL_DEBUG=WARN\n"
    status, _ = outcome("nccl/nccl_conf", FakeShell(files={"/etc/nccl.conf": good}), expect)
    assert status is Status.passed
    swapped = "NCCL_IB_HCA=mlx5_0,mlx5_1,mlx5_2,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7\n"
    status, detail = outcome("nccl/nccl_conf", FakeShell(files={"/etc/nccl.conf": swapped}), expect)
    assert status is Status.failed and "mlx5_0,mlx5_1,mlx5_2,mlx5_3,mlx5_6,mlx5_7,mlx5_8,mlx5_9" in detail
    status, detail = outcome("nccl/nccl_conf", FakeShell(files={"/etc/nccl.conf": good}), expectation("h200"))
    assert status is Status.failed and "gpu-h200-1 has none" in detail
    status, detail = outcome("nccl/nccl_conf", FakeShell(), expect)
    assert status is Status.failed and detail.startswith("/etc/nccl.conf absent")


TCP_LISTEN_9400 = ("  sl  local_address rem_address   st\n"
                   "   0: 00000000:24B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n")


def test_dcgm_exporter_answering_installed_silent_or_absent() -> None:
    expect = expectation("h200")
    answering = FakeShell(files={"/proc/net/tcp": TCP_LISTEN_9400}, tools={"curl"},
                          commands={"curl -fsS --max-time 5 http://127.0.0.1:9400/metrics":
                                    "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization.\nDCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 0\n"})
    assert outcome("monitoring/dcgm_exporter", answering, expect)[0] is Status.passed
    silent = FakeShell(tools={"dcgm-exporter"})
    assert outcome("monitoring/dcgm_exporter", silent, expect) == (
        Status.failed, "dcgm-exporter is installed but nothing listens on :9400")
    assert outcome("monitoring/dcgm_exporter", FakeShell(), expect) == (
        Status.failed, "dcgm-exporter not installed (no binary, no unit, nothing listening on :9400)")
    unpinned = dataclasses.replace(expect, dcgm_exporter=False)
    assert outcome("monitoring/dcgm_exporter", FakeShell(), unpinned) == (
        Status.not_present, "not required: the spec pins no software.dcgm_exporter")
    assert outcome("monitoring/node_exporter", FakeShell(), unpinned)[0] is Status.failed
    help_only = FakeShell(files={"/proc/net/tcp": TCP_LISTEN_9400}, tools={"curl"},
                          commands={"curl -fsS --max-time 5 http://127.0.0.1:9400/metrics":
                                    "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization.\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"})
    assert outcome("monitoring/dcgm_exporter", help_only, expect) == (
        Status.failed, ":9400/metrics answers without a DCGM_FI_DEV_GPU_UTIL sample")


STAND_IN_METRICS = ("# simulated: podforge lab stand-in from datacenter-gpu-manager-exporter 4.6.0-1\n"
                    "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (%)\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
                    "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (MiB)\n# TYPE DCGM_FI_DEV_FB_USED gauge\n"
                    'podforge_standin_simulated{package="datacenter-gpu-manager-exporter",version="4.6.0-1"} 1\n')


def test_the_lab_stand_in_exporter_is_simulated_never_passed() -> None:
    shell = FakeShell(files={"/proc/net/tcp": TCP_LISTEN_9400}, tools={"python3"},
                      commands={f"python3 -c {shlex.quote(_PY_FETCH)} http://127.0.0.1:9400/metrics": STAND_IN_METRICS})
    assert outcome("monitoring/dcgm_exporter", shell, expectation("lab")) == (
        Status.simulated, "lab stand-in dcgm-exporter answers on :9400 naming 2 DCGM field(s), no samples (no GPU)")
    # The stand-in answering on a node outside a lab is wrong, not simulated.
    assert outcome("monitoring/dcgm_exporter", shell, expectation("h200"))[0] is Status.failed
    # In the lab the exporter must run: installed and silent fails there too.
    silent = FakeShell(tools={"dcgm-exporter"})
    assert outcome("monitoring/dcgm_exporter", silent, expectation("lab"))[0] is Status.failed


def test_dcgm_host_engine_counts_the_gpus() -> None:
    shell = FakeShell(tools={"dcgmi"}, commands={"dcgmi discovery -l": "1 GPU found.\n+--------+\n"})
    assert outcome("monitoring/dcgm_host_engine", shell, expectation("h200")) == (
        Status.passed, "nv-hostengine answers; DCGM sees 1 GPU(s)")
    shell.commands["dcgmi discovery -l"] = Completed(255, "", "Error: unable to establish a connection to the "
                                                              "specified host: localhost\n")
    assert outcome("monitoring/dcgm_host_engine", shell, expectation("h200"))[0] is Status.failed


def _proc_mounts(expect: NodeExpectation, nvme_fstype: str = "xfs") -> str:
    return "".join(f"/dev/nvme1n1 {m.mount_point} {nvme_fstype} rw 0 0\n" if m.protocol == "nvme-of"
                   else f"10.10.24.201:{m.path} {m.mount_point} nfs4 rw,vers=4.1,proto=rdma,port=20049 0 0\n"
                   for m in expect.mounts)


def test_storage_mounts_of_every_protocol_the_node_is_given() -> None:
    expect = expectation("superpod", 19)  # su1-dgx-20: the NFS/RDMA exports and the NVMe-oF scratch namespace
    assert sorted(m.protocol for m in expect.mounts) == ["nfs-rdma", "nfs-rdma", "nvme-of"]
    status, detail = outcome("storage/mounts", FakeShell(files={"/proc/mounts": _proc_mounts(expect)}), expect)
    assert status is Status.passed and detail.startswith("3 export(s) mounted")
    wrong = FakeShell(files={"/proc/mounts": _proc_mounts(expect, nvme_fstype="nfs4")})
    assert outcome("storage/mounts", wrong, expect) == (
        Status.failed, "/raid/scratch is nfs4, not the NVMe-oF namespace's filesystem")


def test_storage_mounts_planned_or_not_but_missing_fail() -> None:
    expect = expectation("superpod")
    mounts = {m.mount_point for m in expect.mounts}
    assert mounts, "the superpod spec mounts exports on its GPU nodes"
    fstab = "".join(f"array:/x {m} nfs4 vers=4.1 0 0\n" for m in mounts)
    status, detail = outcome("storage/mounts", FakeShell(files={"/etc/fstab": fstab}), expect)
    assert status is Status.failed and "not mounted (planned, not mounted)" in detail
    status, detail = outcome("storage/mounts", FakeShell(), expect)
    assert status is Status.failed and detail.endswith("none is in /etc/fstab or a mount unit (the node was not "
                                                       "provisioned?)")


LAB_FSTAB = ("10.199.77.1:/models /mnt/models nfs4 ro,vers=4.1,noauto 0 0\n"
             "10.199.77.1:/datasets /mnt/datasets nfs4 vers=4.1,noauto 0 0\n")


def test_lab_mounts_planned_but_not_mounted_are_simulated_unplanned_ones_fail() -> None:
    expect = expectation("lab")
    status, detail = outcome("storage/mounts", FakeShell(files={"/etc/fstab": LAB_FSTAB}), expect)
    assert (status, detail) == (Status.simulated, "lab host: /mnt/models, /mnt/datasets planned, not mounted (the lab "
                                                  "mounts only where the machine allows it)")
    units = FakeShell(files={"/etc/systemd/system/mnt-models.mount": "[Mount]\n",
                             "/etc/systemd/system/mnt-datasets.mount": "[Mount]\n"})
    assert outcome("storage/mounts", units, expect)[0] is Status.simulated
    half = FakeShell(files={"/etc/fstab": LAB_FSTAB.splitlines(keepends=True)[0]})
    assert outcome("storage/mounts", half, expect) == (
        Status.failed, "/mnt/models (lab-flash/models) not mounted (planned, not mounted); /mnt/datasets "
                       "(lab-flash/datasets) not mounted")


def test_mount_unit_names_are_systemd_escaped_paths() -> None:
    assert mount_unit_name("/raid/scratch") == "raid-scratch.mount"
    assert mount_unit_name("/mnt/my-data/") == "mnt-my\\x2ddata.mount"
    assert mount_unit_name("/") == "-.mount"


def test_serving_declared_but_nothing_listening_fails() -> None:
    expect = dataclasses.replace(expectation("h200"), serving_port=8000)
    assert outcome("serving/inference_health", FakeShell(), expect) == (
        Status.failed, "nothing listens on :8000; the spec serves h200-node-01's model there (the serving engine is "
                       "not deployed?)")


def test_a_check_that_breaks_is_reported_failed() -> None:
    def broken(shell: object, expect: object) -> tuple[Status, str]:
        raise KeyError("temperature")

    result = run_check(Check("gpu", "broken", "raises", broken), FakeShell(), expectation("h200"))
    assert (result.status, result.detail) == (Status.failed, "the check broke: KeyError: 'temperature'")


def test_every_check_has_a_testinfra_test() -> None:
    used = set()
    for path in (ROOT / "tests" / "verify").glob("test_*.py"):
        used |= set(re.findall(r'node\.verify\("([^"]+)"\)', path.read_text()))
    assert used == {c.key for c in all_checks()}


# Firmware strings in the forms the tools print; not vendor release facts.
VBIOS, OTHER_VBIOS, HCA_FW = "96.00.74.00.01", "96.00.61.00.01", "28.39.1002"


def test_a_declared_vbios_is_checked_on_every_gpu() -> None:
    expect = dataclasses.replace(expectation("h200"), firmware=Firmware(gpu_vbios=VBIOS))
    query = "nvidia-smi --query-gpu=vbios_version --format=csv,noheader"
    shell = h200_node()
    shell.commands[query] = Completed(0, f"{VBIOS}\n", "")
    assert outcome("gpu/vbios", shell, expect) == (Status.passed, f"VBIOS {VBIOS} on all 1 GPU(s), as declared")
    shell.commands[query] = Completed(0, f"{OTHER_VBIOS}\n", "")
    status, detail = outcome("gpu/vbios", shell, expect)
    assert status is Status.failed and f"run VBIOS {OTHER_VBIOS}; the spec declares {VBIOS}" in detail
    shell.commands[query] = Completed(0, "", "")
    assert "0 GPU(s) report a VBIOS" in outcome("gpu/vbios", shell, expect)[1]
    assert outcome("gpu/vbios", h200_node(), expectation("h200"))[0] is Status.not_present  # undeclared


def test_declared_hca_firmware_is_read_from_sysfs() -> None:
    base = expectation("superpod")
    expect = dataclasses.replace(base, firmware=Firmware(compute_hca=HCA_FW))
    good = {f"/sys/class/infiniband/{h.device}/fw_ver": HCA_FW + "\n" for h in base.compute_hcas}
    status, detail = outcome("hca/firmware", FakeShell(files=good), expect)
    assert status is Status.passed and detail.startswith(f"{len(base.compute_hcas)} HCA(s) on their declared")
    first = base.compute_hcas[0].device
    drifted = {**good, f"/sys/class/infiniband/{first}/fw_ver": "28.33.0000\n"}
    status, detail = outcome("hca/firmware", FakeShell(files=drifted), expect)
    assert status is Status.failed and detail == f"{first} runs firmware 28.33.0000, the spec declares {HCA_FW}"
    status, detail = outcome("hca/firmware", FakeShell(), expect)
    assert status is Status.failed and "no /sys/class/infiniband/" in detail
    assert outcome("hca/firmware", FakeShell(files=good), base)[0] is Status.not_present  # undeclared


def test_declared_storage_hca_firmware_covers_only_the_storage_hcas() -> None:
    base = expectation("superpod")
    if not base.storage_hcas:
        pytest.skip("the superpod's first node has no storage HCA")
    expect = dataclasses.replace(base, firmware=Firmware(storage_hca=HCA_FW))
    files = {f"/sys/class/infiniband/{h.device}/fw_ver": HCA_FW for h in base.storage_hcas}
    assert outcome("hca/firmware", FakeShell(files=files), expect)[0] is Status.passed


def test_in_the_lab_declared_firmware_is_simulated_through_the_stand_in() -> None:
    expect = dataclasses.replace(expectation("lab"), firmware=Firmware(gpu_vbios=VBIOS, compute_hca=HCA_FW))
    tools = {"nvidia-smi", "ofed_info"}
    assert outcome("gpu/vbios", FakeShell(tools=tools), expect)[0] is Status.simulated
    assert outcome("hca/firmware", FakeShell(tools=tools), expect)[0] is Status.simulated
    assert outcome("hca/firmware", FakeShell(), expect)[0] is Status.failed  # stand-in missing
