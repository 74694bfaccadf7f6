"""Inference check: on a node serving the local model, the engine's health endpoint answers."""

from __future__ import annotations

from components.verify.checks import Check, Outcome, bad, ok, stand_in, unneeded
from components.verify.checks.monitoring import fetch
from components.verify.expectations import NodeExpectation
from components.verify.listeners import listening_ports
from components.verify.shell import NodeShell


def inference_health(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    if expect.serving_port is None:
        return unneeded(f"{expect.hostname} serves no model (no serving section or no inference_local role)")
    if expect.lab:
        return stand_in("lab host: the serving engine cannot run without a GPU")
    port = expect.serving_port
    ports = listening_ports(shell.read("/proc/net/tcp") or "") | listening_ports(shell.read("/proc/net/tcp6") or "")
    if port not in ports:
        return bad(f"nothing listens on :{port}; the spec serves {expect.hostname}'s model there (the serving "
                   "engine is not deployed?)")
    if fetch(shell, f"http://127.0.0.1:{port}/health") is None:
        return bad(f":{port}/health does not answer")
    return ok(f"the serving engine answers on :{port}/health")


CHECKS = (
    Check("serving", "inference_health", "the local serving engine answers /health", inference_health),
)
