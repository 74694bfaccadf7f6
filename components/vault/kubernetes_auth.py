"""Vault's Kubernetes auth method for cert-manager: what Vault needs to let cert-manager's Vault Issuer sign the
inference ingress certificate, and nothing more.

cert-manager's "secretless" Kubernetes auth (cert-manager v1.21, internal/vault/vault.go): for an Issuer it
requests a token of the Issuer's `serviceAccountRef` with the audiences `serviceAccountRef.audiences` +
`vault://<namespace>/<issuer name>` + the Issuer's `vault.server`, valid for 10 minutes, and logs in with it at
`<mountPath>/login` with the Issuer's role.

Vault runs outside the cluster, so it has no local service-account token to review tokens with. Without a
`token_reviewer_jwt`, Vault reviews a login's token with that token itself (Vault API docs, "Kubernetes auth
method", token_reviewer_jwt: "...otherwise the JWT submitted in the login payload will be used to access the
Kubernetes TokenReview API"), which needs two things: the token's service account is bound to the ClusterRole
`system:auth-delegator`, and the token carries an audience the API server accepts (`api_audience`). So no
long-lived reviewer token exists anywhere; the role still binds the token to the Issuer's own audience.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.spec import ClusterSpec
from components.spec.inference import InferencePlatform
from components.spec.nodes import NodeRole
from components.vault.policies import PKI_ROLE

SERVICE_ACCOUNT = "podforge-cert-manager"
"""The service account cert-manager requests tokens of, in the inference namespace."""
ROLE = "podforge-cert-manager"
"""The Vault role of the Kubernetes auth method cert-manager logs in with, and the policy it gets."""
ISSUER = "vault-pki"
"""The cert-manager Issuer (namespaced) that signs the ingress certificate."""
API_SERVER_PORT = 6443
"""kubespray's kube_apiserver_port default (docs/vars.md in kubespray)."""
TOKEN_TTL_SECONDS = 300
"""Lifetime of the Vault token cert-manager gets: it signs one request with it and drops it."""


def mount_path(platform: InferencePlatform) -> str:
    """The Issuer's `mountPath`: the auth method's API path."""
    return f"/v1/auth/{platform.vault_auth.mount}"


def issuer_audience(namespace: str, issuer: str = ISSUER) -> str:
    """The audience cert-manager puts on its tokens for a namespaced Issuer."""
    return f"vault://{namespace}/{issuer}"


def kubernetes_host(spec: ClusterSpec, platform: InferencePlatform) -> str:
    """The API server Vault reviews tokens with: the spec's, else the first control-plane node's on 6443."""
    if platform.vault_auth.kubernetes_host:
        return platform.vault_auth.kubernetes_host
    node = next((n for n in spec.nodes if NodeRole.kube_control_plane in n.roles), None)
    if node is None:
        raise ValueError("serving.platform.vault_auth.kubernetes_host: no kube_control_plane node to default to")
    return f"https://{node.management_address}:{API_SERVER_PORT}"


def policy_text(spec: ClusterSpec) -> str:
    """cert-manager's Vault policy: sign with the service PKI role, nothing else."""
    path = f"{spec.keys.vault.pki.intermediate_mount}/sign/{PKI_ROLE}"
    return (f"# podforge: cert-manager signs the inference ingress certificate\n"
            f"path {json.dumps(path)} {{\n  capabilities = [\"create\", \"update\"]\n}}\n")


@dataclass(frozen=True)
class RoleBinding:
    """The Vault role's bounds: which service account, where, with which audience, for how long."""

    service_accounts: tuple[str, ...]
    namespaces: tuple[str, ...]
    audience: str
    policies: tuple[str, ...]
    token_ttl: int


def role_binding(platform: InferencePlatform) -> RoleBinding:
    return RoleBinding(service_accounts=(SERVICE_ACCOUNT,), namespaces=(platform.namespace,),
                       audience=issuer_audience(platform.namespace), policies=(ROLE,),
                       token_ttl=TOKEN_TTL_SECONDS)
