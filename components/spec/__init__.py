"""The typed cluster spec: models, catalogue, loader with exact error lines."""

from components.spec.cluster import ClusterSpec
from components.spec.loader import LoadedSpec, Stack, load_spec, load_stack, load_stack_spec
from components.spec.problems import Problem, SpecError

__all__ = ["ClusterSpec", "LoadedSpec", "Problem", "SpecError", "Stack", "load_spec", "load_stack",
           "load_stack_spec"]
