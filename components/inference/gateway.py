"""The gateway's Kubernetes objects as plain data (InferenceStack declares each as its own pulumi_kubernetes
resource): the pods that `ingress-controller-to-gateway` admits and `gateway-egress-to-engine` lets call the
engine, running `podforge gateway serve` against the engine Service, behind the Ingress. Declared only when the
spec's `gateway.image` names an image; docs/inference.md, "The gateway".

One replica, its key store and audit log on one ReadWriteOnce volume:
- the audit log is one hash chain per writer (components.gateway.audit), kept `retention.audit_log_days`
  (180) by the gateway itself, so it needs a volume that outlives the pod; an emptyDir would lose it with
  the pod;
- the key store is one file every replica must read and `POST /admin/keys` writes; two replicas would each
  need the same store and a chain of their own, which a ReadWriteOnce volume cannot give (docs/inference.md
  names what more replicas would take).
So the Deployment is one pod, replaced with `Recreate` (a ReadWriteOnce volume is attached to one node at a
time), and there is no PodDisruptionBudget: for a single-instance stateful application the Kubernetes docs
("Specifying a Disruption Budget for your Application", "Single-instance Stateful Application") give "do not
use a PDB and tolerate occasional downtime" or maxUnavailable 0, which would stop every node drain.

Sources of the names used here:
- Pod Security `restricted` (runAsNonRoot, seccompProfile RuntimeDefault or Localhost, capabilities drop ALL,
  allowPrivilegeEscalation false): Kubernetes docs, "Pod Security Standards", Restricted.
- `readOnlyRootFilesystem`, `automountServiceAccountToken`, `enableServiceLinks`, the downward API and
  `$(VAR)` references in a container's command: Kubernetes API reference, Container / PodSpec.
- ConfigMap volume `items` (key → relative `path`): Kubernetes docs, "Configure a Pod to Use a ConfigMap",
  "Add ConfigMap data to a specific path in the Volume".
- ServiceMonitor endpoint `authorization` (type Bearer, `credentials`: a key of a Secret in the
  ServiceMonitor's namespace): prometheus-operator API reference, Endpoint and SafeAuthorization.
"""

from __future__ import annotations

from typing import Any

from components.inference import manifests as m
from components.render import gateway_project as project
from components.render.gateway_project import AUDIT_LOG, KEY_STORE, PROJECT_DIR, STATE_DIR, UID
from components.spec import ClusterSpec
from components.spec.inference import InferencePlatform

NAME = m.GATEWAY
PORT_NAME = "http"
HEALTH_PATH = "/health"
"""The gateway's unauthenticated health endpoint (components/gateway/app.py, `GET /health`: 200 while an
engine replica is healthy, else 503)."""
METRICS_PATH = "/metrics"
"""Prometheus text, permission `metrics:view` (components/gateway/app.py)."""
CONFIG_NAME = f"{NAME}-project"
STATE_CLAIM = f"{NAME}-state"
METRICS_SECRET = f"{NAME}-metrics"
"""Secret (in the platform namespace) whose key `token` is an API key of a role with `metrics:view`, which
Prometheus sends to `/metrics`; the security administrator creates it (docs/inference.md, "The gateway")."""
METRICS_SECRET_KEY = "token"
RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}
"""Starting values, not measurements: the gateway is one uvicorn process (one core for the event loop, more for
the thread pool of desensitization); measure under the site's load and adjust."""


def enabled(spec: ClusterSpec) -> bool:
    """Whether the serving stack declares the gateway: only with `gateway.image`."""
    return spec.gateway.image is not None


def engine_url(spec: ClusterSpec, platform: InferencePlatform) -> str:
    """The engine Service's cluster DNS name and API port (manifests.engine_service)."""
    return f"http://{m.ENGINE}.{platform.namespace}.svc:{m._serving(spec).port}"


def pod_spec_text(spec: ClusterSpec) -> str:
    """The spec as the pod reads it: without `gateway.tls`. On Kubernetes the Ingress terminates TLS with
    cert-manager's certificate; the pod serves plain HTTP behind it and holds no Vault token."""
    return project.spec_text(spec, tls=False)


