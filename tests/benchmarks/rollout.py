"""The rollout benchmark: the site play on 1, 2 and 4 lab hosts, podforge's Ansible settings against Ansible's defaults.

Measured on the lab hall (real sshd + systemd hosts; needs root, skipped otherwise). The lab is first
converged (`podforge rollout --stack lab --force`, its own applied-state file), so every measured run starts
from the same converged hosts: each is a forced run that must end changed=0 on every host, like for like.

- Site play: `playbooks/site.yml` through podforge's one runner (run_site: one Ansible run over the hosts,
  as a rollout wave runs), on the first 1, 2 and 4 hosts of the lab spec, with podforge's settings
  (ansible.cfg + runner) and, in the same run, Ansible's defaults: no pipelining, forks 5, Ansible's own
  ssh_args (`-C -o ControlMaster=auto -o ControlPersist=60s`), interpreter discovery, and every play
  gathering all facts (a copy of the playbooks without their `gather_subset`).
- One setting at a time on 4 hosts: podforge's settings with one of them turned back to Ansible's default,
  among them facts gathered in every play (`gathering = implicit`) instead of once per host per run.
  forks is not varied: 4 hosts never fill 5 forks, so 5 and 10 run the same.
- The whole lab through the CLI: `podforge rollout --stack lab --force` (the spec's waves, health gate
  between), then `podforge rollout --stack lab`, the no-op re-run: every host skipped and, goal, 0 SSH
  connections.

SSH connections are counted for real: the "Accepted publickey" lines of each host's sshd journal, read
through the host's namespaces (no SSH) before and after each run. Times are wall-clock seconds, the
fastest of the interleaved rounds; rounds stop at `repeat` or when another would pass the time budget.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from components.host import host_views
from components.lab import hall
from components.lab.access import LabAccess
from components.lab.errors import LabError
from components.lab.layout import LabDirs, default_state_dir, read_pid
from components.lab.topology import lab_topology
from components.provisioning.hashing import PLAYBOOKS_DIR
from components.provisioning.runner import RunResult, run_site
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec
from tests.unit.plan_roots import CHECKOUT

STACK = "lab"
SIZES = (1, 2, 4)
# The whole benchmark, lab converge included, stays under ~8 minutes on 2 cores; runs that would pass it are left out.
BUDGET_S = float(os.environ.get("PODFORGE_ROLLOUT_BENCH_BUDGET_S", "420"))
RUN_TIMEOUT_S = 300
GOAL_NOOP_CONNECTIONS = 0
# Ansible's own ssh_args default (ansible-core 2.19, ssh connection plugin).
ANSIBLE_DEFAULT_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"


@dataclass(frozen=True)
class Variant:
    """A set of Ansible settings: ANSIBLE_* variables over ansible.cfg, the forks, and whether plays gather all facts."""

    name: str
    settings: dict[str, str] = field(default_factory=dict)
    forks: int = 10
    full_facts: bool = False


PODFORGE = Variant("podforge (as shipped)")
DEFAULTS = Variant("ansible defaults", {"ANSIBLE_PIPELINING": "False", "ANSIBLE_GATHERING": "implicit",
                                        "ANSIBLE_SSH_ARGS": ANSIBLE_DEFAULT_SSH_ARGS,
                                        "ANSIBLE_PYTHON_INTERPRETER": "auto"}, forks=5, full_facts=True)
# One setting at a time from podforge's: what each buys (or would buy), on the largest size.
ONE_AT_A_TIME = (
    Variant("pipelining off", {"ANSIBLE_PIPELINING": "False"}),
    Variant("no ControlPersist (one login per task)", {"ANSIBLE_SSH_ARGS": "-o ServerAliveInterval=15 -o ConnectTimeout=10"}),
    Variant("all facts in every play", full_facts=True),
    Variant("gathering=implicit (facts in every play)", {"ANSIBLE_GATHERING": "implicit"}),
    Variant("interpreter discovery", {"ANSIBLE_PYTHON_INTERPRETER": "auto"}),
)


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    logins: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")

    @property
    def login_count(self) -> int:
        return min(self.logins) if self.logins else -1


def _lab() -> LabAccess:
    stack, loaded = load_stack_spec(STACK)
    return LabAccess(lab_topology(stack.name, loaded), LabDirs(default_state_dir()))


def accepted_logins(lab: LabAccess) -> int:
    """SSH logins sshd accepted on every lab host since it booted (read through nsenter: no SSH login)."""
    total = 0
    for host, _ in lab.hosts:
        done = lab.run(host, "journalctl -b -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true")
        total += int(done.stdout.strip() or 0)
    return total


def _without_gather_subset(copy: Path) -> None:
    """Drop every play's `gather_subset` (the playbooks' top-level files): each play then gathers all facts."""
    for book in copy.glob("*.yml"):
        lines = book.read_text().splitlines(keepends=True)
        kept: list[str] = []
        skipping_indent: int | None = None
        for line in lines:
            indent = len(line) - len(line.lstrip())
            if skipping_indent is not None:
                if line.strip().startswith("- ") and indent >= skipping_indent:
                    continue
                skipping_indent = None
            if line.strip() == "gather_subset:":
                skipping_indent = indent
                continue
            kept.append(line)
        book.write_text("".join(kept))
        if "gather_subset" in book.read_text():
            raise RuntimeError(f"{book.name}: gather_subset in a form this benchmark does not strip")


def _site(lab: LabAccess, targets: list[HostTarget], variant: Variant, full_facts_dir: Path) -> tuple[float, int, RunResult]:
    before = accepted_logins(lab)
    start = time.perf_counter()
    result = run_site(targets, private_key_file=lab.private_key, forks=variant.forks, settings=variant.settings,
                      playbooks_dir=full_facts_dir if variant.full_facts else PLAYBOOKS_DIR, timeout=RUN_TIMEOUT_S)
    seconds = time.perf_counter() - start
    return seconds, accepted_logins(lab) - before, result


def _problems(result: RunResult) -> list[str]:
    out = [h.describe() for h in result.failed]
    out += [f"{h.host}: changed={h.changed} on a converged host" for h in result.hosts.values() if h.succeeded and h.changed]
    return out


@dataclass
class CliRun:
    seconds: float
    logins: int
    rc: int
    statuses: dict[str, tuple[str, int]]  # host → (result, changed)
    output: str


def _rollout_cli(lab: LabAccess, state_file: Path, *extra: str) -> CliRun:
    """`podforge rollout --stack lab` as a user runs it (a fresh process), pinned to the lab's keys."""
    argv = [sys.executable, "-m", "components.cli", "rollout", "--stack", STACK, "--state-file", str(state_file),
            "--known-hosts", str(lab.known_hosts), "--private-key", str(lab.private_key), *extra]
    before = accepted_logins(lab)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=CHECKOUT, capture_output=True, text=True, timeout=2 * RUN_TIMEOUT_S, check=False)
    seconds = time.perf_counter() - start
    logins = accepted_logins(lab) - before
    names = {h for h, _ in lab.hosts}
    statuses = {}
    for line in done.stdout.splitlines():  # the summary table: host wave result ok changed detail
        cols = line.split()
        if len(cols) >= 5 and cols[0] in names and cols[1].isdigit():
            statuses[cols[0]] = (cols[2], int(cols[4]) if cols[4].isdigit() else -1)
    return CliRun(seconds, logins, done.returncode, statuses, done.stdout + done.stderr)


