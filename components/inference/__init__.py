"""The inference stack on Kubernetes: the `-serving` layer of a site (docs/inference.md)."""

from components.inference.stack import InferenceStack, InferenceStackArgs

__all__ = ["InferenceStack", "InferenceStackArgs"]
