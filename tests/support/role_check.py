"""One role applied by ansible-playbook in --check mode on this machine (local connection): nothing is installed
or written; the json callback's result comes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run_role(tmp: Path, role: str, variables: dict[str, Any], diff: bool = False) -> dict[str, Any]:
    """ansible-playbook --check on localhost applying `role` with `variables` as extra vars; `diff`: with
    --diff, so each task's result carries the text it would write."""
    play = [{"name": f"{role} under test", "hosts": "localhost", "connection": "local", "gather_facts": True,
             "gather_subset": ["!all", "min", "virtual"], "roles": [{"role": role}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    (tmp / "vars.json").write_text(json.dumps(variables))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    done = subprocess.run([str(BIN / "ansible-playbook"), "--check", *(["--diff"] if diff else []), "-i",
                           "localhost,", "-e", f"@{tmp / 'vars.json'}", str(tmp / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=180, check=False)
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return json.loads(done.stdout[start:])
