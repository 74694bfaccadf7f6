"""Where things are: the user's project, found as the Pulumi CLI finds it, and podforge's own data files.

The project is the directory holding `Pulumi.yaml`: the one `--project-dir DIR` (or the environment variable
PODFORGE_PROJECT_DIR) names, else the nearest from the current directory up. Paths written in the project's
files are relative to the project: its stacks (`Pulumi.NAME.yaml`, in the `stackConfigDir` of Pulumi.yaml
when it sets one), the spec a stack names, the policy config `policies/config/NAME.json`, and the
known_hosts, key and state files named in a stack or spec. Paths given on the command line (`--spec FILE`,
`--json FILE`, `--config FILE`, ...) are relative to the current directory, as for any command.

podforge's own files (playbooks, templates, ansible.cfg) sit beside the `components` package in a checkout
or an editable install, and inside it (`components/_data/`) in an installed wheel; the policy packs are the
`policies` package, installed beside `components`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from components.spec.problems import MISSING, Problem, SpecError
from components.spec.yamlsource import load_yaml

PACKAGE_DIR = Path(__file__).resolve().parent
CODE_DIR = PACKAGE_DIR.parent
"""The directory holding the `components` and `policies` packages (a checkout, or site-packages)."""


def _data(name: str) -> Path:
    bundled = PACKAGE_DIR / "_data" / name
    return bundled if bundled.exists() else CODE_DIR / name


PLAYBOOKS_DIR = _data("playbooks")
TEMPLATES_DIR = _data("templates")
ANSIBLE_CFG = _data("ansible.cfg")

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
"""The project file, under either name the Pulumi CLI accepts."""
PROJECT_DIR_ENV = "PODFORGE_PROJECT_DIR"
"""Names the project directory, as `--project-dir` does (the option wins)."""

_CHOSEN: ContextVar[Path | None] = ContextVar("podforge_project_dir", default=None)


@dataclass(frozen=True)
class Project:
    """A project directory and what its Pulumi.yaml says about where things are."""

    root: Path
    name: str
    stacks_dir: Path
    """Where the stacks' settings files are: `stackConfigDir`, or the project directory."""
    program: Path
    """The Pulumi program: `__main__.py` of the project directory (or of the directory `main` names)."""

    def path(self, written: str | Path) -> Path:
        """A path written in a project file: relative ones are relative to the project directory."""
        path = Path(written)
        return path if path.is_absolute() else self.root / path

    def shown(self, path: Path) -> str:
        """`path` as error lines and reports show it: relative to the project directory when inside it."""
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        """The names of the stacks that have a settings file."""
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stacks_dir.glob("Pulumi.*.yaml"))


@contextmanager
def chosen_project(directory: str | Path | None) -> Iterator[None]:
    """Within this block the project is `directory` (relative: to the current directory); None changes nothing."""
    if directory is None:
        yield
        return
    token = _CHOSEN.set(Path(directory).absolute())
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def project_root() -> Path:
    """The project directory: the chosen one (--project-dir, PODFORGE_PROJECT_DIR), else the nearest directory
    holding Pulumi.yaml from the current directory up. Raises SpecError (one line) when there is none."""
    chosen = _CHOSEN.get()
    if chosen is None and os.environ.get(PROJECT_DIR_ENV):
        chosen = Path(os.environ[PROJECT_DIR_ENV]).absolute()
    if chosen is not None:
        if _project_file(chosen) is None:
            raise SpecError([Problem(str(chosen / PROJECT_FILES[0]), 0, "--project-dir", str(chosen),
                                     "a project directory, holding Pulumi.yaml")])
        return chosen
    start = Path.cwd()
    for directory in (start, *start.parents):
        if _project_file(directory) is not None:
            return directory
    raise SpecError([Problem(PROJECT_FILES[0], 0, "--project-dir", MISSING,
                             f"a project: no Pulumi.yaml in {start} or any directory above it; run podforge in the "
                             "project or name it with --project-dir DIR")])


def project(root: Path | None = None) -> Project:
    """The project in `root` (default: project_root()), as its Pulumi.yaml describes it."""
    root = (root or project_root()).absolute()
    file = _project_file(root)
    if file is None:
        raise SpecError([Problem(str(root / PROJECT_FILES[0]), 0, "project", str(root),
                                 "a project directory, holding Pulumi.yaml")])
    data, smap = load_yaml(file, file.name)
    data = data if isinstance(data, dict) else {}
    problems = []
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(file.name, smap.line_of(("name",)), "name", name if name is not None else MISSING,
                                "the project's name"))
    dirs = {}
    for key in ("stackConfigDir", "main"):
        value = data.get(key, ".")
        if not isinstance(value, str) or not value:
            problems.append(Problem(file.name, smap.line_of((key,)), key, value, "a path relative to Pulumi.yaml"))
        dirs[key] = root / str(value)
    if problems:
        raise SpecError(problems)
    main = dirs["main"]
    return Project(root, str(name), dirs["stackConfigDir"], main if main.suffix == ".py" else main / "__main__.py")


def _project_file(directory: Path) -> Path | None:
    return next((directory / n for n in PROJECT_FILES if (directory / n).is_file()), None)
