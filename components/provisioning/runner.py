"""The one runner: a playbook over ansible-runner for a set of HostTargets, per-host outcome back.

`podforge rollout` and the NodeProvisioning provider both call run_playbook (via run_site /
run_health_gate), so they run Ansible the same way, on the inventory `podforge inventory` prints
(components.provisioning.target.inventory).

Each run gets a private directory (mode 0700) holding that inventory, the private key when it is given
as a string (0600), ansible-runner's artifacts and the SSH control sockets; it is removed when the run
ends, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from components.access import require_pinned
from components.paths import ANSIBLE_CFG, PLAYBOOKS_DIR
from components.provisioning.target import HostTarget, inventory
from components.render.inventory import inventory_document

SITE_PLAYBOOK = "site.yml"
HEALTH_GATE_PLAYBOOK = "health_gate.yml"

# ansible-runner event → what happened to one host in one task.
_OUTCOMES = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
             "runner_on_skipped": "skipped"}


@dataclass(frozen=True)
class TaskEvent:
    """Progress: one task finished on one host."""

    host: str
    task: str
    outcome: str  # ok | changed | failed | unreachable | skipped
    message: str = ""
    diff: list[dict[str, Any]] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """A task that reported what a stand-in host could not really do (`simulated: …`): not a real ok."""
        return self.outcome == "ok" and self.message.startswith("simulated:")


@dataclass
class HostResult:
    host: str
    status: str = "ok"  # ok | changed | failed | unreachable
    ok: int = 0
    """Tasks that succeeded (changed ones included, as Ansible counts them), simulated ones not."""
    changed: int = 0
    failed_task: str | None = None
    message: str = ""
    simulated: int = 0
    """Tasks that said `simulated:`: what a lab host could not really do, counted apart from ok."""

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "changed")

    @property
    def result(self) -> str:
        """How the host is reported: `simulated` when it succeeded and some of its tasks were simulated."""
        return "simulated" if self.succeeded and self.simulated else self.status

    def describe(self) -> str:
        if self.succeeded:
            return f"{self.host}: {self.result} (ok={self.ok} changed={self.changed} simulated={self.simulated})"
        return f"{self.host}: {self.status} at task '{self.failed_task}': {self.message}".rstrip(": ")


@dataclass
class RunResult:
    playbook: str
    rc: int
    hosts: dict[str, HostResult]

    @property
    def failed(self) -> list[HostResult]:
        return [h for h in self.hosts.values() if not h.succeeded]


def run_site(targets: Iterable[HostTarget], **kwargs: Any) -> RunResult:
    return run_playbook(targets, SITE_PLAYBOOK, **kwargs)


def run_health_gate(targets: Iterable[HostTarget], **kwargs: Any) -> RunResult:
    return run_playbook(targets, HEALTH_GATE_PLAYBOOK, **kwargs)


def run_playbook(targets: Iterable[HostTarget], playbook: str, *, private_key: str | None = None,
                 private_key_file: Path | None = None, check: bool = False, limit: list[str] | None = None,
                 on_event: Callable[[TaskEvent], None] | None = None, playbooks_dir: Path = PLAYBOOKS_DIR,
                 forks: int = 10, timeout: int = 1800, settings: Mapping[str, str] | None = None) -> RunResult:
    """Run `playbook` on `targets` (or the `limit` subset); host keys pinned, checking on. AccessError, before
    any connection, when one of those hosts has no pinned key.

    The key is `private_key` (PEM text, e.g. a Pulumi secret; written 0600 inside the private dir only)
    or `private_key_file`; with neither, ssh uses the agent at SSH_AUTH_SOCK. `settings` are extra
    ANSIBLE_* variables over ansible.cfg (the rollout benchmark compares settings with them); they cannot
    replace the runner's own (host key checking, this run's control sockets and temp dir).
    """
    targets = list(targets)
    run_hosts = [t for t in targets if limit is None or t.hostname in limit]
    require_pinned(run_hosts)
    private = Path(tempfile.mkdtemp(prefix="podforge-run-"))  # mkdtemp: mode 0700, owned by us
    try:
        key_file = private_key_file
        if private_key is not None:
            key_file = private / "id_automation"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(private_key if private_key.endswith("\n") else private_key + "\n")
        inventory_file = _write_inventory(private, run_hosts, key_file)
        events: list[TaskEvent] = []
        failures: dict[str, tuple[str, str, str]] = {}

        def handle(event: dict[str, Any]) -> bool:
            _on_runner_event(event, events, failures, on_event)
            return True  # kept in the private dir's artifacts (runner.stats reads them), removed with it

        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(playbooks_dir), playbook=playbook,
            inventory=str(inventory_file), limit=",".join(t.hostname for t in run_hosts), forks=forks,
            cmdline="--check --diff" if check else None, envvars={**(settings or {}), **_environment(private)}, quiet=True,
            event_handler=handle, timeout=timeout, suppress_env_files=True)
        return _result(playbook, runner, run_hosts, failures, Counter(e.host for e in events if e.simulated))
    finally:
        _close_masters(private / "cp")
        shutil.rmtree(private, ignore_errors=True)


def _close_masters(control_dir: Path) -> None:
    """End this run's SSH control masters now, instead of leaving them ControlPersist seconds after the run."""
    if not control_dir.is_dir():
        return
    for socket_path in control_dir.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "podforge-run"],
                       capture_output=True, timeout=10, check=False)


