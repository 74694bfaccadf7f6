"""Capture a stack for the policy check: the project's program under the mock runtime, plus the site-wide facts.

The rules read the site's governance facts, versions set and serving intent from their own components
(components/governance.py, software.py, serving.py). Until GpuCluster declares them as children, this
capture adds them under the cluster after the program ran, so the check sees the same graph either way.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi

from components.governance import Governance
from components.offline.capture import PROGRAM, run_program
from components.offline.graph import SECRET, Graph
from components.serving import ModelServing
from components.software import SoftwareSet
from components.spec import ClusterSpec, load_stack
from components.spec.loader import PROJECT_ROOT


def add_site_facts(cluster: Any, spec: ClusterSpec) -> None:
    """Declare Governance, SoftwareSet and (when served) ModelServing under `cluster`, unless it already has them."""
    opts = pulumi.ResourceOptions(parent=cluster)
    site = spec.site.name
    if getattr(cluster, "governance", None) is None:
        Governance(f"{site}-governance", spec, opts)
    if getattr(cluster, "software", None) is None:
        SoftwareSet(f"{site}-software", spec, opts)
    if spec.serving is not None and getattr(cluster, "serving", None) is None:
        ModelServing(f"{site}-serving", spec, opts)


def capture_for_policy(stack_name: str, root: Path = PROJECT_ROOT) -> Graph:
    """As components.offline.capture, with the site-wide facts present. Raises SpecError on invalid input."""
    stack = load_stack(stack_name, root)
    config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in stack.config.items()}
    for key in stack.secret_keys:
        config[key] = SECRET
    if root != PROJECT_ROOT:
        config["podforge:spec"] = str((root / stack.spec_path).resolve())

    def program() -> None:
        namespace = runpy.run_path(str(PROGRAM), run_name="__main__")
        if "cluster" in namespace and "spec" in namespace:
            add_site_facts(namespace["cluster"], namespace["spec"])

    return run_program(stack_name, config, set(stack.secret_keys), program)
