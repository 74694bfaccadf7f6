"""HCA cabling: each InfiniBand HCA the spec cables is ACTIVE and reaches its leaf port (the node's ibnetdiscover)."""


def test_hca_cabling_reaches_the_spec_leaf_ports(node) -> None:
    node.verify("hca/cabling")
