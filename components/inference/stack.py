"""InferenceStack: the `<site>-serving` layer on Kubernetes, every object its own pulumi_kubernetes resource.

Declared by the program for a stack whose config says `podforge:layer: serving` (components/program.py). The
objects come from components.inference.manifests (plain data from the spec); docs/inference.md lists them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_vault as vault

from components import paths
from components import release as machine
from components.autoscale import scaled_object
from components.inference import gateway as gw
from components.inference import manifests as m
from components.inference import releases
from components.inference.observability import alert_groups, dashboard_json
from components.render import gateway_project
from components.spec import ClusterSpec
from components.spec.inference import InferencePlatform
from components.vault import kubernetes_auth as vault_auth

TYPE = "podforge:inference:InferenceStack"
GPU_OPERATOR_NAMESPACE = "gpu-operator"
NETWORK_OPERATOR_NAMESPACE = "nvidia-network-operator"


@dataclass(frozen=True)
class InferenceStackArgs:
    spec: ClusterSpec
    platform: InferencePlatform = field(default_factory=InferencePlatform)
    release_state: machine.ReleaseState | None = None
    """Which release takes traffic (with `serving.release`); None: the spec's active release."""

    @classmethod
    def from_spec(cls, spec: ClusterSpec, platform: InferencePlatform | None = None, *,
                  release_state: machine.ReleaseState | None = None, stack: str | None = None,
                  root: Path | None = None) -> InferenceStackArgs:
        """`platform`: default the spec's `serving.platform`. `release_state`: default the stack's release state
        file, `state/<stack>.release.json` of the project `root` (default: the Pulumi stack being run and the
        project directory), which `podforge release promote|rollback --stack <stack>` writes; without that file
        the spec's active release takes traffic."""
        serving = m._serving(spec)
        if serving.release is not None and release_state is None:
            try:
                release_state = releases.release_state(spec, stack or pulumi.get_stack(), root or paths.project_root())
            except releases.ReleaseStateError as exc:
                raise pulumi.RunError(str(exc)) from None
        return cls(spec, platform or serving.platform, release_state)


