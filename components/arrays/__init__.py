"""Storage array drivers: one vendor interface (ArrayDriver), one file per vendor.

The vendor support matrix (which array serves which protocol over which transport, with the vendor document per
row) is `SUPPORT`, defined in components/spec/storage.py because validation (floor 0) reads it; it is re-exported
here for the drivers."""

from __future__ import annotations

from components.arrays.base import ArrayDriver, KmipEndpoint, kmip_tls_version
from components.arrays.netapp import OntapDriver
from components.arrays.pure import FlashArrayDriver
from components.spec.storage import SUPPORT, ArrayVendor, StorageArray, Support, supported

DRIVERS: dict[ArrayVendor, ArrayDriver] = {ArrayVendor.netapp: OntapDriver(), ArrayVendor.pure: FlashArrayDriver()}


def driver_for(array: StorageArray) -> ArrayDriver:
    """The vendor driver of `array`; a vendor without one is refused with the array's name."""
    driver = DRIVERS.get(array.vendor)
    if driver is None:
        supported = ", ".join(sorted(v.value for v in DRIVERS))
        raise ValueError(f"storage array {array.name}: no external key manager driver for vendor "
                         f"{array.vendor.value} (supported: {supported})")
    return driver


__all__ = ["DRIVERS", "SUPPORT", "ArrayDriver", "FlashArrayDriver", "KmipEndpoint", "OntapDriver", "Support",
           "driver_for", "kmip_tls_version", "supported"]
