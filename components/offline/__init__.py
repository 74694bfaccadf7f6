"""The offline path: run the Pulumi program under the SDK's mock runtime and look at what it declares.

`capture(stack)` (or `capture_stack(stack, loaded)`, with a stack and spec already loaded) returns the
declared resource graph (no Pulumi CLI, no credentials, no datacenter); `render_tree` and `diff_plans` turn it
into what `podforge plan` prints; `podforge policy check` evaluates the packs on the same graph.
"""

from components.offline.capture import capture, capture_stack
from components.offline.diff import Change, PlanDiff, diff_plans
from components.offline.graph import SECRET, UNKNOWN, Graph, Resource
from components.offline.render import render_tree

__all__ = ["SECRET", "UNKNOWN", "Change", "Graph", "PlanDiff", "Resource", "capture", "capture_stack", "diff_plans",
           "render_tree"]
