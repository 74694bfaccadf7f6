"""The GPU roles' decisions, run by ansible-playbook on this machine in --check mode (nothing is installed or
written): the driver / Fabric Manager refusal, the serving limits, and the acceptance gate's reading of dcgmi,
all_reduce_perf and HCA port files (stand-in commands and a fake sysfs tree in a tmp dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.role_check import run_role

# all_reduce_perf output in the nccl-tests 2.13 format (8 GPUs of one node); {busbw} and {oob} are filled in.
ALL_REDUCE = """# nThread 1 nGpus 8 minBytes 8 maxBytes 1073741824 step: 2(factor) warmup iters: 5 iters: 20
#
# Using devices
#  Rank  0 Group  0 Pid  41107 on     dgx-01 device  0 [0x07] NVIDIA A100-SXM4-80GB
#
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
           8             2     float     sum      -1    40.12    0.00    0.00      0    39.87    0.00    0.00      0
   536870912     134217728     float     sum      -1   2410.3  222.74  389.80      0   2405.1  223.22  390.64      0
  1073741824     268435456     float     sum      -1   4620.1  232.40  {busbw}      0   4615.3  232.65  407.13      0
# Out of bounds values : {oob} OK
# Avg bus bandwidth    : 105.123
#
"""
DCGM_PASS = """Successfully ran diagnostic for group.
+---------------------------+------------------------------------------------+
| Diagnostic                | Result                                         |
+===========================+================================================+
| Deployment                |                                                |
| Denylist                  | Pass                                           |
| NVML Library              | Pass                                           |
| CUDA Main Library         | Pass                                           |
| Permissions and OS Blocks | Pass                                           |
| Persistence Mode          | Pass                                           |
| Environment Variables     | Pass                                           |
| Page Retirement/Row Remap | Pass                                           |
| Graphics Processes        | Pass                                           |
| Inforom                   | Pass                                           |
+---------------------------+------------------------------------------------+
"""
DCGM_FAIL = DCGM_PASS.replace("| Persistence Mode          | Pass  ", "| Persistence Mode          | Fail  ")


def outcome(result: dict[str, Any]) -> tuple[int, int]:
    stats = result["stats"]["localhost"]
    return stats["failures"], stats["changed"]


def failure_message(result: dict[str, Any]) -> str:
    for play in result["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get("localhost", {})
            if res.get("failed"):
                return f"{task['task']['name']}: {res.get('msg', '')}"
    return ""


def debug_messages(result: dict[str, Any]) -> list[str]:
    return [str(t["hosts"]["localhost"].get("msg", "")) for p in result["plays"] for t in p["tasks"]
            if "localhost" in t["hosts"] and "msg" in t["hosts"]["localhost"]]


VERSIONS = {"driver_branch": "535", "driver": "535.183.06", "fabric_manager": "535.183.06", "nccl": "2.21.5-1+cuda12.4"}


def test_driver_and_fabric_manager_of_different_versions_are_refused_before_any_change(tmp_path: Path) -> None:
    result = run_role(tmp_path, "nvidia_driver", {
        "podforge_versions": {**VERSIONS, "fabric_manager": "535.216.01"},
        "podforge_sku": {"name": "dgx-a100-80g", "nvswitch": True}})
    assert outcome(result) == (1, 0)
    message = failure_message(result)
    assert message.startswith("nvidia_driver : Refuse a driver and Fabric Manager of different versions")
    assert "535.216.01" in message and "Nothing was changed" in message


def test_a_driver_version_outside_its_branch_is_refused(tmp_path: Path) -> None:
    result = run_role(tmp_path, "nvidia_driver", {
        "podforge_versions": {**VERSIONS, "driver": "550.54.15", "fabric_manager": "550.54.15"},
        "podforge_sku": {"name": "dgx-a100-80g", "nvswitch": True}})
    assert outcome(result) == (1, 0)
    assert "branch 535" in failure_message(result)


SERVING = {"engine": "vllm", "image": "vllm/vllm-openai:v0.6.3", "tensor_parallel_size": 8, "max_model_len": 65536,
           "port": 8000, "model": {"name": "deepseek-ai/DeepSeek-R1", "export": "flash/models", "path": "deepseek-r1",
                                   "max_position_embeddings": 163840}}


@pytest.mark.parametrize(("change", "named"), [
    ({"max_model_len": 200000}, "max_position_embeddings (163840)"),
    ({"tensor_parallel_size": 16}, "the node's 8 GPUs"),
])
def test_serving_beyond_the_model_or_the_node_is_refused(tmp_path: Path, change: dict[str, int], named: str) -> None:
    result = run_role(tmp_path, "inference_local", {
        "podforge_serving": {**SERVING, **change}, "podforge_sku": {"gpu_count": 8},
        "podforge_mounts": [{"export": "flash/models", "mount_point": "/mnt/models"}]})
    assert outcome(result) == (1, 0)
    assert named in failure_message(result)


HCA_FW = "20.39.1002"  # a firmware string in the form fw_ver prints (major.minor.subminor); not a vendor release fact
VBIOS = "92.00.45.00.06"  # a VBIOS string in nvidia-smi's form; not a vendor release fact


def fake_node(tmp: Path, busbw: str = "406.71", oob: str = "0", dcgm: str = DCGM_PASS,
              ports: dict[str, tuple[str, str, dict[str, int]]] | None = None,
              storage: dict[str, tuple[str, str, dict[str, int]]] | None = None,
              firmware: dict[str, str] | None = None, vbios: list[str] | None = None,
              fw: dict[str, str] | None = None) -> dict[str, Any]:
    """Stand-in dcgmi / all_reduce_perf / nvidia-smi and a sysfs tree; the acceptance variables that point at them.
    `firmware`: what the spec declares (podforge_sku.firmware); `vbios` / `fw`: what the GPUs / HCAs report."""
    (tmp / "all_reduce.txt").write_text(ALL_REDUCE.format(busbw=busbw, oob=oob))
    (tmp / "dcgm.txt").write_text(dcgm)
    (tmp / "vbios.txt").write_text("".join(f"{v}\n" for v in (vbios if vbios is not None else [VBIOS] * 8)))
    for name, text in (("all_reduce_perf", "all_reduce.txt"), ("dcgmi", "dcgm.txt"), ("nvidia-smi", "vbios.txt")):
        tool = tmp / name
        tool.write_text(f"#!/bin/sh\ncat {tmp / text}\n")
        tool.chmod(0o755)
    sysfs = tmp / "infiniband"
    for device, (state, rate, counters) in {**(ports or {}), **(storage or {})}.items():
        port = sysfs / device / "ports" / "1"
        (port / "counters").mkdir(parents=True)
        (port / "state").write_text(state + "\n")
        (port / "rate").write_text(rate + "\n")
        (sysfs / device / "fw_ver").write_text((fw or {}).get(device, HCA_FW) + "\n")
        for counter in ("symbol_error", "link_error_recovery", "link_downed", "port_rcv_errors",
                        "local_link_integrity_errors", "excessive_buffer_overrun_errors"):
            (port / "counters" / counter).write_text(f"{counters.get(counter, 0)}\n")
    hcas = [{"device": d, "rate_gbps": 200, "link_layer": "infiniband"} for d in (ports or {})]
    storage_ports = [{"device": d, "rate_gbps": 200, "link_layer": "infiniband"} for d in (storage or {})]
    return {"acceptance_simulated": False, "acceptance_dcgmi_binary": str(tmp / "dcgmi"),
            "acceptance_all_reduce_binary": str(tmp / "all_reduce_perf"), "acceptance_sysfs_infiniband": str(sysfs),
            "acceptance_nvidia_smi_binary": str(tmp / "nvidia-smi"),
            "podforge_sku": {"name": "dgx-a100-80g", "gpu_count": 8, "allreduce_busbw_floor_gbs": 200,
                             "firmware": firmware or {}},
            "podforge_compute_hcas": hcas, "podforge_storage_hcas": list(storage or {}),
            "podforge_storage_hca_ports": storage_ports}


HEALTHY_PORT = ("4: ACTIVE", "200 Gb/sec (4X HDR)", {})


def test_a_healthy_node_passes_the_gate(tmp_path: Path) -> None:
    result = run_role(tmp_path, "acceptance", fake_node(tmp_path, ports={"mlx5_0": HEALTHY_PORT, "mlx5_1": HEALTHY_PORT}))
    assert outcome(result) == (0, 0), failure_message(result)
    assert any("bus bandwidth 406.71 GB/s" in m for m in debug_messages(result))


@pytest.mark.parametrize(("node", "named"), [
    ({"busbw": "150.20"}, "bus bandwidth 150.2 GB/s at the largest message (floor 200"),
    ({"oob": "3"}, "out-of-bounds values 3"),
    ({"dcgm": DCGM_FAIL}, "Persistence Mode"),
    ({"ports": {"mlx5_0": HEALTHY_PORT, "mlx5_1": ("1: DOWN", "10 Gb/sec (4X SDR)", {})}}, "mlx5_1 port 1: state 1: DOWN"),
    ({"ports": {"mlx5_0": ("4: ACTIVE", "100 Gb/sec (4X EDR)", {})}}, "expected ACTIVE at 200 Gb/s"),
    ({"ports": {"mlx5_0": ("4: ACTIVE", "200 Gb/sec (4X HDR)", {"link_downed": 2})}}, "link_downed=2 (limit 0)"),
])
def test_a_failing_node_fails_the_gate(tmp_path: Path, node: dict[str, Any], named: str) -> None:
    result = run_role(tmp_path, "acceptance", fake_node(tmp_path, **node))
    assert outcome(result)[0] == 1
    assert named in failure_message(result)


DECLARED = {"gpu_vbios": VBIOS, "compute_hca": HCA_FW, "storage_hca": "20.40.1000"}


def test_declared_firmware_and_storage_ports_pass_when_the_node_reports_them(tmp_path: Path) -> None:
    """VBIOS of all 8 GPUs and both kinds of HCA firmware as declared, the storage HCA ACTIVE at its rate."""
    node = fake_node(tmp_path, ports={"mlx5_0": HEALTHY_PORT}, storage={"mlx5_10": HEALTHY_PORT},
                     firmware=DECLARED, fw={"mlx5_10": "20.40.1000"})
    result = run_role(tmp_path, "acceptance", node)
    assert outcome(result) == (0, 0), failure_message(result)
    assert any("multi-node all_reduce_perf, the wave has 1 GPU node(s)" in m for m in debug_messages(result))


@pytest.mark.parametrize(("node", "named"), [
    ({"vbios": [VBIOS] * 7 + ["92.00.36.00.01"]}, "8 GPU(s) report 92.00.45.00.06, 92.00.36.00.01"),
    ({"vbios": [VBIOS] * 7}, "7 GPU(s) report"),
    ({"fw": {"mlx5_0": "20.31.1014"}}, "mlx5_0 port 1: state 4: ACTIVE, rate 200 Gb/sec (4X HDR) (expected ACTIVE at "
                                       "200 Gb/s), firmware 20.31.1014 (the spec declares 20.39.1002)"),
    ({"fw": {"mlx5_10": HCA_FW}}, "firmware 20.39.1002 (the spec declares 20.40.1000)"),
    ({"storage": {"mlx5_10": ("1: DOWN", "10 Gb/sec (4X SDR)", {})}}, "mlx5_10 port 1: state 1: DOWN"),
])
def test_firmware_or_storage_ports_off_the_spec_fail_the_gate(tmp_path: Path, node: dict[str, Any], named: str) -> None:
    """A GPU on another VBIOS, a missing GPU, an HCA on other firmware, a storage HCA down: each fails, named."""
    args = {"ports": {"mlx5_0": HEALTHY_PORT}, "storage": {"mlx5_10": HEALTHY_PORT}, "firmware": DECLARED,
            "fw": {"mlx5_10": "20.40.1000"}}
    args.update(node)
    if "fw" in node and "mlx5_10" not in node["fw"]:
        args["fw"] = {**node["fw"], "mlx5_10": "20.40.1000"}
    result = run_role(tmp_path, "acceptance", fake_node(tmp_path, **args))
    assert outcome(result)[0] == 1
    assert named in failure_message(result)


def test_undeclared_firmware_is_not_checked(tmp_path: Path) -> None:
    """Without declared versions, whatever the GPUs and HCAs report passes (nvidia-smi is not even asked)."""
    result = run_role(tmp_path, "acceptance", fake_node(tmp_path, ports={"mlx5_0": HEALTHY_PORT},
                                                        vbios=["0.0"], fw={"mlx5_0": "1.2.3"}))
    assert outcome(result) == (0, 0), failure_message(result)


def test_a_one_gpu_sku_skips_the_all_reduce(tmp_path: Path) -> None:
    variables = fake_node(tmp_path, busbw="0.00")
    variables["podforge_sku"] = {"name": "gpu-h200-1", "gpu_count": 1, "allreduce_busbw_floor_gbs": None}
    result = run_role(tmp_path, "acceptance", variables)
    assert outcome(result) == (0, 0), failure_message(result)
    assert any(m.startswith("skipped: all_reduce_perf") for m in debug_messages(result))


def test_in_the_lab_the_gate_is_simulated_unless_the_node_is_marked_failing(tmp_path: Path) -> None:
    variables = {"acceptance_simulated": True, "acceptance_simulated_failure_file": str(tmp_path / "absent"),
                 "podforge_versions": {"nccl_tests": "2.13.6"},
                 "podforge_sku": {"name": "dgx-a100-80g", "gpu_count": 8, "allreduce_busbw_floor_gbs": 200}}
    passed = run_role(tmp_path, "acceptance", variables)
    assert outcome(passed) == (0, 0)
    assert any(m.startswith("simulated: dcgmi diag -r 1") for m in debug_messages(passed))
    marked = run_role(tmp_path, "acceptance", {**variables, "acceptance_simulated_failure": "GPU 3 fell off the bus"})
    assert outcome(marked)[0] == 1
    assert "marked failing): GPU 3 fell off the bus" in failure_message(marked)


@pytest.mark.parametrize(("change", "named"), [
    ({"podforge_versions": {**VERSIONS, "kernel_modules": "akmods"}},
     "nvidia_driver_kernel_modules must be one of: precompiled, dkms, got: akmods"),
    ({"podforge_sku": {"name": "dgx-a100-80g", "nvswitch": True, "mig_mode": "mixed"}},
     "nvidia_driver_mig_mode must be one of: disabled, enabled, got: mixed"),
])
def test_an_unknown_kernel_module_choice_or_mig_mode_is_refused_before_any_change(
        tmp_path: Path, change: dict[str, Any], named: str) -> None:
    """The role's argument spec refuses a kernel-module choice or MIG mode it has no packages or check for."""
    variables = {"podforge_versions": VERSIONS, "podforge_sku": {"name": "dgx-a100-80g", "nvswitch": True}, **change}
    result = run_role(tmp_path, "nvidia_driver", variables)
    assert outcome(result) == (1, 0)
    assert named in failure_message(result)
