"""The inference stack's Kubernetes objects as plain data, derived from the spec (InferenceStack declares each one
as its own pulumi_kubernetes resource).

Sources of the names used here:
- LeaderWorkerSet `leaderworkerset.x-k8s.io/v1` (leaderWorkerTemplate.size, leaderTemplate, workerTemplate,
  restartPolicy RecreateGroupOnPodRestart, startupPolicy LeaderCreated), the env vars LWS_LEADER_ADDRESS and
  LWS_GROUP_SIZE it injects, and the leader/worker commands with multi-node-serving.sh: vLLM docs, "Deployment →
  Frameworks → LWS" and examples/online_serving/multi-node-serving.sh. The annotation
  `leaderworkerset.sigs.k8s.io/exclusive-topology` (value: a node label key; 1:1 exclusive group placement):
  kubernetes-sigs/lws site docs, "Labels, annotations and environment variables".
- RDMA resource `rdma/rdma_shared_device_a` and the IPC_LOCK capability of RDMA pods: NVIDIA Network Operator
  docs, "Network Operator Deployment with RDMA Shared Device Plugin" (resourceName rdma_shared_device_a, prefix
  rdma) and NVIDIA GPU Operator docs, GPUDirect RDMA test pods (`capabilities: add: ["IPC_LOCK"]`).
- Telemetry off: VLLM_NO_USAGE_STATS=1 and DO_NOT_TRACK=1 (vLLM docs, "Usage Stats Collection", opt-out);
  RAY_USAGE_STATS_ENABLED=0 and `ray start --disable-usage-stats` (Ray docs, "Usage Stats Collection", How to
  disable it).
- Pod Security levels: Kubernetes docs, "Pod Security Standards": restricted allows adding only
  NET_BIND_SERVICE; baseline's allowed list has no IPC_LOCK either, so RDMA engine pods need `privileged`.
- cert-manager Vault Issuer (spec.vault.server, path `<pki mount>/sign/<role>`, auth.kubernetes with role,
  mountPath and serviceAccountRef) and Certificate (duration, renewBefore, privateKey): cert-manager docs,
  "Vault" issuer configuration.
- Strimzi KafkaTopic `kafka.strimzi.io/v1beta2` (label strimzi.io/cluster; spec.partitions, replicas, config
  with retention.ms): Strimzi docs, "KafkaTopic schema reference".
- ServiceMonitor `jobLabel` (the Service label whose value becomes `job`; default the Service's name) and
  `podTargetLabels` (pod labels copied onto the targets): prometheus-operator API reference, ServiceMonitorSpec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components import capacity
from components.capacity.check import catalogue_model_of, precision_of
from components.capacity.planner import evaluate
from components.render.kubespray import NVIDIA_RUNTIME, PLACEMENT_LABEL
from components.spec import ClusterSpec
from components.spec.access import AccessRole
from components.spec.base import seconds
from components.spec.checks import serving_nodes
from components.spec.inference import InferencePlatform
from components.spec.nodes import NodeRole
from components.spec.storage import ExportProtocol
from components.vault import kubernetes_auth as vault_auth
from components.vault.policies import PKI_ROLE

ENGINE = "podforge-engine"
GATEWAY = "podforge-gateway"
ENGINE_LABELS = {"app.kubernetes.io/name": ENGINE, "app.kubernetes.io/part-of": "podforge"}
GATEWAY_LABELS = {"app.kubernetes.io/name": GATEWAY}
"""The gateway's pods carry this label (the gateway deploys them); only they may call the engine."""
GATEWAY_PORT = 8443
"""The gateway Service's port, the Ingress backend."""
RDMA_RESOURCE = "rdma/rdma_shared_device_a"
GPU_RESOURCE = "nvidia.com/gpu"
MODEL_MOUNT = "/models"
RAY_PORT = 6379
"""multi-node-serving.sh's default Ray head port."""
MAX_CERT_SECONDS = 72 * 3600
MS_PER_DAY = 86_400_000
TELEMETRY_OFF = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0"}
MULTI_NODE_SCRIPT = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
METRICS_SERVICE = f"{ENGINE}-metrics"
METRICS_LABEL = "podforge.io/metrics"
"""Label of the Service the engine's ServiceMonitor selects: it spans every release's pods, so a candidate that
takes no traffic is still scraped (the release's soak reads its latency and readiness)."""
MAX_WORKLOAD_NAME = 63
"""A workload's name is a label value of its pods (LeaderWorkerSet's `leaderworkerset.sigs.k8s.io/name`, the
LWSNameLabel of kubernetes-sigs/lws): at most 63 characters (Kubernetes docs, "Labels and Selectors", "Valid
label value: must be 63 characters or less")."""


