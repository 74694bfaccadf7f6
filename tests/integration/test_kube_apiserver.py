"""The inference stack's Kubernetes objects against a real API server (kube-apiserver + etcd built from their Go
modules, the CRDs of LeaderWorkerSet, KEDA, prometheus-operator and cert-manager loaded from their own Go
modules; tests/support/kube_apiserver.py, docs/kubernetes-tests.md).

Every object the InferenceStack declares for a stack (taken from the offline capture of the stack's program) is
applied with server-side apply as field manager `podforge`, read back and compared on every field podforge set.
Each stack gets its own fresh API server. Objects broken in one field are refused by the server.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import pytest

from components.inference.manifests import layout
from components.offline.capture import capture_stack
from components.spec import load_stack_spec
from tests.support.kube_apiserver import (
    FIELD_MANAGER,
    KubeApiServer,
    KubeUnavailable,
    binaries,
    crd_documents,
    kube_apiserver,
)

pytestmark = pytest.mark.servers

STACKS = ("lab-serving", "superpod-serving")

# Declared objects that are not applied, by type, and why.
NOT_APPLIED = {
    # A Helm release is no Kubernetes object: the provider renders the chart into objects at deploy time.
    "kubernetes:helm.sh/v3:Release": "a Helm release, not a Kubernetes object",
    # Strimzi publishes no CRD files in a Go module or in its Maven Central artifacts (io.strimzi:api carries
    # only the Java model): checked against Strimzi's documented schema instead (test below).
    "kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic": "no published CRD module (Strimzi is Java)",
    # Declared with the Network Operator's Helm release; its CRD comes with that chart, not loaded here.
    "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy": "the Network Operator's CRD comes with its chart",
}

# Applied first, in this order: what the others live in or refer to.
FIRST = ("Namespace", "RuntimeClass", "PersistentVolume")


# An image reference pinned by digest, so that the stack declares the gateway (the digest names no real image:
# nothing runs the pods here).
GATEWAY_IMAGE = "registry.example.internal/podforge/gateway:0.1.0@sha256:" + "ab" * 32


@functools.cache
def declared(stack_name: str, multi_node: bool = False,
             gateway: bool = False) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(Pulumi type, object) of every Kubernetes resource the stack's program declares, from the offline capture.
    `multi_node`: with the spec's serving.pipeline_parallel_size raised to the smallest power of two that takes
    the engine past one node. `gateway`: with gateway.image and an audit topic set, so the gateway's objects
    and its egress policy to the audit brokers are declared too."""
    stack, loaded = load_stack_spec(stack_name)
    if gateway:
        spec = loaded.spec
        loaded = dataclasses.replace(loaded, spec=spec.model_copy(update={
            "gateway": spec.gateway.model_copy(update={
                "image": GATEWAY_IMAGE, "audit_topic": "podforge-audit-requests",
                "audit_bootstrap_servers": ["podforge-audit-kafka-bootstrap.kafka.svc:9093"]})}))
    if multi_node:
        lay = layout(loaded.spec)
        stages = 2
        while lay.tensor_parallel * stages <= lay.gpus_per_node:
            stages *= 2
        serving = loaded.spec.serving.model_copy(update={"pipeline_parallel_size": stages})
        loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"serving": serving}))
    graph = capture_stack(stack, loaded)
    objects = [(r.type, r.inputs) for r in graph.resources if r.custom and r.type.startswith("kubernetes:")]
    return tuple(sorted(objects, key=lambda o: FIRST.index(o[1].get("kind")) if o[1].get("kind") in FIRST
                        else len(FIRST)))


def applicable(objects) -> list[dict[str, Any]]:
    return [obj for type_, obj in objects if type_ not in NOT_APPLIED]


