"""Parser of /proc/driver/nvidia/version: which NVIDIA kernel module is loaded, and its build."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NVRM_RE = re.compile(r"NVRM version:\s*NVIDIA UNIX (?P<desc>.*?)\s+(?P<version>\d+\.\d+(?:\.\d+)?)\s")
_ARCH_RE = re.compile(r"\b(x86_64|aarch64|ppc64le)\b")
_GCC_RE = re.compile(r"^GCC version:\s*(?:gcc version\s+)?(?P<gcc>\S+)", re.MULTILINE)


@dataclass(frozen=True)
class KernelModule:
    version: str  # e.g. 580.159.04
    flavour: str  # "open" (open GPU kernel modules) or "proprietary"
    arch: str | None
    gcc_version: str | None

    @property
    def branch(self) -> str:
        """The driver branch: the version's first component (580.159.04 → 580)."""
        return self.version.split(".", 1)[0]


def parse_driver_version(text: str) -> KernelModule | None:
    """The loaded kernel module's version and build, or None if the text names no NVRM version."""
    match = _NVRM_RE.search(text + " ")
    if match is None:
        return None
    desc = match.group("desc")
    arch = _ARCH_RE.search(desc)
    gcc = _GCC_RE.search(text)
    return KernelModule(version=match.group("version"),
                        flavour="open" if "Open Kernel Module" in desc else "proprietary",
                        arch=arch.group(1) if arch else None,
                        gcc_version=gcc.group("gcc") if gcc else None)