def _write_inventory(private: Path, targets: list[HostTarget], key_file: Path | None) -> Path:
    """The inventory of the run's hosts: what `podforge inventory` prints for them with the same key."""
    path = private / "inventory" / "hosts.json"
    path.parent.mkdir()
    path.write_text(json.dumps(inventory_document(*inventory(targets, key_file)), indent=1))
    return path


def _environment(private: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)  # ansible-playbook lives beside this Python; without it rc 127
    return {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # Control sockets of this run only: a master left by an earlier run would skip host key checking.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp"),
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }


def _on_runner_event(event: dict[str, Any], events: list[TaskEvent], failures: dict[str, tuple[str, str, str]],
                     on_event: Callable[[TaskEvent], None] | None) -> None:
    kind = event.get("event")
    if kind not in _OUTCOMES:
        return
    data = event.get("event_data", {})
    host = data.get("host", "?")
    task = data.get("task", "?")
    if data.get("role"):
        task = f"{data['role']} : {task}"
    res = data.get("res") or {}
    outcome = _OUTCOMES[kind]
    if outcome == "ok" and res.get("changed"):
        outcome = "changed"
    if outcome == "failed" and data.get("ignore_errors"):
        outcome = "ok"
    message = _message(res) if outcome in ("failed", "unreachable") else ""
    if outcome == "ok" and str(res.get("msg", "")).startswith("simulated:"):
        message = str(res["msg"])  # what a stand-in host could not really do, said as it happens
    if outcome in ("failed", "unreachable") and host not in failures:
        failures[host] = (outcome, task, message)
    diff = res.get("diff") or []
    te = TaskEvent(host, task, outcome, message, diff if isinstance(diff, list) else [diff])
    events.append(te)
    if on_event is not None:
        on_event(te)


def _message(res: dict[str, Any]) -> str:
    if res.get("_ansible_no_log") or res.get("censored"):
        return "output hidden (no_log)"
    for item in res.get("results") or []:  # a loop: the first failed item says more than "One or more items failed"
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            return _message(item) if item.get("_ansible_no_log") else f"item {item.get('item')!r}: {_message(item)}"[:500]
    text = str(res.get("msg") or res.get("stderr") or res.get("reason") or "").strip()
    return " ".join(text.split())[:500]


def _result(playbook: str, runner: Any, targets: list[HostTarget], failures: dict[str, tuple[str, str, str]],
            simulated: Mapping[str, int]) -> RunResult:
    stats = runner.stats or {}
    hosts: dict[str, HostResult] = {}
    for t in targets:
        name = t.hostname
        stand_ins = simulated.get(name, 0)
        result = HostResult(name, ok=max(int(stats.get("ok", {}).get(name, 0)) - stand_ins, 0),
                            changed=int(stats.get("changed", {}).get(name, 0)), simulated=stand_ins)
        if name in failures:
            result.status, result.failed_task, result.message = failures[name]
        elif stats.get("dark", {}).get(name) or stats.get("failures", {}).get(name):
            result.status, result.failed_task = "failed", "?"
        elif name not in stats.get("processed", {}) and runner.rc != 0:
            # Ansible never reached the host (bad inventory, ansible-playbook missing: rc 127 ...).
            result.status, result.failed_task = "failed", "(run)"
            result.message = f"ansible-runner status {runner.status}, rc {runner.rc}"
        else:
            result.status = "changed" if result.changed else "ok"
        hosts[name] = result
    return RunResult(playbook, int(runner.rc or 0), hosts)
