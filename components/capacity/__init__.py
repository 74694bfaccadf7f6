"""The capacity planner: which tensor × pipeline layouts of a catalogue model at a precision fit a SKU's GPUs
(planner.py, with the model catalogue models.yaml), the README table (table.py), and the spec rule that runs
it on the `serving` section (check.py, registered on import)."""

from components.capacity import check as _check  # noqa: F401  (registers the serving-capacity rule)
from components.capacity.catalogue import PRECISIONS, catalogue
from components.capacity.planner import DEFAULT_MAX_NODES, CapacityInputError, Layout, Plan, plan, request

__all__ = ["DEFAULT_MAX_NODES", "PRECISIONS", "CapacityInputError", "Layout", "Plan", "catalogue", "plan", "request"]
