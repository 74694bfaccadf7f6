"""`podforge artifacts`: every package and image a stack needs, with versions and sources, from the spec."""

from __future__ import annotations

import json

import pytest

from components.artifacts import dcgm_packages, stack_artifacts
from components.cli import main
from components.spec import load_stack_spec


def test_superpod_needs_the_pinned_nvidia_and_mellanox_packages(superpod) -> None:
    packages = [(p.name, p.version) for p in stack_artifacts(superpod).packages]
    assert packages == [
        ("nvidia-driver-535-server", "535.183.06"),
        ("nvidia-fabricmanager-535", "535.183.06"),
        ("libnvidia-nscq-535", "535.183.06"),
        ("doca-ofed", "2.7.0"),
        ("libnccl2", "2.21.5-1+cuda12.4"),
        ("libnccl-dev", "2.21.5-1+cuda12.4"),
        ("nvidia-container-toolkit", "1.16.2-1"),
        ("nvidia-container-toolkit-base", "1.16.2-1"),
        ("libnvidia-container-tools", "1.16.2-1"),
        ("libnvidia-container1", "1.16.2-1"),
        ("datacenter-gpu-manager-4-core", "1:4.4.1-1"),
        ("datacenter-gpu-manager-4-cuda12", "1:4.4.1-1"),
        ("datacenter-gpu-manager-exporter", "4.6.0-1"),
    ]


def test_nccl_tests_is_a_source_tarball_with_its_checksum_not_a_package(superpod) -> None:
    artifacts = stack_artifacts(superpod)
    assert "nccl-tests" not in [p.name for p in artifacts.packages]
    (tarball,) = artifacts.files
    pin = superpod.software.nccl_tests
    assert (tarball.name, tarball.version, tarball.url, tarball.sha256) == ("nccl-tests", pin.version, pin.url,
                                                                            pin.sha256)
    assert tarball.upstream == f"https://github.com/NVIDIA/nccl-tests/archive/v{pin.version}.tar.gz"
    assert artifacts.as_json()["files"][0]["sha256"] == pin.sha256


def test_each_package_names_the_source_the_spec_pins_it_to(superpod) -> None:
    mirror = next(s for s in superpod.software.sources if s.name == "su1-mirror")
    assert {(p.source, p.url, p.suite) for p in stack_artifacts(superpod).packages} == {
        ("su1-mirror", mirror.url, "./")}


def test_the_serving_engine_image_is_listed(superpod) -> None:
    assert [i.image for i in stack_artifacts(superpod).images] == ["vllm/vllm-openai:v0.11.0"]


def test_a_single_gpu_node_needs_no_fabric_manager_no_ofed_and_dcgm_4_packages() -> None:
    h200 = load_stack_spec("h200")[1].spec
    artifacts = stack_artifacts(h200)
    names = [p.name for p in artifacts.packages]
    assert not any("fabricmanager" in n or "nscq" in n for n in names)  # gpu-h200-1 has no NVSwitch
    assert "doca-ofed" not in names  # nor any HCA
    assert names[-3:] == ["datacenter-gpu-manager-4-core", "datacenter-gpu-manager-4-cuda13",
                          "datacenter-gpu-manager-exporter"]
    assert artifacts.images == ()  # no serving section


def test_dcgm_package_names_follow_the_major_version() -> None:
    assert dcgm_packages("3.3.7", "2.21.5-1+cuda12.4") == ["datacenter-gpu-manager"]
    assert dcgm_packages("1:4.4.1-1", "2.28.9-1+cuda13.0") == ["datacenter-gpu-manager-4-core",
                                                              "datacenter-gpu-manager-4-cuda13"]
    assert dcgm_packages("4.4.1", "2.28.9-1") == ["datacenter-gpu-manager-4-core"]


def test_package_names_come_from_the_oracle_table(superpod) -> None:
    """Every listed package is a row of the oracle table for the spec's OS release and branch."""
    from components import oracle

    sw = superpod.software
    known = oracle.known_names(sw.os, sw.driver.branch, oracle.cuda_major(sw.nccl.version))
    assert {p.name for p in stack_artifacts(superpod).packages} <= known


def test_lab_artifacts_come_from_the_lab_mirror_on_the_bridge() -> None:
    lab = load_stack_spec("lab")[1].spec
    artifacts = stack_artifacts(lab)
    assert artifacts.lab
    assert {p.url for p in artifacts.packages} == {"http://10.199.77.1:8081/standins"}


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["artifacts", "--stack", "superpod", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema"] == 1 and out["stack"] == "superpod" and out["spec"] == "specs/superpod.yaml"
    assert out["os"] == "ubuntu-22.04" and out["lab"] is False
    assert out["packages"][0] == {"name": "nvidia-driver-535-server", "version": "535.183.06", "component": "driver",
                                  "source": "su1-mirror", "url": "http://mirror.su1.bank.internal/nvidia",
                                  "suite": "./", "why": "GPU nodes (driver branch 535)"}
    assert [i["image"] for i in out["images"]] == ["vllm/vllm-openai:v0.11.0"]


def test_text_output_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["artifacts", "--stack", "superpod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Artifacts of stack superpod (specs/superpod.yaml, ubuntu-22.04)\n")
    assert "Packages (13)" in out and "Container images (1)" in out and "Source tarballs (1)" in out
    assert "  nccl-tests 2.13.6  http://mirror.su1.bank.internal/artifacts/nccl-tests-2.13.6.tar.gz  sha256 " in out
    row = next(line for line in out.splitlines() if line.strip().startswith("nvidia-fabricmanager-535 "))
    assert row.split() == ["nvidia-fabricmanager-535", "535.183.06", "su1-mirror",
                           "http://mirror.su1.bank.internal/nvidia", "./"]


def test_an_unknown_stack_is_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["artifacts", "--stack", "nope"]) == 2
    assert "Pulumi.nope.yaml" in capsys.readouterr().err


def test_no_exporter_package_without_a_pin() -> None:
    h200 = load_stack_spec("h200")[1].spec
    unpinned = h200.model_copy(update={"software": h200.software.model_copy(update={"dcgm_exporter": None})})
    assert "datacenter-gpu-manager-exporter" not in [p.name for p in stack_artifacts(unpinned).packages]
