"""InferenceStack with blue-green releases, the spec's `serving.platform`, and the engine layout the capacity
planner decides: workloads side by side, the Service selector from the release state file, the engine's
ServiceMonitor carrying the release label, LeaderWorkerSet size from the planner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pytest

from components import capacity
from components import release as machine
from components.commands import release as release_command
from components.inference import InferenceStack, InferenceStackArgs
from components.inference import manifests as m
from components.offline.capture import run_program
from components.spec import SpecError, load_spec, load_stack_spec
from components.spec.inference import InferencePlatform
from components.spec.release import Release, ReleaseVersion
from tests.unit.plan_roots import CHECKOUT

K = "kubernetes:"
STACK = "su1-serving-test"
ACTIVE = ReleaseVersion(name="r1", image="vllm/vllm-openai:v0.11.0")
CANDIDATE = ReleaseVersion(name="r2", image="vllm/vllm-openai:v0.11.1", model_path="deepseek-r1-awq-v2")


def _spec(stack: str = "superpod", **serving):
    spec = load_stack_spec(stack)[1].spec
    return spec.model_copy(update={"serving": spec.serving.model_copy(update=serving)}) if serving else spec


def _graph(spec, root: Path, state: machine.ReleaseState | None = None):
    def program() -> None:
        InferenceStack(f"{spec.site.name}-serving",
                       InferenceStackArgs.from_spec(spec, release_state=state, stack=STACK, root=root))
    return run_program("test", {}, set(), program)


def _of(graph, kind: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type(K + kind)}


def _service(graph) -> dict:
    return _of(graph, "core/v1:Service")[m.ENGINE]


def _soaked_and_promoted(spec: Release, start: float) -> machine.ReleaseState:
    """The state after the candidate was observed good every 5 minutes for the whole soak, then promoted."""
    state = machine.initial(spec, start)
    t = start
    while t <= start + 24 * 3600 + 600:
        t += 300
        state = machine.observe(state, spec, machine.Observation(t, spec.candidate.name, 1.0, 0.5, 10.0, "test"))
    return machine.promote(state, spec, t)


def test_a_candidate_runs_beside_the_active_release(tmp_path: Path) -> None:
    spec = _spec(release=Release(active=ACTIVE, candidate=CANDIDATE))
    graph = _graph(spec, tmp_path)
    deployments = _of(graph, "apps/v1:Deployment")
    assert set(deployments) == {"podforge-engine-r1", "podforge-engine-r2"}
    label = spec.serving.release.label
    for name, version in (("podforge-engine-r1", ACTIVE), ("podforge-engine-r2", CANDIDATE)):
        d = deployments[name]["spec"]
        pod_labels = d["template"]["metadata"]["labels"]
        assert pod_labels[label] == version.name
        # Each workload selects only its own release's pods.
        assert d["selector"]["matchLabels"] == pod_labels
        (container,) = d["template"]["spec"]["containers"]
        assert container["image"] == version.image
        path = version.model_path or spec.serving.model.path
        assert f"vllm serve /models/{path} " in container["command"][-1]
    # Before any switch the Service sends traffic to the active release only.
    assert _service(graph)["spec"]["selector"][label] == "r1"
    # Each workload has its own disruption budget and autoscaler.
    assert {n: p["spec"]["selector"]["matchLabels"][label] for n, p in
            _of(graph, "policy/v1:PodDisruptionBudget").items()} == {"podforge-engine-r1": "r1",
                                                                       "podforge-engine-r2": "r2"}
    scaled = _of(graph, "keda.sh/v1alpha1:ScaledObject")
    assert {n: s["spec"]["scaleTargetRef"]["name"] for n, s in scaled.items()} == {
        "podforge-engine-r1": "podforge-engine-r1", "podforge-engine-r2": "podforge-engine-r2"}
    # Both releases are scraped, each target labelled with its release.
    monitor = _of(graph, "monitoring.coreos.com/v1:ServiceMonitor")[m.ENGINE]["spec"]
    assert monitor["podTargetLabels"] == [label]
    metrics = _of(graph, "core/v1:Service")[m.METRICS_SERVICE]["spec"]
    assert label not in metrics["selector"]
    assert all(metrics["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
               for d in deployments.values())


def test_the_service_selector_follows_a_promoted_state_file(tmp_path: Path) -> None:
    rel = Release(active=ACTIVE, candidate=CANDIDATE)
    spec = _spec(release=rel)
    promoted = _soaked_and_promoted(rel, 1_700_000_000.0)
    assert promoted.serving == "r2" and promoted.standby == "r1"
    path = machine.state_path(tmp_path, STACK)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(promoted.to_json(STACK)), encoding="utf-8")
    graph = _graph(spec, tmp_path)
    assert _service(graph)["spec"]["selector"] == {**m.ENGINE_LABELS, rel.label: "r2"}
    # Both workloads still run: the old release stands by for a rollback.
    assert set(_of(graph, "apps/v1:Deployment")) == {"podforge-engine-r1", "podforge-engine-r2"}
    # A rollback written to the same file switches the selector back.
    path.write_text(json.dumps(machine.rollback(promoted, 1_700_200_000.0).to_json(STACK)), encoding="utf-8")
    assert _service(_graph(spec, tmp_path))["spec"]["selector"][rel.label] == "r1"


def test_the_state_file_is_where_the_release_command_writes_it(tmp_path: Path) -> None:
    """`podforge release` and the inference stack find the state file through the one function that names it."""
    assert machine.state_path(tmp_path, "lab-serving") == tmp_path / "state" / "lab-serving.release.json"
    assert release_command.machine.state_path is machine.state_path


def test_a_state_naming_an_undeclared_release_is_refused(tmp_path: Path) -> None:
    spec = _spec(release=Release(active=ACTIVE))
    with pytest.raises(pulumi.RunError, match=re.escape("r9 takes traffic, but serving.release declares only r1")):
        _graph(spec, tmp_path, machine.ReleaseState(serving="r9"))


def test_an_unreadable_state_file_is_one_line(tmp_path: Path) -> None:
    spec = _spec(release=Release(active=ACTIVE))
    path = machine.state_path(tmp_path, STACK)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(pulumi.RunError, match="unreadable release state") as info:
        InferenceStackArgs.from_spec(spec, stack=STACK, root=tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_one_workload_without_a_candidate(tmp_path: Path) -> None:
    spec = _spec(release=Release(active=ACTIVE))
    graph = _graph(spec, tmp_path)
    deployments = _of(graph, "apps/v1:Deployment")
    assert list(deployments) == ["podforge-engine-r1"]
    assert _service(graph)["spec"]["selector"][spec.serving.release.label] == "r1"
    assert len(graph.of_type(K + "keda.sh/v1alpha1:ScaledObject")) == 1


def test_without_releases_one_workload_and_no_release_label(tmp_path: Path) -> None:
    graph = _graph(_spec(), tmp_path)
    deployments = _of(graph, "apps/v1:Deployment")
    assert list(deployments) == [m.ENGINE]
    assert deployments[m.ENGINE]["spec"]["template"]["metadata"]["labels"] == m.ENGINE_LABELS
    assert _service(graph)["spec"]["selector"] == m.ENGINE_LABELS


def test_multi_node_releases_label_leaders_and_workers(tmp_path: Path) -> None:
    spec = _spec(tensor_parallel_size=8, pipeline_parallel_size=2, release=Release(active=ACTIVE, candidate=CANDIDATE))
    graph = _graph(spec, tmp_path)
    sets = _of(graph, "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")
    assert set(sets) == {"podforge-engine-r1", "podforge-engine-r2"}
    label = spec.serving.release.label
    for name, lws in sets.items():
        template = lws["spec"]["leaderWorkerTemplate"]
        for part in ("leaderTemplate", "workerTemplate"):
            assert template[part]["metadata"]["labels"][label] == name.removeprefix("podforge-engine-")
    selector = _service(graph)["spec"]["selector"]
    assert selector["role"] == "leader" and selector[label] == "r1"


def test_the_leaderworkerset_size_is_the_planners_nodes_per_replica(tmp_path: Path) -> None:
    base = _spec()
    model = base.serving.model.model_copy(update={"quantization": "none", "name": "deepseek-ai/DeepSeek-R1"})
    spec = _spec(model=model, precision="bf16", tensor_parallel_size=8, pipeline_parallel_size=4,
                 max_model_len=8192, concurrency=1)
    sku = spec.sku_of(spec.nodes_with(m.NodeRole.inference_local)[0])
    req = capacity.request("deepseek-r1", "bf16", sku, 8192, 1)
    planned = capacity.plan(req)
    # The published layout for R1 in BF16 on DGX A100 80GB: four nodes.
    assert planned.fits and planned.nodes_per_replica == 4
    lay = m.layout(spec)
    assert lay.plan is not None and lay.plan.fits
    assert lay.nodes_per_replica == lay.plan.nodes_per_replica == planned.nodes_per_replica
    lws = _of(_graph(spec, tmp_path), "leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")[m.ENGINE]
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 4


def test_a_layout_smaller_than_a_node_is_one_pod_with_its_gpus(tmp_path: Path) -> None:
    lay = m.layout(_spec("lab"))
    assert (lay.tensor_parallel, lay.nodes_per_replica, lay.gpus_per_pod, lay.multi_node) == (1, 1, 1, False)
    (deployment,) = _of(_graph(_spec("lab"), tmp_path), "apps/v1:Deployment").values()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}


def _lab_with(tmp_path: Path, platform_yaml: str) -> Path:
    text = (CHECKOUT / "specs" / "lab.yaml").read_text(encoding="utf-8")
    anchor = "\nserving:\n"
    assert text.count(anchor) == 1
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace(anchor, anchor + platform_yaml, 1), encoding="utf-8")
    return path


def test_the_spec_platform_is_what_the_stack_declares(tmp_path: Path) -> None:
    path = _lab_with(tmp_path, "  platform:\n    namespace: llm\n    max_replicas: 3\n"
                               "    groups: {audit_admin: siem-auditors}\n")
    spec = load_spec(path).spec
    assert spec.serving.platform.namespace == "llm"
    args = InferenceStackArgs.from_spec(spec, stack=STACK, root=tmp_path)
    assert args.platform == spec.serving.platform
    graph = _graph(spec, tmp_path)
    assert list(_of(graph, "core/v1:Namespace")) == ["llm"]
    assert _of(graph, "keda.sh/v1alpha1:ScaledObject")[m.ENGINE]["spec"]["maxReplicaCount"] == 3
    bindings = _of(graph, "rbac.authorization.k8s.io/v1:RoleBinding")
    assert bindings["podforge-audit-admin"]["subjects"][0]["name"] == "oidc:siem-auditors"
    # Without the block, the defaults.
    assert load_stack_spec("lab")[1].spec.serving.platform == InferencePlatform()


def test_a_bad_platform_is_a_spec_problem_with_its_line(tmp_path: Path) -> None:
    path = _lab_with(tmp_path, "  platform:\n    replicas: 4\n    max_replicas: 2\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (line,) = info.value.lines()
    assert "serving.platform" in line and "max_replicas 2 is below replicas 4" in line
    assert line.startswith(f"{path}:")
