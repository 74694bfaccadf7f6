"""Where things are: the user's project, found as the Pulumi CLI finds it, and podforge's own data files.

The project is the nearest directory holding `Pulumi.yaml`, from the current directory up (or the one
`--project-dir` names). Stacks (`Pulumi.NAME.yaml`), the specs they name, policy config and known_hosts
files named in a spec are relative to it. Paths given on the command line are relative to the current
directory, as for any command.

podforge's own files (playbooks, templates, policy packs, ansible.cfg) sit beside the `components`
package in a checkout or an editable install, and inside it (`components/_data/`) in an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _data(name: str) -> Path:
    bundled = PACKAGE_DIR / "_data" / name
    return bundled if bundled.exists() else PACKAGE_DIR.parent / name


PLAYBOOKS_DIR = _data("playbooks")
TEMPLATES_DIR = _data("templates")
ANSIBLE_CFG = _data("ansible.cfg")