def differences(sent: Any, got: Any, path: str = "") -> Iterator[str]:
    """Every field of `sent` that `got` lacks or holds with another value (fields the server added are fine)."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            yield f"{path or '.'}: sent an object, read {got!r}"
            return
        for key, value in sent.items():
            if key not in got:
                # Go's `omitempty`: an empty string, list or map is how the API writes "unset" (a
                # PersistentVolume's storageClassName "" reads back absent).
                if value not in ("", [], {}):
                    yield f"{path}.{key}: sent {value!r}, missing when read back"
            else:
                yield from differences(value, got[key], f"{path}.{key}")
    elif isinstance(sent, list):
        if not isinstance(got, list) or len(got) != len(sent):
            yield f"{path}: sent {len(sent)} items, read {got!r}"
            return
        for i, (a, b) in enumerate(zip(sent, got, strict=True)):
            yield from differences(a, b, f"{path}[{i}]")
    elif sent != got:
        yield f"{path}: sent {sent!r}, read {got!r}"


def ident(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace', '-')}/{meta['name']}"


@pytest.fixture(scope="module")
def crds():
    try:
        binaries()
    except KubeUnavailable as exc:
        pytest.skip(str(exc))
    return crd_documents()


@pytest.fixture(scope="module", params=STACKS)
def cluster(request, crds, tmp_path_factory) -> Iterator[tuple[str, KubeApiServer]]:
    """A fresh API server for one stack, the CRDs loaded and Established, and the namespaces the stack's objects
    live in but does not declare itself (the monitoring stack's and Strimzi's) created."""
    stack_name = request.param
    with kube_apiserver(tmp_path_factory.mktemp(stack_name)) as server:
        loaded = server.load_crds(crds)
        assert len(loaded) == len(crds)
        objects = applicable(declared(stack_name))
        own = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
        for ns in sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")} - own):
            reply = server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            assert reply.status_code in (200, 201), reply.text
        yield stack_name, server


def apply_and_compare(server: KubeApiServer, objects: list[dict[str, Any]]) -> list[str]:
    """Apply each object for real and read it back; the problems found, one line each."""
    problems = []
    for obj in objects:
        reply = server.apply(obj)
        if reply.status_code not in (200, 201):
            problems.append(f"{ident(obj)}: apply refused, {reply.status_code} {reply.text[:400]}")
            continue
        read = server.get(obj)
        if read.status_code != 200:
            problems.append(f"{ident(obj)}: read back {read.status_code}")
            continue
        got = read.json()
        problems += [f"{ident(obj)}: {d}" for d in differences(obj, got)]
        managers = {(m["manager"], m["operation"]) for m in got["metadata"].get("managedFields", [])}
        # Server-side apply records no manager for an object that sets nothing beyond its identity (a bare
        # ServiceAccount): name and namespace are not managed fields.
        sets_fields = set(obj) - {"apiVersion", "kind", "metadata"} or set(obj["metadata"]) - {"name", "namespace"}
        if sets_fields and (FIELD_MANAGER, "Apply") not in managers:
            problems.append(f"{ident(obj)}: not managed by {FIELD_MANAGER} through Apply: {sorted(managers)}")
    return problems


def test_every_declared_object_is_applied_and_reads_back(cluster):
    """Every Kubernetes object the stack declares (Helm releases and KafkaTopics aside, by type) is accepted by
    server-side apply and reads back with every field podforge set, owned by the field manager podforge."""
    stack_name, server = cluster
    objects = applicable(declared(stack_name))
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "PersistentVolumeClaim", "NetworkPolicy", "Role", "RoleBinding", "ScaledObject",
            "ServiceMonitor", "PrometheusRule", "Certificate", "Issuer", "Ingress"} <= kinds
    assert {"Deployment", "LeaderWorkerSet"} & kinds
    assert apply_and_compare(server, objects) == []
    # Applying the same objects again changes nothing: the server keeps each object's generation.
    generations = {ident(o): server.get(o).json()["metadata"].get("generation") for o in objects}
    assert apply_and_compare(server, objects) == []
    assert {ident(o): server.get(o).json()["metadata"].get("generation") for o in objects} == generations


def test_multi_node_engine_leaderworkerset_is_applied_and_reads_back(cluster):
    """With a multi-node layout (pipeline stages past one node) the engine is a LeaderWorkerSet; it and the objects that
    change with it (the ScaledObject on it, the Service and PDB on its leaders, the namespace's Pod Security
    labels) are accepted by the LeaderWorkerSet CRD's schema and read back unchanged."""
    stack_name, server = cluster
    objects = applicable(declared(stack_name, multi_node=True))
    lws = [o for o in objects if o["kind"] == "LeaderWorkerSet"]
    assert len(lws) == 1 and lws[0]["spec"]["leaderWorkerTemplate"]["size"] >= 2
    assert apply_and_compare(server, objects) == []


def test_the_gateway_objects_are_applied_and_read_back(cluster):
    """With gateway.image set, the gateway's objects (its ServiceAccount, project ConfigMap, state volume claim,
    Deployment, Service and ServiceMonitor, and the egress policy to the audit brokers) are accepted by the server
    and read back unchanged."""
    stack_name, server = cluster
    base = {ident(o) for o in applicable(declared(stack_name))}
    objects = applicable(declared(stack_name, gateway=True))
    added = [o for o in objects if ident(o) not in base]
    assert {o["kind"] for o in added} >= {"Deployment", "Service", "ServiceMonitor", "PersistentVolumeClaim",
                                          "NetworkPolicy"}
    assert all(o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "podforge-gateway"
               for o in added if o["kind"] == "Deployment")
    assert apply_and_compare(server, objects) == []


