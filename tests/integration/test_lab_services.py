"""The services `lab up` runs on the lab bridge, against the real lab: the stand-in package repository read by
APT inside a lab host, the Vault API (OpenBao, TLS 1.3, file audit device, 0600 root token) and KMIP (PyKMIP,
TLS 1.2 as the lab spec's exception declares), shown by `lab status` and left alone by a second `lab up`."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings

import pytest

from components.lab import bridge_services, redfish
from components.lab.access import LabAccess
from components.spec import load_stack_spec
from components.standins import LABEL
from components.vault.client import VaultSession

pytestmark = [pytest.mark.lab, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.pie.client import ProxyKmipClient

PODFORGE = [sys.executable, "-m", "components.cli"]
# An APT of the host's own with a private sources list, lists and cache: the host's apt configuration is the
# roles' to write, so the test leaves it untouched (and removes its directory afterwards).
APT_DIR = "/tmp/podforge-lab-apt-test"
APT_OPTIONS = " ".join(f"-o {k}={APT_DIR}/{v}" for k, v in (
    ("Dir::Etc::SourceList", "sources.list"), ("Dir::Etc::SourceParts", "parts"), ("Dir::State::Lists", "lists"),
    ("Dir::Cache", "cache"))) + " -o APT::Sandbox::User=root -o Acquire::Languages=none -o Debug::NoLocking=1"


def podforge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODFORGE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_stack_spec("lab")[1].spec


def test_apt_inside_a_lab_host_sees_the_pinned_stand_ins(lab: LabAccess, spec) -> None:  # type: ignore[no-untyped-def]
    source = spec.software.sources[0]
    hostname = lab.hosts[0][0]
    setup = (f"rm -rf {APT_DIR} && mkdir -p {APT_DIR}/parts {APT_DIR}/lists/partial {APT_DIR}/cache/archives/partial "
             f"{APT_DIR}/get && echo 'deb [trusted=yes] {source.url} {source.suite}' > {APT_DIR}/sources.list")
    sources_before = lab.run(hostname, "ls -l /etc/apt/sources.list.d /etc/apt/sources.list").stdout
    try:
        assert lab.run(hostname, setup).returncode == 0
        update = lab.run(hostname, f"apt-get {APT_OPTIONS} update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert source.url in update.stdout and "Err:" not in update.stdout, update.stdout
        driver = spec.software.driver
        policy = lab.run(hostname, f"apt-cache {APT_OPTIONS} policy nvidia-driver-{driver.branch}-server").stdout
        assert f" {driver.version} 500" in policy, policy
        assert f"{source.url} {source.suite} Packages" in policy
        got = lab.run(hostname, f"cd {APT_DIR}/get && apt-get {APT_OPTIONS} download "
                                f"nvidia-driver-{driver.branch}-server={driver.version} >/dev/null && "
                                "dpkg-deb -f nvidia-driver-*.deb Version Description")
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith(f"Version: {driver.version}\n") and LABEL in got.stdout
    finally:
        lab.run(hostname, f"rm -rf {APT_DIR}")
    after = lab.run(hostname, "ls -l /etc/apt/sources.list.d /etc/apt/sources.list").stdout
    assert after == sources_before, "the host's own apt sources are the roles' and stay untouched"


def test_the_vault_api_answers_on_the_bridge_with_tls13_and_audits(lab: LabAccess, spec) -> None:  # type: ignore[no-untyped-def]
    files, ca = bridge_services.vault_files(lab.dirs), bridge_services.ca_files(lab.dirs)
    assert files.token.stat().st_mode & 0o077 == 0 and ca.key.stat().st_mode & 0o077 == 0
    assert lab.dirs.services.stat().st_mode & 0o077 == 0
    token = files.token.read_text().strip()
    assert spec.keys.vault.address == "https://10.199.77.1:8200"
    session = VaultSession(spec.keys.vault.address, token, verify=str(ca.cert))
    assert session.call("GET", "sys/health", "read")["sealed"] is False
    assert "file/" in session.call("GET", "sys/audit", "read")["data"]
    host, port = "10.199.77.1", 8200
    modern = ssl.create_default_context(cafile=ca.cert)
    with socket.create_connection((host, port)) as raw, modern.wrap_socket(raw, server_hostname=host) as tls:
        assert tls.version() == "TLSv1.3"
    old = ssl.create_default_context(cafile=ca.cert)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError), socket.create_connection((host, port)) as raw:
        old.wrap_socket(raw, server_hostname=host)
    audit = files.audit_log.read_text()
    assert "sys/audit" in audit and token not in audit, "requests are audited, the token only as an HMAC"
    for written in ("vault.json", "vault.log"):
        assert token not in (lab.dirs.services / written).read_text(), f"the root token is in {written}"
    pid = bridge_services.running(lab.dirs)["vault"][1]
    assert token not in open(f"/proc/{pid}/cmdline").read(), "the root token is never on a command line"
    # a lab host reaches it over the bridge
    reach = lab.run(lab.hosts[1][0], f"python3 -c \"import socket; socket.create_connection(('{host}', {port}), 3)\"")
    assert reach.returncode == 0, reach.stderr


def test_kmip_runs_a_key_lifecycle_over_tls12_with_the_lab_client_certificate(lab: LabAccess, spec) -> None:  # type: ignore[no-untyped-def]
    files, ca = bridge_services.kmip_files(lab.dirs), bridge_services.ca_files(lab.dirs)
    host, _, port = spec.keys.vault.kmip.listen_addrs[0].rpartition(":")
    with ProxyKmipClient(hostname=host, port=int(port), cert=str(files.client.cert), key=str(files.client.key),
                         ca=str(ca.cert), config_file="/dev/null") as client:
        uid = client.create(enums.CryptographicAlgorithm.AES, 256)
        assert len(client.get(uid).value) == 32
        client.destroy(uid)
    tls12 = ssl.create_default_context(cafile=ca.cert)
    tls12.load_cert_chain(files.client.cert, files.client.key)
    with socket.create_connection((host, int(port))) as raw, tls12.wrap_socket(raw, server_hostname=host) as tls:
        assert tls.version() == "TLSv1.2"  # the lab spec's declared exception (keys.vault.kmip.tls_exception)
    assert spec.keys.vault.kmip.tls_exception


def test_status_shows_the_services_lab_up_runs_and_a_second_up_leaves_them_alone(lab: LabAccess) -> None:
    before = bridge_services.running(lab.dirs)
    assert set(before) == {"repository", "vault", "kmip"} | ({"redfish"} if redfish.installed() else set())
    started = time.monotonic()
    again = podforge("lab", "up")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout and time.monotonic() - started < 10
    assert bridge_services.running(lab.dirs) == before
    status = podforge("lab", "status")
    assert status.returncode == 0, status.stdout
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith("  10.199.77.1:")}
    for name, (listen, pid) in before.items():
        assert "answers" in lines[listen] and f"lab up, pid {pid}" in lines[listen], (name, status.stdout)
    assert "not served in the lab" in lines["10.199.77.1:8443"]  # the array's API: declared, not run by lab up


def test_a_stopped_service_is_reported_and_started_again_by_lab_up(lab: LabAccess) -> None:
    # KMIP: no lab host uses it, so other sessions sharing the lab lose nothing while it is down.
    _, pid = bridge_services.running(lab.dirs)["kmip"]
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while "kmip" in bridge_services.running(lab.dirs) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = podforge("lab", "status")
    assert status.returncode == 1
    assert "lab up, not running" in next(line for line in status.stdout.splitlines() if ":5696" in line)
    up = podforge("lab", "up")
    assert up.returncode == 0, up.stderr
    assert "kmip answering" in up.stdout
    assert bridge_services.running(lab.dirs)["kmip"][1] != pid
    assert podforge("lab", "status").returncode == 0


def test_each_node_has_a_redfish_bmc_on_the_bridge_over_tls13(lab: LabAccess, spec) -> None:  # type: ignore[no-untyped-def]
    if not redfish.installed():
        pytest.skip("sushy-tools is not installed: the lab serves no Redfish BMCs")
    ca = bridge_services.ca_files(lab.dirs).cert
    context = ssl.create_default_context(cafile=ca)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))

    def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
        request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json"})
        with opener.open(request, timeout=5) as response:
            return json.loads(response.read() or b"{}")

    node = spec.nodes[1]
    url = node.bmc.replace("redfish://", "https://", 1)  # the spec's URL, followed to the system's own UUID path
    system = call(url)
    assert system["Name"] == node.hostname and system["PowerState"] == "On"
    members = call(url.rsplit("/", 1)[0])["Members"]
    assert len(members) == len(spec.nodes)
    own = url.rsplit("/", 1)[0] + "/" + system["Id"]
    try:
        call(own, "PATCH", {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}})
        assert call(own)["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    finally:
        call(own, "PATCH", {"Boot": {"BootSourceOverrideTarget": "Hdd", "BootSourceOverrideEnabled": "Continuous"}})
    old = ssl.create_default_context(cafile=ca)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with pytest.raises(ssl.SSLError), socket.create_connection((host, port)) as raw:
        old.wrap_socket(raw, server_hostname=host)
