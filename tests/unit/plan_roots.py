"""Temporary project roots for plan tests: a copy of an example stack and its spec, edited by the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from components.spec.loader import PROJECT_ROOT


def stack_root(tmp: Path, stack: str, *, spec_text: str | None = None, extra_config: dict | None = None) -> Path:
    """`tmp` holding Pulumi.STACK.yaml and the spec it names (optionally replaced by `spec_text`)."""
    settings = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    settings["config"].update(extra_config or {})
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(settings))
    spec_path = tmp / settings["config"]["podforge:spec"]
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    if spec_text is None:
        shutil.copy(PROJECT_ROOT / settings["config"]["podforge:spec"], spec_path)
    else:
        spec_path.write_text(spec_text)
    return tmp


def example_spec(stack: str) -> str:
    settings = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    return (PROJECT_ROOT / settings["config"]["podforge:spec"]).read_text()