@dataclass(frozen=True)
class Layout:
    """The engine's layout as the capacity planner places it on the serving SKU's nodes."""

    tensor_parallel: int
    pipeline_parallel: int
    gpus_per_node: int
    nodes_per_replica: int
    plan: capacity.Plan | None = None
    """The planner's evaluation of this layout (weights and KV cache per GPU); None for a model outside the
    planner's catalogue, which is placed by GPU count alone."""

    @property
    def gpus_per_pod(self) -> int:
        return min(self.gpus_per_node, self.tensor_parallel * self.pipeline_parallel)

    @property
    def multi_node(self) -> bool:
        return self.nodes_per_replica > 1


def layout(spec: ClusterSpec) -> Layout:
    """The serving section's TP × PP as the capacity planner lays it out (components.capacity): on the smallest
    SKU among the serving nodes (as `podforge validate` plans it), nodes per replica = the planner's
    `nodes_per_replica` for that layout; one pod per node of a replica."""
    serving = _serving(spec)
    nodes = serving_nodes(spec) or spec.nodes_with(NodeRole.gpu_node) or spec.nodes
    sku = min((spec.sku_of(n) for n in nodes), key=lambda s: (s.gpu.memory_gib, s.gpu.count))
    declared = capacity.Layout(serving.tensor_parallel_size, serving.pipeline_parallel_size)
    planned: capacity.Plan | None = None
    model = catalogue_model_of(serving)
    if model is not None:
        try:
            req = capacity.request(model, precision_of(serving), sku, serving.max_model_len, serving.concurrency,
                                   serving.gpu_memory_utilization)
        except capacity.CapacityInputError:
            req = None  # `podforge validate` names the problem; the layout is still placed by GPU count
        if req is not None:
            planned = evaluate(req, declared)
    nodes_per_replica = planned.nodes_per_replica if planned is not None else declared.nodes(sku.gpu.count)
    return Layout(declared.tensor_parallel, declared.pipeline_parallel, sku.gpu.count, nodes_per_replica, planned)


# --- releases (blue-green) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One engine workload: the only one without `serving.release`, else one per declared release."""

    name: str
    release: str | None
    image: str
    model_path: str
    labels: dict[str, str]
    """Its pods' labels; its selector (each workload selects only its own pods)."""


def workloads(spec: ClusterSpec) -> list[Workload]:
    """The engine's workloads: `podforge-engine` without `serving.release`; with it, `podforge-engine-<release>`
    for the active release and, when declared, the candidate beside it, each pod labelled
    `<release.label>: <release name>`."""
    s = _serving(spec)
    rel = s.release
    if rel is None:
        return [Workload(ENGINE, None, s.image, s.model.path, dict(ENGINE_LABELS))]
    out = []
    for which, version in (("active", rel.active), ("candidate", rel.candidate)):
        if version is None:
            continue
        name = f"{ENGINE}-{version.name}"
        if len(name) > MAX_WORKLOAD_NAME:
            raise ValueError(f"serving.release.{which}.name {version.name!r}: at most "
                             f"{MAX_WORKLOAD_NAME - len(ENGINE) - 1} characters (the workload {name} is a label "
                             f"value, at most {MAX_WORKLOAD_NAME})")
        out.append(Workload(name, version.name, version.image, version.model_path or s.model.path,
                            {**ENGINE_LABELS, rel.label: version.name}))
    return out


