"""Node checks under pytest + testinfra: `pytest tests/verify --hosts=local:// --podforge-stack h200`.

The stack comes from --podforge-stack (or PODFORGE_STACK), the node from --podforge-node (or
PODFORGE_NODE), else from the host's name or address, else the only node of a one-node spec.
Each test runs one check of components/verify/checks: passed passes, failed fails (what the spec declares for
the node and the node lacks), and a simulated result (a lab stand-in) or a not-present one (not declared for
the node) is skipped with a reason starting "simulated:" or "not present:".
Over paramiko:// the host key is pinned from the spec; an unknown key is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.verify.checks import check_named, run_check
from components.verify.expectations import NodeExpectation
from components.verify.results import Status
from components.verify.runner import match_node, pinned_ssh_client
from components.verify.shell import TestinfraShell


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("podforge", "podforge node verification")
    group.addoption("--podforge-stack", default=os.environ.get("PODFORGE_STACK"),
                    help="stack whose spec the nodes are checked against (env PODFORGE_STACK)")
    group.addoption("--podforge-node", default=os.environ.get("PODFORGE_NODE"),
                    help="node of the spec the host is checked as (env PODFORGE_NODE; default: by hostname)")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--podforge-stack", default=None):
        raise pytest.UsageError("tests/verify checks nodes against a stack's spec: pass --podforge-stack NAME "
                                "or set PODFORGE_STACK (e.g. --podforge-stack h200)")


@pytest.fixture(scope="session")
def podforge_spec(pytestconfig: pytest.Config) -> tuple[str, ClusterSpec]:
    stack = pytestconfig.getoption("--podforge-stack")
    return stack, load_stack_spec(stack)[1].spec


@dataclass
class NodeUnderTest:
    shell: TestinfraShell
    expect: NodeExpectation

    def verify(self, key: str) -> None:
        result = run_check(check_named(key), self.shell, self.expect)
        if result.status is Status.failed:
            pytest.fail(f"{result.name}: {result.detail}", pytrace=False)
        if result.status is not Status.passed:
            pytest.skip(result.reason)


@pytest.fixture(scope="module")
def node(host, podforge_spec: tuple[str, ClusterSpec], pytestconfig: pytest.Config) -> NodeUnderTest:
    stack, spec = podforge_spec
    backend = host.backend
    local = backend.NAME == "local"
    hostspec = "local://" if local else backend.get_pytest_id()
    hostname = host.run("uname -n").stdout.strip() if local else None
    target = match_node(spec, hostspec, hostname, pytestconfig.getoption("--podforge-node"))
    if backend.NAME == "paramiko" and "client" not in backend.__dict__:
        backend.__dict__["client"] = pinned_ssh_client(backend, target.view)
    return NodeUnderTest(TestinfraShell(host), NodeExpectation.of(stack, spec, target.view))
