"""The autoscaling rule, the KEDA ScaledObject that deploys it, and the HPA/KEDA simulation agreeing with the rule.

Traces: the real H200 utilization samples of tests/fixtures/gpu-node-h200/load.json (about 5 s, stretched to
minutes and hours), and seeded generated traces of hours. Utilization is closed-loop: the trace is demand in
units of one replica's GPUs, so more replicas mean less utilization each, as on a real cluster.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from bisect import bisect_right
from collections.abc import Callable

import pytest

from components.autoscale import (
    DOWN,
    GPU_UTIL_METRIC,
    HOLD,
    QUEUE_METRIC,
    UP,
    PromQLError,
    Rule,
    Samples,
    decide,
    evaluate,
    gpu_query,
    hpa_replicas,
    queue_query,
    run_rule,
    scaled_object,
    simulate,
)
from tests.unit.plan_roots import CHECKOUT

LOAD = CHECKOUT / "tests" / "fixtures" / "gpu-node-h200" / "load.json"
URL = "http://prometheus.monitoring:9090"
ENGINE = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "engine"}


def _h200() -> tuple[list[float], list[float]]:
    samples = json.loads(LOAD.read_text(encoding="utf-8"))["samples"]
    t0 = samples[0]["t"]
    return [s["t"] - t0 for s in samples], [float(s["util"]) for s in samples]


def h200_demand(total_s: float, peak_replicas: float) -> Callable[[float], float]:
    """The H200 trace's shape stretched to `total_s`: demand (in replicas' worth of GPUs) at time t, held from
    the latest real sample at or before the stretched time."""
    times, utils = _h200()
    scale = total_s / times[-1]

    def demand(t: float) -> float:
        i = max(0, bisect_right(times, t / scale) - 1)
        return utils[i] / 100 * peak_replicas
    return demand


def generated_demand(seed: int, hours: float) -> Callable[[float], float]:
    """A seeded day-like load: a slow wave, bursts of tens of minutes, and noise; in replicas' worth."""
    rng = random.Random(seed)
    bursts = [(rng.uniform(0, hours * 3600), rng.uniform(600, 2400), rng.uniform(0.5, 2.5))
              for _ in range(int(hours * 1.5))]
    period = rng.uniform(2, 5) * 3600

    def demand(t: float) -> float:
        wave = 1.6 + 1.4 * math.sin(2 * math.pi * t / period)
        burst = sum(h for start, length, h in bursts if start <= t < start + length)
        return max(0.0, wave + burst)
    return demand


def world(demand: Callable[[float], float], *, gpus: int = 8, seed: int = 0, noise: float = 4.0,
          gaps: tuple[tuple[float, float], ...] = ()) -> Callable[[float, int, Samples], None]:
    """Engines scraped at t: each replica's GPUs at demand/replicas (capped at 100 %, with seeded noise), and
    each engine's waiting queue growing with the overload; nothing is scraped inside a gap (exporter down)."""
    def scrape(t: float, replicas: int, samples: Samples) -> None:
        if any(a <= t < b for a, b in gaps):
            return
        per = 100 * demand(t) / max(replicas, 1)
        for r in range(replicas):
            pod = f"engine-{r}"  # the leader of group r of the LeaderWorkerSet `engine`
            for g in range(gpus):
                jitter = random.Random(f"{seed}:{t}:{r}:{g}").uniform(-noise, noise)
                samples.add(GPU_UTIL_METRIC, {"namespace": "serving", "pod": pod, "gpu": str(g)},
                            t, min(100.0, max(0.0, per + jitter)))
            samples.add(QUEUE_METRIC, {"namespace": "serving", "pod": pod}, t, max(0.0, (per - 100) / 5))
    return scrape


def _config(rule: Rule | None = None, lo: int = 1, hi: int = 6) -> dict:
    return scaled_object("engine", "serving", ENGINE, lo, hi, prometheus_url=URL, rule=rule or Rule())