def _serving(spec: ClusterSpec):
    if spec.serving is None:
        raise ValueError("the inference stack needs a spec with a `serving` section")
    return spec.serving


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def pod_security_labels(lay: Layout) -> dict[str, str]:
    """`restricted` where the engine allows it (single-node: NVLink only, no RDMA device, no capability); a
    multi-node engine needs RDMA and IPC_LOCK, which only `privileged` admits — the namespace still warns and
    audits against `restricted`, so every other pod's deviations show."""
    enforce = "privileged" if lay.multi_node else "restricted"
    return {"pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted"}


# --- model volume -----------------------------------------------------------------------------------------


def model_volume(spec: ClusterSpec, namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PersistentVolume spec, PersistentVolumeClaim spec) for the model export, NFS, read-only."""
    model = _serving(spec).model
    array_name, export_name = model.export.split("/", 1)
    array = next(a for a in spec.storage.arrays if a.name == array_name)
    export = next(e for e in array.exports if e.name == export_name)
    if export.protocol is ExportProtocol.nvme_of:
        raise ValueError(f"serving.model.export {model.export} is NVMe-oF: the model volume needs an NFS export")
    if not array.data_addresses:
        raise ValueError(f"storage.arrays {array.name} has no data_addresses: the model volume needs an NFS server")
    options = next((m.options for m in spec.storage.mounts if m.export == model.export), [])
    size = f"{export.size_tib:g}Ti"
    pv = {"capacity": {"storage": size}, "accessModes": ["ReadOnlyMany"], "persistentVolumeReclaimPolicy": "Retain",
          "storageClassName": "", "mountOptions": [o for o in options if o not in ("ro", "rw")],
          "nfs": {"server": array.data_addresses[0], "path": export.path, "readOnly": True},
          "claimRef": {"namespace": namespace, "name": "models"}}
    pvc = {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "volumeName": pv_name(spec, namespace),
           "resources": {"requests": {"storage": size}}}
    return pv, pvc


def pv_name(spec: ClusterSpec, namespace: str) -> str:
    return f"{namespace}-{_serving(spec).model.export.replace('/', '-')}"


# --- the engine --------------------------------------------------------------------------------------------


def _security(multi_node: bool) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if multi_node:
        caps["add"] = ["IPC_LOCK"]
    return {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
            "capabilities": caps, "seccompProfile": {"type": "RuntimeDefault"}}


def _resources(lay: Layout) -> dict[str, Any]:
    limits = {GPU_RESOURCE: str(lay.gpus_per_pod)}
    if lay.multi_node:
        limits[RDMA_RESOURCE] = "1"
    return {"limits": limits, "requests": dict(limits)}


def _env(extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    env = {**TELEMETRY_OFF, "HOME": "/cache", "XDG_CACHE_HOME": "/cache", "VLLM_CONFIG_ROOT": "/cache/vllm",
           **(extra or {})}
    return [{"name": k, "value": v} for k, v in env.items()]


def _volumes() -> list[dict[str, Any]]:
    return [{"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}},
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            {"name": "cache", "emptyDir": {}}]


def _mounts() -> list[dict[str, Any]]:
    return [{"name": "models", "mountPath": MODEL_MOUNT, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"}, {"name": "cache", "mountPath": "/cache"}]


def serve_args(spec: ClusterSpec, lay: Layout, model_path: str | None = None) -> list[str]:
    s = _serving(spec)
    args = ["vllm", "serve", f"{MODEL_MOUNT}/{model_path or s.model.path}", "--served-model-name", s.model.name,
            "--tensor-parallel-size", str(lay.tensor_parallel), "--max-model-len", str(s.max_model_len),
            "--port", str(s.port)]
    if lay.pipeline_parallel > 1:
        args += ["--pipeline-parallel-size", str(lay.pipeline_parallel)]
    if lay.multi_node:
        args += ["--distributed-executor-backend", "ray"]
    return args


def _probes(port: int) -> dict[str, Any]:
    http = {"httpGet": {"path": "/health", "port": port}}
    # Loading hundreds of GiB of weights takes minutes: the startup probe allows 30 of them.
    return {"startupProbe": {**http, "periodSeconds": 10, "failureThreshold": 180},
            "readinessProbe": {**http, "periodSeconds": 10, "failureThreshold": 3},
            "livenessProbe": {**http, "periodSeconds": 30, "failureThreshold": 5}}


def _pod(spec: ClusterSpec, lay: Layout, container: dict[str, Any]) -> dict[str, Any]:
    return {"runtimeClassName": NVIDIA_RUNTIME, "enableServiceLinks": False, "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                "fsGroup": 1000},
            "terminationGracePeriodSeconds": 120, "containers": [container], "volumes": _volumes()}


def engine_container(spec: ClusterSpec, lay: Layout, role: str = "single",
                     workload: Workload | None = None) -> dict[str, Any]:
    s = _serving(spec)
    workload = workload or workloads(spec)[0]
    if role == "worker":
        command = f"bash {MULTI_NODE_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS) --disable-usage-stats"
        probes: dict[str, Any] = {}
        ports: list[dict[str, Any]] = []
    else:
        serve = " ".join(serve_args(spec, lay, workload.model_path))
        command = (f"bash {MULTI_NODE_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE) --disable-usage-stats; "
                   f"exec {serve}") if role == "leader" else f"exec {serve}"
        probes = _probes(s.port)
        ports = [{"name": "http", "containerPort": s.port}]
        if role == "leader":
            ports.append({"name": "ray", "containerPort": RAY_PORT})
    return {"name": "engine", "image": workload.image, "command": ["sh", "-c", command], "env": _env(),
            "ports": ports, "resources": _resources(lay), "securityContext": _security(lay.multi_node),
            "volumeMounts": _mounts(), **probes}


def deployment_spec(spec: ClusterSpec, lay: Layout, replicas: int, workload: Workload | None = None
                    ) -> dict[str, Any]:
    w = workload or workloads(spec)[0]
    return {"replicas": replicas, "selector": {"matchLabels": dict(w.labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": dict(w.labels)},
                         "spec": _pod(spec, lay, engine_container(spec, lay, workload=w))}}


def leaderworkerset_spec(spec: ClusterSpec, lay: Layout, replicas: int, workload: Workload | None = None
                         ) -> dict[str, Any]:
    w = workload or workloads(spec)[0]
    leader = {"metadata": {"labels": {**w.labels, "role": "leader"}},
              "spec": _pod(spec, lay, engine_container(spec, lay, "leader", w))}
    worker = {"metadata": {"labels": {**w.labels, "role": "worker"}},
              "spec": _pod(spec, lay, engine_container(spec, lay, "worker", w))}
    return {"replicas": replicas, "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": {"size": lay.nodes_per_replica, "restartPolicy": "RecreateGroupOnPodRestart",
                                     "leaderTemplate": leader, "workerTemplate": worker}}


def lws_annotations() -> dict[str, str]:
    return {EXCLUSIVE_TOPOLOGY: PLACEMENT_LABEL}


def engine_service(spec: ClusterSpec, lay: Layout, selector: dict[str, str] | None = None) -> dict[str, Any]:
    """The Service the gateway calls: the API port of the release that takes traffic (`selector`, from the
    release state; none without `serving.release`), leaders only for a LeaderWorkerSet."""
    base = {**ENGINE_LABELS, "role": "leader"} if lay.multi_node else dict(ENGINE_LABELS)
    port = _serving(spec).port
    return {"selector": {**base, **(selector or {})}, "ports": [{"name": "http", "port": port, "targetPort": port}]}


def metrics_service(spec: ClusterSpec, lay: Layout) -> dict[str, Any]:
    """A headless Service over every release's API port, for the ServiceMonitor only (nothing calls it)."""
    base = {**ENGINE_LABELS, "role": "leader"} if lay.multi_node else dict(ENGINE_LABELS)
    port = _serving(spec).port
    return {"clusterIP": "None", "selector": base, "ports": [{"name": "http", "port": port, "targetPort": port}]}


