"""Input hashing, the applied-state file, and the runner's own guarantees (no servers: a closed loopback port)."""

from __future__ import annotations

import json
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from components.access import AccessError
from components.host import host_views
from components.provisioning import state
from components.provisioning.hashing import canonical, input_hash, playbooks_hash
from components.provisioning.rollout import roll_out
from components.provisioning.runner import run_site
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec
from tests.unit.plan_roots import stack_root

PIN = ("127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHR1c3RrZXl0ZXN0a2V5dGVzdGtleXRlc3RrZXk=",)


@pytest.fixture(scope="module")
def lab_targets(tmp_path_factory) -> list[HostTarget]:
    """The lab spec's targets, pinned against a known_hosts file of the test's own (not the lab's .lab/)."""
    pins = tmp_path_factory.mktemp("pins") / "known_hosts"
    pins.write_text("".join(f"10.199.77.1{n} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL{n}\n" for n in range(1, 5)))
    return host_targets(host_views(load_stack_spec("lab")[1].spec), pins)


def loopback_target(port: int = 1) -> HostTarget:
    """A host on a closed loopback port: ssh fails at once, no server involved."""
    return HostTarget("closed-port", "127.0.0.1", port, "root", PIN, ("gpu_nodes",), {"podforge_lab": True}, {})


def test_hash_is_stable_and_ignores_dict_order(lab_targets) -> None:
    t = lab_targets[0]
    reordered = replace(t, vars=dict(reversed(list(t.vars.items()))))
    assert input_hash(t, "p") == input_hash(reordered, "p")
    assert len(input_hash(t, "p")) == 64


@pytest.mark.parametrize("change", [
    lambda t: replace(t, address="10.199.77.99"),
    lambda t: replace(t, user="podforge"),
    lambda t: replace(t, host_keys=("10.199.77.11 ssh-ed25519 AAAAnew",)),
    lambda t: replace(t, groups=(*t.groups, "extra")),
    lambda t: replace(t, vars={**t.vars, "podforge_timezone": "UTC"}),
    lambda t: replace(t, files={"/etc/chrony/chrony.conf": "server 10.199.77.2 iburst\n"}),
])
def test_every_input_changes_the_hash(lab_targets, change) -> None:
    t = lab_targets[0]
    assert input_hash(change(t), "p") != input_hash(t, "p")


