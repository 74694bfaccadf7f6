"""The user's project: found as the Pulumi CLI finds it or named with --project-dir, stacks and the files they name
relative to it, command-line paths relative to the current directory, the project's own program, the spec read
once per command, and the wheel that carries podforge's playbooks, templates and policy packs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

import components.spec.loader as loader
from components import paths
from components.cli import main
from components.lab.layout import default_state_dir
from components.offline import capture
from components.spec import load_stack_spec
from tests.unit.plan_roots import CHECKOUT, example_spec, project_dir, stack_root
from tests.wheel import build_wheel


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_the_project_is_the_nearest_directory_holding_pulumi_yaml(tmp_path, monkeypatch) -> None:
    (tmp_path / "site").mkdir()
    project = project_dir(tmp_path / "site")
    deeper = project / "specs" / "drafts"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert paths.project_root() == project
    assert paths.project().name == "podforge" and paths.project().program == project / "__main__.py"


def test_project_dir_and_the_environment_name_the_project(tmp_path, monkeypatch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    project_dir(one)
    project_dir(two)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.PROJECT_DIR_ENV, "one")
    assert paths.project_root() == one
    with paths.chosen_project("two"):  # the option wins over the environment; relative to the current directory
        assert paths.project_root() == two
    assert paths.project_root() == one


def test_without_a_project_one_line_says_where_it_searched_and_suggests_project_dir(tmp_path, monkeypatch,
                                                                                    capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--stack", "lab"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"no Pulumi.yaml in {tmp_path} or any directory above it" in line and "--project-dir DIR" in line
    (tmp_path / "mine.yaml").write_text(example_spec("lab"))
    assert main(["validate", "--spec", "mine.yaml"]) == 0  # a spec file alone needs no project


def test_a_project_dir_without_pulumi_yaml_is_refused_in_one_line(tmp_path, capsys) -> None:
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "lab"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == f"{tmp_path}/Pulumi.yaml: --project-dir: '{tmp_path}' — expected a project directory, holding " \
                   "Pulumi.yaml"


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["policy", "check"], ["inventory"], ["artifacts"]])
def test_a_missing_stack_names_the_directory_searched_and_the_stacks_there(tmp_path, capsys, command) -> None:
    stack_root(tmp_path, "lab")
    stack_root(tmp_path, "superpod")
    assert main(["--project-dir", str(tmp_path), *command, "--stack", "mysite"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (f"Pulumi.mysite.yaml: --stack: 'mysite' — expected a stack of the project: no Pulumi.mysite.yaml "
                    f"in {tmp_path} (stacks there: lab, superpod)")


def test_stacks_live_in_the_stack_config_dir_specs_stay_relative_to_the_project(tmp_path, capsys) -> None:
    stack_root(tmp_path, "lab")
    project = yaml.safe_load((tmp_path / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({**project, "stackConfigDir": "stacks"}))
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.lab.yaml").rename(tmp_path / "stacks" / "Pulumi.lab.yaml")
    assert main(["--project-dir", str(tmp_path), "validate", "--stack", "lab"]) == 0
    assert capsys.readouterr().out == "specs/lab.yaml: valid\n"
    assert main(["--project-dir", str(tmp_path), "validate", "--stack", "mysite"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("stacks/Pulumi.mysite.yaml: --stack: 'mysite'")
    assert f"in {tmp_path / 'stacks'} (stacks there: lab)" in line


def test_a_spec_on_the_command_line_is_relative_to_the_current_directory(tmp_path, monkeypatch, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    stack_root(project, "lab")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.yaml").write_text(example_spec("lab"))
    monkeypatch.chdir(elsewhere)
    assert main(["--project-dir", "../project", "validate", "--spec", "mine.yaml"]) == 0
    assert main(["--project-dir", "../project", "validate", "--stack", "lab"]) == 0
    assert capsys.readouterr().out == "mine.yaml: valid\nspecs/lab.yaml: valid\n"


def test_files_a_stack_names_are_in_its_project(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PODFORGE_LAB_DIR", raising=False)
    stack_root(tmp_path, "lab")
    stack, loaded = load_stack_spec("lab", tmp_path)
    assert stack.root == tmp_path and stack.project.path(stack.spec_path) == tmp_path / "specs" / "lab.yaml"
    with paths.chosen_project(tmp_path):
        assert default_state_dir() == tmp_path / ".lab"
        from components.provisioning.state import state_path

        assert state_path("lab", loaded.spec) == tmp_path / ".lab" / "rollout-state.json"


def test_the_program_is_three_lines_and_the_capture_runs_the_projects_own(tmp_path) -> None:
    lines = [line for line in (CHECKOUT / "__main__.py").read_text().splitlines() if line]
    assert len(lines) == 3 and lines[1:] == ["from components.program import run", "run()"]
    stack_root(tmp_path, "lab")
    (tmp_path / "__main__.py").write_text("import pulumi\n\nfrom components.program import run\n\nrun()\n"
                                          "pulumi.ComponentResource('mysite:site:Marker', 'mine')\n")
    graph = capture("lab", tmp_path)
    assert graph.named("mysite:site:Marker", "mine")
    assert len(graph.of_type("podforge:hw:DgxNode")) == 4


def test_a_project_without_its_program_is_one_line(tmp_path, capsys) -> None:
    stack_root(tmp_path, "lab")
    (tmp_path / "__main__.py").unlink()
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "lab"]) == 2
    assert "__main__.py: main:" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["policy", "check"]])
def test_each_command_reads_the_stack_and_its_spec_once(monkeypatch, capsys, command) -> None:
    reads: list[str] = []
    real = loader.load_yaml

    def counted(path, display=None, **kwargs):
        reads.append(Path(path).name)
        return real(path, display, **kwargs)

    monkeypatch.setattr(loader, "load_yaml", counted)
    assert main([*command, "--stack", "lab"]) == 0
    assert sorted(reads) == ["Pulumi.lab.yaml", "lab.yaml"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    with zipfile.ZipFile(build_wheel(tmp_path_factory.mktemp("wheel"))) as built:
        yield built


def _files(top: Path) -> list[str]:
    return sorted(p.relative_to(top.parent).as_posix() for p in top.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_the_wheel_carries_the_playbooks_templates_and_ansible_cfg(wheel) -> None:
    names = set(wheel.namelist())
    playbooks, templates = _files(CHECKOUT / "playbooks"), _files(CHECKOUT / "templates")
    assert "playbooks/site.yml" in playbooks and len(templates) > 1
    roles = [p.name for p in (CHECKOUT / "playbooks" / "roles").iterdir() if p.is_dir()]
    assert {f"playbooks/roles/{role}/tasks/main.yml" for role in roles} <= set(playbooks)
    assert {f"components/_data/{name}" for name in [*playbooks, *templates, "ansible.cfg"]} <= names
    assert not any(name.startswith(("playbooks/", "templates/")) for name in names)


def test_the_wheel_carries_the_policy_packs_the_catalogue_and_the_command(wheel) -> None:
    names = set(wheel.namelist())
    for pack in ("mlps_level3", "gpu_baseline"):
        rules = _files(CHECKOUT / "policies" / pack / "rules")
        assert len(rules) > 3 and {f"policies/{pack}/{name}" for name in rules if name.endswith(".py")} <= names
        assert {f"policies/{pack}/PulumiPolicy.yaml", f"policies/{pack}/__main__.py"} <= names
    assert {"policies/common/rule.py", "components/spec/catalogue.yaml", "components/program.py"} <= names
    assert not any(name.startswith("policies/config/") for name in names)  # the checkout's stacks' settings
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "podforge = components.cli:main" in wheel.read(entry_points).decode()


def test_a_checkout_reads_its_data_files_beside_the_package() -> None:
    assert paths.PLAYBOOKS_DIR == CHECKOUT / "playbooks" and paths.TEMPLATES_DIR == CHECKOUT / "templates"
    assert paths.ANSIBLE_CFG == CHECKOUT / "ansible.cfg" and (paths.PLAYBOOKS_DIR / "site.yml").is_file()


def test_the_policy_config_of_a_project_is_read_from_it(tmp_path) -> None:
    from components.policy import load_packs, load_policy_config

    stack_root(tmp_path, "lab")
    (tmp_path / "policies" / "config").mkdir(parents=True)
    (tmp_path / "policies" / "config" / "lab.json").write_text(json.dumps({"all": "advisory"}))
    settings = load_policy_config("lab", load_packs(), tmp_path)
    assert settings["all"].enforcement_level.value == "advisory"
    assert load_policy_config("lab", load_packs(), tmp_path / "nowhere") == {}
