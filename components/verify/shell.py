"""How checks read a node: run a command, read a file, look for a tool. One adapter over testinfra's host.

Checks see only NodeShell, so unit tests drive them with captured outputs and `podforge verify` and
`pytest tests/verify` drive them with a testinfra host (local://, paramiko://).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Completed:
    rc: int
    stdout: str
    stderr: str

    @property
    def first_error_line(self) -> str:
        for line in (self.stderr + "\n" + self.stdout).splitlines():
            if line.strip():
                return line.strip()
        return f"exit status {self.rc}"


class NodeShell(Protocol):
    def run(self, command: str) -> Completed: ...

    def read(self, path: str) -> str | None:
        """The file's text, or None if it does not exist or cannot be read."""

    def has(self, tool: str) -> bool:
        """Whether the command is on the node's PATH (or in /usr/sbin, /sbin)."""

    def hostname(self) -> str: ...


class TestinfraShell:
    """NodeShell over a testinfra Host; answers are remembered, so checks sharing a command run it once."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, host: Any) -> None:
        self.host = host
        self._runs: dict[str, Completed] = {}

    def run(self, command: str) -> Completed:
        if command not in self._runs:
            result = self.host.run(command)
            self._runs[command] = Completed(result.rc, result.stdout, result.stderr)
        return self._runs[command]

    def read(self, path: str) -> str | None:
        # `cat` rather than host.file(): /proc and /sys files report size 0 and must be read to be seen.
        result = self.run(f"cat {shlex.quote(path)} 2>/dev/null")
        return result.stdout if result.rc == 0 else None

    def has(self, tool: str) -> bool:
        quoted = shlex.quote(tool)
        return self.run(f"command -v {quoted} >/dev/null 2>&1 || test -x /usr/sbin/{quoted} "
                        f"|| test -x /sbin/{quoted}").rc == 0

    def hostname(self) -> str:
        return self.run("uname -n").stdout.strip()
