"""podforge commands as server processes for the tests and benchmarks: start one, wait for its /health, stop it.

Each runs `python -m components.cli ARGS` from the checkout in its own session (a kill takes its children too),
its output in `log`.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.unit.plan_roots import CHECKOUT


def start_cli(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "components.cli", *args], cwd=CHECKOUT, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, *, timeout: float = 30.0,
                 verify: ssl.SSLContext | bool = True) -> None:
    """Until `url`/health answers 200; RuntimeError with the log's tail when the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s: {log.read_text()[-2000:]}")
