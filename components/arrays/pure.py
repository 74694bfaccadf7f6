"""Pure Storage FlashArray: the KMIP server object of a FlashArray, in the shape of its REST 2.x API.

FlashArray keeps the client certificate and key as a certificate object (`POST /api/2.x/certificates`) and
points a KMIP object at the key servers (`POST /api/2.x/kmip`: `uris`, `ca_certificate` as PEM text of at
most 3,000 characters, `certificate` naming the certificate object).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.arrays.base import KmipEndpoint, kmip_tls_version
from components.spec.storage import StorageArray

MAX_CA_CERTIFICATE_CHARS = 3000


def _fits_flasharray(array: str, ca_pem: str | None) -> str | None:
    if ca_pem is not None and len(ca_pem) > MAX_CA_CERTIFICATE_CHARS:
        raise ValueError(f"storage array {array}: FlashArray takes a KMIP CA certificate of at most "
                         f"{MAX_CA_CERTIFICATE_CHARS} characters; the KMIP CA chain has {len(ca_pem)}")
    return ca_pem


class FlashArrayDriver:
    vendor = "pure"

    def external_key_manager(self, array: StorageArray, kmip: KmipEndpoint) -> dict[str, Any]:
        certificate = f"{array.name}-kmip-client"
        return {
            "vendor": self.vendor,
            "endpoint": array.management,
            "certificates": [
                {"name": certificate, "certificate": pulumi.Output.secret(kmip.client_cert_pem),
                 "key": pulumi.Output.secret(kmip.client_key_pem)},
            ],
            "kmip": {
                "name": f"{array.name}-kmip",
                "uris": list(kmip.servers),
                "ca_certificate": kmip.ca_pem.apply(lambda pem: _fits_flasharray(array.name, pem)),
                "certificate": {"name": certificate},
            },
            "tls_min_version": kmip_tls_version(array, kmip),
            "tls_exception": array.encryption.tls_exception,
        }