def _broken(stack_name: str, kind: str, multi_node: bool = False) -> dict[str, Any]:
    obj = copy.deepcopy(next(o for o in applicable(declared(stack_name, multi_node)) if o["kind"] == kind))
    obj["metadata"]["name"] += "-wrong"
    return obj


def _lws_size_string(stack_name):
    obj = _broken(stack_name, "LeaderWorkerSet", multi_node=True)
    obj["spec"]["leaderWorkerTemplate"]["size"] = "four"
    return obj, "spec.leaderWorkerTemplate.size"


def _certificate_algorithm(stack_name):
    obj = _broken(stack_name, "Certificate")
    obj["spec"]["privateKey"]["algorithm"] = "DSA"
    return obj, "spec.privateKey.algorithm"


def _certificate_no_secret(stack_name):
    obj = _broken(stack_name, "Certificate")
    del obj["spec"]["secretName"]
    return obj, "spec.secretName"


def _scaledobject_replicas_string(stack_name):
    obj = _broken(stack_name, "ScaledObject")
    obj["spec"]["minReplicaCount"] = "one"
    return obj, "spec.minReplicaCount"


def _servicemonitor_endpoints_object(stack_name):
    obj = _broken(stack_name, "ServiceMonitor")
    obj["spec"]["endpoints"] = {"port": "http"}
    return obj, "spec.endpoints"


def _deployment_port_out_of_range(stack_name):
    obj = _broken(stack_name, "Deployment")
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000
    return obj, "containerPort"


def _networkpolicy_missing_namespace(stack_name):
    obj = _broken(stack_name, "NetworkPolicy")
    obj["metadata"]["namespace"] = "no-such-namespace"
    return obj, "no-such-namespace"


WRONG = [_lws_size_string, _certificate_algorithm, _certificate_no_secret, _scaledobject_replicas_string,
         _servicemonitor_endpoints_object, _deployment_port_out_of_range, _networkpolicy_missing_namespace]


@pytest.mark.parametrize("wrong", WRONG, ids=[w.__name__.lstrip("_") for w in WRONG])
def test_wrong_object_is_refused(cluster, wrong):
    """A declared object broken in one field (a wrong type, a value outside an enum or a range, a required field
    missing, a namespace that does not exist) is refused by the API server, the answer names the field, and
    nothing is stored."""
    stack_name, server = cluster
    obj, field = wrong(stack_name)
    # Server-side apply refuses a value of the wrong type while building the typed patch (500, "failed to create
    # typed patch object … expected numeric"), before validation; the other errors come from validation (422) or
    # admission (404, no such namespace). A plain create goes through validation and answers 422 for them all.
    applied = server.apply(obj)
    assert applied.status_code >= 400, f"{ident(obj)} accepted by apply: {applied.status_code}"
    assert field in applied.text, applied.text[:600]
    created = server.create(obj)
    assert created.status_code in (400, 404, 422), f"{ident(obj)} accepted by create: {created.status_code}"
    assert field in created.text, created.text[:600]
    assert server.get(obj).status_code == 404


# Strimzi's KafkaTopicSpec as its API reference documents it: topicName string, partitions integer, replicas
# integer, config map (source: "KafkaTopicSpec schema reference", the Strimzi API reference as published for
# Streams for Apache Kafka 2.9, https://docs.redhat.com/en/documentation/red_hat_streams_for_apache_kafka/2.9/html/
# streams_for_apache_kafka_api_reference/type-kafkatopicspec-reference). The `strimzi.io/cluster` label names the
# Kafka cluster whose topic operator reconciles the topic (components/inference/manifests.py, audit_topics).
KAFKA_TOPIC_SPEC = {"topicName": str, "partitions": int, "replicas": int, "config": dict}


@pytest.mark.parametrize("stack_name", STACKS)
def test_kafka_topics_follow_strimzi_documented_schema(stack_name):
    """The KafkaTopics (not applied: no published CRD) have only the fields of Strimzi's documented
    KafkaTopicSpec with their documented types, scalar config values, and the strimzi.io/cluster label."""
    topics = [o for t, o in declared(stack_name) if t == "kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic"]
    assert len(topics) == 4
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"].get("strimzi.io/cluster")
        spec = topic["spec"]
        assert set(spec) <= set(KAFKA_TOPIC_SPEC), set(spec) - set(KAFKA_TOPIC_SPEC)
        for key, value in spec.items():
            assert isinstance(value, KAFKA_TOPIC_SPEC[key]) and not isinstance(value, bool), (key, value)
        assert all(isinstance(v, str | int | float | bool) for v in spec.get("config", {}).values())
