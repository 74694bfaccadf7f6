"""The lab hall's pure parts: what it builds from the lab spec, how it boots hosts, how it fails — no root needed."""

from __future__ import annotations

import io
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import paramiko
import pytest

from components.cli import main
from components.lab import rootfs
from components.lab.errors import LabError, sh
from components.lab.keys import known_hosts_text, new_ed25519
from components.lab.supervisor import nspawn_argv
from components.lab.topology import lab_topology
from components.spec import SpecError, load_stack_spec


def lab_spec_topology():  # type: ignore[no-untyped-def]
    stack, loaded = load_stack_spec("lab")
    return lab_topology(stack.name, loaded)


def test_the_lab_builds_one_host_per_spec_node_on_the_lab_bridge() -> None:
    topo = lab_spec_topology()
    assert topo.bridge == "pfbr0"
    assert topo.bridge_address == IPv4Interface("10.199.77.1/24")
    assert [(h.hostname, h.address) for h in topo.hosts] == [
        (f"lab-dgx-0{i}", IPv4Address(f"10.199.77.1{i}")) for i in range(1, 5)]
    assert {h.interface for h in topo.hosts} == {"host0"}
    vethes = [h.veth for h in topo.hosts]
    assert len(set(vethes)) == len(vethes) and all(len(v) <= 15 for v in vethes)


def test_a_spec_that_is_no_lab_is_refused_with_its_lines() -> None:
    stack, loaded = load_stack_spec("superpod")
    with pytest.raises(SpecError) as err:
        lab_topology(stack.name, loaded)
    lines = [str(p) for p in err.value.problems]
    assert any("site.lab: False — expected true" in line and line.startswith(loaded.file) for line in lines), lines


def test_hosts_boot_with_nspawns_default_capabilities_minus_audit_control() -> None:
    argv = nspawn_argv(Path("/x/root"), "lab-dgx-01", "lab-dgx-01")
    assert argv[:6] == ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--boot", "-D"]
    assert "--network-namespace-path=/run/netns/lab-dgx-01" in argv
    assert not [a for a in argv if a.startswith("--capability")], "no extra capabilities"
    assert "--drop-capability=CAP_AUDIT_CONTROL" in argv


def test_the_package_list_is_one_sorted_list_with_what_hosts_and_roles_need() -> None:
    packages = rootfs.package_list()
    assert packages == sorted(set(packages))
    assert {"systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "chrony", "auditd",
            "libpam-pwquality", "nfs-common"} <= set(packages)


def test_the_mirror_comes_from_the_machines_deb822_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rootfs.MIRROR_ENV, raising=False)
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert rootfs.mirror_uri(tmp_path, tmp_path / "none.list") == "http://mirror.example/debian"
    monkeypatch.setenv(rootfs.MIRROR_ENV, "http://override.example/debian/")
    assert rootfs.mirror_uri(tmp_path, tmp_path / "none.list") == "http://override.example/debian"


def test_generated_keys_are_openssh_ed25519_and_pinned_by_address() -> None:
    private, public = new_ed25519("root@lab-dgx-01")
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(private.decode()))
    assert public.split()[:2] == ["ssh-ed25519", key.get_base64()]
    assert known_hosts_text([("10.199.77.11", public)]) == f"10.199.77.11 ssh-ed25519 {key.get_base64()}\n"


def test_a_failing_command_is_one_line_naming_the_step() -> None:
    with pytest.raises(LabError) as err:
        sh(["sh", "-c", "echo noise; echo 'E: the real cause' >&2; exit 3"], step="building the image")
    assert str(err.value) == "building the image: sh exited 3: E: the real cause"
    with pytest.raises(LabError, match="no-such-tool-here not found"):
        sh(["no-such-tool-here"], step="x")


@pytest.mark.parametrize("action", ["up", "status", "down"])
def test_without_root_the_lab_says_so_in_one_line_and_exits_2(action: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["lab", action]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "the lab needs root" in err
