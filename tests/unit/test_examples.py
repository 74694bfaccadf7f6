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


def test_the_superpod_example_is_what_its_generator_writes() -> None:
    """specs/superpod.yaml is regenerated from scripts/generate_superpod.py: an edit made to one only is caught."""
    import subprocess
    import sys
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[2]
    written = subprocess.run([sys.executable, str(checkout / "scripts" / "generate_superpod.py")], capture_output=True,
                             text=True, check=True, timeout=60).stdout
    assert written == (checkout / "specs" / "superpod.yaml").read_text()
