"""Serving: the local inference engine answers its health check."""


def test_inference_engine_healthy(node) -> None:
    node.verify("serving/inference_health")
