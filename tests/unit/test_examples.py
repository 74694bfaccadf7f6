"""The example stacks validate, and `podforge validate` says so with exit 0."""

from components.cli import main
from components.spec import load_stack_spec


def test_lab_stack_validates() -> None:
    stack, loaded = load_stack_spec("lab")
    assert stack.spec_path == "specs/lab.yaml"
    assert len(loaded.spec.nodes) == 4


def test_superpod_stack_validates() -> None:
    _, loaded = load_stack_spec("superpod")
    assert len(loaded.spec.nodes) == 20
    assert {f.purpose.value for f in loaded.spec.fabrics} == {"compute", "storage"}


def test_validate_command_exits_zero(capsys) -> None:
    assert main(["validate", "--stack", "superpod"]) == 0
    assert "specs/superpod.yaml: valid" in capsys.readouterr().out
