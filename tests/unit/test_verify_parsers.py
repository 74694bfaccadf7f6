"""Parsers of nvidia-smi, /proc/driver/nvidia/version, topo -m and NVML readings, on a live H200's captures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.verify.driver import parse_driver_version
from components.verify.infiniband import parse_port_rate, parse_port_state
from components.verify.listeners import listening_ports
from components.verify.mounts import parse_mounts
from components.verify.nccl_conf import ib_hca_devices, parse_nccl_conf
from components.verify.nvidia_smi import NvidiaSmiParseError, parse_nvlink_status, parse_query_csv, parse_smi_xml
from components.verify.nvml import parse_nvml_readings, reading, refused
from components.verify.topology import parse_topology, strip_ansi

H200 = Path(__file__).resolve().parents[1] / "fixtures" / "gpu-node-h200"


def capture(name: str) -> str:
    return (H200 / name).read_text()


def test_query_csv_of_the_h200_gives_every_field_without_units() -> None:
    rows = parse_query_csv(capture("nvidia-smi-query.csv"))
    assert rows == [{
        "index": "0", "name": "NVIDIA H200", "uuid": "GPU-00bcda41-cc2d-bf3e-c450-b9e770558dd5",
        "serial": "1653724056566", "pci.bus_id": "00000000:00:06.0", "driver_version": "580.159.04",
        "vbios_version": "96.00.A5.00.1A", "memory.total": "143771", "memory.used": "0",
        "persistence_mode": "Enabled", "ecc.mode.current": "Enabled", "mig.mode.current": "Disabled",
        "power.limit": "700.00", "clocks.max.sm": "1980", "temperature.gpu": "34", "utilization.gpu": "0",
        "compute_cap": "9.0",
    }]


def test_query_csv_without_header_takes_the_queried_field_names() -> None:
    rows = parse_query_csv("580.159.04, Enabled\n580.159.04, Disabled\n", fields=["driver_version", "persistence_mode"])
    assert rows == [{"driver_version": "580.159.04", "persistence_mode": "Enabled"},
                    {"driver_version": "580.159.04", "persistence_mode": "Disabled"}]
    assert parse_query_csv("") == []


def test_query_csv_refuses_a_row_that_does_not_fit_the_header() -> None:
    with pytest.raises(NvidiaSmiParseError, match="2 values under 3 columns"):
        parse_query_csv("index, name, uuid\n0, NVIDIA H200\n")


def test_smi_xml_of_the_h200() -> None:
    log = parse_smi_xml(capture("nvidia-smi-q.xml"))
    assert (log.driver_version, log.cuda_version, log.attached_gpus) == ("580.159.04", "13.0", 1)
    (gpu,) = log.gpus
    assert gpu.pci_bus_id == "00000000:00:06.0"
    assert gpu.product_name == "NVIDIA H200"
    assert gpu.uuid == "GPU-00bcda41-cc2d-bf3e-c450-b9e770558dd5"
    assert gpu.serial == "1653724056566"
    assert gpu.architecture == "Hopper"
    assert (gpu.persistence_mode, gpu.ecc_current, gpu.ecc_pending) == (True, True, True)
    assert (gpu.mig_current, gpu.mig_pending) == (False, False)
    assert (gpu.memory_total_mib, gpu.memory_used_mib) == (143771, 0)
    # One GPU, no NVSwitch: the fabric section is all N/A.
    assert (gpu.fabric_state, gpu.fabric_status) == (None, None)
    assert gpu.volatile_uncorrectable_ecc == 0
    assert gpu.remapped_row_pending is False


def test_smi_xml_refuses_text_that_is_not_its_xml() -> None:
    with pytest.raises(NvidiaSmiParseError, match="not nvidia-smi XML"):
        parse_smi_xml(capture("nvidia-smi.txt"))
    with pytest.raises(NvidiaSmiParseError, match="root element <other>"):
        parse_smi_xml("<other/>")


def test_smi_xml_reads_a_fabric_state_and_na_values() -> None:
    xml = ("<nvidia_smi_log><driver_version>580.159.04</driver_version><attached_gpus>1</attached_gpus>"
           "<gpu id='0'><product_name>NVIDIA H100 80GB HBM3</product_name><persistence_mode>Disabled</persistence_mode>"
           "<ecc_mode><current_ecc>N/A</current_ecc></ecc_mode>"
           "<fabric><state>In Progress</state><status>N/A</status></fabric></gpu></nvidia_smi_log>")
    (gpu,) = parse_smi_xml(xml).gpus
    assert (gpu.persistence_mode, gpu.ecc_current, gpu.fabric_state, gpu.fabric_status) == (False, None, "In Progress", None)
    assert gpu.memory_total_mib is None


def test_open_kernel_module_of_the_h200() -> None:
    module = parse_driver_version(capture("driver-version.txt"))
    assert module is not None
    assert (module.version, module.branch, module.flavour) == ("580.159.04", "580", "open")
    assert (module.arch, module.gcc_version) == ("x86_64", "15.3.0")


def test_proprietary_kernel_module_line() -> None:
    module = parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.06  Wed Jun 26 06:46:07 "
                                  "UTC 2024\nGCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04) \n")
    assert module is not None
    assert (module.version, module.flavour, module.arch, module.gcc_version) == (
        "535.183.06", "proprietary", "x86_64", "12.3.0")
    assert parse_driver_version("") is None


def test_topology_of_the_h200_without_ansi_escapes() -> None:
    raw = capture("nvidia-smi-topo.txt")
    assert "\x1b[" in raw and "\x1b[" not in strip_ansi(raw)
    topo = parse_topology(raw)
    assert topo.devices == ("GPU0",)
    assert topo.gpus == ("GPU0",)
    assert topo.link("GPU0", "GPU0") == "X"
    assert topo.affinity == {"GPU0": {"CPU Affinity": "0-15", "NUMA Affinity": "0", "GPU NUMA ID": "N/A"}}
    assert topo.nic_names == {}


def test_topology_with_nvlink_peers_and_a_nic_legend() -> None:
    text = ("\t\x1b[4mGPU0\tGPU1\tNIC0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\x1b[0m\n"
            "GPU0\t X \tNV12\tPXB\t48-63,176-191\t3\t\tN/A\n"
            "GPU1\tNV12\t X \tPXB\t48-63,176-191\t3\t\tN/A\n"
            "NIC0\tPXB\tPXB\t X \t\t\t\t\n\nLegend:\n\n  X    = Self\n\nNIC Legend:\n\n  NIC0: mlx5_0\n")
    topo = parse_topology(text)
    assert topo.devices == ("GPU0", "GPU1", "NIC0")
    assert topo.link("GPU0", "GPU1") == "NV12" and topo.link("GPU1", "NIC0") == "PXB"
    assert topo.affinity["GPU1"] == {"CPU Affinity": "48-63,176-191", "NUMA Affinity": "3", "GPU NUMA ID": "N/A"}
    assert "NIC0" not in topo.affinity
    assert topo.nic_names == {"NIC0": "mlx5_0"}
    assert parse_topology("").devices == ()


def test_nvml_readings_agree_with_nvidia_smi_on_the_h200() -> None:
    data = json.loads(capture("nvml.json"))
    snapshot = parse_nvml_readings(data)
    assert (snapshot.driver_version, snapshot.cuda_driver_version) == ("580.159.04", "13.0")
    (nvml,) = snapshot.gpus
    (smi,) = parse_smi_xml(capture("nvidia-smi-q.xml")).gpus
    for field in ("pci_bus_id", "product_name", "uuid", "serial", "persistence_mode", "ecc_current", "ecc_pending",
                  "mig_current", "mig_pending", "memory_total_mib"):
        assert getattr(nvml, field) == getattr(smi, field), field
    assert nvml.memory_total_mib == 143771  # 150754820096 bytes


def test_nvml_refused_readings_become_none_with_their_reason() -> None:
    gpu = json.loads(capture("nvml.json"))["gpus"][0]
    assert reading(gpu["numa"]) is None
    assert refused(gpu["numa"]) == "NVMLError_NotSupported: Not Supported"
    assert reading(gpu["nvlink_state"]) is None and refused(gpu["nvlink_state"]) == "Not Supported"
    assert reading(gpu["temp"]) == 34 and refused(gpu["temp"]) is None


def test_nvlink_status_empty_on_the_h200_and_parsed_on_nvlink_gpus() -> None:
    assert parse_nvlink_status("") == {}
    links = parse_nvlink_status("GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1)\n\t Link 0: 25 GB/s\n\t Link 1: <inactive>\n"
                                "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-2)\n\t Link 0: 25 GB/s\n")
    assert [(link.link, link.gbps) for link in links[0]] == [(0, 25.0), (1, None)]
    assert [(link.link, link.gbps) for link in links[1]] == [(0, 25.0)]


def test_sysfs_port_state_and_rate() -> None:
    assert parse_port_state("4: ACTIVE\n") == "ACTIVE"
    assert parse_port_state("1: DOWN\n") == "DOWN"
    assert parse_port_rate("200 Gb/sec (4X HDR)\n") == 200.0
    assert parse_port_rate("2.5 Gb/sec (1X SDR)\n") == 2.5
    assert parse_port_state("") is None and parse_port_rate("") is None


def test_listening_ports_from_proc_net_tcp() -> None:
    text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 00000000:24B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
            "   1: 0100007F:238C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n"
            "   2: 0100007F:9C40 0100007F:24B8 01 00000000:00000000 00:00000000 00000000     0        0 3\n")
    assert listening_ports(text) == {9400, 9100}
    assert listening_ports("") == set()


def test_nccl_conf_and_ib_hca_list() -> None:
    conf = parse_nccl_conf("# rendered by podforge\nNCCL_IB_HCA==mlx5_0:1,mlx5_1:1\nNCCL_SOCKET_IFNAME = enp226s0\n\n")
    assert conf == {"NCCL_IB_HCA": "=mlx5_0:1,mlx5_1:1", "NCCL_SOCKET_IFNAME": "enp226s0"}
    assert ib_hca_devices(conf["NCCL_IB_HCA"]) == (False, ["mlx5_0", "mlx5_1"])
    assert ib_hca_devices("^mlx5_4") == (True, ["mlx5_4"])


def test_mounts_with_escaped_spaces() -> None:
    (entry,) = parse_mounts("10.0.0.5:/models /mnt/my\\040models nfs4 ro,vers=4.1,proto=rdma 0 0\n")
    assert (entry.source, entry.mount_point, entry.fstype) == ("10.0.0.5:/models", "/mnt/my models", "nfs4")
    assert "proto=rdma" in entry.options
