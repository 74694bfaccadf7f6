"""The stand-in repository served over HTTP on 127.0.0.1, read by a real APT with an isolated configuration (its
own sources list, lists, cache and status in a tmp dir; the machine's APT state is never touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.spec import load_stack_spec
from components.standins import LABEL, RepositoryServer, build_stack_repositories, serve_directory

pytestmark = pytest.mark.servers
UPGRADE = "535.216.01"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RepositoryServer]:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    lab = load_stack_spec("lab")[1].spec
    root = tmp_path_factory.mktemp("www")
    build_stack_repositories(lab, root, driver_versions=(UPGRADE,))
    with serve_directory(root, "127.0.0.1") as server:
        yield server


class IsolatedApt:
    def __init__(self, base: Path, repo_url: str) -> None:
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "downloads"):
            (base / sub).mkdir(parents=True)
        (base / "status").write_text("")
        (base / "sources.list").write_text(f"deb [trusted=yes] {repo_url} ./\n")
        self.downloads = base / "downloads"
        settings = {
            "Dir::Etc::SourceList": base / "sources.list", "Dir::Etc::SourceParts": base / "sources.list.d",
            "Dir::Etc::Preferences": base / "preferences", "Dir::Etc::PreferencesParts": base / "preferences.d",
            "Dir::State": base, "Dir::State::Lists": base / "lists", "Dir::State::status": base / "status",
            "Dir::Cache": base / "cache", "Debug::NoLocking": "1", "Acquire::Languages": "none",
            # The tmp dir is private to this user; APT's _apt sandbox user could not write there.
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
        }
        self.options = [arg for key, value in settings.items() if value != "" for arg in ("-o", f"{key}={value}")]

    def __call__(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool, *self.options, *args], capture_output=True, text=True, timeout=60,
                              cwd=self.downloads, check=False)


@pytest.fixture(scope="module")
def apt(served: RepositoryServer, tmp_path_factory: pytest.TempPathFactory) -> IsolatedApt:
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        pytest.skip("apt-get / apt-cache are not installed")
    apt = IsolatedApt(tmp_path_factory.mktemp("apt"), f"{served.url}/standins")
    update = apt("apt-get", "update")
    assert update.returncode == 0, update.stderr
    return apt


def test_the_index_is_served_over_http(served: RepositoryServer) -> None:
    with urllib.request.urlopen(f"{served.url}/standins/Packages", timeout=5) as response:
        index = response.read().decode()
    assert "Package: nvidia-fabricmanager-535\n" in index and LABEL in index
    assert served.address[0] == "127.0.0.1"


def test_apt_sees_both_driver_versions_and_prefers_the_newer(apt: IsolatedApt) -> None:
    policy = apt("apt-cache", "policy", "nvidia-driver-535-server").stdout
    assert f"Candidate: {UPGRADE}" in policy
    assert "535.183.06 500" in policy and f"{UPGRADE} 500" in policy


def test_apt_downloads_the_pinned_version(apt: IsolatedApt) -> None:
    # DCGM's version carries an APT epoch (1:), as NVIDIA's packages do; apt names the file with it escaped.
    result = apt("apt-get", "download", "nvidia-driver-535-server=535.183.06", "datacenter-gpu-manager-4-core=1:4.4.1-1",
                 "datacenter-gpu-manager-exporter=4.6.0-1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in apt.downloads.glob("*.deb")) == ["datacenter-gpu-manager-4-core_1%3a4.4.1-1_all.deb",
                                                                  "datacenter-gpu-manager-exporter_4.6.0-1_all.deb",
                                                                  "nvidia-driver-535-server_535.183.06_all.deb"]


def test_apt_resolves_the_toolkit_with_its_exact_dependencies(apt: IsolatedApt) -> None:
    result = apt("apt-get", "--simulate", "install", "nvidia-container-toolkit=1.16.2-1", "libnccl-dev")
    assert result.returncode == 0, result.stderr
    installed = {line.split()[1]: line.split()[2].strip("(") for line in result.stdout.splitlines()
                 if line.startswith("Inst ")}
    assert installed == {"nvidia-container-toolkit": "1.16.2-1", "nvidia-container-toolkit-base": "1.16.2-1",
                         "libnvidia-container-tools": "1.16.2-1", "libnvidia-container1": "1.16.2-1",
                         "libnccl-dev": "2.21.5-1+cuda12.4", "libnccl2": "2.21.5-1+cuda12.4"}


@pytest.mark.skipif(shutil.which("dpkg") is None or os.geteuid() != 0, reason="needs dpkg and root (dpkg --root)")
def test_dpkg_installs_and_upgrades_the_stand_ins_in_a_scratch_root(apt: IsolatedApt, tmp_path: Path) -> None:
    driver = ("nvidia-driver-535-server", "nvidia-compute-utils-535-server", "nvidia-utils-535-server")
    result = apt("apt-get", "download", *(f"{p}={v}" for p in driver for v in ("535.183.06", UPGRADE)), "libnccl2",
                 "libnccl-dev")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "root"
    for sub in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"):
        (root / sub).mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")

    def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", f"--log={tmp_path}/dpkg.log",
                               *args], capture_output=True, text=True, timeout=60, check=False)

    debs = sorted(apt.downloads.glob("*.deb"))
    old = [str(d) for p in driver for d in debs if d.name == f"{p}_535.183.06_all.deb"]
    new = [str(d) for p in driver for d in debs if d.name == f"{p}_{UPGRADE}_all.deb"]
    assert len(old) == len(new) == 3, [d.name for d in debs]
    nccl = [str(d) for d in debs if d.name.startswith("libnccl")]
    assert dpkg("-i", *old, *nccl).returncode == 0
    assert dpkg("-i", *new).returncode == 0
    status = dpkg("-s", "nvidia-driver-535-server").stdout
    assert "Status: install ok installed" in status and f"Version: {UPGRADE}" in status
    assert "Version: 2.21.5-1+cuda12.4" in dpkg("-s", "libnccl-dev").stdout
    out = subprocess.run(["sh", str(root / "usr/bin/nvidia-smi")], capture_output=True, text=True, check=True).stdout
    assert out.startswith("simulated: nvidia-smi") and UPGRADE in out