def metrics_service_labels() -> dict[str, str]:
    return {**ENGINE_LABELS, METRICS_LABEL: "engine"}


def engine_service_monitor(spec: ClusterSpec, namespace: str) -> dict[str, Any]:
    """Scrapes `/metrics` of every release's pods through the metrics Service; `job` stays `podforge-engine`
    (jobLabel app.kubernetes.io/name) and, with `serving.release`, each target carries its pod's release label
    (podTargetLabels; Prometheus writes `podforge.io/release` as `podforge_io_release`)."""
    out: dict[str, Any] = {"selector": {"matchLabels": {METRICS_LABEL: "engine"}},
                           "namespaceSelector": {"matchNames": [namespace]}, "jobLabel": "app.kubernetes.io/name",
                           "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}]}
    release = _serving(spec).release
    if release is not None:
        out["podTargetLabels"] = [release.label]
    return out


def pdb_spec(workload: Workload | None = None) -> dict[str, Any]:
    """One pod of the workload (so one group of a multi-node engine) disrupted at a time, by drains and
    evictions."""
    labels = workload.labels if workload is not None else ENGINE_LABELS
    return {"maxUnavailable": 1, "selector": {"matchLabels": dict(labels)}}


# --- network policies ---------------------------------------------------------------------------------------


def network_policies(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, dict[str, Any]]:
    """Name → NetworkPolicy spec: deny everything, then allow only gateway → engine, engine ↔ engine (one
    group's Ray and NCCL traffic), DNS, Prometheus → engine and gateway metrics, the ingress controller →
    gateway, and gateway → the audit brokers when the gateway is deployed with an audit topic."""
    port = _serving(spec).port
    engine = {"matchLabels": dict(ENGINE_LABELS)}
    gateway = {"matchLabels": dict(GATEWAY_LABELS)}
    dns = [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "gateway-to-engine": {"podSelector": engine, "policyTypes": ["Ingress"],
                              "ingress": [{"from": [{"podSelector": gateway}],
                                           "ports": [{"protocol": "TCP", "port": port}]}]},
        "gateway-egress-to-engine": {"podSelector": gateway, "policyTypes": ["Egress"],
                                     "egress": [{"to": [{"podSelector": engine}],
                                                 "ports": [{"protocol": "TCP", "port": port}]}, *dns]},
        "engine-group": {"podSelector": engine, "policyTypes": ["Ingress", "Egress"],
                         "ingress": [{"from": [{"podSelector": engine}]}],
                         "egress": [{"to": [{"podSelector": engine}]}, *dns]},
        "prometheus-to-engine": {"podSelector": engine, "policyTypes": ["Ingress"],
                                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                     "kubernetes.io/metadata.name": platform.monitoring_namespace}}}],
                                     "ports": [{"protocol": "TCP", "port": port}]}]},
        "ingress-controller-to-gateway": {"podSelector": gateway, "policyTypes": ["Ingress"],
                                          "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                              "kubernetes.io/metadata.name": "ingress-nginx"}}}],
                                              "ports": [{"protocol": "TCP", "port": GATEWAY_PORT}]}]},
        "prometheus-to-gateway": {"podSelector": gateway, "policyTypes": ["Ingress"],
                                  "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                      "kubernetes.io/metadata.name": platform.monitoring_namespace}}}],
                                      "ports": [{"protocol": "TCP", "port": GATEWAY_PORT}]}]},
        **_gateway_egress_to_kafka(spec, platform, gateway),
    }


