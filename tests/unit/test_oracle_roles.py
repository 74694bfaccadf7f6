"""The roles against the oracle table of what DGX OS ships (components/oracle/dgx_os.yaml).

Every role's tasks, handlers, defaults and templates are read statically (YAML), the names they install, hold,
start, stop or restart are resolved with Ansible's own templating for each GPU node / subnet manager of the lab,
superpod and h200 specs (their real host_vars), and compared with the table for the spec's OS release. Behaviour
the table states is checked too: a unit whose packaged ExecStart leaves persistence mode off must be overridden
and the result checked with `nvidia-smi -q`; a unit without an [Install] section cannot be "enabled".
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from components import oracle
from components.host import host_views
from components.spec import load_stack_spec

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
# Role → the inventory group gpu.yml applies it to.
ROLE_GROUPS = {"nvidia_driver": "gpu_nodes", "doca_ofed": "gpu_nodes", "nccl": "gpu_nodes",
               "container_runtime": "gpu_nodes", "dcgm": "gpu_nodes", "opensm": "subnet_managers"}
STACKS = ("lab", "superpod", "h200")
# Packages and units of the OS's own archive: outside the table, which covers what NVIDIA and Mellanox ship.
OS_ARCHIVE_PACKAGES = {"containerd", "docker.io", "podman", "prometheus-node-exporter"}
OS_UNITS = {"containerd", "docker", "prometheus-node-exporter", "systemd-modules-load"}
APT = ("ansible.builtin.apt", "apt")
HOLD = ("ansible.builtin.dpkg_selections", "dpkg_selections")
SERVICE = ("ansible.builtin.systemd_service", "ansible.builtin.systemd", "ansible.builtin.service")


@dataclass
class Findings:
    installs: set[str] = field(default_factory=set)
    holds: set[str] = field(default_factory=set)
    units: dict[str, set[str]] = field(default_factory=dict)   # unit → {"started", "enabled", "stopped", ...}
    own_units: set[str] = field(default_factory=set)           # units whose file the role writes itself
    dropins: dict[str, list[str]] = field(default_factory=dict)  # unit → rendered drop-in texts
    wants_links: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or []


def _trusted(value: Any) -> Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def _tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for task in items or []:
        for key in ("block", "rescue", "always"):
            if key in task:
                out += _tasks(task[key])
        out.append(task)
    return out


def _module(task: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any] | None:
    for name in names:
        if name in task and isinstance(task[name], dict):
            return task[name]
    return None


class RoleReader:
    """One role's files under `playbooks`, resolved for one host's variables."""

    def __init__(self, playbooks: Path, role: str, host_vars: dict[str, Any], lab: bool) -> None:
        self.dir = playbooks / "roles" / role
        defaults = _load(self.dir / "defaults" / "main.yml") or {}
        self.vars: dict[str, Any] = {k: _trusted(v) for k, v in host_vars.items()}
        self.vars.update({k: _trusted(v) for k, v in defaults.items()})
        self.vars.update({"ansible_facts": {"virtualization_tech_guest": ["systemd-nspawn"] if lab else [],
                                            "packages": {}, "services": {}},
                          "ansible_check_mode": False, "ansible_managed": "podforge"})
        self.files = sorted((self.dir / "tasks").glob("*.yml")) + sorted((self.dir / "handlers").glob("*.yml"))
        for path in self.files:
            for task in _tasks(_load(path)):
                facts = _module(task, ("ansible.builtin.set_fact", "set_fact"))
                if facts:
                    self.vars.update({k: _trusted(v) for k, v in facts.items() if k != "cacheable"})
        self.templar = Templar(loader=DataLoader(), variables=self.vars)

    def value(self, expr: Any, item: Any = None) -> Any:
        if item is not None:
            self.templar.available_variables = {**self.vars, "item": item}
        try:
            return self.templar.template(_trusted(expr))
        finally:
            self.templar.available_variables = self.vars

    def applies(self, task: dict[str, Any], item: Any = None) -> bool:
        """False only when the task's `when` is known to be false here; unknown (registered results) counts as true."""
        conditions = task.get("when", [])
        for condition in conditions if isinstance(conditions, list) else [conditions]:
            try:
                if not self.value("{{ (" + str(condition) + ") | bool }}", item):
                    return False
            except AnsibleError:  # a registered result or fact the static read cannot know
                continue
        return True

    def items(self, task: dict[str, Any]) -> list[Any]:
        if "loop" not in task:
            return [None]
        try:
            return list(self.value(task["loop"]))
        except AnsibleError:  # a loop over registered results: nothing to resolve statically
            return []

    def read(self) -> Findings:
        found = Findings()
        for path in self.files:
            for task in _tasks(_load(path)):
                self._task(task, found)
        return found

    def _names(self, args: dict[str, Any], item: Any) -> list[str]:
        value = self.value(args.get("name"), item)
        names = value if isinstance(value, list) else [value]
        return [re.split(r"[=<>]", str(n), maxsplit=1)[0] for n in names if n]

    def _task(self, task: dict[str, Any], found: Findings) -> None:
        for item in self.items(task):
            if not self.applies(task, item):
                continue
            if (args := _module(task, APT)) and args.get("name") and args.get("state", "present") != "absent":
                found.installs.update(self._names(args, item))
            if (args := _module(task, HOLD)) and str(self.value(args.get("selection"), item)) == "hold":
                found.holds.update(self._names(args, item))
            if args := _module(task, SERVICE):
                for unit in self._names(args, item):
                    unit = unit.removesuffix(".service")
                    actions = found.units.setdefault(unit, set())
                    if args.get("state"):
                        actions.add(str(self.value(args["state"], item)))
                    if args.get("enabled") is not None and self.value(args["enabled"], item) in (True, "True", "true"):
                        actions.add("enabled")
            for module in ("ansible.builtin.template", "ansible.builtin.copy"):
                if (args := _module(task, (module,))) and args.get("dest"):
                    self._written(task, module, args, item, found)
            if (args := _module(task, ("ansible.builtin.file",))) and args.get("state") == "link":
                found.wants_links.add(str(self.value(args["dest"], item)))
            if args := _module(task, ("ansible.builtin.command", "ansible.builtin.shell")):
                found.commands.append(str(self.value(args if isinstance(args, str) else args.get("cmd", ""), item)))
            elif isinstance(task.get("ansible.builtin.command"), str):
                found.commands.append(str(self.value(task["ansible.builtin.command"], item)))

    def _written(self, task: dict[str, Any], module: str, args: dict[str, Any], item: Any, found: Findings) -> None:
        dest = str(self.value(args["dest"], item))
        if module == "ansible.builtin.template":
            source = (self.dir / "templates" / str(self.value(args["src"], item))).read_text()
            text = str(self.value(source, item))
        else:
            text = str(self.value(args.get("content", ""), item))
        if match := re.fullmatch(r"/etc/systemd/system/([^/]+)\.service\.d/[^/]+\.conf", dest):
            found.dropins.setdefault(match.group(1), []).append(text)
        elif match := re.fullmatch(r"/etc/systemd/system/([^/]+)\.service", dest):
            found.own_units.add(match.group(1))


