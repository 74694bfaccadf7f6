"""Parser of `nvidia-smi topo -m`: links between GPUs and NICs, and their CPU/NUMA affinity.

nvidia-smi underlines the header with ANSI escapes even when not writing to a terminal; they are stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NIC_LEGEND_RE = re.compile(r"^\s*(NIC\d+):\s*(\S+)\s*$")
_AFFINITY_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


@dataclass(frozen=True)
class Topology:
    devices: tuple[str, ...]                                            # GPU0…, NIC0… in column order
    links: dict[tuple[str, str], str] = field(default_factory=dict)     # (row, column) → X, NV12, PXB, SYS …
    affinity: dict[str, dict[str, str]] = field(default_factory=dict)   # device → {CPU Affinity: 0-15, …}
    nic_names: dict[str, str] = field(default_factory=dict)             # NIC0 → mlx5_0 (NIC Legend)

    @property
    def gpus(self) -> tuple[str, ...]:
        return tuple(d for d in self.devices if d.startswith("GPU"))

    def link(self, a: str, b: str) -> str | None:
        return self.links.get((a, b))


def parse_topology(text: str) -> Topology:
    """Parse the matrix and its NIC legend; empty text gives an empty Topology."""
    lines = strip_ansi(text).splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.startswith("\t") and "GPU" in line), None)
    nic_names = {m.group(1): m.group(2) for line in lines if (m := _NIC_LEGEND_RE.match(line))}
    if header_at is None:
        return Topology((), nic_names=nic_names)
    columns = [c.strip() for c in lines[header_at].split("\t")[1:]]
    devices = tuple(c for c in columns if c and c not in _AFFINITY_COLUMNS)
    extra = [c for c in columns if c in _AFFINITY_COLUMNS]
    links: dict[tuple[str, str], str] = {}
    affinity: dict[str, dict[str, str]] = {}
    for line in lines[header_at + 1:]:
        if not line.strip() or line.startswith("Legend"):
            break
        cells = line.split("\t")
        row, values = cells[0].strip(), cells[1:]
        for device, value in zip(devices, values, strict=False):
            links[row, device] = value.strip()
        # nvidia-smi leaves an empty cell before GPU NUMA ID: take the non-empty cells in order.
        rest = [v.strip() for v in values[len(devices):] if v.strip()]
        if rest:
            affinity[row] = dict(zip(extra, rest, strict=False))
    return Topology(devices, links, affinity, nic_names)
