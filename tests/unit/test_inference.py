"""InferenceStack: the objects it declares for the serving stacks, engine layouts, network policies, RBAC, TLS,
telemetry, operator releases, audit topics and the observability objects, captured offline (mock runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.inference import InferenceStack, InferenceStackArgs
from components.inference import manifests as m
from components.inference.observability import ALERTS_FILE, CORE_METRICS, alert_groups
from components.offline import capture
from components.offline.capture import run_program
from components.render.kubespray import addons_vars
from components.spec import load_stack_spec
from components.spec.access import AccessRole
from components.spec.inference import Charts, InferencePlatform

K = "kubernetes:"
EXPECTED_TYPES = {
    "core/v1:Namespace", "core/v1:PersistentVolume", "core/v1:PersistentVolumeClaim", "core/v1:Service",
    "core/v1:ConfigMap", "core/v1:ServiceAccount", "node.k8s.io/v1:RuntimeClass", "policy/v1:PodDisruptionBudget",
    "networking.k8s.io/v1:NetworkPolicy", "networking.k8s.io/v1:Ingress", "rbac.authorization.k8s.io/v1:Role",
    "rbac.authorization.k8s.io/v1:RoleBinding", "cert-manager.io/v1:Issuer", "cert-manager.io/v1:Certificate",
    "monitoring.coreos.com/v1:ServiceMonitor", "monitoring.coreos.com/v1:PrometheusRule",
    "kafka.strimzi.io/v1beta2:KafkaTopic", "keda.sh/v1alpha1:ScaledObject",
}


def _spec(stack: str, **serving):
    spec = load_stack_spec(stack)[1].spec
    return spec.model_copy(update={"serving": spec.serving.model_copy(update=serving)}) if serving else spec


def _graph(spec, platform: InferencePlatform | None = None):
    return run_program("test", {}, set(), lambda: InferenceStack(
        f"{spec.site.name}-serving", InferenceStackArgs.from_spec(spec, platform)))


def _one(graph, kind: str):
    found = graph.of_type(K + kind)
    assert len(found) == 1, [r.name for r in found]
    return found[0].inputs


def _named(graph, kind: str, name: str) -> dict:
    """The inputs of the one object of `kind` whose Kubernetes name is `name`."""
    found = [r.inputs for r in graph.of_type(K + kind) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, [r.inputs["metadata"]["name"] for r in graph.of_type(K + kind)]
    return found[0]


def _containers(inputs: dict) -> list[dict]:
    spec = inputs["spec"]
    if "leaderWorkerTemplate" in spec:
        t = spec["leaderWorkerTemplate"]
        return [c for part in ("leaderTemplate", "workerTemplate") for c in t[part]["spec"]["containers"]]
    return spec["template"]["spec"]["containers"]


@pytest.mark.parametrize("stack", ["lab-serving", "superpod-serving"])
def test_serving_stacks_declare_every_object(stack: str) -> None:
    graph = capture(stack)
    assert len(graph.of_type("podforge:inference:InferenceStack")) == 1
    assert not graph.of_type("podforge:cluster:GpuCluster")
    types = {t.removeprefix(K) for t in graph.counts() if t.startswith(K)}
    assert EXPECTED_TYPES <= types
    assert types & {"apps/v1:Deployment", "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"}
    assert len(graph.of_type(K + "kafka.strimzi.io/v1beta2:KafkaTopic")) == 4
    assert len(graph.of_type(K + "monitoring.coreos.com/v1:ServiceMonitor")) == 2


def test_the_plan_command_lists_the_inference_objects(capsys) -> None:
    assert main(["plan", "--stack", "lab-serving"]) == 0
    out = capsys.readouterr().out
    assert "podforge:inference:InferenceStack  lab-serving" in out
    assert "kubernetes:networking.k8s.io/v1:NetworkPolicy  lab-serving-netpol-default-deny" in out


def test_single_node_layout_is_a_deployment_under_restricted_pod_security() -> None:
    graph = _graph(_spec("superpod", tensor_parallel_size=8, pipeline_parallel_size=1))
    assert not graph.of_type(K + "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")
    deployment = _one(graph, "apps/v1:Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["runtimeClassName"] == "nvidia"
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    labels = _one(graph, "core/v1:Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_multi_node_layout_is_a_leaderworkerset_with_rdma_and_exclusive_placement() -> None:
    graph = _graph(_spec("superpod", tensor_parallel_size=8, pipeline_parallel_size=2))
    assert not graph.of_type(K + "apps/v1:Deployment")
    lws = _one(graph, "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2 and template["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert lws["metadata"]["annotations"] == {"leaderworkerset.sigs.k8s.io/exclusive-topology": "podforge.io/leaf-group"}
    leader, worker = (template[p]["spec"]["containers"][0] for p in ("leaderTemplate", "workerTemplate"))
    assert "$(LWS_GROUP_SIZE)" in leader["command"][-1] and "--pipeline-parallel-size 2" in leader["command"][-1]
    assert "--ray_address=$(LWS_LEADER_ADDRESS)" in worker["command"][-1]
    for c in (leader, worker):
        assert c["resources"]["limits"] == {"nvidia.com/gpu": "8", "rdma/rdma_shared_device_a": "1"}
        assert c["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
    labels = _one(graph, "core/v1:Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    # Only the leaders serve the API (and have /metrics).
    assert _named(graph, "core/v1:Service", m.ENGINE)["spec"]["selector"]["role"] == "leader"
    assert _named(graph, "core/v1:Service", m.METRICS_SERVICE)["spec"]["selector"]["role"] == "leader"
    scaled = _one(graph, "keda.sh/v1alpha1:ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"


@pytest.mark.parametrize("pp", [1, 2])
def test_telemetry_is_off_in_every_engine_container(pp: int) -> None:
    graph = _graph(_spec("superpod", tensor_parallel_size=8, pipeline_parallel_size=pp))
    engine = (graph.of_type(K + "apps/v1:Deployment") or
              graph.of_type(K + "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"))[0].inputs
    for container in _containers(engine):
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["VLLM_NO_USAGE_STATS"] == "1" and env["DO_NOT_TRACK"] == "1"
        assert env["RAY_USAGE_STATS_ENABLED"] == "0"


def test_model_volume_is_the_spec_export_read_only() -> None:
    spec = _spec("superpod")
    graph = _graph(spec)
    pv = _one(graph, "core/v1:PersistentVolume")["spec"]
    array = next(a for a in spec.storage.arrays if a.name == spec.serving.model.export.split("/")[0])
    export = next(e for e in array.exports if e.name == spec.serving.model.export.split("/")[1])
    assert pv["nfs"] == {"server": array.data_addresses[0], "path": export.path, "readOnly": True}
    assert pv["accessModes"] == ["ReadOnlyMany"]
    pvc = _one(graph, "core/v1:PersistentVolumeClaim")["spec"]
    assert pvc["volumeName"] == _one(graph, "core/v1:PersistentVolume")["metadata"]["name"]
    mount = next(v for v in _containers(_one(graph, "apps/v1:Deployment"))[0]["volumeMounts"] if v["name"] == "models")
    assert mount["readOnly"] is True


def test_network_policies_deny_by_default_and_admit_only_the_gateway_and_the_group() -> None:
    graph = _graph(_spec("superpod"))
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in graph.of_type(K + "networking.k8s.io/v1:NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    engine = {"matchLabels": m.ENGINE_LABELS}
    to_engine = policies["gateway-to-engine"]
    assert to_engine["podSelector"] == engine
    assert to_engine["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "podforge-gateway"}}}]
    assert to_engine["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    group = policies["engine-group"]
    assert group["ingress"] == [{"from": [{"podSelector": engine}]}]
    assert group["egress"][0] == {"to": [{"podSelector": engine}]}
    # Nothing but these policies admits traffic to the engine pods.
    admitting = {name for name, p in policies.items() if p["podSelector"] == engine and "ingress" in p}
    assert admitting == {"gateway-to-engine", "engine-group", "prometheus-to-engine"}


def test_every_role_is_bound_to_its_identity_provider_group() -> None:
    spec = _spec("lab")
    platform = InferencePlatform(groups={AccessRole.audit_admin: "siem-auditors"})
    graph = _graph(spec, platform)
    bindings = {r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type(K + "rbac.authorization.k8s.io/v1:RoleBinding")}
    roles = {r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type(K + "rbac.authorization.k8s.io/v1:Role")}
    for role in AccessRole:
        name = m.role_name(role)
        assert bindings[name]["roleRef"]["name"] == name and name in roles
        (subject,) = bindings[name]["subjects"]
        assert subject["kind"] == "Group"
    assert bindings["podforge-audit-admin"]["subjects"][0]["name"] == "oidc:siem-auditors"
    assert bindings["podforge-system-admin"]["subjects"][0]["name"] == "oidc:podforge-system-admin"
    # Keys stay with the security administrator: no other role may touch Secrets.
    holders = {n for n, r in roles.items() if any("secrets" in rule["resources"] for rule in r["rules"])}
    assert holders == {"podforge-security-admin"}
    audit = roles["podforge-audit-admin"]["rules"]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in audit)


def test_certificate_from_vault_pki_lasts_at_most_72_hours() -> None:
    spec = load_stack_spec("superpod")[1].spec
    long_pki = spec.keys.vault.pki.model_copy(update={"cert_ttl": "720h"})
    long_spec = spec.model_copy(update={"keys": spec.keys.model_copy(update={"vault": spec.keys.vault.model_copy(
        update={"pki": long_pki})})})
    for s in (spec, long_spec):
        graph = _graph(s)
        cert = _one(graph, "cert-manager.io/v1:Certificate")["spec"]
        hours = int(cert["duration"].removesuffix("h"))
        assert hours <= 72 and int(cert["renewBefore"].removesuffix("h")) < hours
        issuer = _one(graph, "cert-manager.io/v1:Issuer")["spec"]["vault"]
        assert issuer["server"] == s.keys.vault.address
        assert issuer["path"] == f"{s.keys.vault.pki.intermediate_mount}/sign/service"
        assert cert["issuerRef"]["name"] == _one(graph, "cert-manager.io/v1:Issuer")["metadata"]["name"]
    assert m.cert_duration_seconds(long_spec) == 72 * 3600


def test_ingress_is_tls_only_on_the_tls13_controller_kubespray_renders() -> None:
    spec = _spec("superpod")
    platform = InferencePlatform()
    ingress = _one(_graph(spec, platform), "networking.k8s.io/v1:Ingress")["spec"]
    assert ingress["tls"][0]["secretName"] == "inference-tls"
    assert ingress["tls"][0]["hosts"] == [ingress["rules"][0]["host"]]
    controller = addons_vars(platform)
    assert ingress["ingressClassName"] == controller["ingress_nginx_class"]
    assert controller["ingress_nginx_configmap"]["ssl-protocols"] == "TLSv1.3"


def test_operator_releases_only_with_a_chart_repository() -> None:
    spec = _spec("superpod")
    assert not _graph(spec).of_type(K + "helm.sh/v3:Release")
    platform = InferencePlatform(charts=Charts(repository="https://charts.su1.bank.internal/nvidia"))
    graph = _graph(spec, platform)
    releases = {r.inputs["chart"]: r.inputs for r in graph.of_type(K + "helm.sh/v3:Release")}
    assert set(releases) == {"gpu-operator", "network-operator"}
    for release in releases.values():
        assert release["repositoryOpts"] == {"repo": "https://charts.su1.bank.internal/nvidia"}
        assert release["version"]  # pinned
    gpu = releases["gpu-operator"]["values"]
    assert gpu["driver"] == {"enabled": False} and gpu["toolkit"] == {"enabled": False}
    policy = _one(graph, "mellanox.com/v1alpha1:NicClusterPolicy")["spec"]
    assert "ofedDriver" not in policy
    assert json.loads(policy["rdmaSharedDevicePlugin"]["config"])["configList"][0]["resourceName"] == \
        "rdma_shared_device_a"


def test_audit_topics_keep_records_as_the_retention_policy_says() -> None:
    spec = _spec("superpod")
    graph = _graph(spec)
    topics = {r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type(K + "kafka.strimzi.io/v1beta2:KafkaTopic")}
    day = 86_400_000
    for stream in ("requests", "responses"):
        assert topics[f"podforge-audit-{stream}"]["spec"]["config"]["retention.ms"] == str(
            spec.retention.data_days * day)
        assert topics[f"podforge-audit-{stream}-important"]["spec"]["config"]["retention.ms"] == str(
            spec.retention.important_data_days * day)
    assert spec.retention.data_days == 90 and spec.retention.important_data_days == 180
    assert all(t["metadata"]["labels"] == {"strimzi.io/cluster": "podforge-audit"} for t in topics.values())


def test_alert_rules_cover_every_required_signal() -> None:
    text = yaml.safe_load(ALERTS_FILE.read_text())
    exprs = " ".join(rule["expr"] for g in text["groups"] for rule in g["rules"])
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
                   "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "node_infiniband_physical_state_id", "vllm:num_requests_waiting",
                   "vllm:e2e_request_latency_seconds_bucket", "vllm:kv_cache_usage_perc", 'up{job="podforge-engine"}'):
        assert metric in exprs, metric
    assert "gpu_cache_usage_perc" not in exprs  # the name vLLM replaced
    names = [rule["alert"] for g in text["groups"] for rule in g["rules"]]
    assert len(names) == len(set(names))
    rule = _one(_graph(_spec("lab")), "monitoring.coreos.com/v1:PrometheusRule")
    assert rule["spec"]["groups"] == alert_groups()


def test_dashboard_has_the_twelve_core_metrics_each_sourced() -> None:
    graph = _graph(_spec("lab"))
    configmap = _one(graph, "core/v1:ConfigMap")
    assert configmap["metadata"]["labels"] == {"grafana_dashboard": "1"}
    board = json.loads(configmap["data"]["podforge-inference.json"])
    assert len(board["panels"]) == len(CORE_METRICS) == 12
    for panel, metric in zip(board["panels"], CORE_METRICS, strict=True):
        assert metric.metric in panel["targets"][0]["expr"] or metric.metric + "_bucket" in panel["targets"][0]["expr"]
        assert "source:" in panel["description"]
    assert {"DCGM_FI_DEV_GPU_UTIL", "vllm:e2e_request_latency_seconds"} <= {c.metric for c in CORE_METRICS}


def test_service_monitors_select_the_engine_and_dcgm_services() -> None:
    graph = _graph(_spec("lab"))
    monitors = {r.inputs["metadata"]["name"]: r.inputs["spec"]
                for r in graph.of_type(K + "monitoring.coreos.com/v1:ServiceMonitor")}
    engine = monitors["podforge-engine"]
    selected = [r.inputs for r in graph.of_type(K + "core/v1:Service")
                if engine["selector"]["matchLabels"].items() <= r.inputs["metadata"]["labels"].items()]
    # Exactly the headless metrics Service, which selects every engine pod the API Service could select.
    assert [s["metadata"]["name"] for s in selected] == [m.METRICS_SERVICE]
    (metrics,) = selected
    api = _named(graph, "core/v1:Service", m.ENGINE)
    assert metrics["spec"]["clusterIP"] == "None"
    assert metrics["spec"]["selector"].items() <= api["spec"]["selector"].items()
    assert engine["endpoints"][0]["port"] == metrics["spec"]["ports"][0]["name"]
    # The job stays the engine's name (the alerts' up{job="podforge-engine"}), not the metrics Service's.
    assert metrics["metadata"]["labels"][engine["jobLabel"]] == "podforge-engine"
    assert "podTargetLabels" not in engine  # no serving.release: no release label on the pods
    assert monitors["nvidia-dcgm-exporter"]["selector"]["matchLabels"] == {"app": "nvidia-dcgm-exporter"}


def test_a_spec_without_serving_is_refused() -> None:
    spec = load_stack_spec("superpod")[1].spec.model_copy(update={"serving": None})
    with pytest.raises(ValueError, match="serving"):
        m.layout(spec)


def test_the_node_exporter_config_exports_every_dcgm_field_the_gpu_alerts_read() -> None:
    """A bare-metal node's dcgm-exporter runs the dcgm role's field list, not the GPU operator's defaults: every
    DCGM field an alert reads must be in it (an alert on a field nobody exports never fires)."""
    import re

    text = yaml.safe_load(ALERTS_FILE.read_text())
    read = {m for g in text["groups"] for rule in g["rules"] for m in re.findall(r"DCGM_FI_[A-Z0-9_]+", rule["expr"])}
    defaults = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "dcgm" / "defaults" / "main.yml"
    exported = {f["name"] for f in yaml.safe_load(defaults.read_text())["dcgm_exporter_fields"]}
    assert read and read <= exported, sorted(read - exported)
    assert "DCGM_FI_DEV_RETIRED_DBE" not in exported  # page retirement is pre-Ampere; A100 remaps rows
