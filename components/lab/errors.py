"""The lab's one error type and its command runner: a failing command becomes one line a person can act on."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class LabError(Exception):
    """Something the lab could not do; the message is one line naming the step and the cause."""


def sh(argv: Sequence[str], *, step: str, check: bool = True, timeout: float | None = 600,
       input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one command; on failure raise LabError with the step and the command's last error line."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, env=env)
    except FileNotFoundError:
        raise LabError(f"{step}: {argv[0]} not found (make setup installs the lab's Debian packages)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{step}: {argv[0]} did not finish within {timeout:.0f} s") from None
    if check and done.returncode != 0:
        raise LabError(f"{step}: {argv[0]} exited {done.returncode}: {last_line(done.stderr or done.stdout)}")
    return done


def last_line(text: str) -> str:
    """The last non-empty line of a command's output: usually the one that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