def _agree(scrape, rule: Rule, lo: int, hi: int, hours: float, **sim) -> list:
    expected = run_rule(scrape, rule, lo, hi, lo, hours * 3600)
    got = simulate(_config(rule, lo, hi), scrape, lo, hours * 3600, sync_period_s=rule.interval_s, **sim)
    assert [(s.t, s.before, s.decision, s.after) for s in got] == \
        [(s.t, s.before, s.decision, s.after) for s in expected]
    return expected


# --- the rule ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gpu", "replicas", "queue", "expected"), [
    (90, 2, 0, "up"), (85, 2, 0, "none"), (85.01, 2, 0, "up"), (90, 6, 0, "none"),
    (20, 2, 0, "down"), (30, 2, 0, "none"), (29.9, 2, 0, "down"), (20, 1, 0, "none"),
    (50, 2, 0, "none"), (50, 2, 9, "up"), (20, 2, 9, "up"), (20, 2, None, "none"), (None, 2, 9, "up"),
    (None, 2, 0, "none"), (None, 2, None, "none"),
])
def test_the_rule_scales_as_the_article_says(gpu, replicas, queue, expected) -> None:
    assert decide(gpu, replicas, 1, 6, queue, Rule()) == expected


def test_without_a_queue_trigger_only_the_gpu_average_decides() -> None:
    rule = Rule(queue_above=None)
    assert decide(20, 2, 1, 6, None, rule) == "down"
    assert decide(50, 2, 1, 6, 1000, rule) == "none"


def test_a_rule_with_crossed_thresholds_is_refused() -> None:
    with pytest.raises(ValueError):
        Rule(up_above=30, down_below=85)
    with pytest.raises(ValueError):
        Rule(cooldown_s=20)


# --- the deployed configuration -------------------------------------------------------------------------------

def test_the_scaled_object_runs_the_rule_through_two_prometheus_triggers() -> None:
    so = scaled_object("engine", "serving", {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                                             "name": "engine"}, 1, 4, prometheus_url=URL)
    spec = so["spec"]
    assert so["apiVersion"] == "keda.sh/v1alpha1" and so["kind"] == "ScaledObject"
    assert spec["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 4)
    gpu, queue = spec["triggers"]
    assert gpu["metadata"]["query"] == (
        '(avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="serving",pod=~"engine-[0-9]+(-[0-9]+)?"}[5m])) > bool 85)'
        ' * 9999 + '
        '(avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="serving",pod=~"engine-[0-9]+(-[0-9]+)?"}[5m])) >= bool 30)')
    assert "vllm:num_requests_waiting" in queue["metadata"]["query"]
    for trig in (gpu, queue):
        assert trig["type"] == "prometheus" and trig["metricType"] == "Value"
        assert trig["metadata"]["threshold"] == "1" and trig["metadata"]["ignoreNullValues"] == "false"
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 8}]


def test_the_scaled_object_refuses_scale_to_zero_and_huge_maxima() -> None:
    with pytest.raises(ValueError):
        scaled_object("e", "s", "e", 0, 4, prometheus_url=URL)
    with pytest.raises(ValueError):
        scaled_object("e", "s", "e", 1, 5000, prometheus_url=URL)


@pytest.mark.parametrize(("util", "value"), [(95, UP), (86, UP), (85, HOLD), (60, HOLD), (30, HOLD), (29, DOWN),
                                             (0, DOWN)])
def test_the_gpu_query_yields_the_rules_decision(util, value) -> None:
    samples = Samples()
    for t in range(0, 300, 15):
        samples.add(GPU_UTIL_METRIC, {"namespace": "serving", "pod": "engine-0"}, t, util)
        samples.add(GPU_UTIL_METRIC, {"namespace": "other", "pod": "x-0"}, t, 100 - util)  # not selected
    result = evaluate(gpu_query('namespace="serving",pod=~"engine-.*"'), samples, 299)
    assert result == {frozenset(): value}


def test_the_queries_yield_nothing_without_samples() -> None:
    assert evaluate(gpu_query('pod=~"engine-.*"'), Samples(), 100) == {}
    assert evaluate(queue_query('pod=~"engine-.*"'), Samples(), 100) == {}


def test_the_simulators_promql_refuses_what_it_cannot_read() -> None:
    with pytest.raises(PromQLError):
        evaluate("rate(x[5m])", Samples(), 0)
    with pytest.raises(PromQLError):
        evaluate("avg(x) > 3", Samples(), 0)


