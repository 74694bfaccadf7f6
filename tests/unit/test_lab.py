"""The lab hall's pure parts: what it builds from the lab spec, how it boots hosts, how it fails — no root needed."""

from __future__ import annotations

import io
import os
import shutil
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import paramiko
import pytest

from components.cli import main
from components.lab import bridge_services, certs, kmip_server, redfish, repository, rootfs, vault_api
from components.lab.daemons import Daemon
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
    assert "--timezone=off" in argv  # the base role owns /etc/localtime; a reboot must not reset it


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


# --- the services lab up runs on the bridge --------------------------------------------------------------


def test_lab_up_runs_the_repository_vault_and_kmip_the_lab_spec_declares_on_its_bridge() -> None:
    spec = load_stack_spec("lab")[1].spec
    bmcs = {"redfish": ("10.199.77.1", 8000)} if redfish.installed() else {}  # sushy-tools is optional
    assert bridge_services.endpoints(spec, "10.199.77.1") == {
        "repository": ("10.199.77.1", 8081), "vault": ("10.199.77.1", 8200), "kmip": ("10.199.77.1", 5696), **bmcs}
    superpod = load_stack_spec("superpod")[1].spec
    assert bridge_services.endpoints(superpod, "10.199.77.1") == {}, "nothing of a site spec is served in the lab"


def test_the_lab_vault_config_is_the_spec_listener_and_the_declared_audit_device(tmp_path: Path) -> None:
    from tests.support.vault_conformance import AUDIT
    from tests.support.vault_declared import declare_vault_kmip

    spec = load_stack_spec("lab")[1].spec
    (declared,) = declare_vault_kmip(spec, "lab").of_type(AUDIT)
    assert vault_api.audit_inputs(spec) == {k: declared.inputs[k] for k in ("type", "path", "options")}
    files = vault_api.VaultFiles(tmp_path)
    config = vault_api.config_text(spec, files)
    assert 'address = "10.199.77.1:8200"' in config and 'tls_min_version = "tls13"' in config
    assert f'audit "file" "file" {{\n  options {{\n    file_path = "{files.audit_log}"' in config
    argv, env = vault_api.argv_and_env(files, "lab-root-secret", {"PATH": "/bin", "VAULT_TOKEN": "x", "BAO_ADDR": "y"})
    assert not [a for a in argv if "lab-root-secret" in a], "the token is never on the command line"
    assert env == {"PATH": "/bin", "BAO_DEV_ROOT_TOKEN_ID": "lab-root-secret"}


def test_the_vault_start_banner_loses_its_unseal_key_and_root_token(tmp_path: Path) -> None:
    log = tmp_path / "vault.log"
    log.write_text("Api Address: x\nUnseal Key: c2VjcmV0\nRoot Token: lab-root-abc\n\nDevelopment mode ...\n")
    assert vault_api.redact_log(log, timeout=0.1)
    text = log.read_text()
    assert "c2VjcmV0" not in text and "lab-root-abc" not in text and "Root Token: (redacted" in text


def test_kmip_refuses_a_floor_pykmip_cannot_serve() -> None:
    spec = load_stack_spec("lab")[1].spec
    assert kmip_server.listen_address(spec, "10.199.77.1") == ("10.199.77.1", 5696)
    vault = spec.keys.vault
    strict = vault.model_copy(update={"kmip": vault.kmip.model_copy(update={"tls_min_version": "tls13"})})
    with pytest.raises(LabError, match=r"keys.vault.kmip.tls_min_version: tls13 — the lab's KMIP server"):
        kmip_server.listen_address(spec.model_copy(update={"keys": spec.keys.model_copy(update={"vault": strict})}),
                                   "10.199.77.1")


def _with_driver(spec, version: str):  # type: ignore[no-untyped-def]
    software = spec.software
    driver = software.driver.model_copy(update={"version": version})
    return spec.model_copy(update={"software": software.model_copy(update={"driver": driver})})


