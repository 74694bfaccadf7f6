"""FlashStorageArray: one all-flash array of the spec, its exports, who mounts them, and its encryption.

Arrays have no provider package: the component declares the array's desired state. When the cluster's key
manager is known (VaultKmip hands a KmipEndpoint), that state includes the KMIP endpoint, the array's
scope and role, and the vendor driver's external-key-manager settings (components/arrays/); credentials
stay secret Outputs end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.arrays import KmipEndpoint, driver_for, kmip_tls_version
from components.desired import known
from components.spec import ClusterSpec
from components.spec.storage import Mount, StorageArray

TYPE = "podforge:storage:FlashStorageArray"


@dataclass(frozen=True)
class FlashStorageArrayArgs:
    array: StorageArray
    mounts: tuple[Mount, ...] = ()
    """The spec's mounts of this array's exports."""
    kmip_scope: str | None = None
    kmip_role: str | None = None
    kmip: KmipEndpoint | None = field(default=None, repr=False)
    """Where the array's KMIP client connects and with which credentials (None until a key manager exists)."""

    @classmethod
    def from_spec(cls, spec: ClusterSpec, array: StorageArray, kmip: KmipEndpoint | None = None) -> FlashStorageArrayArgs:
        scope = next((s for s in spec.keys.vault.kmip.scopes if s.array == array.name), None)
        mounts = tuple(m for m in spec.storage.mounts if m.export.split("/", 1)[0] == array.name)
        return cls(array, mounts, scope.scope if scope else None, scope.role if scope else None, kmip)

    def desired_state(self) -> dict[str, Any]:
        a = self.array
        encryption: dict[str, Any] = {"externalKmip": a.encryption.external_kmip,
                                      "tlsMinVersion": a.encryption.tls_min_version}
        if a.encryption.tls_exception:
            encryption["tlsException"] = a.encryption.tls_exception
        if self.kmip_scope is not None:
            encryption["kmipScope"] = self.kmip_scope
            encryption["kmipRole"] = self.kmip_role
        state: dict[str, Any] = {
            "name": a.name, "vendor": a.vendor.value, "model": a.model, "management": a.management,
            "dataAddresses": list(a.data_addresses), "ratedIops": a.rated_iops, "encryption": encryption,
            "exports": [{"name": e.name, "path": e.path, "protocol": e.protocol.value, "purpose": e.purpose,
                         "sizeTib": e.size_tib, "tags": list(e.tags)} for e in a.exports],
            "mounts": [{"export": m.export.split("/", 1)[1], "mountPoint": m.mount_point, "options": list(m.options)}
                       | ({"role": m.role.value} if m.role else {"hosts": list(m.hosts)}) for m in self.mounts],
        }
        if self.kmip is not None and a.encryption.external_kmip:
            k = self.kmip
            state["kmip"] = {"servers": list(k.servers), "scope": k.scope, "role": k.role,
                             "tlsMinVersion": kmip_tls_version(a, k), "caPem": k.ca_pem,
                             "clientCertPem": k.client_cert_pem, "clientKeyPem": pulumi.Output.secret(k.client_key_pem)}
            state["externalKeyManager"] = driver_for(a).external_key_manager(a, k)
        return state


class FlashStorageArray(pulumi.ComponentResource):
    """An array; its name is the spec's array name."""

    kmip_scope: pulumi.Output[str | None]
    kmip_role: pulumi.Output[str | None]
    exports: pulumi.Output[list]

    def __init__(self, name: str, args: FlashStorageArrayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        state = args.desired_state()
        super().__init__(TYPE, name, state, opts)
        self.args = args
        self.kmip_scope = known(args.kmip_scope)
        self.kmip_role = known(args.kmip_role)
        self.exports = known(state["exports"])
        self.register_outputs({"kmipScope": self.kmip_scope, "kmipRole": self.kmip_role, "exports": self.exports})
