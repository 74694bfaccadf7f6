"""The gateway the serving stack declares in front of the engine when the spec names its image: the objects, the
labels the network policies select, the Service the Ingress calls, the serve command against the engine Service,
Pod Security `restricted`, the probes, the ServiceMonitor, the project the pod reads, and the image pin rule."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from components.cli import build_parser
from components.inference import InferenceStack, InferenceStackArgs
from components.inference import gateway as gw
from components.inference import manifests as m
from components.offline.capture import run_program
from components.render import gateway_project as project
from components.spec import load_spec, load_stack_spec
from components.spec.gateway import GatewayOidc, GatewayTls
from components.spec.inference import InferencePlatform
from components.spec.problems import SpecError

K = "kubernetes:"
STACK = "test"
"""The stack name run_program gives the program (pulumi.get_stack())."""
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"registry.bank.internal/podforge/gateway:0.9@{DIGEST}"
GATEWAY_TYPES = {"core/v1:ServiceAccount", "core/v1:ConfigMap", "core/v1:PersistentVolumeClaim",
                 "apps/v1:Deployment", "core/v1:Service", "monitoring.coreos.com/v1:ServiceMonitor"}


def _spec(site: str = "superpod", **gateway):
    spec = load_stack_spec(site)[1].spec
    return spec.model_copy(update={"gateway": spec.gateway.model_copy(update=gateway)}) if gateway else spec


def _graph(spec):
    return run_program(STACK, {}, set(), lambda: InferenceStack(
        f"{spec.site.name}-serving", InferenceStackArgs.from_spec(spec)))


def _named(graph, kind: str, name: str) -> dict:
    found = [r.inputs for r in graph.of_type(K + kind) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, [r.inputs["metadata"]["name"] for r in graph.of_type(K + kind)]
    return found[0]


def _gateway_objects(graph) -> dict[str, dict]:
    """`kind name` → inputs of every Kubernetes object named podforge-gateway… (the gateway's own)."""
    return {f"{r.type.removeprefix(K)} {r.inputs['metadata']['name']}": r.inputs for r in graph.resources
            if r.type.startswith(K) and r.custom and str(r.inputs.get("metadata", {}).get("name", "")).startswith(
                m.GATEWAY)}


@pytest.fixture(scope="module")
def graph():
    return _graph(_spec(image=IMAGE))


def _deployment(graph) -> dict:
    return _named(graph, "apps/v1:Deployment", m.GATEWAY)


def _container(graph) -> dict:
    (container,) = _deployment(graph)["spec"]["template"]["spec"]["containers"]
    return container


def test_without_an_image_no_gateway_object_is_declared() -> None:
    spec = _spec()
    assert spec.gateway.image is None  # the example specs name no image
    assert _gateway_objects(_graph(spec)) == {}


def test_with_an_image_the_gateway_objects_are_declared(graph) -> None:
    objects = _gateway_objects(graph)
    assert {key.split()[0] for key in objects} == GATEWAY_TYPES
    assert len(graph.of_type(K + "monitoring.coreos.com/v1:ServiceMonitor")) == 3  # engine, dcgm, gateway
    account = _named(graph, "core/v1:ServiceAccount", m.GATEWAY)
    assert account["automountServiceAccountToken"] is False
    pod = _deployment(graph)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == m.GATEWAY and pod["automountServiceAccountToken"] is False
    assert _container(graph)["image"] == IMAGE


def test_the_pods_carry_the_label_the_network_policies_admit(graph) -> None:
    deployment = _deployment(graph)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels == m.GATEWAY_LABELS
    assert deployment["spec"]["selector"]["matchLabels"] == m.GATEWAY_LABELS
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"]
                for r in graph.of_type(K + "networking.k8s.io/v1:NetworkPolicy")}
    port = _container(graph)["ports"][0]["containerPort"]
    selecting = {n for n, p in policies.items() if p["podSelector"].get("matchLabels", {}).items() <= labels.items()}
    assert selecting == {"default-deny", "gateway-egress-to-engine", "ingress-controller-to-gateway",
                         "prometheus-to-gateway"}
    # The ingress controller and Prometheus reach the container's port; the engine admits these pods.
    for name in ("ingress-controller-to-gateway", "prometheus-to-gateway"):
        assert policies[name]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": port}]
    monitoring = policies["prometheus-to-gateway"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert monitoring == {"kubernetes.io/metadata.name": "monitoring"}
    admitted = policies["gateway-to-engine"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert admitted.items() <= labels.items()


def test_the_service_is_the_ingress_backend_and_reaches_the_container(graph) -> None:
    service = _named(graph, "core/v1:Service", m.GATEWAY)["spec"]
    backend = _named(graph, "networking.k8s.io/v1:Ingress", "inference")["spec"]["rules"][0]["http"]["paths"][0][
        "backend"]["service"]
    assert backend == {"name": m.GATEWAY, "port": {"number": service["ports"][0]["port"]}}
    assert service["selector"] == m.GATEWAY_LABELS
    container_port = _container(graph)["ports"][0]
    assert service["ports"][0]["targetPort"] == container_port["name"]
    assert container_port["containerPort"] == m.GATEWAY_PORT


def test_the_container_serves_against_the_engine_service(graph) -> None:
    spec = _spec(image=IMAGE)
    command = _container(graph)["command"]
    engine = _named(graph, "core/v1:Service", m.ENGINE)
    port = engine["spec"]["ports"][0]["port"]
    assert command[:3] == ["podforge", "gateway", "serve"]
    args = build_parser().parse_args(command[1:])  # the CLI accepts exactly this command line
    assert args.stack == STACK and args.listen == f"0.0.0.0:{m.GATEWAY_PORT}"
    assert args.engine == [f"http://{m.ENGINE}.{engine['metadata']['namespace']}.svc:{port}"]
    assert port == spec.serving.port
    assert str(args.key_store).startswith(gw.STATE_DIR) and str(args.audit_log).startswith(gw.STATE_DIR)


def test_restricted_pod_security_and_a_read_only_root(graph) -> None:
    pod = _deployment(graph)["spec"]["template"]["spec"]
    ctx = _container(graph)["securityContext"]
    assert ctx["runAsNonRoot"] is True and pod["securityContext"]["runAsNonRoot"] is True
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
    # Everything it writes is on a volume: the state volume, /tmp.
    mounts = {v["mountPath"]: v for v in _container(graph)["volumeMounts"]}
    assert mounts[gw.PROJECT_DIR]["readOnly"] is True
    assert {gw.STATE_DIR, "/tmp"} <= set(mounts)
    resources = _container(graph)["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_probes_on_the_gateways_health_endpoint(graph) -> None:
    from components.gateway import app

    container = _container(graph)
    ready = container["readinessProbe"]["httpGet"]
    assert ready["path"] == "/health" and ready["port"] == container["ports"][0]["name"]
    # The paths are the app's own routes (components/gateway/app.py).
    source = Path(app.__file__).read_text()
    assert f'@app.get("{ready["path"]}"' in source and f'@app.get("{gw.METRICS_PATH}"' in source
    # Alive while it accepts connections: /health is 503 while the engine loads, which is no reason to restart.
    assert container["livenessProbe"]["tcpSocket"]["port"] == container["ports"][0]["name"]


def test_the_service_monitor_selects_the_gateway_service_only(graph) -> None:
    monitor = _named(graph, "monitoring.coreos.com/v1:ServiceMonitor", m.GATEWAY)["spec"]
    selected = [r.inputs["metadata"]["name"] for r in graph.of_type(K + "core/v1:Service")
                if monitor["selector"]["matchLabels"].items() <= r.inputs["metadata"].get("labels", {}).items()]
    assert selected == [m.GATEWAY]
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == _named(graph, "core/v1:Service", m.GATEWAY)["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": gw.METRICS_SECRET, "key": gw.METRICS_SECRET_KEY}
    engine = _named(graph, "monitoring.coreos.com/v1:ServiceMonitor", m.ENGINE)["spec"]
    assert engine["selector"] != monitor["selector"]  # the engine's monitor does not scrape the gateway


def test_the_state_volume_is_one_readwriteonce_claim_of_the_spec_size(graph) -> None:
    claim = _named(graph, "core/v1:PersistentVolumeClaim", gw.STATE_CLAIM)["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert "storageClassName" not in claim
    deployment = _deployment(graph)["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in deployment["template"]["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": gw.STATE_CLAIM}
    sized = _named(_graph(_spec(image=IMAGE, state_size="2Ti", state_storage_class="fast")),
                   "core/v1:PersistentVolumeClaim", gw.STATE_CLAIM)["spec"]
    assert sized["resources"]["requests"]["storage"] == "2Ti" and sized["storageClassName"] == "fast"


def test_the_pod_reads_the_stacks_spec_from_its_configmap(graph, tmp_path: Path) -> None:
    """The ConfigMap's files, laid out as the volume's items lay them out, are a project in which `--stack`
    finds the spec: the stack's own, without gateway.tls."""
    spec = _spec(image=IMAGE, tls=GatewayTls(common_name="gateway.su1.bank.internal"))
    graph = _graph(spec)
    data = _named(graph, "core/v1:ConfigMap", gw.CONFIG_NAME)["data"]
    volumes = {v["name"]: v for v in _deployment(graph)["spec"]["template"]["spec"]["volumes"]}
    for item in volumes["project"]["configMap"]["items"]:
        (tmp_path / item["path"]).write_text(data[item["key"]])
    env = {e["name"]: e["value"] for e in _container(graph)["env"]}
    assert env["PODFORGE_PROJECT_DIR"] == gw.PROJECT_DIR
    _, loaded = load_stack_spec(STACK, tmp_path)
    assert loaded.spec.gateway.tls is None
    assert loaded.spec == spec.model_copy(update={"gateway": spec.gateway.model_copy(update={"tls": None})})


def test_a_jwks_file_goes_into_the_pod_at_its_project_path(tmp_path: Path) -> None:
    spec = _spec(image=IMAGE, oidc=GatewayOidc(issuer="https://sso.bank.internal", audience="podforge-gateway",
                                               jwks="keys/sso-jwks.json"))
    data = gw.config_data(spec, STACK, '{"keys": []}')
    assert data[project.JWKS_KEY] == '{"keys": []}'
    items = gw.deployment_spec(spec, InferencePlatform(), STACK)["template"]["spec"]["volumes"][0]["configMap"][
        "items"]
    assert {"key": project.JWKS_KEY, "path": "keys/sso-jwks.json"} in items
    with pytest.raises(ValueError, match=r"gateway\.oidc\.jwks"):
        gw.config_data(spec, STACK)
    url = _spec(image=IMAGE, oidc=spec.gateway.oidc.model_copy(update={"jwks": "https://sso.bank.internal/jwks"}))
    assert project.JWKS_KEY not in gw.config_data(url, STACK)


EXPECTED = ("an image pinned by digest, NAME[:TAG]@sha256:<64 hex digits>, not tagged `latest` (The gateway's OCI "
            "image on the serving stack; none: no gateway there)")


@pytest.mark.parametrize("image", ["registry.bank.internal/podforge/gateway:latest",
                                   "registry.bank.internal/podforge/gateway:0.9",
                                   f"registry.bank.internal/podforge/gateway:latest@{DIGEST}",
                                   "registry.bank.internal/podforge/gateway@sha256:abc"])
def test_an_image_without_a_digest_is_refused_in_one_line(image: str, tmp_path: Path) -> None:
    source = Path("specs/lab.yaml").read_text()
    assert "\ngateway:" not in source
    path = tmp_path / "spec.yaml"
    path.write_text(source + f"gateway:\n  image: {image}\n")
    line = len(source.splitlines()) + 2
    with pytest.raises(SpecError) as err:
        load_spec(path, display="spec.yaml")
    shown = repr(image) if len(repr(image)) <= 80 else repr(image)[:77] + "..."  # error lines cut values at 80
    assert err.value.lines() == [f"spec.yaml:{line}: gateway.image: {shown} — expected {EXPECTED}"]


def test_an_image_pinned_by_digest_validates(tmp_path: Path) -> None:
    source = Path("specs/lab.yaml").read_text()
    path = tmp_path / "spec.yaml"
    for image in (IMAGE, f"podforge-gateway@{DIGEST}", f"registry.bank.internal:5000/podforge/gateway@{DIGEST}"):
        path.write_text(source + f"gateway:\n  image: {shlex.quote(image)}\n")
        assert load_spec(path).spec.gateway.image == image


def test_with_an_audit_topic_the_gateway_may_reach_the_audit_brokers_only() -> None:
    spec = _spec(image=IMAGE, audit_topic="podforge-audit-requests",
                 audit_bootstrap_servers=["podforge-audit-kafka-bootstrap.kafka.svc:9093",
                                          "kafka-0.bank.internal:9093", "kafka-1.bank.internal:9094"])
    platform = InferencePlatform()
    policy = m.network_policies(spec, platform)["gateway-egress-to-kafka"]
    assert policy["podSelector"] == {"matchLabels": m.GATEWAY_LABELS}
    assert policy["policyTypes"] == ["Egress"]
    (rule,) = policy["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9093}, {"protocol": "TCP", "port": 9094}]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": platform.audit_topics.namespace}
    assert peer["podSelector"]["matchLabels"] == {"strimzi.io/cluster": platform.audit_topics.cluster}
    # Without the topic, or without a gateway on Kubernetes, there is no way to the brokers.
    assert "gateway-egress-to-kafka" not in m.network_policies(_spec(image=IMAGE), platform)
    no_image = _spec(audit_topic="podforge-audit-requests", audit_bootstrap_servers=["kafka-0.bank.internal:9093"])
    assert "gateway-egress-to-kafka" not in m.network_policies(no_image, platform)


def test_an_issuer_url_for_the_jwks_is_refused_with_a_gateway_on_kubernetes(tmp_path: Path) -> None:
    source = Path("specs/lab.yaml").read_text()
    path = tmp_path / "spec.yaml"
    oidc = ("  oidc: {issuer: 'https://sso.bank.internal', audience: podforge-gateway, "
            "jwks: 'https://sso.bank.internal/jwks'}\n")
    path.write_text(source + f"gateway:\n  image: {shlex.quote(IMAGE)}\n" + oidc)
    with pytest.raises(SpecError) as err:
        load_spec(path, display="spec.yaml")
    (line,) = err.value.lines()
    assert line.startswith(f"spec.yaml:{len(source.splitlines()) + 3}: gateway.oidc.jwks: 'https://sso.bank.internal/jwks'")
    assert "a JWKS file in the project when gateway.image is set" in line
    # Without an image (the gateway outside Kubernetes) the URL is fine.
    path.write_text(source + "gateway:\n" + oidc)
    assert load_spec(path).spec.gateway.oidc.jwks == "https://sso.bank.internal/jwks"
