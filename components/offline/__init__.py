"""The offline path: run the Pulumi program under the SDK's mock runtime and look at what it declares.

`capture(stack)` returns the declared resource graph (no Pulumi CLI, no credentials, no datacenter);
`render_tree`, `plan_json` and `diff_plans` turn it into what `podforge plan` prints; the policy check and
the Vault conformance tests consume the same graph.
"""

from components.offline.capture import capture
from components.offline.diff import Change, PlanDiff, diff_plans
from components.offline.graph import SECRET, UNKNOWN, Graph, Resource
from components.offline.render import render_tree

__all__ = ["SECRET", "UNKNOWN", "Change", "Graph", "PlanDiff", "Resource", "capture", "diff_plans", "render_tree"]