def role_findings(playbooks: Path, stack: str, role: str) -> list[tuple[str, str, Findings]]:
    """(stack, host, findings) for every host of the stack that gpu.yml applies the role to."""
    spec = load_stack_spec(stack)[1].spec
    out = []
    for host, view in host_views(spec).items():
        if ROLE_GROUPS[role] in view.groups:
            host_vars = {**view.host_vars(), "podforge_files": view.files()}  # as `podforge inventory` renders them
            out.append((stack, host, RoleReader(playbooks, role, host_vars, spec.site.lab).read()))
    return out


def problems(playbooks: Path, stack: str, role: str) -> list[str]:
    """Every way the role, as it resolves for the stack's hosts, disagrees with the oracle table."""
    spec = load_stack_spec(stack)[1].spec
    sw = spec.software
    known = oracle.known_names(sw.os, sw.driver.branch, oracle.cuda_major(sw.nccl.version))
    doca = oracle.needs(spec).hcas
    units = (oracle.unit_names() - {"opensm", "opensm@", "opensmd"}) | oracle.opensm_units(sw.os, doca)
    out: list[str] = []
    for _, host, found in role_findings(playbooks, stack, role):
        where = f"{stack}/{host} ({sw.os}, {oracle.release_of(sw.os)}) role {role}"
        for name in sorted((found.installs | found.holds) - known - OS_ARCHIVE_PACKAGES):
            verb = "installs" if name in found.installs else "holds"
            out.append(f"{where} {verb} {name!r}: not a package the oracle table has for this OS release and branch")
        for unit, actions in sorted(found.units.items()):
            base = unit.split("@", 1)[0] + "@" if "@" in unit and unit.split("@", 1)[0] + "@" in found.own_units else unit
            if base in found.own_units or unit in OS_UNITS:
                continue
            if unit not in units:
                out.append(f"{where} {'/'.join(sorted(actions))} unit {unit!r}: not a unit the oracle table has here "
                           f"(expected one of {sorted(units & {'opensm', 'opensm@', 'opensmd'}) or sorted(units)})")
                continue
            info = oracle.unit(unit)
            assert info is not None
            if "enabled" in actions and not info.install_section and not any(
                    link.endswith(f".wants/{unit}.service") for link in found.wants_links):
                out.append(f"{where} enables {unit!r}, whose packaged unit has no [Install] section (static): "
                           "enabling does nothing; link it into a target's .wants/ instead")
            if info.persistence_mode == "disabled" and actions & {"started", "restarted"}:
                out += _persistence(where, unit, info, found)
    return out


