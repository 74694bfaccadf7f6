"""kubespray's inventory and the group_vars MLPS level 3 needs, rendered from the spec (pure).

podforge does not install Kubernetes: kubespray does, from the files rendered here (docs/kubespray.md). What the
files hold, each variable named as kubespray's own defaults name it:

- `inventory/hosts.yaml`: groups kube_control_plane, kube_node, etcd and k8s_cluster from the nodes' roles;
  every host with ansible_host/ip (its management address), ansible_user and node_labels (the placement domain
  the inference engine's LeaderWorkerSet uses, PLACEMENT_LABEL).
- `group_vars/k8s_cluster/k8s-cluster.yml`: API server audit log (`kubernetes_audit`, `audit_log_maxage` ≥ the
  spec's retention.audit_log_days, at least 180), TLS 1.3 minimum (`tls_min_version: VersionTLS13`), Secrets
  encrypted at rest through a KMS v2 plugin backed by Vault transit (the API server's
  `--encryption-provider-config`, with kubespray's own local-key encryption off).
- `group_vars/k8s_cluster/addons.yml`: the ingress-nginx addon with `ssl-protocols: TLSv1.3`.
- `group_vars/all/containerd.yml`: containerd with the systemd cgroup driver and the `nvidia` runtime of the
  NVIDIA Container Toolkit DGX OS ships.
- `files/encryption-config.yaml`: the EncryptionConfiguration the API server reads.

Sources (kubespray, roles/kubernetes/control-plane/defaults/main/main.yml): `kubernetes_audit: false`,
`audit_log_path`, `audit_log_maxage: 30` ("num days"), `audit_log_maxbackups: 1`, `audit_log_maxsize: 100` (MB),
`kube_encrypt_secret_data`, `kube_encryption_algorithm` ("Must be either: aescbc, secretbox or aesgcm": no KMS
provider, hence the extra args below), `tls_min_version` ("Possible values: VersionTLS10, VersionTLS11,
VersionTLS12, VersionTLS13"), `kube_kubeadm_apiserver_extra_args`, `apiserver_extra_volumes` (name, hostPath,
mountPath, readOnly). kubespray docs/CRI/containerd.md: `containerd_additional_runtimes` (a list of runtime
dictionaries: name, type io.containerd.runc.v2, engine, root, options), `containerd_use_systemd_cgroup`.
kubespray inventory/sample/group_vars/k8s_cluster/addons.yml: `ingress_nginx_enabled`, `ingress_nginx_class`,
`ingress_nginx_configmap` (its example sets `ssl-protocols`).
Kubernetes docs, "Using a KMS provider for data encryption": EncryptionConfiguration `kms` provider with
`apiVersion: v2`, `name`, `endpoint: unix://…`, `timeout`; `--encryption-provider-config-automatic-reload`.
HashiCorp Vault docs, "Use Vault as a Kubernetes KMS provider": vault-kube-kms, a KMS v2 plugin run as a static
Pod on the control plane, listening on a Unix socket and forwarding to Vault transit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from components.spec import ClusterSpec
from components.spec.inference import InferencePlatform
from components.spec.nodes import NodeRole

PLACEMENT_LABEL = "podforge.io/leaf-group"
"""Node label naming the node's placement domain: nodes cabled to the same set of leaf switches share it. The
engine's LeaderWorkerSet places each group exclusively in one domain (its exclusive-topology annotation)."""

MIN_AUDIT_DAYS = 180
"""MLPS level 3 keeps audit records at least 180 days (docs/conventions.md); the spec may ask for more."""

KMS_CONFIG_DIR = "/etc/kubernetes/kms"
KMS_SOCKET_DIR = "/var/run/podforge-kms"
KMS_SOCKET = f"{KMS_SOCKET_DIR}/vault-kube-kms.socket"
"""Where the KMS plugin (vault-kube-kms, a static Pod on each control-plane node) listens; its socket option must
name the same path."""

