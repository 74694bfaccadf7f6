"""SSH access in one place: pinned host-key lines, Ansible's connection variables, the refusals (no pin, no key
file, a known_hosts file the spec names that does not exist), the choice of the automation key, the pinned
paramiko client, and the commands that connect using them."""

from __future__ import annotations

import shlex
from pathlib import Path

import paramiko
import pytest

from components import access
from components.access import AccessError
from components.cli import main
from components.host import host_views
from components.spec import load_stack_spec
from components.verify import runner
from components.verify.results import Report

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIIu3bLOepvCsFNxoCxXPxX38CbGnalE5lnykuYjK0TY3"  # a public key, of no host


@pytest.fixture(scope="module")
def lab():
    return load_stack_spec("lab")[1]


def test_pins_are_the_known_hosts_lines_of_the_management_address(lab, tmp_path: Path) -> None:
    file = tmp_path / "known_hosts"
    file.write_text("10.199.77.11 ssh-ed25519 AAAAone\n10.199.77.12,lab-dgx-02 ssh-ed25519 AAAAtwo\n"
                    "# 10.199.77.11 ssh-rsa AAAAcomment\n10.199.77.111 ssh-ed25519 AAAAother\n")
    pins = access.host_keys(host_views(lab.spec, tmp_path).values(), file)
    assert pins["lab-dgx-01"] == ("10.199.77.11 ssh-ed25519 AAAAone",)
    assert pins["lab-dgx-02"] == ("10.199.77.12 ssh-ed25519 AAAAtwo",)
    assert pins["lab-dgx-04"] == ()
    # Without a file of the test's own: the spec's .lab/known_hosts in the project, which does not exist here.
    assert set(access.host_keys(host_views(lab.spec, tmp_path).values()).values()) == {()}


