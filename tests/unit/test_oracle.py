"""The oracle table of what DGX OS 6 / 7 ship (components/oracle/dgx_os.yaml): every row sourced, names resolved per
OS release, driver branch and CUDA major, units as their packages ship them."""

from __future__ import annotations

import pytest

from components import oracle


def test_every_row_and_unit_names_its_source() -> None:
    data = oracle.table()
    for row in data["packages"]:
        assert row["source"].strip(), row["name"]
        assert row["releases"] and set(row["releases"]) <= set(data["releases"]), row["name"]
    for name, unit in data["units"].items():
        assert unit["source"].strip(), name
    for release in data["releases"].values():
        assert release["source"].strip()


def test_os_names_map_to_dgx_os_releases() -> None:
    assert oracle.release_of("ubuntu-22.04") == oracle.release_of("dgx-os-6") == "jammy"
    assert oracle.release_of("ubuntu-24.04") == oracle.release_of("dgx-os-7") == "noble"
    assert oracle.release_of("debian-12") == "jammy" and oracle.is_stand_in("debian-12")
    with pytest.raises(oracle.OracleError, match="no DGX OS release"):
        oracle.release_of("rhel-9")


def test_names_follow_the_branch_and_the_cuda_major() -> None:
    names = oracle.known_names("ubuntu-22.04", "535", "12")
    assert {"nvidia-driver-535-server", "nvidia-fabricmanager-535", "libnvidia-nscq-535",
            "linux-modules-nvidia-535-server-nvidia", "datacenter-gpu-manager-4-cuda12"} <= names
    assert "nvidia-driver-535" not in names  # the desktop/CUDA-repository name is not what DGX OS installs
    assert not any("{" in n for n in names)
    # Without a CUDA major the per-CUDA DCGM packages cannot be named, and are left out rather than guessed.
    assert not any(n.startswith("datacenter-gpu-manager-4-cuda") for n in oracle.known_names("ubuntu-24.04", "580"))


def test_the_stack_packages_follow_the_spec(lab, superpod) -> None:
    assert [p.name for p in oracle.stack_packages(lab)] == [p.name for p in oracle.stack_packages(superpod)]
    names = [p.name for p in oracle.stack_packages(superpod)]
    assert names[:3] == ["nvidia-driver-535-server", "nvidia-compute-utils-535-server", "nvidia-utils-535-server"]
    assert "datacenter-gpu-manager" not in names  # DCGM 4 is pinned: the core and per-CUDA packages instead
    assert {"datacenter-gpu-manager-4-core", "datacenter-gpu-manager-4-cuda12"} <= set(names)


def test_the_packaged_persistenced_unit_leaves_persistence_mode_off() -> None:
    unit = oracle.unit("nvidia-persistenced")
    assert unit is not None and unit.persistence_mode == "disabled" and not unit.install_section
    assert "--no-persistence-mode" in unit.exec_start
    assert f"ExecStart={unit.exec_start}\n" in str(unit.text)  # the verbatim text agrees with the summary
    assert "[Install]" not in str(unit.text) and "StopWhenUnneeded=true" in str(unit.text)


def test_opensm_runs_as_opensmd_under_doca_and_as_opensm_from_the_archive() -> None:
    assert oracle.opensm_units("ubuntu-22.04", with_doca=True) == {"opensmd"}
    assert oracle.opensm_units("ubuntu-22.04", with_doca=False) == {"opensm", "opensm@"}
    assert oracle.opensm_units("debian-12", with_doca=True) == {"opensm", "opensm@"}  # the lab: Debian's build


def test_nccl_tests_is_no_package_and_open_mpi_comes_from_the_os_archive(superpod) -> None:
    """NVIDIA publishes nccl-tests as source only: no row names it, so no stand-in or artifact package exists for it;
    the MPI it is built with is the OS archive's Open MPI, outside every stack's vendor packages."""
    for os_name in ("ubuntu-22.04", "ubuntu-24.04"):
        packages = {p.name: p for p in oracle.all_packages(os_name, "535", "12")}
        assert "nccl-tests" not in packages and all(p.component != "nccl_tests" for p in packages.values())
        assert packages["openmpi-bin"].commands == {"mpirun.openmpi": "/usr/bin/mpirun.openmpi"}
        assert {f["path"] for f in packages["libopenmpi-dev"].files} == {
            "/usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h", "/usr/lib/x86_64-linux-gnu/openmpi/lib/libmpi.so"}
    stack = {p.name for p in oracle.stack_packages(superpod)}
    assert not stack & {"nccl-tests", "openmpi-bin", "libopenmpi-dev"}