def _gateway_egress_to_kafka(spec: ClusterSpec, platform: InferencePlatform,
                             gateway: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """With `gateway.audit_topic`, the gateway may reach the audit cluster's pods on the brokers' ports:
    pods labelled `strimzi.io/cluster: <cluster>` (the label Strimzi puts on every resource of a Kafka cluster,
    the one KafkaTopic uses above) in the topic operator's namespace. Nothing else leaves the gateway pod."""
    g = spec.gateway
    if g is None or g.image is None or not g.audit_topic or not g.audit_bootstrap_servers:
        return {}
    ports = sorted({int(server.rsplit(":", 1)[1]) for server in g.audit_bootstrap_servers})
    kafka = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": platform.audit_topics.namespace}},
             "podSelector": {"matchLabels": {"strimzi.io/cluster": platform.audit_topics.cluster}}}
    return {"gateway-egress-to-kafka": {"podSelector": gateway, "policyTypes": ["Egress"],
                                        "egress": [{"to": [kafka],
                                                    "ports": [{"protocol": "TCP", "port": p} for p in ports]}]}}


# --- RBAC ---------------------------------------------------------------------------------------------------

_READ = ["get", "list", "watch"]
_WRITE = [*_READ, "create", "update", "patch", "delete"]
_ACTION_RULES: dict[str, list[dict[str, Any]]] = {
    "cluster:configure": [{"apiGroups": ["", "apps", "leaderworkerset.x-k8s.io", "policy"],
                           "resources": ["pods", "services", "deployments", "leaderworkersets",
                                         "poddisruptionbudgets"], "verbs": _READ}],
    "deployment:manage": [{"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _WRITE},
                          {"apiGroups": ["leaderworkerset.x-k8s.io"], "resources": ["leaderworkersets"],
                           "verbs": _WRITE},
                          {"apiGroups": [""], "resources": ["pods", "services", "configmaps",
                                                            "persistentvolumeclaims"], "verbs": _WRITE},
                          {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE}],
    "keys:manage": [{"apiGroups": [""], "resources": ["secrets"], "verbs": _WRITE}],
    "certificates:issue": [{"apiGroups": ["cert-manager.io"],
                            "resources": ["certificates", "certificaterequests", "issuers"], "verbs": _WRITE}],
    "access:grant": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                      "verbs": _WRITE}],
    "policy:edit": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _WRITE}],
    "audit:read": [{"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": _READ}],
    "model:tune": [{"apiGroups": ["apps", "leaderworkerset.x-k8s.io"],
                    "resources": ["deployments", "leaderworkersets"], "verbs": _READ},
                   {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}],
    "model:release": [{"apiGroups": ["apps", "leaderworkerset.x-k8s.io"],
                       "resources": ["deployments", "leaderworkersets"], "verbs": ["patch", "update"]}],
    "inference:read": [{"apiGroups": [""], "resources": ["services"], "verbs": _READ}],
    "metrics:view": [{"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors", "prometheusrules"],
                      "verbs": _READ}],
    "inference:invoke": [{"apiGroups": [""], "resources": ["services"], "resourceNames": [GATEWAY],
                          "verbs": ["get"]}],
}
"""Each `AREA:VERB` of the access model → the Kubernetes rules it needs in the inference namespace. Actions of
the API (e.g. `inference:invoke`) become read access to what a client must find; an unknown action grants
nothing."""