def test_a_key_written_in_the_spec_is_the_pin_and_goes_to_ssh_without_a_file(tmp_path: Path) -> None:
    text = load_stack_spec("lab")[1].spec.model_dump(mode="json")
    text["nodes"][0]["ssh"] = {"user": "root", "port": 2222, "host_key": f"ssh-ed25519 {KEY}"}
    from components.spec.cluster import ClusterSpec

    view = host_views(ClusterSpec.model_validate(text), tmp_path)["lab-dgx-01"]
    pins = access.host_keys([view])["lab-dgx-01"]
    assert pins == (f"[10.199.77.11]:2222 ssh-ed25519 {KEY}",)
    assert access.known_hosts_file(view) is None
    common = access.connection_vars("10.199.77.11", 2222, "root", pins, None)["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in common and "HostKeyAlgorithms=ssh-ed25519" in common
    # ssh splits the command itself (keeping `\\n`) and turns `%%` into `%`: printf prints each pinned line.
    assert f"-oKnownHostsCommand=/usr/bin/printf %%s\\n {shlex.quote(pins[0])}" in shlex.split(common)


def test_connection_vars_check_host_keys_strictly_against_the_pin_only() -> None:
    by_file = access.connection_vars("10.10.0.11", 22, "podforge", ("10.10.0.11 ssh-rsa AAAA",), "/p/known hosts",
                                     "/p/id_automation")
    assert by_file["ansible_host"] == "10.10.0.11" and by_file["ansible_user"] == "podforge"
    assert by_file["ansible_ssh_private_key_file"] == "/p/id_automation"
    assert shlex.split(by_file["ansible_ssh_common_args"]) == [
        "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UserKnownHostsFile=/p/known hosts"]
    inline = access.connection_vars("10.10.0.11", 22, "podforge", ("10.10.0.11 ssh-rsa AAAA",
                                                                  "10.10.0.11 ssh-ed25519 AAAB"), None)
    assert "ansible_ssh_private_key_file" not in inline  # no key file: the ssh-agent
    assert "HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256,ssh-ed25519" in inline["ansible_ssh_common_args"]


def test_connecting_without_a_pin_is_refused_with_one_message() -> None:
    class Host:
        def __init__(self, hostname: str, host_keys: tuple[str, ...]) -> None:
            self.hostname, self.host_keys = hostname, host_keys

    access.require_pinned([Host("a", ("a ssh-ed25519 AAAA",))])
    with pytest.raises(AccessError) as refused:
        access.require_pinned([Host("a", ()), Host("b", ("b ssh-ed25519 AAAA",)), Host("c", ())])
    assert str(refused.value) == f"a, c: {access.UNPINNED}"
    with pytest.raises(AccessError, match="no pinned host key"):
        access.pinned_client(())


def test_the_pinned_client_knows_only_the_pinned_key_and_refuses_others() -> None:
    client = access.pinned_client((f"10.199.77.11 ssh-ed25519 {KEY}",), {"lab-dgx-01"})
    assert isinstance(client._policy, paramiko.RejectPolicy)
    known = client.get_host_keys()
    assert set(known.keys()) == {"10.199.77.11", "lab-dgx-01"}
    assert known.lookup("lab-dgx-01")["ssh-ed25519"].get_base64() == KEY


def test_the_automation_key_is_the_option_then_the_environment_then_the_stack(tmp_path, monkeypatch) -> None:
    config = {access.KEY_CONFIG: ".lab/id_ed25519"}
    monkeypatch.delenv(access.KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert access.automation_key_file(None, config, Path("/project")) == Path("/project/.lab/id_ed25519")
    assert access.automation_key_file(None, {}, Path("/project")) is None
    assert access.automation_key_file(None, {access.KEY_CONFIG: {"secure": "v1:x"}}, Path("/project")) is None
    monkeypatch.setenv(access.KEY_ENV, "env-key")
    assert access.automation_key_file(None, config, Path("/project")) == tmp_path / "env-key"
    assert access.automation_key_file("flag-key", config, Path("/project")) == tmp_path / "flag-key"


def test_a_key_file_that_does_not_exist_or_no_key_at_all_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(access.KEY_ENV, raising=False)
    with pytest.raises(AccessError, match=r"id_ed25519: no such file \(run `podforge lab up` first\)"):
        access.usable_key_file(None, {access.KEY_CONFIG: ".lab/id_ed25519"}, tmp_path, lab=True)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AccessError, match="give --ssh-key FILE, set PODFORGE_SSH_PRIVATE_KEY_FILE, or start an"):
        access.usable_key_file(None, {}, tmp_path)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent"))
    assert access.usable_key_file(None, {}, tmp_path) is None


def test_a_missing_known_hosts_file_is_one_line_per_file(lab, tmp_path) -> None:
    views = host_views(lab.spec, tmp_path)
    (problem,) = access.missing_known_hosts(lab, views, views)
    assert str(problem) == (f"specs/lab.yaml:26: nodes.0.ssh.known_hosts: '.lab/known_hosts' — expected a known_hosts "
                            f"file holding the nodes' host keys (there is no {tmp_path / '.lab' / 'known_hosts'}; "
                            "`podforge lab up` writes it)")
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "known_hosts").write_text("")
    assert access.missing_known_hosts(lab, views, views) == []


@pytest.mark.parametrize("command", [["rollout", "--stack", "superpod", "--ssh-key", __file__],
                                     ["verify", "--stack", "superpod", "--ssh-key", __file__]])
def test_commands_that_connect_refuse_a_missing_known_hosts_file_with_one_line(command, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runner, "verify", lambda *a, **k: pytest.fail("verify connected"))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("specs/superpod.yaml:26: nodes.0.ssh.known_hosts: 'specs/known_hosts/su1' — expected a "
                          "known_hosts file")


def test_validate_and_inventory_accept_the_lab_stack_before_its_known_hosts_exist(capsys) -> None:
    assert main(["validate", "--stack", "lab"]) == 0
    assert main(["inventory", "--stack", "lab"]) == 0


def test_rollout_takes_the_key_as_ssh_key_and_keeps_private_key_as_a_hidden_alias(capsys) -> None:
    from components.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["rollout", "--stack", "lab", "--ssh-key", "k"]).ssh_key == Path("k")
    assert parser.parse_args(["rollout", "--stack", "lab", "--private-key", "k"]).ssh_key == Path("k")
    for command in ("rollout", "verify", "inventory"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert "--ssh-key FILE" in shown, command
        assert "--private-key" not in shown, command


def test_verify_json_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runner, "verify", lambda stack, *a, **k: Report(stack))
    target = tmp_path / "missing" / "report.json"
    assert main(["verify", "--stack", "h200", "--hosts", "local://", "--json", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"podforge: cannot write {target}: No such file or directory\n"
    assert captured.out == ""
