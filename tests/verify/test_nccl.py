"""NCCL: /etc/nccl.conf names the compute HCAs in rail order."""


def test_nccl_conf_names_compute_hcas(node) -> None:
    node.verify("nccl/nccl_conf")
