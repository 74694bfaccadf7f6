"""Parser of /proc/mounts and /etc/fstab lines."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MountEntry:
    source: str
    mount_point: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)  # \040 is a space


def parse_mounts(text: str) -> list[MountEntry]:
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 3:
            continue
        options = tuple(fields[3].split(",")) if len(fields) > 3 else ()
        entries.append(MountEntry(_unescape(fields[0]), _unescape(fields[1]), fields[2], options))
    return entries