def _last_lines(text: str, n: int = 6) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-n:])


def run(sizes: list[int] | None = None, repeat: int = 3) -> int:
    """Print the tables and the goal verdicts; return how many goals were missed (0 when skipped)."""
    if os.geteuid() != 0:
        print("rollout benchmark: skipped: the lab hall needs root (network namespaces, overlay mounts, systemd-nspawn)")
        return 0
    missing = hall.missing_tools()
    if missing:
        print(f"rollout benchmark: skipped: the lab cannot be built here: missing {', '.join(missing)} "
              "(make setup installs debootstrap and systemd-container)")
        return 0
    started = time.monotonic()
    lab = _lab()
    was_up = read_pid(lab.dirs.supervisor_pid) is not None
    print("rollout benchmark: podforge lab up" + ("" if was_up else " (the lab is taken down again afterwards)"), flush=True)
    try:
        lab.up()
    except (LabError, OSError, subprocess.SubprocessError) as exc:
        print(f"rollout benchmark: skipped: the lab cannot be built: {exc}")
        if not was_up:
            _down_quietly(lab)
        return 0
    try:
        return _measure(lab, sizes, repeat, started)
    finally:
        if not was_up:
            _down_quietly(lab)


def _down_quietly(lab: LabAccess) -> None:
    try:
        lab.down()
    except (LabError, OSError, subprocess.SubprocessError) as exc:
        print(f"rollout benchmark: podforge lab down failed: {exc} (run `podforge lab down`)")


