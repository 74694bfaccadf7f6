"""The lab's stand-in packages: names, files and units from the oracle table of what DGX OS ships, versions from the
spec, labelled as stand-ins, built with dpkg-deb into a reproducible flat APT repository whose index matches its
files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import oracle
from components.artifacts import stack_artifacts
from components.standins import LABEL, build_stack_repositories, repository_dir, standin_packages

needs_dpkg_deb = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")
UPGRADE = "535.216.01"


@pytest.fixture(scope="module")
def repo(lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    root = tmp_path_factory.mktemp("standins")
    return build_stack_repositories(lab, root, driver_versions=(UPGRADE,))["lab-mirror"]


def _stanzas(index: str) -> list[dict[str, str]]:
    stanzas = []
    for block in index.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line.startswith(" "):
                key, value = line.split(": ", 1)
                fields[key] = value
        stanzas.append(fields)
    return stanzas


def test_stand_ins_carry_the_oracle_names_at_the_versions_the_stack_pins(lab) -> None:
    """Every pinned package has its stand-in, plus the driver meta package's dependencies the oracle names."""
    pinned = {(p.name, p.version) for p in stack_artifacts(lab).packages}
    standins = {(s.name, s.version) for s in standin_packages(lab)}
    assert standins - pinned == {("nvidia-compute-utils-535-server", "535.183.06"),
                                 ("nvidia-utils-535-server", "535.183.06")}
    assert pinned <= standins
    assert {s.name for s in standin_packages(lab)} == {p.name for p in oracle.stack_packages(lab)}


def test_the_driver_meta_package_depends_on_its_utilities_exactly(lab) -> None:
    driver = next(s for s in standin_packages(lab) if s.name == "nvidia-driver-535-server")
    assert driver.depends == ("nvidia-compute-utils-535-server (= 535.183.06)", "nvidia-utils-535-server (= 535.183.06)")


def test_an_upgrade_version_adds_the_driver_fabric_manager_and_nscq_packages_only(lab) -> None:
    extra = {(s.name, s.version) for s in standin_packages(lab, (UPGRADE,))} - {
        (s.name, s.version) for s in standin_packages(lab)}
    assert extra == {(name, UPGRADE) for name in ("nvidia-driver-535-server", "nvidia-compute-utils-535-server",
                                                  "nvidia-utils-535-server", "nvidia-fabricmanager-535",
                                                  "libnvidia-nscq-535")}


def test_the_persistenced_unit_is_the_packaged_text(lab) -> None:
    """The stand-in unit is the packaged one verbatim (--no-persistence-mode, no [Install]); only binaries differ."""
    utils = next(s for s in standin_packages(lab) if s.name == "nvidia-compute-utils-535-server")
    unit = next(f.text for f in utils.files if f.path == "/lib/systemd/system/nvidia-persistenced.service")
    packaged = oracle.unit("nvidia-persistenced")
    assert packaged is not None and unit.endswith(str(packaged.text))
    assert "--no-persistence-mode" in unit and "[Install]" not in unit


def test_every_stand_in_says_what_it_is(lab) -> None:
    for package in standin_packages(lab):
        synopsis = package.description.splitlines()[0]
        assert synopsis.endswith(f"({LABEL})")
        assert any(f.path == f"/usr/share/podforge-standins/{package.name}" for f in package.files)
        for f in package.files:
            if f.mode & 0o111:
                assert "simulated" in f.text, f.path  # every command a role may run answers "simulated"
            assert not f.path.startswith(("/etc/", "/boot/", "/lib/modules/")), f.path  # nothing that acts on a host


def test_roles_find_the_commands_and_units_they_use(lab) -> None:
    paths = {f.path for s in standin_packages(lab) for f in s.files}
    for command in ("nvidia-smi", "nv-fabricmanager", "dcgmi", "nv-hostengine", "nvidia-ctk",
                    "ofed_info"):
        assert f"/usr/bin/{command}" in paths
    for unit in ("nvidia-persistenced", "nvidia-fabricmanager", "nvidia-dcgm", "nvidia-dcgm-exporter"):
        assert f"/lib/systemd/system/{unit}.service" in paths
    assert "/usr/bin/dcgm-exporter" in paths


