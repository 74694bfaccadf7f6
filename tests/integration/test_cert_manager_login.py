"""cert-manager's login to Vault, end to end against a real API server and a real Vault-API server (OpenBao).

The serving stack's objects and Vault resources are the declared ones (the program run under mocks), with the
spec's `serving.platform.vault_auth` pointing at the test API server and its CA; the site's PKI is VaultKmip's,
applied the same way (tests/support/vault_conformance.py). cert-manager itself is not run: the test does what
its Vault Issuer does with a `serviceAccountRef` (cert-manager v1.21, internal/vault/vault.go): as cert-manager's
own service account it requests a 10-minute token of the Issuer's account with the Issuer's audiences, logs in
at the Issuer's mount with its role, and signs a CSR at the Issuer's path.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.inference import InferenceStack, InferenceStackArgs
from components.offline.capture import run_program
from components.paths import chosen_project, project_root
from components.spec import load_stack_spec
from components.spec.inference import VaultKubernetesAuth
from components.vault.client import VaultSession
from tests.integration.servers import openbao
from tests.support.kube_apiserver import KubeApiServer, KubeUnavailable, binaries, kube_apiserver
from tests.support.vault_conformance import apply_declared
from tests.support.vault_declared import DeclaredResource, declare_vault_kmip

pytestmark = pytest.mark.servers

CERT_MANAGER = "system:serviceaccount:cert-manager:cert-manager"
"""The identity cert-manager's controller runs as (its chart's service account in namespace cert-manager)."""


@dataclass
class Login:
    kube: KubeApiServer
    vault: httpx.Client
    issuer: dict[str, Any]
    certificate: dict[str, Any]
    namespace: str
    intermediate_pem: str


def _declared(spec, project: Path) -> tuple[list[dict[str, Any]], list[DeclaredResource]]:
    """The serving stack's Kubernetes objects and Vault resources, as its program declares them."""
    with chosen_project(project):
        graph = run_program("test", {}, set(), lambda: InferenceStack(
            f"{spec.site.name}-serving", InferenceStackArgs.from_spec(spec)))
    objects = [r.inputs for r in graph.resources if r.custom and r.type.startswith("kubernetes:")]
    vault = [DeclaredResource(r.type, r.name, r.inputs) for r in graph.resources
             if r.custom and r.type.startswith("vault:")]
    return objects, vault


@pytest.fixture(scope="module")
def login(tmp_path_factory) -> Iterator[Login]:
    try:
        binaries()
    except KubeUnavailable as exc:
        pytest.skip(str(exc))
    _, loaded = load_stack_spec("lab-serving")
    workdir = tmp_path_factory.mktemp("cert-manager-login")
    with kube_apiserver(workdir / "kube") as kube, openbao(workdir / "bao") as bao:
        # A project holding the cluster CA, as a site would copy it from a control-plane node.
        project = workdir / "project"
        project.mkdir()
        shutil.copy(project_root() / "Pulumi.yaml", project / "Pulumi.yaml")
        shutil.copy(kube.pki.ca, project / "kube-ca.crt")
        spec = loaded.spec
        platform = spec.serving.platform.model_copy(update={"vault_auth": VaultKubernetesAuth(
            kubernetes_host=kube.url, ca_file="kube-ca.crt")})
        keys = spec.keys.model_copy(update={"vault": spec.keys.vault.model_copy(update={"address": bao.address})})
        spec = spec.model_copy(update={"keys": keys, "serving": spec.serving.model_copy(
            update={"platform": platform})})
        loaded = dataclasses.replace(loaded, spec=spec)
        objects, vault_resources = _declared(spec, project)
        ns = platform.namespace

        # The namespaces and cert-manager's own account (its chart installs it), then the stack's login objects.
        for name in (ns, "cert-manager"):
            assert kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code \
                in (200, 201)
        assert kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": "cert-manager", "namespace": "cert-manager"}}).status_code in (200, 201)
        wanted = {"ServiceAccount", "Role", "RoleBinding", "ClusterRoleBinding"}
        for obj in objects:
            if obj["kind"] in wanted and ("cert-manager" in obj["metadata"]["name"]):
                reply = kube.apply(obj)
                assert reply.status_code in (200, 201), reply.text

        session = VaultSession(bao.address, bao.token)
        pki = apply_declared(session, declare_vault_kmip(spec, "lab").resources)
        applied = apply_declared(session, vault_resources)
        assert sorted(applied.applied) == sorted(r.name for r in vault_resources)

        issuer = next(o for o in objects if o["kind"] == "Issuer")
        certificate = next(o for o in objects if o["kind"] == "Certificate")
        with httpx.Client(base_url=bao.address, timeout=30) as client:
            yield Login(kube, client, issuer, certificate, ns, pki.intermediate_ca_pem)