NVIDIA_RUNTIME = "nvidia"
"""containerd runtime name, and the handler of the RuntimeClass the inference stack declares."""
NVIDIA_RUNTIME_BINARY = "/usr/bin/nvidia-container-runtime"
"""Installed by the NVIDIA Container Toolkit package (nvidia-container-toolkit docs, "Configuring containerd")."""

AUDIT_LOG_MAXSIZE_MB = 100
AUDIT_LOG_MAXBACKUPS = 2000
"""The API server drops a rotated audit file when it is older than maxage *or* when more than maxbackups files
exist: with kubespray's default of 1 backup, 180 days are never kept. 2,000 files of 100 MB bound the disk use
(200 GB); size the control plane's /var/log for it, or ship the log to the audit store."""


@dataclass(frozen=True)
class KubesprayProblem:
    """A spec value the render cannot use: the field path in the spec, the value, what was expected."""

    path: tuple[str | int, ...]
    value: object
    expected: str


def placement_domains(spec: ClusterSpec) -> dict[str, str]:
    """Hostname → placement domain (`leafgroup-N`) of every node cabled to a compute fabric: nodes with the same
    set of leaf switches share a domain, numbered in spec order."""
    fabric = spec.compute_fabric()
    if fabric is None:
        return {}
    leaves: dict[str, set[str]] = {}
    for link in fabric.node_links:
        leaves.setdefault(link.node, set()).add(link.switch)
    numbered: dict[frozenset[str], str] = {}
    domains: dict[str, str] = {}
    for node in spec.nodes:
        if node.hostname in leaves:
            key = frozenset(leaves[node.hostname])
            domains[node.hostname] = numbered.setdefault(key, f"leafgroup-{len(numbered) + 1}")
    return domains


def problems(spec: ClusterSpec, platform: InferencePlatform) -> list[KubesprayProblem]:
    """What stops kubespray's files from being rendered for `spec`."""
    found: list[KubesprayProblem] = []
    roles = {r: [n.hostname for n in spec.nodes_with(r)] for r in
             (NodeRole.kube_control_plane, NodeRole.etcd, NodeRole.kube_node)}
    if not roles[NodeRole.kube_control_plane]:
        found.append(KubesprayProblem(("nodes",), "no kube_control_plane node",
                                      "at least one node with role kube_control_plane"))
    if len(roles[NodeRole.etcd]) % 2 == 0:
        found.append(KubesprayProblem(("nodes",), f"{len(roles[NodeRole.etcd])} etcd nodes",
                                      "an odd number of nodes with role etcd (etcd's quorum)"))
    if not roles[NodeRole.kube_node]:
        found.append(KubesprayProblem(("nodes",), "no kube_node node", "at least one node with role kube_node"))
    keys = [k.name for k in spec.keys.vault.transit.keys]
    if platform.kms_transit_key not in keys:
        found.append(KubesprayProblem(
            ("keys", "vault", "transit", "keys"), keys,
            f"a transit key named {platform.kms_transit_key!r} (serving.platform.kms_transit_key): the KEK the "
            "KMS plugin encrypts Kubernetes Secrets with"))
    return found


def inventory(spec: ClusterSpec) -> dict[str, Any]:
    """kubespray's hosts.yaml: every Kubernetes host with its address and labels, the four groups."""
    domains = placement_domains(spec)
    k8s_roles = (NodeRole.kube_control_plane, NodeRole.kube_node, NodeRole.etcd)
    hosts: dict[str, Any] = {}
    for node in spec.nodes:
        if not any(r in node.roles for r in k8s_roles):
            continue
        address = str(node.management_address)
        entry: dict[str, Any] = {"ansible_host": address, "ip": address, "access_ip": address,
                                 "ansible_user": node.ssh.user}
        if node.hostname in domains:
            entry["node_labels"] = {PLACEMENT_LABEL: domains[node.hostname]}
        hosts[node.hostname] = entry
    children = {role.value: {"hosts": {n.hostname: None for n in spec.nodes_with(role)}} for role in k8s_roles}
    children["k8s_cluster"] = {"children": {"kube_control_plane": None, "kube_node": None}}
    return {"all": {"hosts": hosts, "children": children}}