def role_rules(spec: ClusterSpec) -> dict[AccessRole, list[dict[str, Any]]]:
    """Role → its rules (without duplicates), from the spec's permissions; roles that need none are absent."""
    out: dict[AccessRole, list[dict[str, Any]]] = {}
    for role, grant in spec.access.roles.items():
        rules: list[dict[str, Any]] = []
        for permission in grant.permissions:
            for rule in _ACTION_RULES.get(permission.action, []):
                if rule not in rules:
                    rules.append(rule)
        if rules:
            out[role] = rules
    return out


def role_name(role: AccessRole) -> str:
    return f"podforge-{role.value.replace('_', '-')}"


def group_of(platform: InferencePlatform, role: AccessRole) -> str:
    return platform.group_prefix + platform.groups.get(role, role_name(role))


# --- TLS ----------------------------------------------------------------------------------------------------


def ingress_host(spec: ClusterSpec, platform: InferencePlatform) -> str:
    return platform.ingress.host or f"inference.{spec.keys.vault.pki.allowed_domains[0]}"


def cert_duration_seconds(spec: ClusterSpec) -> int:
    """The Vault PKI's certificate lifetime, capped at 72 h."""
    return min(seconds(spec.keys.vault.pki.cert_ttl), MAX_CERT_SECONDS)


def issuer_spec(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, Any]:
    """The Vault Issuer: sign at the service PKI role, log in with a token of cert-manager's own service account
    that also carries the API server's audience, so Vault can review it with itself (components.vault.
    kubernetes_auth)."""
    vault = spec.keys.vault
    account = {"name": vault_auth.SERVICE_ACCOUNT, "audiences": [platform.vault_auth.api_audience]}
    return {"vault": {"server": vault.address, "path": f"{vault.pki.intermediate_mount}/sign/{PKI_ROLE}",
                      "auth": {"kubernetes": {"role": vault_auth.ROLE, "mountPath": vault_auth.mount_path(platform),
                                              "serviceAccountRef": account}}}}