def _persistence(where: str, unit: str, info: oracle.Unit, found: Findings) -> list[str]:
    out = []
    overrides = [t for t in found.dropins.get(unit, []) if re.search(r"(?m)^ExecStart=\s*$", t)]
    execs = [line for t in overrides for line in t.splitlines() if re.match(r"ExecStart=\S", line)]
    pm_on = any(re.search(r"nvidia-smi\s+(-pm|--persistence-mode)[ =]1", c) for c in found.commands)
    if not pm_on and (not execs or any("--no-persistence-mode" in e for e in execs)):
        out.append(f"{where} starts {unit!r} as packaged ({info.exec_start}): persistence mode stays off; "
                   "override ExecStart without --no-persistence-mode (drop-in) or run nvidia-smi -pm 1")
    if not any(re.match(r"nvidia-smi\s+(-q|--query)\b", c) for c in found.commands):
        out.append(f"{where} never reads `nvidia-smi -q` (Persistence Mode : Enabled) to check persistence mode")
    return out


# (stack, role) pairs known to disagree with the table, each with its reason; strict, so a fixed role passes loudly.
KNOWN: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role", sorted(ROLE_GROUPS))
def test_roles_use_only_what_the_oracle_says_dgx_os_ships(stack: str, role: str, request: pytest.FixtureRequest) -> None:
    """Every package a role installs or holds and every unit it starts, stops or enables exists in the oracle table
    for the spec's OS release and driver branch, and behaves as the role expects."""
    if (stack, role) in KNOWN:
        request.applymarker(pytest.mark.xfail(reason=KNOWN[(stack, role)], strict=True))
    assert problems(PLAYBOOKS, stack, role) == []


def test_the_reader_resolves_the_names_the_roles_compute() -> None:
    """The static read sees through role defaults, set_fact and loops: the lab's driver, DCGM 4 and toolkit names."""
    found = role_findings(PLAYBOOKS, "lab", "nvidia_driver")[0][2]
    assert {"nvidia-driver-535-server", "nvidia-fabricmanager-535", "libnvidia-nscq-535"} <= found.installs
    assert found.holds == found.installs
    assert {"started"} <= found.units["nvidia-persistenced"]
    dcgm = role_findings(PLAYBOOKS, "lab", "dcgm")[0][2]
    assert {"datacenter-gpu-manager-4-core", "datacenter-gpu-manager-4-cuda12",
            "datacenter-gpu-manager-exporter"} <= dcgm.installs
    h200 = role_findings(PLAYBOOKS, "h200", "nvidia_driver")[0][2]
    # h200 takes the precompiled kernel modules (the default): the headless no-DKMS driver, not the DKMS meta package.
    assert "nvidia-headless-no-dkms-580-server" in h200.installs and "nvidia-driver-580-server" not in h200.installs
    assert not any("fabricmanager" in n for n in h200.installs)