class InferenceStack(pulumi.ComponentResource):
    namespace: str
    layout: m.Layout
    engine: k8s.apps.v1.Deployment | k8s.apiextensions.CustomResource
    """The workload of the spec's active release (the only one without `serving.release`)."""
    engines: dict[str, k8s.apps.v1.Deployment | k8s.apiextensions.CustomResource]
    """Workload name → its resource: one per declared release, side by side."""
    selector: dict[str, str]
    """The release label and the release that takes traffic, in the engine Service's selector; {} without
    `serving.release`."""
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: InferenceStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec, platform = args.spec, args.platform
        serving = m._serving(spec)
        lay = m.layout(spec)
        ns = platform.namespace
        try:
            workloads = m.workloads(spec)
            state = args.release_state
            if serving.release is not None and state is None:
                state = machine.initial(serving.release, time.time())
            selector = releases.selector(state, spec) if state is not None else {}
        except ValueError as exc:
            raise pulumi.RunError(str(exc)) from None
        super().__init__(TYPE, name, {"namespace": ns, "engine": serving.engine, "model": serving.model.name,
                                      "tensorParallel": lay.tensor_parallel, "pipelineParallel": lay.pipeline_parallel,
                                      "nodesPerReplica": lay.nodes_per_replica,
                                      "workloadNames": [w.name for w in workloads], "serviceSelector": selector},
                         opts)
        self.namespace, self.layout, self.selector = ns, lay, selector
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", opts=child, metadata=m.meta(
            ns, labels={**m.pod_security_labels(lay), "app.kubernetes.io/part-of": "podforge"}))
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def cr(res: str, api_version: str, kind: str, metadata: dict, spec_: dict,
               opts_: pulumi.ResourceOptions = in_ns) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(res, opts=opts_, api_version=api_version, kind=kind,
                                                    metadata=metadata, spec=spec_)

        # Node side: the RuntimeClass of the containerd runtime kubespray configures, and the operators.
        k8s.node.v1.RuntimeClass(f"{name}-runtimeclass", opts=child, metadata=m.meta(m.NVIDIA_RUNTIME),
                                 handler=m.NVIDIA_RUNTIME)
        self.releases = self._operators(name, platform, cr)

        # The model volume, read-only from the array's export.
        pv, pvc = m.model_volume(spec, ns)
        volume = k8s.core.v1.PersistentVolume(f"{name}-models-pv", opts=child, metadata=m.meta(m.pv_name(spec, ns)),
                                              spec=pv)
        claim = k8s.core.v1.PersistentVolumeClaim(f"{name}-models-pvc", opts=pulumi.ResourceOptions(
            parent=self, depends_on=[namespace, volume]), metadata=m.meta("models", ns), spec=pvc)

        # The engine: a Deployment on one node, a LeaderWorkerSet of Ray leader + workers across nodes; one per
        # declared release (blue-green: active and candidate side by side), each with its PDB and autoscaler.
        with_claim = pulumi.ResourceOptions(parent=self, depends_on=[namespace, claim])
        self.engines = {}
        for w in workloads:
            suffix = "" if w.release is None else f"-{w.release}"
            engine_meta = m.meta(w.name, ns, w.labels)
            engine: k8s.apps.v1.Deployment | k8s.apiextensions.CustomResource
            if lay.multi_node:
                engine = cr(f"{name}-engine{suffix}", "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet",
                            {**engine_meta, "annotations": m.lws_annotations()},
                            m.leaderworkerset_spec(spec, lay, platform.replicas, w), with_claim)
            else:
                engine = k8s.apps.v1.Deployment(f"{name}-engine{suffix}", opts=with_claim, metadata=engine_meta,
                                                spec=m.deployment_spec(spec, lay, platform.replicas, w))
            self.engines[w.name] = engine
            k8s.policy.v1.PodDisruptionBudget(f"{name}-engine-pdb{suffix}", opts=in_ns, metadata=m.meta(w.name, ns),
                                              spec=m.pdb_spec(w))
            self._autoscaling(f"{name}-engine-scaledobject{suffix}", platform, ns, lay, w, cr, engine)
        self.engine = self.engines[workloads[0].name]
        # The one Service the gateway calls selects the release that takes traffic; a second, headless one
        # spans every release for the ServiceMonitor.
        k8s.core.v1.Service(f"{name}-engine-service", opts=in_ns, metadata=m.meta(m.ENGINE, ns, m.ENGINE_LABELS),
                            spec=m.engine_service(spec, lay, self.selector))
        k8s.core.v1.Service(f"{name}-engine-metrics", opts=in_ns,
                            metadata=m.meta(m.METRICS_SERVICE, ns, m.metrics_service_labels()),
                            spec=m.metrics_service(spec, lay))

        for policy, policy_spec in m.network_policies(spec, platform).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-netpol-{policy}", opts=in_ns, metadata=m.meta(policy, ns),
                                            spec=policy_spec)
        for role, rules in m.role_rules(spec).items():
            role_name = m.role_name(role)
            k8s.rbac.v1.Role(f"{name}-role-{role_name}", opts=in_ns, metadata=m.meta(role_name, ns), rules=rules)
            k8s.rbac.v1.RoleBinding(
                f"{name}-rolebinding-{role_name}", opts=in_ns, metadata=m.meta(role_name, ns),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                subjects=[{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                           "name": m.group_of(platform, role)}])

        self._tls(name, spec, platform, ns, cr, in_ns)
        self._gateway(name, spec, platform, ns, cr, in_ns)
        self._observability(name, spec, platform, ns, cr, in_ns, child)
        for topic, topic_spec in m.audit_topics(spec, platform).items():
            cr(f"{name}-topic-{topic}", "kafka.strimzi.io/v1beta2", "KafkaTopic",
               m.meta(topic, platform.audit_topics.namespace, {"strimzi.io/cluster": platform.audit_topics.cluster}),
               topic_spec, child)
        self.register_outputs({})

    def _operators(self, name: str, platform: InferencePlatform, cr) -> dict[str, k8s.helm.v3.Release]:
        """The GPU and Network Operators from the spec's chart repository; none without one (the operators are
        then the site's to install, and nothing is ever fetched from the vendors' public repositories)."""
        repo = platform.charts.repository
        if repo is None:
            return {}
        child = pulumi.ResourceOptions(parent=self)
        releases = {
            "gpu-operator": k8s.helm.v3.Release(
                f"{name}-gpu-operator", opts=child, name="gpu-operator", chart="gpu-operator",
                version=platform.charts.gpu_operator_version, namespace=GPU_OPERATOR_NAMESPACE, create_namespace=True,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo), values=m.gpu_operator_values(platform)),
            "network-operator": k8s.helm.v3.Release(
                f"{name}-network-operator", opts=child, name="network-operator", chart="network-operator",
                version=platform.charts.network_operator_version, namespace=NETWORK_OPERATOR_NAMESPACE,
                create_namespace=True, repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
                values=m.network_operator_values()),
        }
        cr(f"{name}-nic-cluster-policy", "mellanox.com/v1alpha1", "NicClusterPolicy", m.meta("nic-cluster-policy"),
           m.nic_cluster_policy_spec(platform),
           pulumi.ResourceOptions(parent=self, depends_on=[releases["network-operator"]]))
        return releases

    def _autoscaling(self, resource: str, platform: InferencePlatform, ns: str, lay: m.Layout, w: m.Workload,
                     cr, engine: pulumi.Resource) -> None:
        """The KEDA ScaledObject of one workload that runs the article's rule plus the queue-depth trigger
        (components.autoscale), between the platform's replicas and max_replicas."""
        target = ({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": w.name}
                  if lay.multi_node else {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name})
        obj = scaled_object(w.name, ns, target, platform.replicas, platform.max_replicas,
                            prometheus_url=platform.prometheus_url, labels=w.labels)
        cr(resource, obj["apiVersion"], obj["kind"], obj["metadata"], obj["spec"],
           pulumi.ResourceOptions(parent=self, depends_on=[engine]))

    def _tls(self, name: str, spec: ClusterSpec, platform: InferencePlatform, ns: str, cr,
             in_ns: pulumi.ResourceOptions) -> None:
        """cert-manager issues the ingress certificate from Vault's PKI; it logs in to Vault with a token of
        its own service account here, which it may request (cert-manager docs, Vault issuer, "Secretless
        Authentication with a Service Account"), and Vault checks that token with the Kubernetes auth method
        declared below (components.vault.kubernetes_auth)."""
        sa = vault_auth.SERVICE_ACCOUNT
        account = k8s.core.v1.ServiceAccount(f"{name}-cert-manager-sa", opts=in_ns, metadata=m.meta(sa, ns))
        k8s.rbac.v1.Role(f"{name}-cert-manager-token", opts=in_ns, metadata=m.meta(f"{sa}-token", ns),
                         rules=[{"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [sa],
                                 "verbs": ["create"]}])
        k8s.rbac.v1.RoleBinding(f"{name}-cert-manager-token", opts=in_ns, metadata=m.meta(f"{sa}-token", ns),
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": f"{sa}-token"},
                                subjects=[{"kind": "ServiceAccount", "name": "cert-manager",
                                           "namespace": "cert-manager"}])
        # Vault reviews the login token with the token itself: its service account may create TokenReviews.
        delegator = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cert-manager-auth-delegator", opts=pulumi.ResourceOptions(parent=self),
            metadata=m.meta(f"{sa}-{ns}-auth-delegator"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            subjects=[{"kind": "ServiceAccount", "name": sa, "namespace": ns}])
        login = self._vault_login(name, spec, platform, depends_on=[account, delegator])
        issuer = cr(f"{name}-issuer", "cert-manager.io/v1", "Issuer", m.meta(vault_auth.ISSUER, ns),
                    m.issuer_spec(spec, platform), pulumi.ResourceOptions(parent=self, depends_on=[login]))
        cert = cr(f"{name}-certificate", "cert-manager.io/v1", "Certificate", m.meta("inference-tls", ns),
                  m.certificate_spec(spec, platform), pulumi.ResourceOptions(parent=self, depends_on=[issuer]))
        k8s.networking.v1.Ingress(f"{name}-ingress", opts=pulumi.ResourceOptions(parent=self, depends_on=[cert]),
                                  metadata=m.meta("inference", ns), spec=m.ingress_spec(spec, platform))

    def _vault_login(self, name: str, spec: ClusterSpec, platform: InferencePlatform,
                     depends_on: list[pulumi.Resource]) -> pulumi.Resource:
        """Vault's side of cert-manager's login: the Kubernetes auth method, its API server, cert-manager's
        policy (sign with the service role only) and the role bound to the service account, namespace and the
        Issuer's audience. Without a token_reviewer_jwt Vault reviews each login's token with itself."""
        auth = platform.vault_auth
        child = pulumi.ResourceOptions(parent=self)
        ca_pem = None
        if auth.ca_file is not None:
            path = paths.project_root() / auth.ca_file
            try:
                ca_pem = path.read_text()
            except OSError as exc:
                raise pulumi.RunError(f"serving.platform.vault_auth.ca_file {auth.ca_file}: cannot read it "
                                      f"({exc.strerror}); copy the cluster CA there (kubespray: "
                                      "/etc/kubernetes/ssl/ca.crt on a control-plane node)") from None
        backend = vault.AuthBackend(f"{name}-vault-kubernetes-auth", opts=child, type="kubernetes",
                                    path=auth.mount, description="podforge: cert-manager's logins")
        config = vault.kubernetes.AuthBackendConfig(
            f"{name}-vault-kubernetes-config", opts=child, backend=backend.path,
            kubernetes_host=vault_auth.kubernetes_host(spec, platform), kubernetes_ca_cert=ca_pem,
            disable_local_ca_jwt=True)
        policy = vault.Policy(f"{name}-vault-cert-manager-policy", opts=child, name=vault_auth.ROLE,
                              policy=vault_auth.policy_text(spec))
        bound = vault_auth.role_binding(platform)
        return vault.kubernetes.AuthBackendRole(
            f"{name}-vault-cert-manager-role", opts=pulumi.ResourceOptions(parent=self,
                                                                           depends_on=[config, *depends_on]),
            backend=backend.path, role_name=vault_auth.ROLE,
            bound_service_account_names=list(bound.service_accounts),
            bound_service_account_namespaces=list(bound.namespaces), audience=bound.audience,
            token_policies=[policy.name], token_ttl=bound.token_ttl, token_max_ttl=bound.token_ttl)

    def _gateway(self, name: str, spec: ClusterSpec, platform: InferencePlatform, ns: str, cr,
                 in_ns: pulumi.ResourceOptions) -> None:
        """The gateway in front of the engine (components.inference.gateway), only with the spec's
        `gateway.image`: its ServiceAccount, the ConfigMap of the project it reads, its volume, the Deployment,
        Service `podforge-gateway` (the Ingress backend) and its ServiceMonitor."""
        if not gw.enabled(spec):
            return
        stack = pulumi.get_stack()
        try:
            jwks_text = gateway_project.read_jwks(spec, paths.project_root())
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise pulumi.RunError(f"gateway.oidc.jwks {gateway_project.jwks_file(spec)}: cannot read it ({reason}); "
                                  "the gateway's pod needs the file") from None
        account = k8s.core.v1.ServiceAccount(f"{name}-gateway-sa", opts=in_ns, metadata=m.meta(gw.NAME, ns),
                                             automount_service_account_token=False)
        config = k8s.core.v1.ConfigMap(f"{name}-gateway-project", opts=in_ns,
                                       metadata=m.meta(gw.CONFIG_NAME, ns, m.GATEWAY_LABELS),
                                       data=gw.config_data(spec, stack, jwks_text))
        claim = k8s.core.v1.PersistentVolumeClaim(f"{name}-gateway-state", opts=in_ns,
                                                  metadata=m.meta(gw.STATE_CLAIM, ns, m.GATEWAY_LABELS),
                                                  spec=gw.state_claim_spec(spec))
        k8s.apps.v1.Deployment(f"{name}-gateway", opts=pulumi.ResourceOptions(
            parent=self, depends_on=[account, config, claim]), metadata=m.meta(gw.NAME, ns, m.GATEWAY_LABELS),
            spec=gw.deployment_spec(spec, platform, stack))
        k8s.core.v1.Service(f"{name}-gateway-service", opts=in_ns, metadata=m.meta(gw.NAME, ns, gw.service_labels()),
                            spec=gw.service_spec())
        cr(f"{name}-servicemonitor-gateway", "monitoring.coreos.com/v1", "ServiceMonitor", m.meta(gw.NAME, ns),
           gw.service_monitor_spec(ns))

    def _observability(self, name: str, spec: ClusterSpec, platform: InferencePlatform, ns: str, cr,
                       in_ns: pulumi.ResourceOptions, child: pulumi.ResourceOptions) -> None:
        cr(f"{name}-servicemonitor-engine", "monitoring.coreos.com/v1", "ServiceMonitor", m.meta(m.ENGINE, ns),
           m.engine_service_monitor(spec, ns))
        # The GPU Operator's dcgm-exporter Service: label app=nvidia-dcgm-exporter, port gpu-metrics.
        cr(f"{name}-servicemonitor-dcgm", "monitoring.coreos.com/v1", "ServiceMonitor",
           m.meta("nvidia-dcgm-exporter", ns),
           {"selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}},
            "namespaceSelector": {"matchNames": [GPU_OPERATOR_NAMESPACE]}, "jobLabel": "app",
            "endpoints": [{"port": "gpu-metrics", "path": "/metrics", "interval": "15s"}]})
        cr(f"{name}-alerts", "monitoring.coreos.com/v1", "PrometheusRule", m.meta("podforge-inference", ns),
           {"groups": alert_groups()})
        # Grafana's dashboard sidecar loads ConfigMaps labelled grafana_dashboard (the grafana chart's
        # sidecar.dashboards.label default).
        k8s.core.v1.ConfigMap(f"{name}-dashboard", opts=child,
                              metadata=m.meta("podforge-inference-dashboard", platform.monitoring_namespace,
                                              {"grafana_dashboard": "1"}),
                              data={"podforge-inference.json": dashboard_json(f"{spec.site.name} inference")})
