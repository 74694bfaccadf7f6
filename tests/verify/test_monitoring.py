"""Monitoring: DCGM host engine, dcgm-exporter on 9400, node-exporter on 9100."""


def test_dcgm_host_engine_sees_gpus(node) -> None:
    node.verify("monitoring/dcgm_host_engine")


def test_dcgm_exporter_answers(node) -> None:
    node.verify("monitoring/dcgm_exporter")


def test_node_exporter_answers(node) -> None:
    node.verify("monitoring/node_exporter")
