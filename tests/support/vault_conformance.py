"""Apply the transit, PKI and policy resources VaultKmip declared, and the Kubernetes auth method the serving stack
declares for cert-manager, to a real Vault-API server.

The inputs are the declared ones (captured under the mock runtime), translated from the provider's
camelCased inputs to Vault's HTTP API. KMIP resources need Vault Enterprise and the audit device is declared
in the server's config file, so both are reported as skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.vault.client import VaultSession
from tests.support.vault_declared import DeclaredResource

MOUNT = "vault:index/mount:Mount"
TRANSIT_KEY = "vault:transit/secretBackendKey:SecretBackendKey"
PKI_ROOT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
PKI_CSR = "vault:pkiSecret/secretBackendIntermediateCertRequest:SecretBackendIntermediateCertRequest"
PKI_SIGN = "vault:pkiSecret/secretBackendRootSignIntermediate:SecretBackendRootSignIntermediate"
PKI_SET_SIGNED = "vault:pkiSecret/secretBackendIntermediateSetSigned:SecretBackendIntermediateSetSigned"
PKI_ROLE = "vault:pkiSecret/secretBackendRole:SecretBackendRole"
POLICY = "vault:index/policy:Policy"
AUDIT = "vault:index/audit:Audit"
AUTH_BACKEND = "vault:index/authBackend:AuthBackend"
KUBERNETES_CONFIG = "vault:kubernetes/authBackendConfig:AuthBackendConfig"
KUBERNETES_ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"

# The order Vault needs them in: mounts first, the intermediate CA signed before its role issues.
ORDER = [MOUNT, TRANSIT_KEY, PKI_ROOT, PKI_CSR, PKI_SIGN, PKI_SET_SIGNED, PKI_ROLE, POLICY, AUTH_BACKEND,
         KUBERNETES_CONFIG, KUBERNETES_ROLE]
SKIPPED = {
    "vault:kmip/": "KMIP is a Vault Enterprise engine (OpenBao has none): checked under mocks, protocol against PyKMIP",
    "vault:generic/endpoint:Endpoint": "KMIP credential generation is Vault Enterprise: checked under mocks",
    AUDIT: "audit devices are declared in the server's config file (OpenBao refuses them over the API)",
}


@dataclass
class Applied:
    applied: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    root_ca_pem: str | None = None
    intermediate_ca_pem: str | None = None


def _pick(inputs: dict[str, Any], **names: str) -> dict[str, Any]:
    """API field ← declared camelCase input, only those declared."""
    return {api: inputs[declared] for api, declared in names.items() if inputs.get(declared) is not None}


def _seconds(value: Any) -> str:
    return f"{int(value)}s"


def apply_declared(session: VaultSession, resources: list[DeclaredResource]) -> Applied:
    result = Applied()
    csr: str | None = None
    signed: str | None = None
    for resource in resources:
        reason = next((why for prefix, why in SKIPPED.items() if resource.type.startswith(prefix)), None)
        if reason is not None:
            result.skipped.append((resource.name, reason))
    ordered = sorted((r for r in resources if r.type in ORDER), key=lambda r: ORDER.index(r.type))
    for resource in ordered:
        i = resource.inputs
        if resource.type == MOUNT:
            config = {"max_lease_ttl": _seconds(i["maxLeaseTtlSeconds"])} if i.get("maxLeaseTtlSeconds") else {}
            session.call("POST", f"sys/mounts/{i['path']}", "create",
                         {"type": i["type"], "description": i.get("description", ""),
                          "options": i.get("options") or {}, "config": config})
        elif resource.type == TRANSIT_KEY:
            path = f"{i['backend']}/keys/{i['name']}"
            session.call("POST", path, "create", {
                **_pick(i, type="type", exportable="exportable", allow_plaintext_backup="allowPlaintextBackup"),
                "auto_rotate_period": _seconds(i["autoRotatePeriod"])})
            session.call("POST", f"{path}/config", "update", {
                **_pick(i, deletion_allowed="deletionAllowed"), "auto_rotate_period": _seconds(i["autoRotatePeriod"])})
        elif resource.type == PKI_ROOT:
            body = session.call("POST", f"{i['backend']}/root/generate/{i['type']}", "update",
                                _pick(i, common_name="commonName", key_type="keyType", key_bits="keyBits", ttl="ttl"))
            result.root_ca_pem = body["data"]["certificate"]
        elif resource.type == PKI_CSR:
            body = session.call("POST", f"{i['backend']}/intermediate/generate/{i['type']}", "update",
                                _pick(i, common_name="commonName", key_type="keyType", key_bits="keyBits"))
            csr = body["data"]["csr"]
        elif resource.type == PKI_SIGN:
            # The declared csr is another resource's output; here it is the CSR this run just generated.
            body = session.call("POST", f"{i['backend']}/root/sign-intermediate", "update",
                                {**_pick(i, common_name="commonName", ttl="ttl"), "csr": csr, "format": "pem_bundle"})
            signed = body["data"]["certificate"]
        elif resource.type == PKI_SET_SIGNED:
            session.call("POST", f"{i['backend']}/intermediate/set-signed", "update", {"certificate": signed})
            result.intermediate_ca_pem = signed
        elif resource.type == PKI_ROLE:
            session.call("POST", f"{i['backend']}/roles/{i['name']}", "create", _pick(
                i, allowed_domains="allowedDomains", allow_subdomains="allowSubdomains",
                allow_bare_domains="allowBareDomains", allow_ip_sans="allowIpSans", key_type="keyType",
                key_bits="keyBits", ttl="ttl", max_ttl="maxTtl", server_flag="serverFlag", client_flag="clientFlag"))
        elif resource.type == POLICY:
            session.call("PUT", f"sys/policies/acl/{i['name']}", "create", {"policy": i["policy"]})
        elif resource.type == AUTH_BACKEND:
            session.call("POST", f"sys/auth/{i['path']}", "create",
                         {"type": i["type"], "description": i.get("description", "")})
        elif resource.type == KUBERNETES_CONFIG:
            session.call("POST", f"auth/{i['backend']}/config", "update", _pick(
                i, kubernetes_host="kubernetesHost", kubernetes_ca_cert="kubernetesCaCert",
                token_reviewer_jwt="tokenReviewerJwt", disable_local_ca_jwt="disableLocalCaJwt"))
        elif resource.type == KUBERNETES_ROLE:
            session.call("POST", f"auth/{i['backend']}/role/{i['roleName']}", "create", _pick(
                i, bound_service_account_names="boundServiceAccountNames",
                bound_service_account_namespaces="boundServiceAccountNamespaces", audience="audience",
                token_policies="tokenPolicies", token_ttl="tokenTtl", token_max_ttl="tokenMaxTtl"))
        result.applied.append(resource.name)
    return result
