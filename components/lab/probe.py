"""Is a lab host answering? An SSH banner on its management address, read over the lab bridge."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from ipaddress import IPv4Address


def sshd_answers(address: IPv4Address | str, port: int = 22, timeout: float = 1.0) -> bool:
    """True when something on address:port speaks SSH (sends an `SSH-` banner)."""
    try:
        with socket.create_connection((str(address), port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_sshd(addresses: Iterable[IPv4Address], timeout: float, interval: float = 0.1) -> dict[IPv4Address, float | None]:
    """Seconds until each address answered (from now), or None for those still silent at the deadline."""
    started = time.monotonic()
    waiting = list(addresses)
    answered: dict[IPv4Address, float | None] = dict.fromkeys(waiting)
    while waiting and time.monotonic() - started < timeout:
        for address in list(waiting):
            if sshd_answers(address, timeout=0.5):
                answered[address] = time.monotonic() - started
                waiting.remove(address)
        if waiting:
            time.sleep(interval)
    return answered
