"""GPU: driver at the pinned version, GPUs equal to the SKU, persistence, ECC, NVLink, fabric manager."""


def test_driver_loaded_at_pinned_version(node) -> None:
    node.verify("gpu/driver_loaded")


def test_gpu_count_and_model_equal_the_sku(node) -> None:
    node.verify("gpu/inventory")


def test_persistence_mode_on(node) -> None:
    node.verify("gpu/persistence_mode")


def test_ecc_on(node) -> None:
    node.verify("gpu/ecc")


def test_nvlinks_active(node) -> None:
    node.verify("gpu/nvlink")


def test_fabric_manager_at_driver_version(node) -> None:
    node.verify("gpu/fabric_manager")