def _token(login: Login, account: str, audiences: list[str], *, as_user: str = CERT_MANAGER) -> httpx.Response:
    """A TokenRequest for `account` in the inference namespace, made as `as_user`."""
    return login.kube.client.post(
        f"/api/v1/namespaces/{login.namespace}/serviceaccounts/{account}/token",
        headers={"Impersonate-User": as_user},
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"audiences": audiences, "expirationSeconds": 600}})


def _issuer_audiences(login: Login) -> list[str]:
    """What cert-manager asks for: the Issuer's extra audiences, `vault://<namespace>/<name>`, its server."""
    vault = login.issuer["spec"]["vault"]
    ref = vault["auth"]["kubernetes"]["serviceAccountRef"]
    meta = login.issuer["metadata"]
    return [*ref.get("audiences", []), f"vault://{meta['namespace']}/{meta['name']}", vault["server"]]


def _vault_login(login: Login, jwt: str) -> httpx.Response:
    auth = login.issuer["spec"]["vault"]["auth"]["kubernetes"]
    return login.vault.post(f"{auth['mountPath']}/login", json={"role": auth["role"], "jwt": jwt})


def _issuer_token(login: Login) -> str:
    account = login.issuer["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]["name"]
    reply = _token(login, account, _issuer_audiences(login))
    assert reply.status_code == 201, reply.text
    return reply.json()["status"]["token"]


def _csr(host: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_the_issuer_logs_in_and_signs_the_ingress_certificate(login: Login) -> None:
    reply = _vault_login(login, _issuer_token(login))
    assert reply.status_code == 200, reply.text
    auth = reply.json()["auth"]
    assert "podforge-cert-manager" in auth["policies"]
    assert auth["lease_duration"] <= 300
    host = login.certificate["spec"]["dnsNames"][0]
    signed = login.vault.post(f"/v1/{login.issuer['spec']['vault']['path']}", headers={"X-Vault-Token":
                                                                                        auth["client_token"]},
                              json={"csr": _csr(host), "common_name": host})
    assert signed.status_code == 200, signed.text
    cert = x509.load_pem_x509_certificate(signed.json()["data"]["certificate"].encode())
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [host]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(login.intermediate_pem.encode()))


def test_the_vault_token_signs_and_does_nothing_else(login: Login) -> None:
    token = _vault_login(login, _issuer_token(login)).json()["auth"]["client_token"]
    headers = {"X-Vault-Token": token}
    mount = login.issuer["spec"]["vault"]["path"].split("/")[0]
    for method, path, body in (("POST", f"/v1/{mount}/issue/service", {"common_name": "x.example"}),
                               ("GET", "/v1/sys/policies/acl", None),
                               ("POST", "/v1/transit/encrypt/kubernetes-secrets", {"plaintext": "eA=="})):
        reply = login.vault.request(method, path, headers=headers, json=body)
        assert reply.status_code == 403, (path, reply.status_code, reply.text)


def test_a_token_without_the_issuers_audience_is_refused(login: Login) -> None:
    account = login.issuer["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]["name"]
    audiences = [a for a in _issuer_audiences(login) if not a.startswith("vault://")]
    reply = _token(login, account, audiences)
    assert reply.status_code == 201, reply.text
    refused = _vault_login(login, reply.json()["status"]["token"])
    assert refused.status_code == 403, refused.text
    assert "audience" in refused.text


def test_without_the_api_servers_audience_vault_cannot_review_the_token(login: Login) -> None:
    """cert-manager's default audiences alone: the token cannot authenticate its own TokenReview, so the login
    fails — the reason the Issuer adds `vault_auth.api_audience`."""
    account = login.issuer["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]["name"]
    extra = login.issuer["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]["audiences"]
    reply = _token(login, account, [a for a in _issuer_audiences(login) if a not in extra])
    assert reply.status_code == 201, reply.text
    refused = _vault_login(login, reply.json()["status"]["token"])
    # Vault's TokenReview, authenticated by that token, is refused by the API server (401), which Vault reports
    # as permission denied.
    assert refused.status_code == 403 and "permission denied" in refused.text, refused.text


def test_another_account_of_the_namespace_cannot_log_in(login: Login) -> None:
    assert login.kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": "engine-intruder", "namespace": login.namespace}}).status_code \
        in (200, 201)
    # cert-manager may request tokens of the Issuer's account only (the stack's Role).
    assert _token(login, "engine-intruder", _issuer_audiences(login)).status_code == 403
    # A token of that account with the right audiences (made by the administrator) is refused by the Vault role.
    reply = login.kube.client.post(
        f"/api/v1/namespaces/{login.namespace}/serviceaccounts/engine-intruder/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"audiences": _issuer_audiences(login), "expirationSeconds": 600}})
    assert reply.status_code == 201, reply.text
    refused = _vault_login(login, reply.json()["status"]["token"])
    assert refused.status_code == 403, refused.text