def _measure(lab: LabAccess, sizes: list[int] | None, repeat: int, started: float) -> int:
    _, loaded = load_stack_spec(STACK)
    targets = host_targets(host_views(loaded.spec), lab.known_hosts)
    counts = sorted({n for n in (sizes or SIZES) if 1 <= n <= len(targets)}) or list(SIZES)
    largest = max(counts)
    print(f"rollout benchmark: lab hall, {len(targets)} hosts (systemd-nspawn, sshd, systemd), wall seconds, "
          f"{os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="podforge-bench-") as tmp:
        state_file = Path(tmp) / "rollout-state.json"
        converge = _rollout_cli(lab, state_file, "--force")
        if converge.rc != 0:
            print(f"rollout benchmark: the lab did not converge (rc {converge.rc}); nothing measured:\n"
                  f"{_last_lines(converge.output)}")
            return 1
        print(f"  converged the lab in {converge.seconds:.1f} s (podforge rollout --stack lab --force)", flush=True)
        forced = _rollout_cli(lab, state_file, "--force")
        noop = _rollout_cli(lab, state_file)
        print("  measured the whole-lab forced rollout and the no-op re-run", flush=True)

        full_facts_dir = Path(tmp) / "playbooks-all-facts"
        shutil.copytree(PLAYBOOKS_DIR, full_facts_dir)
        _without_gather_subset(full_facts_dir)
        core: list[tuple[Variant, int]] = [(v, n) for n in counts for v in (PODFORGE, DEFAULTS)]
        plan = core + [(v, largest) for v in ONE_AT_A_TIME]
        results: dict[tuple[str, int], Measured] = {(v.name, n): Measured() for v, n in plan}
        took: dict[tuple[str, int], float] = {}
        rounds = 0
        while rounds < max(1, repeat):
            ran = 0
            for variant, n in plan:
                key = (variant.name, n)
                # The first round of the podforge / defaults comparison always runs; the rest only within the budget.
                guess = took.get(key, took.get((PODFORGE.name, largest), 0.0))
                if (rounds > 0 or (variant, n) not in core) and time.monotonic() - started + guess > BUDGET_S:
                    continue
                seconds, logins, result = _site(lab, targets[:n], variant, full_facts_dir)
                took[key] = seconds
                ran += 1
                problems = _problems(result)
                if problems:
                    results[key].problems += problems
                else:
                    results[key].seconds.append(seconds)
                    results[key].logins.append(logins)
            if not ran:
                break
            rounds += 1
            print(f"  round {rounds}: {ran} site-play runs", flush=True)
    print(report(counts, largest, results, forced, noop, rounds))
    missed = 0
    for text, met in verdicts(counts, results, forced, noop, len(targets)):
        print(f"{'met   ' if met else 'MISSED'}  {text}")
        missed += not met
    print(f"(whole benchmark {time.monotonic() - started:.0f} s)")
    return missed


def _fmt(m: Measured) -> tuple[str, str]:
    if not m.seconds:
        return ("failed" if m.problems else "-"), "-"
    return f"{m.best:.1f}", str(m.login_count)


def report(counts: list[int], largest: int, results: dict[tuple[str, int], Measured], forced: CliRun, noop: CliRun,
           rounds: int) -> str:
    lines = [f"site play, --force on converged hosts (changed=0 required), best of up to {rounds} "
             "(- : left out by the time budget):"]
    head = f"{'hosts':>5} {'podforge s':>10} {'logins':>6} {'defaults s':>10} {'logins':>6} {'defaults/podforge':>17}"
    lines += [head, "-" * len(head)]
    for n in counts:
        tuned, plain = results[(PODFORGE.name, n)], results[(DEFAULTS.name, n)]
        (ts, tl), (ds, dl) = _fmt(tuned), _fmt(plain)
        ratio = f"{plain.best / tuned.best:.2f}x" if tuned.seconds and plain.seconds else "-"
        lines.append(f"{n:>5} {ts:>10} {tl:>6} {ds:>10} {dl:>6} {ratio:>17}")
    lines.append("")
    lines.append(f"one setting at a time from podforge's, {largest} hosts:")
    head = f"{'settings':<40} {'s':>6} {'vs podforge':>11} {'logins':>6}"
    lines += [head, "-" * len(head)]
    base = results[(PODFORGE.name, largest)]
    for variant in (PODFORGE, *ONE_AT_A_TIME, DEFAULTS):
        m = results[(variant.name, largest)]
        s, logins = _fmt(m)
        versus = f"{(m.best - base.best) / base.best:+.0%}" if m.seconds and base.seconds else "-"
        lines.append(f"{variant.name:<40} {s:>6} {versus:>11} {logins:>6}")
    lines.append("")
    lines.append("the whole lab through the CLI:")
    head = f"{'command':<52} {'s':>6} {'logins':>6}  hosts"
    lines += [head, "-" * len(head)]
    for label, cli in (("podforge rollout --stack lab --force (waves + gate)", forced),
                       ("podforge rollout --stack lab (no-op re-run)", noop)):
        tally: dict[str, int] = {}
        for result, changed in cli.statuses.values():
            key = f"{result}, changed={changed}" if result in ("ok", "changed") else result
            tally[key] = tally.get(key, 0) + 1
        hosts = "; ".join(f"{count} {what}" for what, count in tally.items()) or f"rc {cli.rc}"
        lines.append(f"{label:<52} {cli.seconds:>6.1f} {cli.logins:>6}  {hosts}")
        # A forced run of converged hosts should change nothing: name the tasks that did.
        lines += [f"    changed: {line.strip()}" for line in cli.output.splitlines()
                  if line.startswith("  wave ") and line.rstrip().endswith(" changed")][:12]
    problems = [f"{name} ({n} hosts): {p}" for (name, n), m in results.items() for p in m.problems[:2]]
    if problems:
        lines.append("")
        lines.append("runs left out of the table (not like for like):")
        lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


def verdicts(counts: list[int], results: dict[tuple[str, int], Measured], forced: CliRun, noop: CliRun,
             hosts: int) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    skipped = sum(1 for result, _ in noop.statuses.values() if result == "skipped")
    out.append((f"no-op re-run of the whole lab: {noop.logins} SSH connections (goal {GOAL_NOOP_CONNECTIONS}), "
                f"{skipped}/{hosts} hosts skipped", noop.rc == 0 and noop.logins <= GOAL_NOOP_CONNECTIONS and skipped == hosts))
    changed = [h for h, (result, n) in forced.statuses.items() if result not in ("ok", "changed") or n != 0]
    out.append((f"forced rollout of the converged lab: changed=0 on {hosts - len(changed)}/{hosts} hosts",
                forced.rc == 0 and not changed and len(forced.statuses) == hosts))
    unclean = sorted({f"{name} ({n})" for (name, n), m in results.items() if m.problems})
    out.append(("every forced site-play run changed=0 with no failure"
                + (f" (not: {', '.join(unclean)})" if unclean else ""), not unclean))
    measured = [n for n in counts if results[(PODFORGE.name, n)].seconds and results[(DEFAULTS.name, n)].seconds]
    slower = [n for n in measured if results[(PODFORGE.name, n)].best > results[(DEFAULTS.name, n)].best]
    out.append((f"podforge's settings faster than Ansible's defaults at {', '.join(map(str, measured)) or 'no'} host "
                f"count(s)" + (f" (not at {', '.join(map(str, slower))})" if slower else ""),
                bool(measured) and not slower))
    return out

