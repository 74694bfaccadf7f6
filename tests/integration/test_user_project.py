"""podforge installed from its wheel into a fresh venv serves a user's own project outside the checkout.

The project is the layout README.md shows under "Your own project": its own Pulumi.yaml, a three-line
__main__.py, Pulumi.mysite.yaml, specs/mysite.yaml (the lab spec under another site name, with its own
known_hosts) and policies/config/mysite.json. validate, plan, policy check and inventory run in it (and once
from elsewhere with --project-dir); what they print points into that project, never into podforge's checkout.
Needs no root and no lab: the new venv reuses the installed dependencies, podforge itself comes from the wheel.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.wheel import CHECKOUT, build_wheel

PROGRAM = '"""The Pulumi program of this project."""\nfrom components.program import run\n\nrun()\n'
PROJECT = {"name": "mysite-cluster", "runtime": {"name": "python", "options": {"virtualenv": "venv"}},
           "description": "Our GPU cluster"}


def _pinned_key(n: int) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes([n]) * 32
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def _write_project(project: Path) -> dict:
    """The user's project: the files README.md lists under "Your own project"."""
    spec = (CHECKOUT / "specs" / "lab.yaml").read_text()
    assert "\n  name: lab\n" in spec and "known_hosts: .lab/known_hosts" in spec
    spec = spec.replace("\n  name: lab\n", "\n  name: mysite\n").replace("known_hosts: .lab/known_hosts",
                                                                         "known_hosts: .ssh/known_hosts")
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "mysite.yaml").write_text(spec)
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(PROJECT, sort_keys=False))
    (project / "__main__.py").write_text(PROGRAM)
    (project / "Pulumi.mysite.yaml").write_text(yaml.safe_dump({"config": {"podforge:spec": "specs/mysite.yaml"}}))
    (project / "policies" / "config").mkdir(parents=True)
    (project / "policies" / "config" / "mysite.json").write_text(
        json.dumps({"dr-site-latency": {"enforcementLevel": "advisory"}}))  # the lab spec declares no DR site
    nodes = yaml.safe_load(spec)["nodes"]
    (project / ".ssh").mkdir()
    (project / ".ssh" / "known_hosts").write_text("".join(
        f"{n['management_address']} {_pinned_key(i)}\n" for i, n in enumerate(nodes, 1)))
    return yaml.safe_load(spec)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv outside the checkout with podforge installed from its wheel (dependencies: the running venv's)."""
    work = tmp_path_factory.mktemp("user-project")
    assert not work.is_relative_to(CHECKOUT)
    wheel = build_wheel(work / "build")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--disable-pip-version-check",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    # After the install, so pip saw an empty venv: the dependencies already installed here, as a path entry
    # (its .pth files, among them the checkout's editable install, are not processed).
    (Path(site) / "podforge_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _podforge(venv: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "LANG": "C.UTF-8",
           "HOME": os.environ.get("HOME", str(cwd))}
    return subprocess.run([str(venv / "bin" / "podforge"), *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_podforge_comes_from_the_wheel_with_its_data_files(installed) -> None:
    code = ("import components, policies.mlps_level3.rules as rules; from components import paths; "
            "print(components.__file__, rules.__file__, paths.PLAYBOOKS_DIR, paths.TEMPLATES_DIR, paths.ANSIBLE_CFG, "
            "(paths.PLAYBOOKS_DIR / 'site.yml').is_file(), paths.ANSIBLE_CFG.is_file())")
    done = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=installed, capture_output=True,
                          text=True, timeout=120, check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    *files, site_yml, cfg = done.stdout.split()
    assert all(Path(f).is_relative_to(installed) for f in files), files
    assert all("/_data/" in f for f in files[2:]) and site_yml == cfg == "True"


def test_a_users_project_validates_plans_checks_and_renders_its_inventory(installed, tmp_path) -> None:
    project = tmp_path / "mysite"
    spec = _write_project(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    hosts = [n["hostname"] for n in spec["nodes"]]
    runs = {"here": (project, []), "from a subdirectory": (project / "specs", []),
            "elsewhere": (elsewhere, ["--project-dir", str(project)])}
    for where, (cwd, option) in runs.items():
        validate = _podforge(installed, cwd, *option, "validate", "--stack", "mysite")
        assert (validate.returncode, validate.stdout) == (0, "specs/mysite.yaml: valid\n"), (where, validate.stderr)
        if where == "from a subdirectory":
            continue
        plan = _podforge(installed, cwd, *option, "plan", "--stack", "mysite", "--json", str(tmp_path / "plan.json"))
        assert plan.returncode == 0, (where, plan.stderr)
        resources = len(json.loads((tmp_path / "plan.json").read_text())["resources"])
        assert plan.stdout.splitlines()[:2] == [f"stack mysite: {resources} resources (offline preview)",
                                                "pulumi:pulumi:Stack  mysite-cluster-mysite  (1 children)"]
        urns = [r["urn"] for r in json.loads((tmp_path / "plan.json").read_text())["resources"]]
        assert all(u.startswith("urn:pulumi:mysite::mysite-cluster::") for u in urns)
        policy = _podforge(installed, cwd, *option, "policy", "check", "--stack", "mysite")
        assert policy.returncode == 0, (where, policy.stdout, policy.stderr)
        assert policy.stdout.startswith(f"policy check: stack mysite, specs/mysite.yaml, {resources} resources")
        assert "warn mlps-level3/dr-site-latency [advisory]" in policy.stdout  # the project's policy config
        inventory = _podforge(installed, cwd, *option, "inventory", "--stack", "mysite", "--list")
        assert inventory.returncode == 0, (where, inventory.stderr)
        assert sorted(json.loads(inventory.stdout)["_meta"]["hostvars"]) == sorted(hosts)
        assert str(project / ".ssh" / "known_hosts") in inventory.stdout
        for done in (validate, plan, policy, inventory):
            assert str(CHECKOUT) not in done.stdout + done.stderr, where


def test_a_missing_stack_names_the_project_directory_and_its_stacks(installed, tmp_path) -> None:
    project = tmp_path / "mysite"
    _write_project(project)
    done = _podforge(installed, project, "plan", "--stack", "lab")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"Pulumi.lab.yaml: --stack: 'lab' — expected a stack of the project: no Pulumi.lab.yaml in "
                           f"{project} (stacks there: mysite)\n")


def test_outside_any_project_one_line_suggests_project_dir(installed, tmp_path) -> None:
    done = _podforge(installed, tmp_path, "validate", "--stack", "mysite")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"no Pulumi.yaml in {tmp_path}" in done.stderr
    assert "--project-dir DIR" in done.stderr
