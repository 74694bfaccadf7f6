"""Fixtures for tests against real local infrastructure.

The `lab` fixture (session-scoped) is the lab hall of the `lab` stack, shared by every lab test of a session.
Contract for tests that use it (mark them `@pytest.mark.lab`):
  - It skips, with the reason, when not root or when systemd-nspawn / debootstrap / ip / nsenter are missing.
  - It brings the lab up once (`podforge lab up`; the first run builds the Debian image, ~1-2 min) and takes it
    down after the session, unless the lab was already up before the session (then it is left running) or
    PODFORGE_LAB_KEEP=1 is set.
  - It returns components.lab.access.LabAccess:
      lab.hosts                 [(hostname, address)] in spec order, e.g. ("lab-dgx-01", "10.199.77.11")
      lab.known_hosts           Path of the pinned known_hosts (every host's key under its address)
      lab.private_key           Path of the automation key (root on every host)
      lab.state_dir             Path of .lab/
      lab.bridge_address        "10.199.77.1": where servers the hosts must reach bind
      lab.run(host, cmd)        CompletedProcess of `sh -c cmd` as root inside the host (nsenter; no SSH)
      lab.ssh(host)             paramiko client, host key checked (RejectPolicy), automation key
  - A test that takes the lab down sets `test_fn.runs_after_other_lab_tests = True`: it runs last.
  - `site_rollout` (session-scoped) is the site play rolled out once over the whole lab; tests that need
    converged hosts share it instead of converging again. test_rollout.py, whose tests start from it, runs
    first, so its forced re-run meets the hosts as that rollout left them.
  - Hosts are shared: a test that stops a service, reboots a host or changes its files puts it back.
    A host's disk is its overlay; `lab down` discards it, so a fresh session starts from the plain image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.host import host_views
from components.lab import hall
from components.lab.access import LabAccess
from components.lab.layout import LabDirs, default_state_dir, read_pid
from components.lab.topology import lab_topology
from components.provisioning import runner as runner_module
from components.provisioning.rollout import roll_out
from components.provisioning.target import host_targets
from components.spec import load_stack_spec
from tests.support.site_rollout import SiteRollout

LAB_STACK = "lab"


def _rank(item: pytest.Item) -> tuple[bool, int]:
    """This hook orders the whole session: tests outside this directory keep their place (first); here
    test_rollout.py runs first; tests marked `fn.runs_after_other_lab_tests = True` (lab down) run last."""
    last = bool(getattr(getattr(item, "function", None), "runs_after_other_lab_tests", False))
    if Path(__file__).parent not in item.path.parents:
        return last, 0
    return last, 1 if item.path.name == "test_rollout.py" else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)


@pytest.fixture(scope="session")
def lab() -> Iterator[LabAccess]:
    if os.geteuid() != 0:
        pytest.skip("lab: needs root (network namespaces, overlay mounts, systemd-nspawn)")
    missing = hall.missing_tools()
    if missing:
        pytest.skip(f"lab: missing {', '.join(missing)} (make setup installs debootstrap and systemd-container)")
    stack, loaded = load_stack_spec(LAB_STACK)
    access = LabAccess(lab_topology(stack.name, loaded), LabDirs(default_state_dir()))
    was_up = read_pid(access.dirs.supervisor_pid) is not None
    report = hall.up(access.topology, access.dirs, progress=lambda line: print(f"[lab] {line}"))
    if report.image_built_s is not None:
        print(f"[lab] image built in {report.image_built_s:.0f} s")
    try:
        yield access
    finally:
        if not was_up and os.environ.get("PODFORGE_LAB_KEEP") != "1":
            hall.down(access.topology, access.dirs, progress=lambda line: print(f"[lab] {line}"))


@pytest.fixture(scope="session")
def site_rollout(lab: LabAccess, tmp_path_factory: pytest.TempPathFactory) -> SiteRollout:
    """The site play rolled out once, forced, over the whole lab (in the spec's waves, health gate between),
    the automation key passed as text, as a Pulumi secret reaches the runner."""
    spec = load_stack_spec(LAB_STACK)[1].spec
    targets = {t.hostname: t for t in host_targets(host_views(spec), lab.known_hosts)}
    state_file = tmp_path_factory.mktemp("rollout") / "rollout-state.json"
    lines: list[str] = []
    rendered: list[str] = []
    real_write = runner_module._write_inventory

    def keep_a_copy(private: Path, hosts, key_file):
        path = real_write(private, hosts, key_file)
        rendered.extend(p.read_text() for p in private.rglob("*") if p.is_file() and p != key_file)
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner_module, "_write_inventory", keep_a_copy)
        report = roll_out([[targets[n.hostname] for n in wave] for wave in spec.waves()], state_file,
                          private_key=lab.private_key.read_text(), force=True, progress=lines.append)
    return SiteRollout(report, state_file, lines, rendered)
