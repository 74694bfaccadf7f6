"""Firmware: GPU VBIOS and HCA firmware as the spec's versions set declares them for the SKU (not required where
it declares none)."""


def test_gpu_vbios_as_declared(node) -> None:
    node.verify("gpu/vbios")


def test_hca_firmware_as_declared(node) -> None:
    node.verify("hca/firmware")
