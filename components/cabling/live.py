"""A live fabric discovery: `ibnetdiscover` on this machine (infiniband-diags), from one of its HCAs.

Floor 2: it runs a program that talks to the fabric. The output is parsed by components.cabling.discovered.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

IBNETDISCOVER = "ibnetdiscover"
TIMEOUT_S = 300


class LiveDiscoveryError(RuntimeError):
    """ibnetdiscover is missing or failed: nothing was discovered."""


def local_hostname() -> str:
    """This machine's short hostname, the `HOST` of its HCAs' node descriptions."""
    return socket.gethostname().split(".", 1)[0]


def discover(ca: str | None = None, port: int = 1, timeout_s: float = TIMEOUT_S) -> str:
    """ibnetdiscover's output from HCA `ca` port `port` (default: the first active port, ibnetdiscover(8))."""
    if shutil.which(IBNETDISCOVER) is None:
        raise LiveDiscoveryError("ibnetdiscover not found: install infiniband-diags on this node, or run "
                                 "`ibnetdiscover > FILE` where it is installed and pass --ibnetdiscover FILE")
    command = [IBNETDISCOVER]
    if ca is not None:
        command += ["-C", ca, "-P", str(port)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LiveDiscoveryError(f"{' '.join(command)} did not finish in {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        first = next((ln for ln in done.stderr.splitlines() if ln.strip()), f"exit status {done.returncode}")
        raise LiveDiscoveryError(f"{' '.join(command)} failed: {first.strip()}")
    return done.stdout
