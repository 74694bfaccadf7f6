"""The Ansible bridge against the lab hall: real sshd + systemd hosts, one converged lab per session.

Each test keeps its own applied-state file (tmp), so the lab's .lab/rollout-state.json is left alone.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.host import host_views
from components.providers.node_provisioning import NodeProvisioningError, NodeProvisioningProvider
from components.provisioning import runner as runner_module
from components.provisioning import state
from components.provisioning.hashing import playbooks_hash
from components.provisioning.rollout import RolloutReport, roll_out
from components.provisioning.runner import run_site
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec

pytestmark = pytest.mark.lab


@pytest.fixture(scope="session")
def spec():
    return load_stack_spec("lab")[1].spec


@pytest.fixture(scope="session")
def targets(lab, spec) -> dict[str, HostTarget]:
    return {t.hostname: t for t in host_targets(host_views(spec), lab.known_hosts)}


def waves_of(spec, targets: dict[str, HostTarget]) -> list[list[HostTarget]]:
    return [[targets[n.hostname] for n in wave] for wave in spec.waves()]


def accepted_logins(lab, host: str) -> int:
    """SSH logins sshd accepted since the host booted (read through nsenter: this makes no SSH login)."""
    done = lab.run(host, "journalctl -b -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true")
    return int(done.stdout.strip() or 0)


@pytest.fixture(scope="session")
def converged(lab, spec, targets, tmp_path_factory) -> tuple[RolloutReport, Path]:
    """The site play rolled out once over the whole lab (in the spec's waves, health gate between)."""
    state_file = tmp_path_factory.mktemp("rollout") / "rollout-state.json"
    report = roll_out(waves_of(spec, targets), state_file, private_key_file=lab.private_key, force=True,
                      progress=lambda _line: None)
    return report, state_file


def test_site_play_succeeds_on_the_lab_hosts(converged) -> None:
    report, state_file = converged
    assert report.failed == [], report.summary()
    assert len([h for h in report.hosts if h.status in ("ok", "changed")]) >= 3
    recorded = json.loads(state_file.read_text())["hosts"]
    assert set(recorded) == {h.host for h in report.hosts}


def test_hardened_sshd_is_what_the_host_runs(lab, converged) -> None:
    done = lab.run("lab-dgx-02", "sshd -T")
    effective = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert effective["passwordauthentication"] == "no"
    assert effective["permitrootlogin"] == "without-password"  # sshd -T's name for prohibit-password
    assert "cbc" not in effective["ciphers"] and "sha1" not in effective["macs"]
    assert effective["banner"] == "/etc/issue.net"
    rules = lab.run("lab-dgx-02", "cat /etc/audit/rules.d/50-podforge.rules").stdout
    assert "-w /etc/shadow -p wa -k identity" in rules and "path=/usr/bin/sudo" in rules
    assert "max_log_file_action = keep_logs" in lab.run("lab-dgx-02", "cat /etc/audit/auditd.conf").stdout


def test_forced_rerun_changes_nothing(lab, spec, targets, converged) -> None:
    _, state_file = converged
    report = roll_out(waves_of(spec, targets), state_file, private_key_file=lab.private_key, force=True,
                      progress=lambda _line: None)
    assert report.failed == [], report.summary()
    assert {h.host: h.changed for h in report.hosts} == dict.fromkeys(targets, 0), report.summary()


def test_unchanged_rerun_skips_every_host_without_a_login(lab, spec, targets, converged) -> None:
    _, state_file = converged
    before = {h: accepted_logins(lab, h) for h in targets}
    report = roll_out(waves_of(spec, targets), state_file, private_key_file=lab.private_key,
                      progress=lambda _line: None)
    assert [h.status for h in report.hosts] == ["skipped"] * len(targets)
    assert {h: accepted_logins(lab, h) for h in targets} == before


def test_provider_create_diff_update_on_a_lab_host(lab, targets, converged) -> None:
    provider = dill.loads(base64.b64decode(serialize_provider(NodeProvisioningProvider())))  # as the SDK ships it
    target = targets["lab-dgx-04"]
    key = lab.private_key.read_text()
    props = {**target.to_inputs(), "playbooks_hash": playbooks_hash(), "health_gate": True, "private_key": key}
    created = provider.create(props)
    outs = created.outs
    assert created.id == "lab-dgx-04" and outs["changed"] == 0  # already converged by the session's rollout
    assert provider.diff(created.id, outs, props).changes is False
    utc = {**props, "vars": {**target.vars, "podforge_timezone": "UTC"}}
    assert provider.diff(created.id, outs, utc).changes is True
    try:
        updated = provider.update(created.id, outs, utc).outs
        assert updated["changed"] >= 1 and updated["input_hash"] != outs["input_hash"]
        assert lab.run("lab-dgx-04", "cat /etc/timezone").stdout.strip() == "UTC"
        assert provider.diff(created.id, updated, utc).changes is False
    finally:
        restored = provider.update(created.id, outs, props).outs
    assert restored["input_hash"] == outs["input_hash"]
    assert lab.run("lab-dgx-04", "cat /etc/timezone").stdout.strip() == target.vars["podforge_timezone"]


def test_provider_failure_names_host_and_task(lab, targets, converged) -> None:
    target = replace(targets["lab-dgx-04"], vars={**targets["lab-dgx-04"].vars, "podforge_audit_log_days": 30})
    props = {**target.to_inputs(), "playbooks_hash": playbooks_hash(), "health_gate": True,
             "private_key": lab.private_key.read_text()}
    with pytest.raises(NodeProvisioningError, match=r"lab-dgx-04: site.yml failed at task 'base : Check that audit records"):
        NodeProvisioningProvider().create(props)


def test_sshd_stopped_mid_rollout_fails_that_host_alone_and_stops_later_waves(lab, spec, targets, converged,
                                                                             tmp_path: Path) -> None:
    # Start from the converged state with wave 1's hosts forgotten: wave 1 runs, wave 2 would be skipped.
    state_file = tmp_path / "rollout-state.json"
    state_file.write_text(converged[1].read_text())
    for host in ("lab-dgx-01", "lab-dgx-02"):
        state.forget(state_file, host)
    victim = "lab-dgx-02"
    stopped: list[str] = []

    def stop_sshd_once(line: str) -> None:
        # After the victim's first task, stop its sshd and end its sessions (a control master would survive).
        if not stopped and f"  {victim}  " in line:
            stopped.append(lab.run(victim, "systemctl stop ssh.service; pkill -x sshd; true").stdout)

    try:
        report = roll_out(waves_of(spec, targets), state_file, private_key_file=lab.private_key,
                          progress=stop_sshd_once)
        by_host = {h.host: h for h in report.hosts}
        assert stopped, "the rollout never reached the victim"
        assert by_host[victim].status == "failed" and "unreachable" in by_host[victim].detail
        assert by_host["lab-dgx-01"].status in ("ok", "changed")  # same wave, finished and left intact
        assert by_host["lab-dgx-03"].status == by_host["lab-dgx-04"].status == "stopped"
        assert set(state.load_state(state_file)) == {"lab-dgx-01", "lab-dgx-03", "lab-dgx-04"}
    finally:
        lab.run(victim, "systemctl start ssh.service")
    rerun = roll_out(waves_of(spec, targets), state_file, private_key_file=lab.private_key,
                     progress=lambda _line: None)
    statuses = {h.host: h.status for h in rerun.hosts}
    assert statuses == {"lab-dgx-01": "skipped", "lab-dgx-02": "ok", "lab-dgx-03": "skipped",
                        "lab-dgx-04": "skipped"}, rerun.summary()
    assert set(state.load_state(state_file)) == set(targets)


def test_a_host_presenting_another_host_key_is_refused(lab, spec, tmp_path: Path) -> None:
    impostor = tmp_path / "impostor_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    pinned = tmp_path / "known_hosts"
    key_type, key_body = impostor.with_suffix(".pub").read_text().split()[:2]
    pinned.write_text(f"10.199.77.13 {key_type} {key_body}\n")
    target = next(t for t in host_targets(host_views(spec), pinned) if t.hostname == "lab-dgx-03")
    result = run_site([target], private_key_file=lab.private_key).hosts["lab-dgx-03"]
    assert result.status == "unreachable"
    assert "host key" in result.message.lower() or "identification has changed" in result.message.lower()


def test_a_planted_secret_lands_in_no_state_log_or_rendered_file(lab, targets, converged, tmp_path: Path,
                                                                 monkeypatch) -> None:
    key = lab.private_key.read_text()
    secret_line = max(key.splitlines(), key=len)  # the key material itself, not its armour
    rendered: list[str] = []
    real_write = runner_module._write_inventory

    def keep_a_copy(private: Path, hosts, key_file):
        path = real_write(private, hosts, key_file)
        rendered.extend(p.read_text() for p in private.rglob("*") if p.is_file() and p != key_file)
        return path

    monkeypatch.setattr(runner_module, "_write_inventory", keep_a_copy)
    lines: list[str] = []
    state_file = tmp_path / "rollout-state.json"
    report = roll_out([[targets["lab-dgx-01"]]], state_file, private_key=key, force=True, progress=lines.append)
    assert report.failed == [], report.summary()
    outs = NodeProvisioningProvider().create({**targets["lab-dgx-01"].to_inputs(), "playbooks_hash": playbooks_hash(),
                                              "health_gate": False, "private_key": key}).outs
    assert rendered and lines
    places = {"state file": state_file.read_text(), "progress log": "\n".join(lines),
              "rendered files": "\n".join(rendered), "provider outputs": json.dumps(outs),
              "lab state": "\n".join(p.read_text(errors="replace") for p in lab.state_dir.glob("*")
                                     if p.is_file() and p != lab.private_key and p.stat().st_size < 1_000_000)}
    leaked = [where for where, text in places.items() if secret_line in text]
    assert leaked == []


def test_rollout_command_runs_skips_and_exits_by_outcome(lab, converged, tmp_path: Path, capsys) -> None:
    from components.cli import main

    common = ["rollout", "--stack", "lab", "--limit", "lab-dgx-01", "--private-key", str(lab.private_key),
              "--state-file", str(tmp_path / "state.json")]
    assert main([*common, "--known-hosts", str(lab.known_hosts)]) == 0
    out = capsys.readouterr().out
    assert "wave 1: lab-dgx-01" in out and "base : Harden sshd" in out
    assert main([*common, "--known-hosts", str(lab.known_hosts)]) == 0
    assert "inputs unchanged" in capsys.readouterr().out
    impostor = tmp_path / "known_hosts"
    impostor.write_text("10.199.77.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHR1c3RrZXl0ZXN0a2V5dGVzdGtleXRlc3RrZXk=\n")
    assert main([*common, "--known-hosts", str(impostor)]) == 1  # a changed pin is a different input: it runs, and fails
    assert "unreachable" in capsys.readouterr().out
