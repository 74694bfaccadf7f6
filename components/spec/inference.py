"""The Kubernetes side of serving: namespace, chart mirror, identity-provider groups, ingress, audit topics, and
the cluster settings kubespray renders (KMS key for Secrets at rest).

Attached to the spec as `serving.platform` (class Serving in components/spec/operations.py); every field has a
default, so a spec without it gets the values below.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from components.spec.access import AccessRole
from components.spec.base import Name, SpecModel


def _default_groups() -> dict[AccessRole, str]:
    return {role: f"podforge-{role.value.replace('_', '-')}" for role in AccessRole}


class Charts(SpecModel):
    repository: str | None = Field(
        None, pattern=r"^(https|oci)://\S+$",
        description="Helm chart repository holding the NVIDIA operators' charts (the site's air-gapped mirror); "
                    "without it the GPU Operator and Network Operator releases are not declared.")
    gpu_operator_version: str = Field("v25.3.0", description="Pinned chart version of NVIDIA's gpu-operator.")
    network_operator_version: str = Field("25.4.0", description="Pinned chart version of NVIDIA's network-operator.")
    image_registry: str | None = Field(None, description="Registry mirroring the operators' images (e.g. "
                                                         "`registry.su1.bank.internal/nvidia`); default the vendors'.")


class Ingress(SpecModel):
    host: str | None = Field(None, description="DNS name of the inference API; default `inference.` + the first "
                                               "of keys.vault.pki.allowed_domains.")
    class_name: str = Field("nginx", description="IngressClass; kubespray's ingress-nginx addon, set to TLS 1.3 only.")


class AuditTopics(SpecModel):
    cluster: Name = Field("podforge-audit", description="Strimzi Kafka cluster (label `strimzi.io/cluster`).")
    namespace: Name = Field("kafka", description="Namespace the Strimzi topic operator watches.")
    partitions: int = Field(3, ge=1, description="Partitions per audit topic.")
    replicas: int = Field(3, ge=1, description="Replicas per partition (1 for a one-broker lab).")


class VaultKubernetesAuth(SpecModel):
    """Vault's side of cert-manager's login: the Kubernetes auth method that checks the service-account token
    cert-manager presents (Vault docs, "Kubernetes auth method"; docs/inference.md, TLS)."""

    mount: Name = Field("kubernetes", description="Path of Vault's Kubernetes auth method (`auth/<mount>`); the "
                                                  "Issuer logs in at `/v1/auth/<mount>/login`.")
    kubernetes_host: str | None = Field(
        None, pattern=r"^https://\S+$",
        description="API server URL Vault sends its TokenReviews to; default `https://<management address of the "
                    "first kube_control_plane node>:6443` (kubespray's kube_apiserver_port).")
    ca_file: str | None = Field(
        None, description="PEM file of the cluster's CA (kubespray leaves it at /etc/kubernetes/ssl/ca.crt on the "
                          "control-plane nodes), relative to the project; without it Vault trusts its system CAs.")
    api_audience: str = Field(
        "https://kubernetes.default.svc.cluster.local", min_length=1,
        description="An audience the API server accepts (its --api-audiences, which default to its "
                    "--service-account-issuer; kubeadm's is `https://kubernetes.default.svc.<dnsDomain>`). "
                    "cert-manager adds it to the token it requests, so Vault can review the token with the token "
                    "itself and no long-lived reviewer token exists.")


class InferencePlatform(SpecModel):
    namespace: Name = Field("inference", description="Namespace of the engine, gateway and their objects.")
    monitoring_namespace: Name = Field("monitoring", description="Namespace of Prometheus and Grafana.")
    replicas: int = Field(1, ge=1, description="Engine replicas (groups, for a multi-node layout) at first deploy, "
                                               "and the fewest autoscaling keeps.")
    max_replicas: int = Field(1, ge=1, description="The most replicas autoscaling may run (at least replicas).")
    prometheus_url: str = Field("http://prometheus-operated.monitoring.svc:9090", pattern=r"^https?://\S+$",
                                description="Prometheus the autoscaler queries (prometheus-operator's "
                                            "`prometheus-operated` Service by default).")
    group_prefix: str = Field("oidc:", description="Prefix the API server puts on identity-provider groups "
                                                   "(kube-apiserver --oidc-groups-prefix).")
    groups: dict[AccessRole, str] = Field(default_factory=_default_groups,
                                          description="Identity-provider group of each of the six roles.")
    charts: Charts = Field(default_factory=Charts, description="The operators' Helm charts.")
    ingress: Ingress = Field(default_factory=Ingress, description="The TLS ingress of the inference API.")
    audit_topics: AuditTopics = Field(default_factory=AuditTopics, description="Kafka topics of the audit streams.")
    kms_transit_key: Name = Field("kubernetes-secrets", description="Vault transit key (in keys.vault.transit.keys) "
                                                                    "that encrypts Kubernetes Secrets at rest (KMS v2).")
    vault_auth: VaultKubernetesAuth = Field(default_factory=VaultKubernetesAuth,
                                            description="Vault's Kubernetes auth method cert-manager logs in with.")

    @model_validator(mode="after")
    def _replica_range(self) -> InferencePlatform:
        if self.max_replicas < self.replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below replicas {self.replicas}")
        return self
