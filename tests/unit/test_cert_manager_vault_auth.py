"""Vault's side of cert-manager's login, as the serving stack declares it: the Kubernetes auth method, its API
server, cert-manager's policy and role, and the Kubernetes objects that let the login token review itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.cli import main
from components.inference import InferenceStack, InferenceStackArgs
from components.offline.capture import run_program
from components.paths import chosen_project, project_root
from components.spec import load_stack_spec
from components.spec.inference import VaultKubernetesAuth
from components.vault import kubernetes_auth

K = "kubernetes:"
AUTH = "vault:index/authBackend:AuthBackend"
CONFIG = "vault:kubernetes/authBackendConfig:AuthBackendConfig"
ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
POLICY = "vault:index/policy:Policy"


def _spec(stack: str, **auth):
    spec = load_stack_spec(stack)[1].spec
    if not auth:
        return spec
    platform = spec.serving.platform.model_copy(update={"vault_auth": VaultKubernetesAuth(**auth)})
    return spec.model_copy(update={"serving": spec.serving.model_copy(update={"platform": platform})})


def _graph(spec):
    return run_program("test", {}, set(), lambda: InferenceStack(
        f"{spec.site.name}-serving", InferenceStackArgs.from_spec(spec)))


def _one(graph, type_: str) -> dict:
    found = graph.of_type(type_)
    assert len(found) == 1, [r.name for r in found]
    return found[0].inputs


@pytest.mark.parametrize("stack", ["lab-serving", "superpod-serving"])
def test_the_role_binds_the_issuers_account_namespace_and_audience(stack: str) -> None:
    spec = _spec(stack)
    ns = spec.serving.platform.namespace
    graph = _graph(spec)
    auth = _one(graph, AUTH)
    assert (auth["type"], auth["path"]) == ("kubernetes", "kubernetes")
    role = _one(graph, ROLE)
    assert role["roleName"] == "podforge-cert-manager"
    assert role["boundServiceAccountNames"] == ["podforge-cert-manager"]
    assert role["boundServiceAccountNamespaces"] == [ns]
    assert role["audience"] == f"vault://{ns}/vault-pki"
    assert role["tokenPolicies"] == ["podforge-cert-manager"]
    assert role["tokenTtl"] == role["tokenMaxTtl"] == 300
    # The Issuer is the one the audience names, and it logs in at this mount with this role and account.
    issuers = graph.of_type(K + "cert-manager.io/v1:Issuer")
    assert [(i.inputs["metadata"]["name"], i.inputs["metadata"]["namespace"]) for i in issuers] == [
        (kubernetes_auth.ISSUER, ns)]
    login = issuers[0].inputs["spec"]["vault"]["auth"]["kubernetes"]
    assert login["mountPath"] == "/v1/auth/kubernetes"
    assert login["role"] == role["roleName"]
    assert login["serviceAccountRef"]["name"] == role["boundServiceAccountNames"][0]


@pytest.mark.parametrize("stack", ["lab-serving", "superpod-serving"])
def test_the_policy_signs_with_the_service_role_and_nothing_else(stack: str) -> None:
    spec = _spec(stack)
    policy = _one(_graph(spec), POLICY)
    assert policy["name"] == "podforge-cert-manager"
    paths = [line.split('"')[1] for line in policy["policy"].splitlines() if line.startswith("path ")]
    assert paths == [f"{spec.keys.vault.pki.intermediate_mount}/sign/service"]
    assert 'capabilities = ["create", "update"]' in policy["policy"]


def test_the_api_server_defaults_to_the_first_control_plane_node() -> None:
    spec = _spec("superpod-serving")
    first = next(n for n in spec.nodes if "kube_control_plane" in n.roles)
    config = _one(_graph(spec), CONFIG)
    assert config["kubernetesHost"] == f"https://{first.management_address}:6443"
    assert config["disableLocalCaJwt"] is True
    # No reviewer token is declared anywhere: Vault reviews each login's token with itself.
    assert "tokenReviewerJwt" not in config and "kubernetesCaCert" not in config


def test_the_login_token_carries_an_audience_the_api_server_accepts() -> None:
    spec = _spec("lab-serving", api_audience="https://kubernetes.default.svc.lab.local")
    graph = _graph(spec)
    ref = _one(graph, K + "cert-manager.io/v1:Issuer")["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]
    assert ref["audiences"] == ["https://kubernetes.default.svc.lab.local"]
    binding = _one(graph, K + "rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "podforge-cert-manager",
                                    "namespace": spec.serving.platform.namespace}]


def _project(tmp_path: Path) -> Path:
    """An empty project beside the real one: its Pulumi.yaml and nothing else."""
    shutil.copy(project_root() / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def test_a_declared_host_ca_file_and_mount_are_used(tmp_path) -> None:
    ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "kube-ca.crt").write_text(ca)
    spec = _spec("lab-serving", mount="k8s-lab", kubernetes_host="https://api.lab.internal:6443",
                 ca_file="kube-ca.crt")
    with chosen_project(_project(tmp_path)):
        graph = _graph(spec)
    assert _one(graph, AUTH)["path"] == "k8s-lab"
    config = _one(graph, CONFIG)
    assert (config["kubernetesHost"], config["kubernetesCaCert"]) == ("https://api.lab.internal:6443", ca)
    login = _one(graph, K + "cert-manager.io/v1:Issuer")["spec"]["vault"]["auth"]["kubernetes"]
    assert login["mountPath"] == "/v1/auth/k8s-lab"


def test_an_unreadable_ca_file_stops_the_program_with_one_line(tmp_path) -> None:
    spec = _spec("lab-serving", ca_file="absent.crt")
    with chosen_project(_project(tmp_path)), pytest.raises(Exception, match=r"vault_auth.ca_file absent.crt: cannot read"):
        _graph(spec)


def _validate(tmp_path, capsys, text: str, extra: str) -> tuple[int, str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("  platform:\n", "  platform:\n" + extra, 1) if "  platform:\n" in text
                    else text.replace("serving:\n", "serving:\n  platform:\n" + extra, 1))
    code = main(["validate", "--spec", str(spec)])
    return code, capsys.readouterr().err


def test_a_ca_file_outside_the_project_is_refused(tmp_path, capsys) -> None:
    text = (project_root() / "specs" / "superpod.yaml").read_text()
    code, err = _validate(tmp_path, capsys, text, "    vault_auth: {ca_file: /etc/kubernetes/ssl/ca.crt}\n")
    assert code == 2
    lines = [line for line in err.splitlines() if "vault_auth" in line]
    assert len(lines) == 1 and "serving.platform.vault_auth.ca_file: '/etc/kubernetes/ssl/ca.crt'" in lines[0]
    assert "a file inside the project" in lines[0]


def test_a_host_that_is_not_https_is_refused(tmp_path, capsys) -> None:
    text = (project_root() / "specs" / "superpod.yaml").read_text()
    code, err = _validate(tmp_path, capsys, text, "    vault_auth: {kubernetes_host: 'http://10.0.0.1:6443'}\n")
    assert code == 2
    assert any("vault_auth.kubernetes_host" in line and "http://10.0.0.1:6443" in line for line in err.splitlines())
