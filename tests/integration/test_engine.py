"""The Pulumi engine `make setup` builds from Go modules (tools/pulumi) and links into the venv.

It runs a program through the real engine, the way the Automation API does (an inline program served by this
process, so no Python language host is needed): preview, up, a second up that changes nothing, and the state
holding a secret only encrypted. State, PULUMI_HOME and the passphrase live in the test's directory; nothing is
downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from tests.unit.plan_roots import CHECKOUT

VENV_BIN = Path(sys.executable).parent
ENGINE = VENV_BIN / "pulumi"
PLANTED = "planted-" + "value-7f3c"  # split, so the literal never sits whole in a file the test searches

pytestmark = pytest.mark.skipif(not ENGINE.exists(), reason="no engine in the venv (make setup ENGINE=skip)")


class _Echo(ResourceProvider):
    def create(self, props):
        return CreateResult(f"echo-{props['name']}", dict(props))


class _EchoResource(Resource):
    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_Echo(), name, props, opts)


class _Site(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("podforgetest:site:Site", name, {"nodes": 1}, None)
        _EchoResource(f"{name}-node", {"name": "node", "token": pulumi.Output.secret(PLANTED)},
                      pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def _program() -> None:
    _Site("lab")
    pulumi.export("site", "lab")


def _stack(tmp: Path) -> auto.Stack:
    (tmp / "state").mkdir()
    env = {"PULUMI_CONFIG_PASSPHRASE": "test-passphrase", "PULUMI_SKIP_UPDATE_CHECK": "true",
           "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
           # The dynamic provider's plugin (pulumi-resource-pulumi-python) and the Python it starts: the venv's.
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    options = auto.LocalWorkspaceOptions(
        pulumi_command=auto.PulumiCommand(root=str(ENGINE.resolve().parent.parent)), pulumi_home=str(tmp / "home"),
        env_vars=env, work_dir=str(tmp), project_settings=auto.ProjectSettings(name="enginetest", runtime="python"))
    return auto.create_or_select_stack(stack_name="lab", project_name="enginetest", program=_program, opts=options)


def test_the_engine_is_the_version_the_wrapper_module_pins() -> None:
    pinned = re.search(r"github.com/pulumi/pulumi/pkg/v3 (v\S+)", (CHECKOUT / "tools/pulumi/go.mod").read_text())
    assert pinned is not None
    shown = subprocess.run([str(ENGINE), "version"], capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip() == pinned.group(1)
    for script in ("pulumi-resource-pulumi-python", "pulumi-language-python-exec"):
        assert os.access(VENV_BIN / script, os.X_OK), script


def test_preview_up_and_a_second_up_that_changes_nothing(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    preview = stack.preview()
    assert preview.change_summary == {"create": 3}  # the stack, the component, its dynamic child
    first = stack.up()
    assert first.summary.result == "succeeded"
    assert first.summary.resource_changes == {"create": 3}
    assert first.outputs["site"].value == "lab"
    again = stack.up()
    assert again.summary.resource_changes == {"same": 3}
    # `pulumi stack export` as an operator runs it (the Automation API's export_stack adds --show-secrets).
    exported = subprocess.run([str(ENGINE), "stack", "export", "--stack", "lab"], capture_output=True, text=True,
                              timeout=120, check=True, cwd=tmp_path, env={**os.environ, **stack.workspace.env_vars,
                                                                          "PULUMI_HOME": str(tmp_path / "home")})
    assert '"type": "podforgetest:site:Site"' in exported.stdout
    assert '"ciphertext"' in exported.stdout
    assert PLANTED not in exported.stdout
    state = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert state
    assert all(PLANTED not in p.read_text(errors="replace") for p in state)