def test_the_stand_in_exporter_serves_the_configured_fields_without_samples(lab, tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    exporter = next(s for s in standin_packages(lab) if s.name == "datacenter-gpu-manager-exporter")
    script = tmp_path / "dcgm-exporter"
    script.write_text(next(f.text for f in exporter.files if f.path == "/usr/bin/dcgm-exporter"))
    fields = tmp_path / "fields.csv"
    fields.write_text("# DCGM field, Prometheus metric type, help message\n"
                      "DCGM_FI_DEV_GPU_UTIL, gauge, GPU utilization (%)\nDCGM_FI_DEV_FB_USED, gauge, Framebuffer used\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The options the dcgm role's drop-in passes, as the real dcgm-exporter takes them.
    server = subprocess.Popen([sys.executable, str(script), "--address", f"127.0.0.1:{port}", "--collectors", str(fields),
                               "--collect-interval", "30000", "--remote-hostengine-info", "localhost:5555"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith("simulated: dcgm-exporter stand-in")
        deadline = time.monotonic() + 10
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (%)\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n" in body
    assert "# HELP DCGM_FI_DEV_FB_USED " in body
    assert not [line for line in body.splitlines() if line.startswith("DCGM_FI_")]  # no GPU: no sample values
    assert 'podforge_standin_simulated{package="datacenter-gpu-manager-exporter",version="4.6.0-1"} 1' in body


def test_the_index_matches_the_files(repo: Path) -> None:
    stanzas = _stanzas((repo / "Packages").read_text())
    assert len(stanzas) == 20  # 15 stand-ins and the upgrade's driver meta, utilities, fabric manager and NSCQ
    for stanza in stanzas:
        data = (repo / stanza["Filename"]).read_bytes()
        assert int(stanza["Size"]) == len(data)
        assert stanza["SHA256"] == hashlib.sha256(data).hexdigest()
        assert stanza["Description"].endswith(f"({LABEL})")
    versions = sorted(s["Version"] for s in stanzas if s["Package"] == "nvidia-driver-535-server")
    assert versions == ["535.183.06", UPGRADE]
    assert gzip.decompress((repo / "Packages.gz").read_bytes()) == (repo / "Packages").read_bytes()


def test_the_release_file_hashes_the_indexes(repo: Path) -> None:
    release = (repo / "Release").read_text()
    sha256 = release.split("SHA256:\n", 1)[1]
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        assert f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}\n" in sha256


def test_builds_are_byte_for_byte_reproducible(lab, repo: Path, tmp_path: Path) -> None:
    again = build_stack_repositories(lab, tmp_path, driver_versions=(UPGRADE,))["lab-mirror"]
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in repo.iterdir())
    assert all((again / p.name).read_bytes() == p.read_bytes() for p in repo.iterdir())


@needs_dpkg_deb
def test_a_stand_in_deb_holds_its_label_and_a_simulated_command(repo: Path, tmp_path: Path) -> None:
    deb = repo / "nvidia-utils-535-server_535.183.06_all.deb"
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Description"], capture_output=True,
                            text=True, check=True).stdout
    assert "Package: nvidia-utils-535-server\nVersion: 535.183.06\n" in fields and LABEL in fields
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    env = {"PATH": "/usr/bin:/bin", "PODFORGE_STANDIN_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run(["sh", str(tmp_path / "usr/bin/nvidia-smi"), "-q"], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.startswith("simulated: nvidia-smi -q: podforge lab stand-in from nvidia-utils-535-server 535.183.06")
    assert "Persistence Mode                      : Disabled" in out.stdout  # no daemon ran: off


@needs_dpkg_deb
@pytest.mark.parametrize(("flags", "mode"), [(["--no-persistence-mode"], "Disabled"), (["--persistence-mode"], "Enabled"),
                                             ([], "Enabled")])
def test_the_stand_in_daemon_sets_persistence_mode_as_its_flags_say(repo: Path, tmp_path: Path, flags: list[str],
                                                                   mode: str) -> None:
    """The packaged unit's --no-persistence-mode leaves the stand-in's `nvidia-smi -q` at Disabled, as on a node."""
    import os
    import signal

    for name in ("nvidia-compute-utils-535-server", "nvidia-utils-535-server"):
        subprocess.run(["dpkg-deb", "-x", str(repo / f"{name}_535.183.06_all.deb"), str(tmp_path)], check=True)
    state = tmp_path / "state"
    env = {"PATH": "/usr/bin:/bin", "PODFORGE_STANDIN_STATE_DIR": str(state)}
    started = subprocess.run(["sh", str(tmp_path / "usr/bin/nvidia-persistenced"), "--user", "nvidia-persistenced",
                              *flags, "--verbose"], capture_output=True, text=True, check=True, env=env)
    try:
        assert started.stdout.startswith("simulated: nvidia-persistenced") and f"persistence mode {mode}" in started.stdout
        out = subprocess.run(["sh", str(tmp_path / "usr/bin/nvidia-smi"), "-q"], capture_output=True, text=True,
                             check=True, env=env).stdout
        assert f"Persistence Mode                      : {mode}" in out
    finally:
        os.kill(int((state / "nvidia-persistenced.pid").read_text()), signal.SIGTERM)


def test_repositories_sit_under_the_served_root_by_url_path(tmp_path: Path) -> None:
    assert repository_dir(tmp_path, "http://10.199.77.1:8081/standins") == tmp_path / "standins"
    assert repository_dir(tmp_path, "http://10.199.77.1:8081/") == tmp_path
