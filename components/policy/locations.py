"""Where in the spec a finding comes from: resource → spec field path → FILE:LINE (for SARIF and the report).

Components are named from spec names (hostnames, array, fabric, key and scope names), so each resource maps
back to the spec entry that declared it; site-wide resources (governance, versions, serving) and stack-level
findings point at the field the rule is about (the rule's `spec_field`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.policy.evaluate import Finding
from components.spec import LoadedSpec

_SECTION = {
    "podforge:site:Governance": ("access",),
    "podforge:hw:SoftwareSet": ("software",),
    "podforge:serving:ModelServing": ("serving",),
    "podforge:cluster:GpuCluster": ("site",),
    "podforge:keys:VaultKmip": ("keys", "vault"),
    "vault:kmip/secretBackend:SecretBackend": ("keys", "vault", "kmip"),
    "vault:pkiSecret/secretBackendRole:SecretBackendRole": ("keys", "vault", "pki", "cert_ttl"),
    "vault:index/policy:Policy": ("access", "roles"),
    "vault:index/audit:Audit": ("keys", "vault", "audit_log_path"),
}


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    path: tuple[str | int, ...]

    @property
    def field(self) -> str:
        return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path).replace(".[", "[")


class SpecLocator:
    """Maps findings of one stack to the spec file and line behind them."""

    def __init__(self, loaded: LoadedSpec, inputs: dict[str, dict[str, Any]]) -> None:
        self.loaded = loaded
        self.inputs = inputs
        """URN → the resource's captured inputs (to find the transit key or KMIP scope it declares)."""
        spec = loaded.spec
        self._nodes = {n.hostname: i for i, n in enumerate(spec.nodes)}
        self._arrays = {a.name: i for i, a in enumerate(spec.storage.arrays)}
        self._fabrics = {f.name: i for i, f in enumerate(spec.fabrics)}
        self._transit = {k.name: i for i, k in enumerate(spec.keys.vault.transit.keys)}
        self._scopes = {s.scope: i for i, s in enumerate(spec.keys.vault.kmip.scopes)}

    def path_of(self, finding: Finding, spec_field: tuple[str | int, ...] = ()) -> tuple[str | int, ...]:
        rtype, name, inputs = finding.resource_type, finding.resource_name, self.inputs.get(finding.urn or "", {})
        if rtype == "podforge:hw:DgxNode" and name in self._nodes:
            return ("nodes", self._nodes[name])
        if rtype == "podforge:storage:FlashStorageArray" and name in self._arrays:
            return ("storage", "arrays", self._arrays[name])
        if rtype == "podforge:fabric:InfiniBandFabric" and name in self._fabrics:
            return ("fabrics", self._fabrics[name])
        if rtype == "vault:transit/secretBackendKey:SecretBackendKey" and inputs.get("name") in self._transit:
            return ("keys", "vault", "transit", "keys", self._transit[inputs["name"]])
        if rtype in ("vault:kmip/secretScope:SecretScope", "vault:kmip/secretRole:SecretRole") \
                and inputs.get("scope") in self._scopes:
            return ("keys", "vault", "kmip", "scopes", self._scopes[inputs["scope"]])
        if spec_field and (rtype is None or rtype.startswith("podforge:site") or rtype in (
                "podforge:hw:SoftwareSet", "podforge:serving:ModelServing", "podforge:cluster:GpuCluster")):
            return spec_field
        return _SECTION.get(rtype or "", spec_field or ())

    def locate(self, finding: Finding, spec_field: tuple[str | int, ...] = ()) -> Location:
        path = self.path_of(finding, spec_field)
        return Location(self.loaded.file, self.loaded.line_of(*path), path)