@pytest.mark.parametrize(("value", "current", "ready", "expected"), [
    (UP, 3, 3, 30000), (HOLD, 3, 3, 3), (DOWN, 3, 3, 0), (1.05, 20, 20, 20), (1.2, 20, 20, 24), (UP, 3, 0, 0)])
def test_the_hpa_proposal_follows_the_published_formula(value, current, ready, expected) -> None:
    assert hpa_replicas(value, "Value", 1, current, ready) == expected


# --- the simulation agrees with the rule ----------------------------------------------------------------------

@pytest.mark.parametrize("total_min", [12, 45, 180])
def test_on_the_real_h200_shape_stretched_to_minutes_the_cluster_decides_as_the_rule(total_min) -> None:
    scrape = world(h200_demand(total_min * 60, 2.5), gpus=1)
    steps = _agree(scrape, Rule(), 1, 4, total_min / 60 + 0.25)
    decisions = {s.decision for s in steps}
    if total_min >= 45:  # long enough for the 5-minute average to cross both thresholds
        assert {"up", "down"} <= decisions


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_on_generated_traces_of_hours_the_cluster_decides_as_the_rule(seed) -> None:
    scrape = world(generated_demand(seed, 6), seed=seed)
    steps = _agree(scrape, Rule(), 1, 6, 6)
    assert sum(s.decision == "up" for s in steps) >= 2 and sum(s.decision == "down" for s in steps) >= 2


def test_with_a_cooldown_and_the_queue_trigger_off_the_cluster_decides_as_the_rule() -> None:
    rule = Rule(cooldown_s=300, queue_above=None, step=2)
    steps = _agree(world(generated_demand(7, 8), seed=7), rule, 1, 8, 8)
    ups = [s.t for s in steps if s.decision == "up"]
    assert ups and all(b - a >= 300 for a, b in itertools.pairwise(ups))


def test_while_the_exporter_is_down_neither_scales_down() -> None:
    demand = h200_demand(3600, 2.5)
    scrape = world(demand, gpus=2, gaps=((2700, 3300),))  # the idle tail falls into the gap
    steps = _agree(scrape, Rule(), 1, 4, 1.25)
    assert all(s.decision != "down" for s in steps if 3000 <= s.t < 3300)


def test_the_controllers_own_timing_does_not_change_the_decisions() -> None:
    _agree(world(generated_demand(5, 4), seed=5), Rule(), 1, 6, 4, event_delay_s=0.5)


# --- configurations that would not run the rule: the simulator tells them apart -------------------------------

