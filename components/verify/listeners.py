"""Parser of /proc/net/tcp and /proc/net/tcp6: which TCP ports a node listens on (no ss or netstat needed)."""

from __future__ import annotations

_LISTEN = "0A"


def listening_ports(text: str) -> set[int]:
    """Local ports of sockets in state LISTEN."""
    ports: set[int] = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
