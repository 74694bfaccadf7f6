"""Parsers of the kernel's RDMA port files (/sys/class/infiniband/DEV/ports/N/{state,rate}).

Read from sysfs rather than ibstat, so a node without the InfiniBand tools is still checked.
"""

from __future__ import annotations

import re


def parse_port_state(text: str) -> str | None:
    """`4: ACTIVE` → `ACTIVE`; `1: DOWN` → `DOWN`."""
    match = re.match(r"\s*\d+:\s*(\S+)", text)
    return match.group(1) if match else None


def parse_port_rate(text: str) -> float | None:
    """`200 Gb/sec (4X HDR)` → 200.0; `2.5 Gb/sec (1X SDR)` → 2.5."""
    match = re.match(r"\s*([\d.]+)\s*Gb/sec", text)
    return float(match.group(1)) if match else None
