"""Storage: the spec's exports are mounted on this node."""


def test_exports_mounted(node) -> None:
    node.verify("storage/mounts")