def encryption_config(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, Any]:
    """The API server's EncryptionConfiguration: Secrets through the KMS v2 plugin, identity to read what was
    written before encryption was on."""
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"],
                           "providers": [{"kms": {"apiVersion": "v2",
                                                  "name": f"vault-transit-{platform.kms_transit_key}",
                                                  "endpoint": f"unix://{KMS_SOCKET}", "timeout": "3s"}},
                                         {"identity": {}}]}]}


def k8s_cluster_vars(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, Any]:
    audit_days = max(MIN_AUDIT_DAYS, spec.retention.audit_log_days)
    return {
        "kubernetes_audit": True,
        "audit_log_path": "/var/log/audit/kube-apiserver-audit.log",
        "audit_log_maxage": audit_days,
        "audit_log_maxbackups": AUDIT_LOG_MAXBACKUPS,
        "audit_log_maxsize": AUDIT_LOG_MAXSIZE_MB,
        # Go's TLS stack fixes the TLS 1.3 cipher suites; tls_cipher_suites only restricts 1.2 and is left unset.
        "tls_min_version": "VersionTLS13",
        # kubespray's own at-rest encryption keeps its key in a local file (aescbc, secretbox or aesgcm only);
        # the KMS provider replaces it, so it stays off and the API server is pointed at our config instead.
        "kube_encrypt_secret_data": False,
        "kube_kubeadm_apiserver_extra_args": {
            "encryption-provider-config": f"{KMS_CONFIG_DIR}/encryption-config.yaml",
            "encryption-provider-config-automatic-reload": "true",
        },
        "apiserver_extra_volumes": [
            {"name": "kms-config", "hostPath": KMS_CONFIG_DIR, "mountPath": KMS_CONFIG_DIR, "readOnly": True},
            {"name": "kms-socket", "hostPath": KMS_SOCKET_DIR, "mountPath": KMS_SOCKET_DIR, "readOnly": False},
        ],
        "container_manager": "containerd",
    }


def addons_vars(platform: InferencePlatform) -> dict[str, Any]:
    return {"ingress_nginx_enabled": True, "ingress_nginx_class": platform.ingress.class_name,
            "ingress_nginx_configmap": {"ssl-protocols": "TLSv1.3"}}


def containerd_vars() -> dict[str, Any]:
    return {"containerd_use_systemd_cgroup": True,
            "containerd_additional_runtimes": [{
                "name": NVIDIA_RUNTIME, "type": "io.containerd.runc.v2", "engine": "", "root": "",
                "options": {"BinaryName": NVIDIA_RUNTIME_BINARY, "SystemdCgroup": "true"}}]}


def render(spec: ClusterSpec, platform: InferencePlatform | None = None) -> dict[str, str]:
    """Relative path → text of every file kubespray reads; call problems() first (this assumes none)."""
    platform = platform or platform_of(spec)
    header = f"# Rendered by podforge from the spec of site {spec.site.name}; do not edit, render again.\n"
    documents = {
        "inventory/hosts.yaml": inventory(spec),
        "group_vars/k8s_cluster/k8s-cluster.yml": k8s_cluster_vars(spec, platform),
        "group_vars/k8s_cluster/addons.yml": addons_vars(platform),
        "group_vars/all/containerd.yml": containerd_vars(),
        "files/encryption-config.yaml": encryption_config(spec, platform),
    }
    return {path: header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)
            for path, doc in documents.items()}


def platform_of(spec: ClusterSpec) -> InferencePlatform:
    """The spec's serving.platform when the spec has one, else the defaults."""
    attached = getattr(spec.serving, "platform", None) if spec.serving is not None else None
    return attached if isinstance(attached, InferencePlatform) else InferencePlatform()