def certificate_spec(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, Any]:
    duration = cert_duration_seconds(spec)
    algorithm = {"ec": "ECDSA", "rsa": "RSA", "ed25519": "Ed25519"}[spec.keys.vault.pki.key_type]
    key: dict[str, Any] = {"algorithm": algorithm, "rotationPolicy": "Always"}
    if algorithm != "Ed25519":
        key["size"] = spec.keys.vault.pki.key_bits
    return {"secretName": "inference-tls", "duration": f"{duration // 3600}h",
            "renewBefore": f"{duration // 3 // 3600}h", "dnsNames": [ingress_host(spec, platform)],
            "privateKey": key, "issuerRef": {"name": vault_auth.ISSUER, "kind": "Issuer", "group": "cert-manager.io"}}


def ingress_spec(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, Any]:
    host = ingress_host(spec, platform)
    return {"ingressClassName": platform.ingress.class_name,
            "tls": [{"hosts": [host], "secretName": "inference-tls"}],
            "rules": [{"host": host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": GATEWAY, "port": {"number": GATEWAY_PORT}}}}]}}]}


# --- audit topics -------------------------------------------------------------------------------------------


def audit_topics(spec: ClusterSpec, platform: InferencePlatform) -> dict[str, dict[str, Any]]:
    """Topic name → KafkaTopic spec: requests and responses, ordinary and tagged-important, each kept as long as
    the spec's retention says for its kind."""
    t = platform.audit_topics
    out: dict[str, dict[str, Any]] = {}
    for stream in ("requests", "responses"):
        for suffix, days in (("", spec.retention.data_days), ("-important", spec.retention.important_data_days)):
            out[f"podforge-audit-{stream}{suffix}"] = {
                "partitions": t.partitions, "replicas": t.replicas,
                "config": {"retention.ms": str(days * MS_PER_DAY), "cleanup.policy": "delete",
                           "min.insync.replicas": str(min(2, t.replicas))}}
    return out


# --- operators ----------------------------------------------------------------------------------------------


def gpu_operator_values(platform: InferencePlatform) -> dict[str, Any]:
    """Values of NVIDIA's gpu-operator chart: DGX OS preinstalls the driver and the container toolkit, so the
    operator deploys neither (GPU Operator docs, chart customization options: `driver.enabled` "Set this value to
    false when using the Operator on systems with pre-installed drivers", `toolkit.enabled`, `nfd.enabled`,
    `dcgmExporter.enabled`, `dcgmExporter.serviceMonitor.enabled`)."""
    values: dict[str, Any] = {"driver": {"enabled": False}, "toolkit": {"enabled": False}, "nfd": {"enabled": True},
                              "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}}}
    if platform.charts.image_registry:
        values["operator"] = {"repository": platform.charts.image_registry}
    return values


def network_operator_values() -> dict[str, Any]:
    """Values of NVIDIA's network-operator chart: NFD comes from the GPU Operator ("Deploying NFD from either …
    will have the correct configurations for both Operators", Network Operator deployment guide)."""
    return {"nfd": {"enabled": False}, "sriovNetworkOperator": {"enabled": False}}


def nic_cluster_policy_spec(platform: InferencePlatform) -> dict[str, Any]:
    """Only the RDMA shared device plugin: no `ofedDriver` section, so the operator deploys no DOCA-OFED driver
    container (DGX OS ships DOCA-OFED; the spec pins it in software.doca_ofed)."""
    repository = platform.charts.image_registry or "nvcr.io/nvidia/mellanox"
    config = {"configList": [{"resourceName": RDMA_RESOURCE.split("/", 1)[1], "rdmaHcaMax": 63,
                              "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]}}]}
    return {"rdmaSharedDevicePlugin": {"image": "k8s-rdma-shared-dev-plugin", "repository": repository,
                                       "version": f"network-operator-v{platform.charts.network_operator_version}",
                                       "config": json.dumps(config)}}
