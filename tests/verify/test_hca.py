"""HCAs: every port the SKU lists is ACTIVE at its rate."""


def test_hca_ports_active_at_expected_rate(node) -> None:
    node.verify("hca/ports_active")
