"""Temporary projects for plan tests: podforge's Pulumi.yaml and program, a copy of an example stack and its spec,
edited by the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parents[2]
"""podforge's own checkout: the example stacks and specs, the project file and the three-line program."""


def project_dir(tmp: Path) -> Path:
    """Make `tmp` a project: a copy of the checkout's Pulumi.yaml and __main__.py."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(CHECKOUT / name, tmp / name)
    return tmp


def stack_root(tmp: Path, stack: str, *, spec_text: str | None = None, extra_config: dict | None = None) -> Path:
    """`tmp` as a project holding Pulumi.STACK.yaml and the spec it names (optionally replaced by `spec_text`)."""
    project_dir(tmp)
    settings = yaml.safe_load((CHECKOUT / f"Pulumi.{stack}.yaml").read_text())
    settings["config"].update(extra_config or {})
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(settings))
    spec_path = tmp / settings["config"]["podforge:spec"]
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    if spec_text is None:
        shutil.copy(CHECKOUT / settings["config"]["podforge:spec"], spec_path)
    else:
        spec_path.write_text(spec_text)
    return tmp


def example_spec(stack: str) -> str:
    settings = yaml.safe_load((CHECKOUT / f"Pulumi.{stack}.yaml").read_text())
    return (CHECKOUT / settings["config"]["podforge:spec"]).read_text()