def test_the_repository_is_rebuilt_only_when_the_software_set_changes(tmp_path: Path) -> None:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    spec = load_stack_spec("lab")[1].spec
    root, stamp = tmp_path / "repository", tmp_path / "repository.json"
    assert not repository.cached(root, stamp, spec)
    repository.build(root, stamp, spec)
    assert repository.cached(root, stamp, spec)
    index = (root / "standins" / "Packages").read_text()
    assert "Package: nvidia-driver-535-server\nVersion: 535.183.06\n" in index
    assert f"Version: {repository.UPGRADE_DRIVER_VERSIONS[0]}\n" in index, "a second driver version for upgrades"
    unrelated = spec.model_copy(update={"retention": spec.retention.model_copy(update={"data_days": 91})})
    assert repository.cached(root, stamp, unrelated)
    newer = _with_driver(spec, "535.230.02")
    assert not repository.cached(root, stamp, newer)
    repository.build(root, stamp, newer)
    assert "Version: 535.230.02\n" in (root / "standins" / "Packages").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repository", "repository.json"], "no build leftovers"


def test_lab_certificates_chain_to_the_lab_ca_and_keys_are_private(tmp_path: Path) -> None:
    from cryptography import x509

    ca, leaf = certs.CertFiles(tmp_path / "ca.pem", tmp_path / "ca.key"), certs.CertFiles(tmp_path / "s.pem", tmp_path / "s.key")
    certs.make_ca(ca, "test lab CA")
    certs.issue(ca, leaf, "vault", server=True, address="10.199.77.1")
    assert certs.current(ca) and certs.current(leaf)
    cert = x509.load_pem_x509_certificate(leaf.cert.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert.read_bytes()))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.199.77.1"]
    assert {p.stat().st_mode & 0o777 for p in (ca.key, leaf.key)} == {0o600}


def test_a_service_is_detached_and_a_reused_pid_is_never_taken_for_it(tmp_path: Path) -> None:
    d = Daemon("sleeper", tmp_path, marker=str(tmp_path))
    d.pid_file.write_text(f"{os.getpid()}\n")  # a live process whose command line does not name the service
    assert d.pid() is None
    pid = d.start(["/bin/sh", "-c", "sleep 30; true", str(tmp_path)], {"listen": "x"}, {"PATH": "/bin:/usr/bin"}, tmp_path)
    try:
        assert d.pid() == pid and d.recipe() == {"listen": "x"}
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] != str(os.getpid()), "not our child"
        assert os.getsid(pid) == pid, "leads its own session"
    finally:
        assert d.stop(grace=5) == pid
    assert d.pid() is None and not d.pid_file.exists() and d.stop() is None


def test_every_lab_node_gets_a_redfish_system_named_by_its_hostname(tmp_path: Path) -> None:
    spec = load_stack_spec("lab")[1].spec
    assert redfish.listen_address(spec, "10.199.77.1") == ("10.199.77.1", 8000)
    settings: dict[str, object] = {}
    exec(redfish.config_text(spec, "10.199.77.1", redfish.RedfishFiles(tmp_path)), {}, settings)  # what Flask does
    systems = settings["SUSHY_EMULATOR_FAKE_SYSTEMS"]
    assert [s["name"] for s in systems] == [n.hostname for n in spec.nodes]  # type: ignore[attr-defined,index]
    assert len({s["uuid"] for s in systems}) == len(spec.nodes)  # type: ignore[attr-defined,index]
    assert settings["SUSHY_EMULATOR_FAKE_DRIVER"] is True and settings["SUSHY_EMULATOR_STATE_DIR"] == str(tmp_path / "state")
    assert redfish.systems(spec, "10.199.77.1") == redfish.systems(spec, "10.199.77.1"), "stable UUIDs and MACs"
    assert redfish.listen_address(load_stack_spec("superpod")[1].spec, "10.199.77.1") is None


def test_status_lists_each_endpoint_the_lab_spec_declares_on_the_bridge_once() -> None:
    from components.lab.services import declared_services

    spec = load_stack_spec("lab")[1].spec
    found = {(s.port, s.name) for s in declared_services(spec, IPv4Address("10.199.77.1"))}
    assert found == {(8081, "apt source lab-mirror"), (8200, "Vault API"), (5696, "KMIP"),
                     (8000, "Redfish BMCs of lab-dgx-01, lab-dgx-02, lab-dgx-03, lab-dgx-04"),
                     (8443, "array lab-flash management")}


def test_a_second_lab_up_or_down_waits_for_the_first(tmp_path: Path) -> None:
    import fcntl
    import threading

    from components.lab import hall
    from components.lab.layout import LabDirs

    dirs = LabDirs(tmp_path)
    said: list[str] = []
    with open(tmp_path / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        threading.Timer(0.3, fcntl.flock, (held, fcntl.LOCK_UN)).start()
        with hall._exclusive(dirs, said.append):
            pass
    assert said == [f"waiting for another podforge lab up/down on {tmp_path}"]