def test_playbooks_hash_follows_content_not_location(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    for root in (a, b):
        (root / "roles" / "base" / "tasks").mkdir(parents=True)
        (root / "site.yml").write_text("- name: Base\n")
        (root / "roles" / "base" / "tasks" / "main.yml").write_text("---\n")
    assert playbooks_hash(a) == playbooks_hash(b)
    (b / "roles" / "base" / "tasks" / "main.yml").write_text("--- # changed\n")
    assert playbooks_hash(a) != playbooks_hash(b)
    assert playbooks_hash() == playbooks_hash()  # the project's own playbooks/


def test_hash_survives_pulumi_wire_form(lab_targets) -> None:
    """None members vanish and integers may come back as floats through Pulumi: the hash must not care."""
    t = lab_targets[0]
    wire = json.loads(canonical(t.to_inputs()))
    wire["connection"]["port"] = float(wire["connection"]["port"])
    assert input_hash(HostTarget.from_inputs(wire), "p") == input_hash(t, "p")


def test_state_records_and_forgets_hashes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "rollout-state.json"
    assert state.load_state(path) == {}
    state.record(path, "lab-dgx-01", "abc", 3)
    state.record(path, "lab-dgx-02", "def", 0)
    assert state.load_state(path)["lab-dgx-01"]["input_hash"] == "abc"
    state.forget(path, "lab-dgx-01")
    assert set(state.load_state(path)) == {"lab-dgx-02"}
    assert not list(path.parent.glob(".rollout-state.*"))  # no temp files left behind
    path.write_text("{not json")
    assert state.load_state(path) == {}


def test_state_path_is_beside_the_lab_or_stack_state(tmp_path: Path) -> None:
    lab = load_stack_spec("lab")[1].spec
    superpod = load_stack_spec("superpod")[1].spec
    assert state.state_path("lab", lab, tmp_path) == tmp_path / ".lab" / "rollout-state.json"
    assert state.state_path("superpod", superpod, tmp_path) == tmp_path / "state" / "superpod.json"


def test_runner_refuses_a_host_without_a_pinned_key() -> None:
    with pytest.raises(AccessError, match="closed-port: no pinned host key"):
        run_site([replace(loopback_target(), host_keys=())])


def test_rollout_refuses_unpinned_hosts_before_the_first_wave(tmp_path: Path, lab_targets, monkeypatch) -> None:
    monkeypatch.setattr("components.provisioning.rollout.run_site", lambda *_a, **_k: pytest.fail("ran a wave"))
    unpinned = replace(lab_targets[3], host_keys=())
    with pytest.raises(AccessError, match="lab-dgx-04: no pinned host key"):
        roll_out([lab_targets[:2], [lab_targets[2], unpinned]], tmp_path / "state.json", progress=lambda _l: None)


def test_unchanged_hosts_are_skipped_without_running_anything(tmp_path: Path, lab_targets, monkeypatch) -> None:
    path = tmp_path / "state.json"
    for t in lab_targets:
        state.record(path, t.hostname, input_hash(t, playbooks_hash()), 0)

    def no_run(*_args, **_kwargs):
        raise AssertionError("a skipped host must not be contacted")

    monkeypatch.setattr("components.provisioning.rollout.run_site", no_run)
    report = roll_out([lab_targets[:2], lab_targets[2:]], path, progress=lambda _line: None)
    assert [h.status for h in report.hosts] == ["skipped"] * 4


def test_unreachable_host_is_reported_with_its_task_and_the_private_dir_is_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen_key_modes: list[int] = []
    real_write = __import__("components.provisioning.runner", fromlist=["_write_inventory"])._write_inventory

    def spy(private: Path, targets, key_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        seen_key_modes.append(stat.S_IMODE(key_file.stat().st_mode))
        return real_write(private, targets, key_file)

    monkeypatch.setattr("components.provisioning.runner._write_inventory", spy)
    secret = "-----BEGIN " "OPENSSH PRIVATE KEY-----\nplanted-secret-value\n-----END OPENSSH PRIVATE KEY-----\n"
    events = []
    result = run_site([loopback_target()], private_key=secret, on_event=events.append, timeout=120)
    host = result.hosts["closed-port"]
    assert host.status == "unreachable"
    assert host.failed_task == "Gathering Facts"
    assert "planted-secret-value" not in host.message
    assert seen_key_modes == [0o600]
    assert [e.outcome for e in events] == ["unreachable"]
    assert not list(tmp_path.glob("podforge-run-*"))  # inventory, key and artifacts are gone


def test_runner_events_name_role_task_and_say_simulated() -> None:
    from components.provisioning.runner import _on_runner_event

    events, failures = [], {}
    _on_runner_event({"event": "runner_on_ok", "event_data": {
        "host": "h", "task": "Report chronyd as simulated", "role": "base",
        "res": {"msg": "simulated: chronyd needs CAP_SYS_TIME", "changed": False}}}, events, failures, None)
    _on_runner_event({"event": "runner_on_failed", "event_data": {
        "host": "h", "task": "Set password aging", "role": "base",
        "res": {"msg": "One or more items failed", "results": [
            {"item": "PASS_MIN_DAYS", "failed": False}, {"item": "PASS_MAX_DAYS", "failed": True, "msg": "no file"}]}}},
        events, failures, None)
    _on_runner_event({"event": "runner_on_failed", "event_data": {
        "host": "h2", "task": "Use a secret", "res": {"censored": "the output has been hidden", "_ansible_no_log": True}}},
        events, failures, None)
    assert events[0].task == "base : Report chronyd as simulated" and events[0].message.startswith("simulated:")
    assert failures["h"] == ("failed", "base : Set password aging", "item 'PASS_MAX_DAYS': no file")
    assert failures["h2"][2] == "output hidden (no_log)"


def test_rollout_of_a_lab_stack_refuses_when_the_lab_bridge_is_down(monkeypatch, capsys) -> None:
    # With the bridge gone, lab addresses would route off this machine: nothing may be sent.
    from components.cli import main
    from components.commands import rollout as command

    monkeypatch.setattr(command, "lab_is_down", lambda spec: spec.site.lab)
    monkeypatch.setattr(command, "roll_out", lambda *a, **k: pytest.fail("rollout started with the lab down"))
    monkeypatch.setenv(command.KEY_ENV, __file__)  # any existing file: the key check passes, the bridge check decides
    assert main(["rollout", "--stack", "lab"]) == 2
    assert "the lab is down" in capsys.readouterr().err


def test_verify_of_a_lab_stack_refuses_when_the_lab_bridge_is_down(monkeypatch, capsys) -> None:
    from components.cli import main
    from components.commands import _lab_guard
    from components.verify import runner

    monkeypatch.setattr(_lab_guard, "lab_is_down", lambda spec: spec.site.lab)
    monkeypatch.setattr(runner, "verify", lambda *a, **k: pytest.fail("verify connected with the lab down"))
    assert main(["verify", "--stack", "lab"]) == 2
    assert "podforge verify: the lab is down (no bridge): run `podforge lab up` first" in capsys.readouterr().err


def test_verify_uses_the_stacks_automation_key_and_every_node_over_ssh(tmp_path, monkeypatch, capsys) -> None:
    from components.access import KEY_ENV
    from components.cli import main
    from components.commands import _lab_guard
    from components.verify import runner
    from components.verify.results import Report

    (tmp_path / "project").mkdir()
    root = stack_root(tmp_path / "project", "lab")
    (root / ".lab").mkdir()
    (root / ".lab" / "known_hosts").write_text("10.199.77.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL1\n")
    for key in (root / ".lab" / "id_ed25519", tmp_path / "automation", tmp_path / "other"):
        key.write_text("not a real key\n")
    seen: dict = {}

    def fake_verify(stack, spec, hosts, node_name=None, identity_file=None, root=None, views=None):
        seen.update(stack=stack, hosts=hosts, identity_file=identity_file, root=root)
        return Report(stack)

    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setattr(_lab_guard, "lab_is_down", lambda spec: False)
    monkeypatch.setattr(runner, "verify", fake_verify)
    verify = ["--project-dir", str(root), "verify", "--stack", "lab"]
    assert main(verify) == 0
    assert seen["hosts"] == [f"paramiko://root@10.199.77.{11 + i}:22" for i in range(4)]
    assert seen["identity_file"] == str(root / ".lab" / "id_ed25519")  # the stack's podforge:sshPrivateKeyFile
    assert seen["root"] == root
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "automation"))
    assert main(verify) == 0 and seen["identity_file"] == str(tmp_path / "automation")
    assert main([*verify, "--ssh-key", str(tmp_path / "other")]) == 0 and seen["identity_file"] == str(tmp_path / "other")
    assert main([*verify, "--ssh-key", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"podforge verify: private key {tmp_path / 'missing'}: no such " \
                                                       "file (run `podforge lab up` first)"
