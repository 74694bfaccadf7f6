"""The Ansible bridge against the lab hall: real sshd + systemd hosts, one converged lab per session.

Each test keeps its own applied-state file (tmp), so the lab's .lab/rollout-state.json is left alone.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import dill
import pytest
from pulumi.dynamic import CreateResult
from pulumi.dynamic.dynamic import serialize_provider

from components.host import host_views
from components.providers.node_provisioning import NodeProvisioningError, NodeProvisioningProvider
from components.providers.sdk_pickler import restored_pickler
from components.provisioning import state
from components.provisioning.hashing import playbooks_hash
from components.provisioning.rollout import roll_out
from components.provisioning.runner import run_site
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec
from tests.support.site_rollout import SiteRollout

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
def converged(site_rollout: SiteRollout) -> SiteRollout:
    """The session's one rollout of the site play over the whole lab (tests/integration/conftest.py)."""
    return site_rollout


@pytest.fixture(scope="session")
def provider_created(lab, targets, converged) -> tuple[NodeProvisioningProvider, dict, CreateResult]:
    """NodeProvisioning's create, as the SDK ships the provider, on a host the session already converged."""
    with restored_pickler():  # the SDK's serialize_provider leaves its pickler patch behind otherwise
        provider = dill.loads(base64.b64decode(serialize_provider(NodeProvisioningProvider())))
    target = targets["lab-dgx-04"]
    props = {**target.to_inputs(), "playbooks_hash": playbooks_hash(), "health_gate": True,
             "private_key": lab.private_key.read_text()}
    return provider, props, provider.create(props)


def rollout_command(lab, state_file: Path, *extra: str, known_hosts: Path | None = None) -> list[str]:
    """`podforge rollout --stack lab` with the lab's key and pins and this state file."""
    return ["rollout", "--stack", "lab", "--ssh-key", str(lab.private_key), "--known-hosts",
            str(known_hosts or lab.known_hosts), "--state-file", str(state_file), *extra]


def test_site_play_succeeds_on_the_lab_hosts(converged) -> None:
    report = converged.report
    assert report.failed == [], report.summary()
    assert len([h for h in report.hosts if h.status in ("ok", "changed")]) >= 3
    recorded = json.loads(converged.state_file.read_text())["hosts"]
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


@pytest.fixture(scope="session")
def forced_rerun(lab, converged, tmp_path_factory) -> tuple[Path, str]:
    """`podforge rollout --stack lab --force` on the converged lab (its own copy of the state file)."""
    from components.cli import main

    state_file = tmp_path_factory.mktemp("forced") / "rollout-state.json"
    state_file.write_text(converged.state_file.read_text())
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(rollout_command(lab, state_file, "--force"))
    assert code == 0, out.getvalue()[-4000:]
    return state_file, out.getvalue()


def test_forced_rerun_runs_every_host_and_changes_nothing(targets, forced_rerun) -> None:
    state_file, out = forced_rerun
    assert "wave 1: lab-dgx-01, lab-dgx-02" in out and "base : Harden sshd  ok" in out
    assert "health gate on lab-dgx-01, lab-dgx-02" in out
    assert {host: entry["changed"] for host, entry in state.load_state(state_file).items()} == dict.fromkeys(targets, 0)


def test_unchanged_rerun_skips_every_host_without_a_login(lab, targets, forced_rerun, capsys) -> None:
    from components.cli import main

    state_file, _ = forced_rerun
    before = {h: accepted_logins(lab, h) for h in targets}
    assert main(rollout_command(lab, state_file)) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("wave ")] == [], out  # no wave started
    assert out.count("inputs unchanged") == len(targets), out
    assert {h: accepted_logins(lab, h) for h in targets} == before


def test_a_changed_pin_is_a_new_input_that_runs_and_fails_unreachable(lab, forced_rerun, tmp_path: Path,
                                                                     capsys) -> None:
    from components.cli import main

    state_file = tmp_path / "rollout-state.json"
    state_file.write_text(forced_rerun[0].read_text())
    impostor = tmp_path / "known_hosts"
    impostor.write_text("10.199.77.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHR1c3RrZXl0ZXN0a2V5dGVzdGtleXRlc3RrZXk=\n")
    assert main(rollout_command(lab, state_file, "--limit", "lab-dgx-01", known_hosts=impostor)) == 1
    out = capsys.readouterr().out
    assert "unreachable" in out and "wave 1: lab-dgx-01\n" in out
    assert "lab-dgx-01" not in state.load_state(state_file)  # a failed host is forgotten: it runs next time


def test_provider_create_diff_update_on_a_lab_host(lab, targets, provider_created) -> None:
    provider, props, created = provider_created
    target = targets["lab-dgx-04"]
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
    state_file.write_text(converged.state_file.read_text())
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


def test_a_planted_secret_lands_in_no_state_log_or_rendered_file(lab, converged, provider_created) -> None:
    """The session's rollout had the automation key as text; NodeProvisioning had it as an input."""
    secret_line = max(lab.private_key.read_text().splitlines(), key=len)  # the key material itself, not its armour
    assert converged.rendered and converged.lines
    places = {"state file": converged.state_file.read_text(), "progress log": "\n".join(converged.lines),
              "rendered files": "\n".join(converged.rendered), "provider outputs": json.dumps(provider_created[2].outs),
              "lab state": "\n".join(p.read_text(errors="replace") for p in lab.state_dir.glob("*")
                                     if p.is_file() and p != lab.private_key and p.stat().st_size < 1_000_000)}
    leaked = [where for where, text in places.items() if secret_line in text]
    assert leaked == []
