"""Rolling waves: site.yml wave by wave, a health gate between waves, a failure stops later waves.

A host whose input hash equals the one recorded in the applied-state file is skipped without a
connection; `force` runs it anyway. A host's hash is recorded only after its wave's health gate
passed, so a host that failed (or failed the gate) runs again next time. Hosts of finished waves are
left as they are when a later wave fails.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from components.access import require_pinned
from components.provisioning import state
from components.provisioning.hashing import input_hash, playbooks_hash
from components.provisioning.runner import TaskEvent, run_health_gate, run_site
from components.provisioning.target import HostTarget


@dataclass
class HostOutcome:
    host: str
    wave: int
    status: str  # skipped | ok | changed | failed | stopped (an earlier wave failed) | excluded (--limit)
    ok: int = 0
    changed: int = 0
    detail: str = ""
    simulated: int = 0  # tasks that said `simulated:`, not counted in ok

    @property
    def result(self) -> str:
        """What the summary says: `simulated` for a host that converged with simulated tasks, never plain ok."""
        return "simulated" if self.status in ("ok", "changed") and self.simulated else self.status


@dataclass
class RolloutReport:
    hosts: list[HostOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[HostOutcome]:
        return [h for h in self.hosts if h.status == "failed"]

    def summary(self) -> str:
        width = max((len(h.host) for h in self.hosts), default=4)
        lines = [f"{'host':<{width}}  wave  result      ok  changed  simulated  detail"]
        for h in self.hosts:
            lines.append(f"{h.host:<{width}}  {h.wave:>4}  {h.result:<9}  {h.ok:>3}  {h.changed:>7}  {h.simulated:>9}  "
                         f"{h.detail}".rstrip())
        counts: dict[str, int] = {}
        for h in self.hosts:
            counts[h.result] = counts.get(h.result, 0) + 1
        lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
        return "\n".join(lines)


Progress = Callable[[str], None]


def roll_out(waves: list[list[HostTarget]], state_file: Path, *, private_key_file: Path | None = None,
             private_key: str | None = None, check: bool = False, force: bool = False, limit: set[str] | None = None,
             health_gate: bool = True, progress: Progress = print, playbooks_dir: Path | None = None) -> RolloutReport:
    """Roll `waves` out; AccessError, before the first wave, when a host due to run has no pinned key."""
    kwargs: dict = {"private_key": private_key, "private_key_file": private_key_file, "check": check}
    if playbooks_dir is not None:
        kwargs["playbooks_dir"] = playbooks_dir
    playbooks = playbooks_hash(playbooks_dir) if playbooks_dir else playbooks_hash()
    applied = state.load_state(state_file)
    in_scope = [t for wave in waves for t in wave if limit is None or t.hostname in limit]
    hashes = {t.hostname: input_hash(t, playbooks) for t in in_scope}
    due = {name for name, digest in hashes.items()
           if force or applied.get(name, {}).get("input_hash") != digest}
    require_pinned(t for t in in_scope if t.hostname in due)  # before the first wave, not halfway through
    report = RolloutReport()
    stopped = False
    for number, wave in enumerate(waves, 1):
        to_run: list[HostTarget] = []
        for target in wave:
            if target.hostname not in hashes:
                report.hosts.append(HostOutcome(target.hostname, number, "excluded"))
            elif stopped:
                report.hosts.append(HostOutcome(target.hostname, number, "stopped", detail="an earlier wave failed"))
            elif target.hostname in due:
                to_run.append(target)
            else:
                report.hosts.append(HostOutcome(target.hostname, number, "skipped", detail="inputs unchanged"))
        if not to_run:
            continue
        progress(f"wave {number}: {', '.join(t.hostname for t in to_run)}{' (check mode)' if check else ''}")

        def show(event: TaskEvent, wave_number: int = number) -> None:
            if event.outcome == "skipped":
                return
            line = f"  wave {wave_number}  {event.host}  {event.task}  "
            if event.simulated:  # its message says so: `simulated: …`
                line += event.message
            else:
                line += event.outcome + (f": {event.message}" if event.message else "")
            progress(line)
            if check and event.outcome == "changed":
                for diff in event.diff:
                    for text in _diff_text(diff):
                        progress(f"      {text}")

        site = run_site(to_run, on_event=show, **kwargs)
        outcomes = {t.hostname: HostOutcome(t.hostname, number, site.hosts[t.hostname].status,
                                            site.hosts[t.hostname].ok, site.hosts[t.hostname].changed,
                                            simulated=site.hosts[t.hostname].simulated)
                    for t in to_run}
        for name, result in site.hosts.items():
            if not result.succeeded:
                outcomes[name].status = "failed"
                outcomes[name].detail = f"{result.status} at task '{result.failed_task}': {result.message}"
        passed = [t for t in to_run if site.hosts[t.hostname].succeeded]
        if health_gate and passed and not check:
            progress(f"wave {number}: health gate on {', '.join(t.hostname for t in passed)}")
            gate = run_health_gate(passed, on_event=show, **kwargs)
            for name, result in gate.hosts.items():
                if not result.succeeded:
                    outcomes[name].status = "failed"
                    outcomes[name].detail = f"health gate: {result.failed_task}: {result.message}"
        for target in to_run:
            outcome = outcomes[target.hostname]
            if check:
                continue
            if outcome.status == "failed":
                state.forget(state_file, target.hostname)
            else:
                state.record(state_file, target.hostname, hashes[target.hostname], outcome.changed)
        report.hosts.extend(outcomes[t.hostname] for t in to_run)
        if any(o.status == "failed" for o in outcomes.values()):
            progress(f"wave {number} failed: later waves stop; finished waves are left as they are")
            stopped = True
    order = [t.hostname for wave in waves for t in wave]
    report.hosts.sort(key=lambda h: order.index(h.host))
    return report


def _diff_text(diff: dict) -> list[str]:
    """A compact unified view of an Ansible diff entry (before/after text or a prepared diff)."""
    if "prepared" in diff:
        return str(diff["prepared"]).splitlines()[:40]
    header = diff.get("after_header") or diff.get("before_header") or ""
    before, after = str(diff.get("before", "")), str(diff.get("after", ""))
    if before == after:
        return []
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", f"after {header}".strip(),
                                      lineterm="", n=1))
    return lines[:60]