@pytest.fixture()
def playbooks_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS / "roles", copy / "roles")
    return copy


def test_a_misspelled_package_in_a_role_is_found(playbooks_copy: Path) -> None:
    """A copy of nvidia_driver whose driver package is misspelled is reported, named, for every GPU node."""
    defaults = playbooks_copy / "roles" / "nvidia_driver" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text().replace('"nvidia-driver-{{ nvidia_driver_branch }}-server"',
                                                     '"nvidia-drvier-{{ nvidia_driver_branch }}-server"'))
    found = problems(playbooks_copy, "lab", "nvidia_driver")
    assert found and all("'nvidia-drvier-535-server'" in p for p in found)
    assert len(found) == len(role_findings(playbooks_copy, "lab", "nvidia_driver"))  # one line per GPU node


def test_starting_persistenced_as_packaged_is_found(playbooks_copy: Path) -> None:
    """A copy of nvidia_driver without the persistence drop-in and the nvidia-smi -q check is reported."""
    tasks = playbooks_copy / "roles" / "nvidia_driver" / "tasks"
    services = yaml.safe_load((tasks / "services.yml").read_text())
    services = [t for t in services if t.get("name") != "Run nvidia-persistenced with persistence mode on"]
    (tasks / "services.yml").write_text(yaml.safe_dump(services, sort_keys=False))
    verify = yaml.safe_load((tasks / "verify.yml").read_text())
    (tasks / "verify.yml").write_text(yaml.safe_dump([t for t in verify if "nvidia-smi -q" not in str(t)],
                                                     sort_keys=False))
    found = problems(playbooks_copy, "lab", "nvidia_driver")
    assert any("persistence mode stays off" in p for p in found)
    assert any("never reads `nvidia-smi -q`" in p for p in found)


def test_enabling_a_unit_without_an_install_section_is_found(playbooks_copy: Path) -> None:
    """A copy of nvidia_driver that `enables` nvidia-persistenced instead of linking it into multi-user.target."""
    services_path = playbooks_copy / "roles" / "nvidia_driver" / "tasks" / "services.yml"
    services = yaml.safe_load(services_path.read_text())
    services = [t for t in services if t.get("name") != "Start nvidia-persistenced at boot"]
    for task in services:
        if task.get("name") == "Start nvidia-persistenced":
            task["ansible.builtin.systemd_service"]["enabled"] = True
    services_path.write_text(yaml.safe_dump(services, sort_keys=False))
    assert any("no [Install] section" in p for p in problems(playbooks_copy, "lab", "nvidia_driver"))


@pytest.mark.parametrize("choice", ["precompiled", "dkms"])
def test_each_kernel_module_choice_installs_and_holds_only_what_the_table_has(choice: str) -> None:
    """The superpod's GPU nodes with software.driver.kernel_modules set either way: the kernel packages (flavour's
    kernel and precompiled modules, or DKMS and headers) are installed and held, and all are names of the table."""
    spec = load_stack_spec("superpod")[1].spec
    sw = spec.software
    known = oracle.known_names(sw.os, sw.driver.branch, oracle.cuda_major(sw.nccl.version))
    view = next(v for v in host_views(spec).values() if "gpu_nodes" in v.groups)
    host_vars = view.host_vars()
    host_vars["podforge_versions"] = {**host_vars["podforge_versions"], "kernel_modules": choice,
                                      "kernel_flavour": "nvidia"}
    found = RoleReader(PLAYBOOKS, "nvidia_driver", host_vars, lab=False).read()
    expected = ({"linux-nvidia", "linux-modules-nvidia-535-server-nvidia", "nvidia-headless-no-dkms-535-server",
                 "nvidia-utils-535-server"} if choice == "precompiled" else
                {"nvidia-dkms-535-server", "linux-headers-nvidia", "nvidia-driver-535-server"})
    assert expected <= found.installs and expected <= found.holds
    assert found.installs - known == set()
    # The DKMS meta package is never installed next to precompiled modules (it depends on nvidia-dkms).
    assert ("nvidia-driver-535-server" in found.installs) == (choice == "dkms")