def test_the_default_scale_down_stabilization_would_delay_scale_downs() -> None:
    rule = Rule()
    scrape = world(generated_demand(2, 6), seed=2)
    config = _config(rule)
    del config["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    expected = run_rule(scrape, rule, 1, 6, 1, 6 * 3600)
    got = simulate(config, scrape, 1, 6 * 3600)
    assert [s.after for s in got] != [s.after for s in expected]


def test_a_plain_utilization_target_would_not_keep_the_hysteresis() -> None:
    rule = Rule(queue_above=None)
    scrape = world(generated_demand(3, 6), seed=3)
    config = _config(rule)
    trig = config["spec"]["triggers"][0]
    trig["metadata"]["query"] = 'avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL{pod=~"engine-.*"}[5m]))'
    trig["metadata"]["threshold"], trig["metricType"] = "85", "Value"
    expected = run_rule(scrape, rule, 1, 6, 1, 6 * 3600)
    got = simulate(config, scrape, 1, 6 * 3600)
    assert [s.decision for s in got] != [s.decision for s in expected]


def test_a_policy_period_equal_to_the_sync_period_would_skip_steps_under_real_timing() -> None:
    rule = Rule()
    scrape = world(generated_demand(4, 6), seed=4)
    config = _config(rule)
    for direction in ("scaleUp", "scaleDown"):
        config["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"][direction]["policies"][0][
            "periodSeconds"] = 15
    expected = run_rule(scrape, rule, 1, 6, 1, 6 * 3600)
    got = simulate(config, scrape, 1, 6 * 3600, event_delay_s=0.5)
    assert [s.after for s in got] != [s.after for s in expected]


def test_with_no_ready_pod_the_hpa_cannot_scale_up_as_documented() -> None:
    scrape = world(h200_demand(3600, 2.5), gpus=1)
    got = simulate(_config(), scrape, 1, 3600, ready=lambda _t, _r: 0)
    assert all(s.decision != "up" for s in got)


def test_keda_activation_decides_zero_and_one_only_with_min_zero() -> None:
    """Scale to zero needs a signal that exists without pods (a gateway's queue), never the GPUs' utilization."""
    demand = h200_demand(1800, 1.0)

    def scrape(t: float, replicas: int, samples: Samples) -> None:
        samples.add("gateway_waiting", {"service": "gateway"}, t, 5.0 if demand(t) > 0.5 else 0.0)

    config = _config(Rule(queue_above=None))
    config["spec"]["minReplicaCount"] = 0
    config["spec"]["cooldownPeriod"] = 120
    trig = config["spec"]["triggers"][0]["metadata"]
    trig["query"] = "avg(avg_over_time(gateway_waiting[1m]))"
    got = simulate(config, scrape, 1, 2400)
    assert got[0].after == 0  # idle at creation: KEDA goes to minReplicaCount at once
    up = next(s for s in got if s.before == 0 and s.after == 1)
    down = next(s for s in got if s.t > up.t and s.after == 0)
    idle_from = next(s.t for s in got if s.t > up.t and demand(s.t) <= 0.5)
    assert down.t - idle_from >= 120  # cooldownPeriod after the last active poll
    assert min_replicas_ignored_activation()


def min_replicas_ignored_activation() -> bool:
    """With minReplicaCount 1 the same idle trace never reaches zero."""
    demand = h200_demand(1800, 1.0)

    def scrape(t: float, replicas: int, samples: Samples) -> None:
        samples.add("gateway_waiting", {"service": "gateway"}, t, 5.0 if demand(t) > 0.5 else 0.0)

    config = _config(Rule(queue_above=None))
    config["spec"]["triggers"][0]["metadata"]["query"] = "avg(avg_over_time(gateway_waiting[1m]))"
    return all(s.after >= 1 for s in simulate(config, scrape, 1, 2400))


@pytest.mark.parametrize(("target", "own", "others"), [
    ("engine", ["engine-6b7f9c4d5-x2bqz", "engine-5d8-bcdfg"],
     ["engine-canary-6b7f9c4d5-x2bqz", "engine-b-0", "engine-6b7f9c4d5-x2bqz-1", "engine-abc-x2bqz"]),
    (ENGINE, ["engine-0", "engine-3", "engine-3-1", "engine-12-7"],
     ["engine-b-0", "engine-canary-0", "engine-0-1-2", "engine-6b7f9c4d5-x2bqz"]),
    ("r1.blue", ["r1.blue-6b7f9c4d5-x2bqz"], ["r1xblue-6b7f9c4d5-x2bqz"]),
])
def test_the_default_selector_takes_the_targets_own_pods_and_no_workload_named_after_it(target, own, others) -> None:
    query = scaled_object("so", "serving", target, 1, 4, prometheus_url=URL)["spec"]["triggers"][0]["metadata"]["query"]
    samples = Samples()
    for pod in own + others:
        samples.add(GPU_UTIL_METRIC, {"namespace": "serving", "pod": pod, "gpu": "0"}, 0, 100 if pod in own else 0)
    # Every one of the target's own pods is busy and no other pod is: the rule sees 100 % and says scale up.
    assert list(evaluate(query, samples, 1).values()) == [9999 + 1]


def test_a_target_of_another_kind_needs_its_selectors() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "engine"}
    with pytest.raises(ValueError, match="StatefulSet target needs gpu_selector"):
        scaled_object("so", "serving", sts, 1, 4, prometheus_url=URL)
    so = scaled_object("so", "serving", sts, 1, 4, prometheus_url=URL, gpu_selector='pod="engine-0"',
                       queue_selector='pod="engine-0"')
    assert 'pod="engine-0"' in so["spec"]["triggers"][0]["metadata"]["query"]
