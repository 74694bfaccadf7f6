"""podforge's wheel, built from a copy of the checkout's build inputs (the checkout itself is left untouched)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "ansible.cfg", "components", "policies", "playbooks",
                "templates")
"""What `pip wheel .` reads: the project metadata, the packages and podforge's data files."""
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc")


def build_wheel(workdir: Path) -> Path:
    """Build the wheel in `workdir` (as `pip wheel --no-deps --no-build-isolation .` builds it) and return it."""
    source = workdir / "source"
    source.mkdir(parents=True)
    for name in BUILD_INPUTS:
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, source / name, ignore=_JUNK)
        else:
            shutil.copy2(CHECKOUT / name, source / name)
    dist = workdir / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(dist), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("podforge-*.whl")
    return wheel