def config_data(spec: ClusterSpec, stack: str, jwks_text: str | None = None) -> dict[str, str]:
    """The ConfigMap's data: the project's files (components.render.gateway_project), the spec without TLS."""
    return project.project_files(spec, stack, tls=False, jwks_text=jwks_text)


def _config_items(spec: ClusterSpec, stack: str) -> list[dict[str, str]]:
    return [{"key": k, "path": p} for k, p in project.file_paths(spec, stack).items()]


def serve_command(spec: ClusterSpec, platform: InferencePlatform, stack: str) -> list[str]:
    return ["podforge", "gateway", "serve", "--stack", stack, "--listen", f"0.0.0.0:{m.GATEWAY_PORT}",
            "--engine", engine_url(spec, platform), "--key-store", KEY_STORE, "--audit-log", AUDIT_LOG]


def security_context() -> dict[str, Any]:
    """Pod Security `restricted`, and a read-only root file system."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "runAsUser": UID, "runAsGroup": UID, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def probes() -> dict[str, Any]:
    http = {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}}
    # /health answers 503 while no engine replica is healthy: not ready then (no traffic), but alive (the
    # engine loads its weights for up to 30 minutes; restarting the gateway would not help).
    return {"readinessProbe": {**http, "periodSeconds": 10, "failureThreshold": 3},
            "livenessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 20, "failureThreshold": 3}}


def container(spec: ClusterSpec, platform: InferencePlatform, stack: str) -> dict[str, Any]:
    return {"name": "gateway", "image": spec.gateway.image, "command": serve_command(spec, platform, stack),
            "env": [{"name": "PODFORGE_PROJECT_DIR", "value": PROJECT_DIR}, {"name": "HOME", "value": "/tmp"}],
            "ports": [{"name": PORT_NAME, "containerPort": m.GATEWAY_PORT, "protocol": "TCP"}],
            "resources": RESOURCES, "securityContext": security_context(),
            "volumeMounts": [{"name": "project", "mountPath": PROJECT_DIR, "readOnly": True},
                             {"name": "state", "mountPath": STATE_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
            **probes()}


def deployment_spec(spec: ClusterSpec, platform: InferencePlatform, stack: str) -> dict[str, Any]:
    labels = dict(m.GATEWAY_LABELS)
    pod = {"serviceAccountName": NAME, "automountServiceAccountToken": False, "enableServiceLinks": False,
           "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": UID},
           "terminationGracePeriodSeconds": 30, "containers": [container(spec, platform, stack)],
           "volumes": [{"name": "project", "configMap": {"name": CONFIG_NAME, "items": _config_items(spec, stack)}},
                       {"name": "state", "persistentVolumeClaim": {"claimName": STATE_CLAIM}},
                       {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}
    return {"replicas": 1, "selector": {"matchLabels": labels}, "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": pod}}


def state_claim_spec(spec: ClusterSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": spec.gateway.state_size}}}
    if spec.gateway.state_storage_class is not None:
        out["storageClassName"] = spec.gateway.state_storage_class
    return out


def service_spec() -> dict[str, Any]:
    """Service `podforge-gateway`: the Ingress backend's port, to the container's (the port the network policy
    `ingress-controller-to-gateway` admits)."""
    return {"selector": dict(m.GATEWAY_LABELS),
            "ports": [{"name": PORT_NAME, "port": m.GATEWAY_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}]}


def service_labels() -> dict[str, str]:
    return {**m.GATEWAY_LABELS, m.METRICS_LABEL: "gateway"}


def service_monitor_spec(namespace: str) -> dict[str, Any]:
    """Scrapes `/metrics` through the Service with the API key in Secret `podforge-gateway-metrics`; job
    `podforge-gateway`."""
    return {"selector": {"matchLabels": {m.METRICS_LABEL: "gateway"}},
            "namespaceSelector": {"matchNames": [namespace]}, "jobLabel": "app.kubernetes.io/name",
            "endpoints": [{"port": PORT_NAME, "path": METRICS_PATH, "interval": "30s",
                           "authorization": {"type": "Bearer", "credentials": {"name": METRICS_SECRET,
                                                                               "key": METRICS_SECRET_KEY}}}]}
