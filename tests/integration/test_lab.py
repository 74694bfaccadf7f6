"""The lab hall against the real machine: nspawn hosts booted by systemd, reachable over SSH with pinned host
keys, restarted by the supervisor after a reboot, confined to the lab subnet, and removed without a trace."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from components.lab import bridge_services
from components.lab.access import LabAccess
from components.lab.layout import read_pid
from components.lab.probe import sshd_answers
from components.lab.supervisor import read_host_state

pytestmark = pytest.mark.lab

LAB_SUBNET = ipaddress.ip_network("10.199.77.0/24")
PODFORGE = [sys.executable, "-m", "components.cli"]
# Capabilities that act on the machine itself (docs/conventions.md, "The lab"): bit numbers from linux/capability.h.
FORBIDDEN_CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_TIME": 25,
                          "CAP_AUDIT_CONTROL": 30}


def podforge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODFORGE, *args], capture_output=True, text=True, timeout=timeout)


def ssh_run(client: paramiko.SSHClient, command: str, timeout: float = 30) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def wait_until(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_lab_holds_exactly_the_spec_nodes_with_pinned_keys(lab: LabAccess) -> None:
    assert [h for h, _ in lab.hosts] == ["lab-dgx-01", "lab-dgx-02", "lab-dgx-03", "lab-dgx-04"]
    assert [a for _, a in lab.hosts] == ["10.199.77.11", "10.199.77.12", "10.199.77.13", "10.199.77.14"]
    pinned = [line.split() for line in lab.known_hosts.read_text().splitlines()]
    assert [p[0] for p in pinned] == [a for _, a in lab.hosts]
    assert {p[1] for p in pinned} == {"ssh-ed25519"}
    assert len({p[2] for p in pinned}) == len(pinned), "every host has its own host key"
    assert lab.private_key.stat().st_mode & 0o077 == 0


def test_hosts_answer_ssh_with_host_key_checking_and_run_systemd(lab: LabAccess) -> None:
    for hostname, _ in lab.hosts:
        with lab.ssh(hostname) as client:
            assert ssh_run(client, "hostname") == (0, f"{hostname}\n")
            assert ssh_run(client, "cat /proc/1/comm") == (0, "systemd\n")
            _, state = ssh_run(client, "systemctl is-system-running --wait", timeout=60)
            # degraded: auditd cannot run without CAP_AUDIT_CONTROL, rpc_pipefs cannot mount in a container
            assert state.strip() in ("running", "degraded"), f"{hostname}: {state}"
            assert ssh_run(client, "systemctl is-active ssh")[1].strip() == "active"


def test_an_unknown_or_changed_host_key_is_refused(lab: LabAccess, tmp_path: Path) -> None:
    (_, first_addr), (second, _) = lab.hosts[:2]
    empty = paramiko.SSHClient()
    empty.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        empty.connect(first_addr, username="root", key_filename=str(lab.private_key), look_for_keys=False,
                      allow_agent=False, timeout=10)
    # the second host's key pinned under the first host's address: the first host must be refused
    second_key = next(line for line in lab.known_hosts.read_text().splitlines() if line.startswith(lab.address(second) + " "))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{first_addr} {second_key.split(' ', 1)[1]}\n")
    swapped = paramiko.SSHClient()
    swapped.load_host_keys(str(wrong))
    swapped.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        swapped.connect(first_addr, username="root", key_filename=str(lab.private_key), look_for_keys=False,
                        allow_agent=False, timeout=10)


def test_hosts_hold_no_capability_that_acts_on_the_machine(lab: LabAccess) -> None:
    for hostname, _ in lab.hosts:
        done = lab.run(hostname, "grep CapBnd /proc/1/status")
        bounding = int(done.stdout.split()[1], 16)
        held = [name for name, bit in FORBIDDEN_CAPABILITIES.items() if bounding & (1 << bit)]
        assert held == [], f"{hostname} holds {held}"


def test_the_lab_lives_only_on_its_subnet(lab: LabAccess) -> None:
    bridge = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", "pfbr0"], capture_output=True, text=True,
                                       check=True).stdout)[0]
    assert [f"{a['local']}/{a['prefixlen']}" for a in bridge["addr_info"]] == ["10.199.77.1/24"]
    assert Path("/proc/sys/net/ipv4/conf/pfbr0/forwarding").read_text().strip() == "0"
    for hostname, address in lab.hosts:
        links = json.loads(lab.run(hostname, "ip -j addr show").stdout)
        found = {link["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]] for link in links}
        assert found == {"lo": ["127.0.0.1/8"], "host0": [f"{address}/24"]}, hostname
        routes = lab.run(hostname, "ip -4 route show").stdout.splitlines()
        assert all("via" not in r or "via 10.199.77.1 " in r + " " for r in routes), routes
        listening = lab.run(hostname, "ss -Hltnu | awk '{print $5}'").stdout.split()
        for local in listening:
            host = local.rsplit(":", 1)[0].strip("[]").split("%")[0]
            if host == "*":  # ss writes the unspecified address as '*'
                continue
            ip = ipaddress.ip_address(host)
            assert ip.is_unspecified or ip.is_loopback or ip in LAB_SUBNET, f"{hostname} listens on {local}"


def test_a_second_lab_up_is_quick_and_changes_nothing(lab: LabAccess) -> None:
    pinned = lab.known_hosts.read_bytes()
    started = time.monotonic()
    done = podforge("lab", "up")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "nothing changed" in done.stdout
    assert elapsed < 10, f"second lab up took {elapsed:.1f} s"
    assert lab.known_hosts.read_bytes() == pinned


def test_a_rebooted_host_comes_back_through_the_supervisor(lab: LabAccess) -> None:
    hostname, address = lab.hosts[2]
    boots = int(read_host_state(lab.dirs.host(hostname))["boots"])  # type: ignore[call-overload]
    assert lab.run(hostname, "touch /run/before-reboot").returncode == 0
    with lab.ssh(hostname) as client:
        client.exec_command("systemctl reboot")
    wait_until(lambda: read_host_state(lab.dirs.host(hostname)).get("boots") == boots + 1, 30, "supervisor restart")
    back = wait_until(lambda: sshd_answers(address), 60, f"{hostname} sshd after reboot")
    assert read_host_state(lab.dirs.host(hostname))["last_exit"] == 133
    with lab.ssh(hostname) as client:  # same pinned host key after the reboot
        assert ssh_run(client, "test -e /run/before-reboot || echo fresh")[1] == "fresh\n"
    print(f"{hostname} answered SSH {back:.1f} s after the supervisor restarted it")


def test_status_reports_a_host_that_is_off_and_up_starts_it_again(lab: LabAccess) -> None:
    done = podforge("lab", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("lab-") and " answers " in line for line in done.stdout.splitlines()) == len(lab.hosts)
    hostname, address = lab.hosts[3]
    lab.run(hostname, "systemctl poweroff")
    wait_until(lambda: read_host_state(lab.dirs.host(hostname)).get("state") == "powered off", 30, "poweroff")
    off = podforge("lab", "status")
    assert off.returncode == 1
    assert next(line for line in off.stdout.splitlines() if line.startswith(hostname)).split()[2:4] == ["powered", "off"]
    again = podforge("lab", "up")
    assert again.returncode == 0, again.stderr
    assert sshd_answers(address)
    assert podforge("lab", "status").returncode == 0


def test_lab_down_twice_leaves_no_namespace_bridge_mount_or_process(lab: LabAccess) -> None:
    supervisor = read_pid(lab.dirs.supervisor_pid)
    nspawns = [read_pid(lab.dirs.host(h).pid_file) for h, _ in lab.hosts]
    services = [pid for _, pid in bridge_services.running(lab.dirs).values()]
    assert lab.topology.spec is not None
    assert supervisor and all(nspawns) and len(services) == len(bridge_services.endpoints(lab.topology.spec, lab.bridge_address))
    try:
        first, second = podforge("lab", "down"), podforge("lab", "down")
        assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
        assert "nothing was running" in second.stdout
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        assert not {h for h, _ in lab.hosts} & set(namespaces)
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert "pfbr0" not in links and "pfv" not in links
        assert str(lab.state_dir) not in Path("/proc/self/mountinfo").read_text()
        assert not lab.dirs.services.exists(), "down discards the services' CA, keys and token"
        listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
        assert "10.199.77.1:" not in listening, listening
        for pid in [supervisor, *nspawns, *services]:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
        assert (lab.state_dir / "rootfs" / "base.json").exists(), "down keeps the image cache"
        assert lab.dirs.repository_stamp.exists(), "down keeps the built stand-in repository"
    finally:
        lab.up()  # later lab tests of the session get their lab back


# `lab down` takes every host away: run it after the session's other lab tests (tests/integration/conftest.py).
test_lab_down_twice_leaves_no_namespace_bridge_mount_or_process.runs_after_other_lab_tests = True  # type: ignore[attr-defined]

