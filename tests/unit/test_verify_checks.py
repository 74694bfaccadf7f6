"""Node checks on a replayed H200 (its real captures), on nodes without the tools, and on wrong nodes."""

from __future__ import annotations

import dataclasses
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from components.spec import load_stack_spec
from components.verify.checks import Check, all_checks, check_named, run_check
from components.verify.checks.monitoring import _PY_FETCH
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


@cache
def expectation(stack: str, node: int = 0) -> NodeExpectation:
    _, loaded = load_stack_spec(stack)
    return NodeExpectation.of(stack, loaded.spec, loaded.spec.nodes[node])


def outcome(key: str, shell: FakeShell, expect: NodeExpectation) -> tuple[Status, str]:
    result = run_check(check_named(key), shell, expect)
    return result.status, result.detail


def test_the_live_h200_passes_every_gpu_check_of_its_spec() -> None:
    expect = expectation("h200")
    results = {f"{r.area}/{r.check}": r for r in (run_check(c, h200_node(), expect) for c in all_checks())}
    passed = {k for k, r in results.items() if r.status is Status.passed}
    assert passed == {"gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc"}
    assert not [r for r in results.values() if r.status in (Status.failed, Status.simulated)]
    assert results["gpu/inventory"].detail.startswith("1 × NVIDIA H200, 143771 MiB each")
    assert "580.159.04 (open, branch 580)" in results["gpu/driver_loaded"].detail
    assert results["gpu/fabric_manager"].detail == "not required: gpu-h200-1 has no NVSwitch"
    assert results["hca/ports_active"].detail == "not required: gpu-h200-1 has no InfiniBand or RoCE HCA"
    assert results["monitoring/dcgm_host_engine"].detail == "DCGM not installed (no dcgmi)"
    assert results["monitoring/dcgm_exporter"].status is Status.not_present
    assert results["nccl/nccl_conf"].status is Status.not_present


@pytest.mark.parametrize("stack", ["h200", "superpod", "lab"])
def test_a_node_without_any_tool_is_never_failed(stack: str) -> None:
    expect = expectation(stack)
    for check in all_checks():
        result = run_check(check, FakeShell(), expect)
        assert result.status in (Status.not_present, Status.simulated), (check.key, result)


def test_a_missing_tool_is_not_present_not_a_crash() -> None:
    no_smi = h200_node()
    no_smi.tools.clear()
    assert outcome("gpu/inventory", no_smi, expectation("h200")) == (Status.not_present, "nvidia-smi not installed")
    status, detail = outcome("gpu/driver_loaded", no_smi, expectation("h200"))
    assert status is Status.passed and "nvidia-smi not installed" in detail


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
    assert outcome("gpu/fabric_manager", shell, expect) == (Status.not_present, "nv-fabricmanager not installed")
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


def test_lab_hosts_report_hardware_checks_simulated() -> None:
    expect = expectation("lab")
    for key in ("gpu/driver_loaded", "gpu/inventory", "gpu/fabric_manager", "hca/ports_active"):
        status, detail = outcome(key, h200_node(), expect)
        assert status is Status.simulated and detail.startswith("lab host:"), key


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
    assert outcome("monitoring/dcgm_exporter", FakeShell(), expect)[0] is Status.not_present
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


def test_storage_mounts_planned_but_missing_fail() -> None:
    expect = dataclasses.replace(expectation("superpod"), lab=False)
    mounts = {m.mount_point for m in expect.mounts}
    assert mounts, "the superpod spec mounts exports on its GPU nodes"
    fstab = "".join(f"array:/x {m} nfs4 vers=4.1 0 0\n" for m in mounts)
    status, detail = outcome("storage/mounts", FakeShell(files={"/etc/fstab": fstab}), expect)
    assert status is Status.failed and "not mounted" in detail


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
