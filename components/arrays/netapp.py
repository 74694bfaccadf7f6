"""NetApp ONTAP: the external key manager of an ONTAP cluster, in the shape of ONTAP's REST API.

ONTAP installs the client certificate and the KMIP server's CA as certificate objects
(`POST /api/security/certificates`, types `client` and `server_ca`), then enables the external key manager
by naming them (`POST /api/security/key-managers`, `external.servers` up to four `HOST:PORT`).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.arrays.base import KmipEndpoint, kmip_tls_version
from components.spec.storage import StorageArray

MAX_KEY_SERVERS = 4
"""ONTAP accepts up to four external key servers per key manager."""


class OntapDriver:
    vendor = "netapp"

    def external_key_manager(self, array: StorageArray, kmip: KmipEndpoint) -> dict[str, Any]:
        if len(kmip.servers) > MAX_KEY_SERVERS:
            raise ValueError(f"storage array {array.name}: ONTAP takes at most {MAX_KEY_SERVERS} KMIP servers, "
                             f"keys.vault.kmip names {len(kmip.servers)}")
        client_cert, server_ca = f"{array.name}-kmip-client", f"{array.name}-kmip-server-ca"
        return {
            "vendor": self.vendor,
            "endpoint": array.management,
            "certificates": [
                {"name": client_cert, "type": "client", "public_certificate": pulumi.Output.secret(kmip.client_cert_pem),
                 "private_key": pulumi.Output.secret(kmip.client_key_pem)},
                {"name": server_ca, "type": "server_ca", "public_certificate": kmip.ca_pem},
            ],
            "key_manager": {
                "external": {
                    "servers": [{"server": server} for server in kmip.servers],
                    "client_certificate": {"name": client_cert},
                    "server_ca_certificates": [{"name": server_ca}],
                },
            },
            "tls_min_version": kmip_tls_version(array, kmip),
            "tls_exception": array.encryption.tls_exception,
        }
