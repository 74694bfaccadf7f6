"""The serving autoscaling rule, the KEDA configuration that makes the cluster run it, and a simulator of that
configuration (floor 1: pure, no Pulumi, no network). docs/autoscaling.md explains the design.

The rule (the source article's, plus a queue-depth trigger): every evaluation, with `avg` the 5-minute average GPU
utilization of the engine's GPUs,

- up by `step` when `avg` > 85 % (or the engines' average waiting queue is above `queue_above`) and replicas < max;
- down by `step` when `avg` < 30 %, the queue trigger does not ask for more, and replicas > min;
- otherwise no action.

A signal that has no data decides nothing: without the GPU average there is no scale-down, and without the
queue depth (when its trigger is configured) there is no scale-down either; a present signal may still scale up.
This is what the Kubernetes HPA does with a metric it cannot read (it never scales down then), and it is the safe
reading of the rule.

Kubernetes runs the rule through a KEDA ScaledObject (`scaled_object`): each trigger's PromQL query computes the
rule's *decision* as a number (0 = down, 1 = hold, 10000 = up) with `metricType: Value` and threshold 1, so the
HPA's proportional formula `ceil(ready × value / 1)` lands far outside its 10 % tolerance for up and down and
exactly on 1.0 for hold; the HPA behaviour's rate policies turn "all the way to max/min" into one `step`.
`simulate` replays the HPA controller's algorithm on such a configuration (tolerance, min/max, stabilization
windows, rate policies, invalid metrics, KEDA's activation) so tests can show that on the same traces the
deployed configuration takes the rule's decisions.

Sources:
- DCGM_FI_DEV_GPU_UTIL, GPU utilization in percent, a default field of dcgm-exporter: NVIDIA, "DCGM Exporter
  Metrics" (docs.nvidia.com/datacenter/dcgm/latest/reference/dcgm-exporter-metrics.html) and the exporter's
  README output (github.com/NVIDIA/dcgm-exporter).
- vllm:num_requests_waiting, "Number of requests waiting to be processed" (gauge): vLLM, "Production Metrics"
  (docs.vllm.ai/en/stable/usage/metrics/).
- HPA algorithm: kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/ ("Algorithm details",
  "Stabilization window", "Scaling policies"; sync period 15 s, tolerance 0.1) and the controller source
  kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go (normalizeDesiredReplicasWithBehaviors,
  stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate, getReplicasChangePerPeriod) and
  replica_calculator.go (getUsageRatioReplicaCount: ceil(usageRatio × ready pods), tolerance check first);
  no scale-down while any metric is invalid: kubernetes/kubernetes PR #99514 (v1.21 on).
- KEDA: keda.sh/docs/2.15/reference/scaledobject-spec/ (metricType Value/AverageValue, minReplicaCount,
  advanced.horizontalPodAutoscalerConfig.behavior passed to the HPA), keda.sh/docs/2.15/concepts/
  scaling-deployments/ ("Activating and Scaling thresholds": activation only decides 0 <-> 1 and is ignored when
  minReplicaCount >= 1; "Caching Metrics": the HPA asks KEDA's metrics server every sync period and, without
  useCachedMetrics, the scaler queries its source each time), keda.sh/docs/2.15/scalers/prometheus/
  (serverAddress, query, threshold, activationThreshold, ignoreNullValues: false makes an empty result an error).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
"""dcgm-exporter's GPU utilization gauge, 0-100 % (source in the module docstring)."""
QUEUE_METRIC = "vllm:num_requests_waiting"
"""vLLM's gauge of requests waiting to be processed (source in the module docstring)."""

HPA_SYNC_PERIOD_S = 15
"""kube-controller-manager --horizontal-pod-autoscaler-sync-period default (Kubernetes HPA docs)."""
HPA_TOLERANCE = 0.1
"""The HPA's default cluster-wide tolerance on the usage ratio (Kubernetes HPA docs, "Algorithm details")."""
HPA_DOWNSCALE_STABILIZATION_S = 300
"""Default scaleDown.stabilizationWindowSeconds (HPAScalingRules API reference)."""

DOWN, HOLD, UP = 0, 1, 10000
"""The decision values the trigger queries yield; the threshold is 1 and the metric type `Value`."""
MAX_REPLICAS_LIMIT = 1000
"""`UP` must exceed max replicas: ceil(UP × ready) then always clamps to max."""

Decision = Literal["up", "down", "none"]


@dataclass(frozen=True)
class Rule:
    """The article's thresholds and the queue-depth trigger; `cooldown_s` spaces two steps in one direction."""

    up_above: float = 85.0
    down_below: float = 30.0
    window_s: int = 300
    queue_above: float | None = 8.0
    """Average waiting requests per engine above which to scale up; None turns the queue trigger off. The value is
    podforge's default (a tuning choice, not a published figure)."""
    queue_window_s: int = 60
    step: int = 1
    interval_s: int = HPA_SYNC_PERIOD_S
    """How often the rule is evaluated: the HPA sync period."""
    cooldown_s: int = HPA_SYNC_PERIOD_S
    """After a step up (down), the next step up (down) waits this long; a multiple of `interval_s`. The default,
    one interval, is the article's rule as written: one step per evaluation."""

    def __post_init__(self) -> None:
        if not 0 <= self.down_below < self.up_above <= 100:
            raise ValueError("thresholds: 0 <= down_below < up_above <= 100")
        if self.step < 1 or self.interval_s < 1 or self.window_s < 1 or self.queue_window_s < 1:
            raise ValueError("step, interval_s and the windows must be positive")
        if self.cooldown_s < self.interval_s or self.cooldown_s % self.interval_s:
            raise ValueError("cooldown_s must be a positive multiple of interval_s")


def decide(gpu_avg: float | None, replicas: int, min_replicas: int, max_replicas: int,
           queue_avg: float | None = None, rule: Rule = Rule()) -> Decision:
    """The rule for one evaluation. `gpu_avg` is the 5-minute average utilization in percent (None: no data),
    `queue_avg` the engines' average waiting requests (None: no data, or the trigger is off)."""
    queue_up = rule.queue_above is not None and queue_avg is not None and queue_avg > rule.queue_above
    gpu_up = gpu_avg is not None and gpu_avg > rule.up_above
    if (gpu_up or queue_up) and replicas < max_replicas:
        return "up"
    queue_known = rule.queue_above is None or queue_avg is not None
    if gpu_avg is not None and gpu_avg < rule.down_below and queue_known and not queue_up and replicas > min_replicas:
        return "down"
    return "none"


# --- samples and windows -------------------------------------------------------------------------------------

Labels = frozenset[tuple[str, str]]
Series = dict[Labels, tuple[list[float], list[float]]]


@dataclass
class Samples:
    """Scraped samples per metric and label set, as Prometheus holds them: times (ascending) and values."""

    series: dict[str, Series] = field(default_factory=dict)

    def add(self, metric: str, labels: Mapping[str, str], t: float, value: float) -> None:
        times, values = self.series.setdefault(metric, {}).setdefault(frozenset(labels.items()), ([], []))
        times.append(t)
        values.append(value)

    def window_means(self, metric: str, match: Callable[[Mapping[str, str]], bool], now: float,
                     window_s: float) -> dict[Labels, float]:
        """Per matching series, the mean of its samples in (now - window, now]; series without one are left out
        (Prometheus's range selection: left-open, right-closed)."""
        out = {}
        for labels, (times, values) in self.series.get(metric, {}).items():
            if not match(dict(labels)):
                continue
            lo, hi = bisect_right(times, now - window_s), bisect_right(times, now)
            if hi > lo:
                out[labels] = sum(values[lo:hi]) / (hi - lo)
        return out


def window_average(samples: Samples, metric: str, match: Callable[[Mapping[str, str]], bool], now: float,
                   window_s: float) -> float | None:
    """Mean over the matching series of each series' mean over (now - window, now]; None when no sample is there.

    The rule's own reading of "the 5-minute average"; `simulate` gets the same number by evaluating the deployed
    PromQL `avg(avg_over_time(METRIC{...}[5m]))` on the same samples."""
    means = list(samples.window_means(metric, match, now, window_s).values())
    return sum(means) / len(means) if means else None


# --- the deployed configuration -------------------------------------------------------------------------------


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _fmt(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def gpu_query(selector: str, rule: Rule = Rule()) -> str:
    """The GPU trigger's PromQL: 10000 when the window average is above `up_above`, 0 below `down_below`, else 1."""
    avg = f"avg(avg_over_time({GPU_UTIL_METRIC}{{{selector}}}[{_duration(rule.window_s)}]))"
    return f"({avg} > bool {_fmt(rule.up_above)}) * {UP - HOLD} + ({avg} >= bool {_fmt(rule.down_below)})"


def queue_query(selector: str, rule: Rule = Rule()) -> str:
    """The queue trigger's PromQL: 10000 when the engines' average waiting queue is above `queue_above`, else 0
    (0 never holds a scale-down back: the HPA takes the larger of the two triggers' proposals)."""
    if rule.queue_above is None:
        raise ValueError("the queue trigger is off (queue_above is None)")
    avg = f"avg(avg_over_time({QUEUE_METRIC}{{{selector}}}[{_duration(rule.queue_window_s)}]))"
    return f"({avg} > bool {_fmt(rule.queue_above)}) * {UP}"


def rate_period_s(rule: Rule) -> int:
    """The HPA policy period for a cooldown: half an interval short of it, so the HPA's own timing (the scale event
    is stamped a little after the sync starts) never pushes an allowed step to the next sync."""
    return max(1, rule.cooldown_s - rule.interval_s // 2)


def scaled_object(name: str, namespace: str, target: str | Mapping[str, str], min_replicas: int, max_replicas: int,
                  *, prometheus_url: str, rule: Rule = Rule(), gpu_selector: str | None = None,
                  queue_selector: str | None = None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A KEDA ScaledObject (keda.sh/v1alpha1) that makes the cluster run `rule`, as a plain dict.

    - `name`, `namespace`: the ScaledObject's; KEDA names the HPA it creates `keda-hpa-<name>`.
    - `target`: the workload to scale, a Deployment name, or `{"apiVersion", "kind", "name"}` for another kind with
      a scale subresource (a LeaderWorkerSet: `leaderworkerset.x-k8s.io/v1`, whose scale selector picks the leader
      pods; LWS api/leaderworkerset/v1/leaderworkerset_types.go).
    - `min_replicas` >= 1 (an engine loading hundreds of GiB of weights is never scaled to zero, so KEDA's
      activation phase stays out of the way), `max_replicas` <= 1000.
    - `prometheus_url`: the Prometheus KEDA queries (serverAddress).
    - `rule`: thresholds, windows, step, cooldown; `rule.interval_s` must be the cluster's HPA sync period.
    - `gpu_selector`, `queue_selector`: PromQL label matchers for the engine's DCGM and vLLM series (default:
      `namespace="<namespace>"` and the target's own pods by name, `pod_selector`; another kind needs both).
    - `labels`: metadata labels.
    """
    if min_replicas < 1:
        raise ValueError("min_replicas must be at least 1: the engine is never scaled to zero")
    if not min_replicas <= max_replicas <= MAX_REPLICAS_LIMIT:
        raise ValueError(f"max_replicas must be between min_replicas and {MAX_REPLICAS_LIMIT}")
    ref = {"name": target} if isinstance(target, str) else dict(target)
    if not ref.get("name"):
        raise ValueError("target needs a name")
    needed = [gpu_selector] + ([queue_selector] if rule.queue_above is not None else [])
    if None in needed and ref.get("kind", "Deployment") not in _POD_NAMES:
        raise ValueError(f"a {ref['kind']} target needs gpu_selector and queue_selector: its pods' names are not known")
    default = f'namespace="{namespace}",{pod_selector(ref)}' if None in needed else ""
    triggers = [_trigger("gpu-utilization", prometheus_url, gpu_query(gpu_selector or default, rule))]
    if rule.queue_above is not None:
        triggers.append(_trigger("queue-depth", prometheus_url, queue_query(queue_selector or default, rule)))
    period = rate_period_s(rule)
    policy = {"selectPolicy": "Max", "policies": [{"type": "Pods", "value": rule.step, "periodSeconds": period}]}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, **({"labels": dict(labels)} if labels else {})},
        "spec": {
            "scaleTargetRef": ref,
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "pollingInterval": rule.interval_s,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, **policy},
                "scaleDown": {"stabilizationWindowSeconds": 0, **policy},
            }}},
            "triggers": triggers,
        },
    }


# Pod names of a target's own pods, never of a workload whose name begins with the target's and a dash:
# - Deployment: ReplicaSet `<name>-<pod-template-hash>`, pods `<replicaset>-<5 chars>`, both from the alphabet of
#   k8s.io/apimachinery/pkg/util/rand (no vowels, no 0 1 3: "bcdfghjklmnpqrstvwxz2456789"), the hash at most 10;
# - LeaderWorkerSet: leader `<name>-<group>`, workers `<name>-<group>-<ordinal>` (the leader StatefulSet `<name>`,
#   one worker StatefulSet `<name>-<group>` per group; LWS docs, "Architecture and Relationship with StatefulSet").
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_POD_NAMES = {"Deployment": f"-{_SAFE}{{1,10}}-{_SAFE}{{5}}", "LeaderWorkerSet": "-[0-9]+(-[0-9]+)?"}


def pod_pattern(target: str | Mapping[str, str]) -> str:
    """The regular expression (anchored, as PromQL and re.fullmatch apply it) of the pods of a Deployment (a plain
    name) or LeaderWorkerSet."""
    ref = {"name": target} if isinstance(target, str) else dict(target)
    return ref["name"].replace(".", "\\.") + _POD_NAMES[ref.get("kind", "Deployment")]


def pod_selector(target: str | Mapping[str, str]) -> str:
    """`pod=~"…"`: `pod_pattern` as a PromQL matcher (its backslashes escaped inside the string)."""
    return 'pod=~"' + pod_pattern(target).replace("\\", "\\\\") + '"'


def _trigger(name: str, server: str, query: str) -> dict[str, Any]:
    return {"type": "prometheus", "name": name, "metricType": "Value",
            "metadata": {"serverAddress": server, "query": query, "threshold": "1", "activationThreshold": "0",
                         "ignoreNullValues": "false"}}


# --- a PromQL subset, enough to evaluate the deployed queries -------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<sel>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})'
                    r"|(?P<range>\[\d+[smh]\])|(?P<op>>=|<=|==|!=|[-+*/()<>]))")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_PRECEDENCE = {"==": 1, "!=": 1, ">": 1, "<": 1, ">=": 1, "<=": 1, "+": 2, "-": 2, "*": 3, "/": 3}
Value = float | dict[Labels, float]


class PromQLError(ValueError):
    """An expression outside the subset the simulator evaluates."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise PromQLError(f"cannot read {text[pos:pos + 20]!r}")
        out.append(m.group(m.lastgroup or "op"))
        pos = m.end()
    return out


def _matchers(text: str) -> Callable[[Mapping[str, str]], bool]:
    body, pos, rules = text[1:-1], 0, []
    while pos < len(body.rstrip()):
        m = _MATCHER.match(body, pos)
        if not m:
            raise PromQLError(f"cannot read label matcher {body[pos:]!r}")
        rules.append((m.group(1), m.group(2), re.sub(r"\\(.)", r"\1", m.group(3))))  # a PromQL string's escapes
        pos = m.end()

    def match(labels: Mapping[str, str]) -> bool:
        for name, op, want in rules:
            have = labels.get(name, "")
            ok = {"=": have == want, "!=": have != want, "=~": re.fullmatch(want, have) is not None,
                  "!~": re.fullmatch(want, have) is None}[op]
            if not ok:
                return False
        return True
    return match


def evaluate(query: str, samples: Samples, now: float) -> Value:
    """Evaluate `query` at `now` over `samples`: numbers, `+ - * /`, comparisons with `bool`, `avg`/`sum`/
    `max`/`min`/`count` without grouping, and `avg_over_time(M{...}[d])`. Instant vectors are dicts."""
    tokens = _tokens(query)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise PromQLError(f"expected {expected or 'more'} in {query!r}")
        pos += 1
        return tok

    def primary() -> Value:
        tok = take()
        if tok == "(":
            value = expression(0)
            take(")")
            return value
        if re.fullmatch(r"\d+(?:\.\d+)?", tok):
            return float(tok)
        if tok in ("avg", "sum", "max", "min", "count"):
            take("(")
            inner = expression(0)
            take(")")
            values = list(inner.values()) if isinstance(inner, dict) else [inner]
            if not values:
                return {}
            agg = {"avg": sum(values) / len(values), "sum": sum(values), "max": max(values), "min": min(values),
                   "count": float(len(values))}[tok]
            return {frozenset(): agg}
        if tok == "avg_over_time":
            take("(")
            metric = take()
            match = _matchers(take()) if peek() and peek().startswith("{") else (lambda _labels: True)
            rng = take()
            if not rng.startswith("["):
                raise PromQLError("avg_over_time needs a range")
            take(")")
            seconds = int(rng[1:-2]) * {"s": 1, "m": 60, "h": 3600}[rng[-2]]
            return samples.window_means(metric, match, now, seconds)
        raise PromQLError(f"unsupported token {tok!r} in {query!r}")

    def expression(min_prec: int) -> Value:
        left = primary()
        while (op := peek()) in _PRECEDENCE and _PRECEDENCE[op] >= min_prec:
            take()
            as_bool = False
            if _PRECEDENCE[op] == 1:
                if peek() != "bool":
                    raise PromQLError("comparisons must use bool")
                take()
                as_bool = True
            right = expression(_PRECEDENCE[op] + 1)
            left = _binary(op, left, right, as_bool)
        return left

    value = expression(0)
    if pos != len(tokens):
        raise PromQLError(f"unexpected {tokens[pos]!r} in {query!r}")
    return value


def _binary(op: str, left: Value, right: Value, as_bool: bool) -> Value:
    def apply(a: float, b: float) -> float:
        if as_bool:
            return float({">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}[op])
        if op == "/":
            return math.nan if b == 0 else a / b
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if isinstance(left, dict) and isinstance(right, dict):  # one-to-one on identical label sets
        return {k: apply(v, right[k]) for k, v in left.items() if k in right}
    if isinstance(left, dict):
        return {k: apply(v, float(right)) for k, v in left.items()}  # type: ignore[arg-type]
    if isinstance(right, dict):
        return {k: apply(float(left), v) for k, v in right.items()}
    return apply(left, right)


# --- the HPA controller and KEDA, replayed -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One evaluation: when, the replicas before, what was decided, the replicas after."""

    t: float
    before: int
    decision: Decision
    after: int


World = Callable[[float, int, Samples], None]
"""Scrapes the engines into `samples` at time t, given the replicas running then (a closed loop: more replicas,
less utilization each)."""


def _direction(before: int, after: int) -> Decision:
    return "up" if after > before else "down" if after < before else "none"


def run_rule(world: World, rule: Rule, min_replicas: int, max_replicas: int, start: int, duration_s: float,
             *, scrape_s: float = 15.0, offset_s: float = 7.0,
             gpu_match: Callable[[Mapping[str, str]], bool] = lambda _labels: True,
             queue_match: Callable[[Mapping[str, str]], bool] = lambda _labels: True) -> list[Step]:
    """The pure rule driven over a trace: scrape every `scrape_s`, evaluate every `rule.interval_s` (shifted by
    `offset_s` so an evaluation never falls on a scrape), honouring `rule.cooldown_s` per direction."""
    samples, steps, replicas = Samples(), [], start
    last = {"up": -math.inf, "down": -math.inf}
    for t, kind in _timeline(duration_s, scrape_s, rule.interval_s, offset_s):
        if kind == "scrape":
            world(t, replicas, samples)
            continue
        gpu = window_average(samples, GPU_UTIL_METRIC, gpu_match, t, rule.window_s)
        queue = (window_average(samples, QUEUE_METRIC, queue_match, t, rule.queue_window_s)
                 if rule.queue_above is not None else None)
        decision = decide(gpu, replicas, min_replicas, max_replicas, queue, rule)
        if decision != "none" and t - last[decision] < rule.cooldown_s:
            decision = "none"
        after = replicas
        if decision == "up":
            after = min(max_replicas, replicas + rule.step)
        elif decision == "down":
            after = max(min_replicas, replicas - rule.step)
        if decision != "none":
            last[decision] = t
        steps.append(Step(t, replicas, decision, after))
        replicas = after
    return steps


def _timeline(duration_s: float, scrape_s: float, interval_s: float, offset_s: float) -> Iterable[tuple[float, str]]:
    events = [(i * scrape_s, "scrape") for i in range(int(duration_s // scrape_s) + 1)]
    events += [(offset_s + i * interval_s, "sync") for i in range(int((duration_s - offset_s) // interval_s) + 1)]
    return sorted(events)


@dataclass
class _Hpa:
    """The HPA controller's memory for one autoscaler: recommendations and scale events (horizontal.go)."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)


def _window(rules: Mapping[str, Any], default: int) -> int:
    value = rules.get("stabilizationWindowSeconds")
    return default if value is None else int(value)


def _change_in_period(events: Sequence[tuple[float, int]], period: float, now: float) -> int:
    return sum(change for t, change in events if t > now - period)  # getReplicasChangePerPeriod: After(cutoff)


def _scale_up_limit(current: int, events: Sequence[tuple[float, int]], rules: Mapping[str, Any], now: float) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    policies = rules.get("policies") or [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                         {"type": "Pods", "value": 4, "periodSeconds": 15}]
    proposals = []
    for policy in policies:
        start = current - _change_in_period(events, policy["periodSeconds"], now)
        if policy["type"] == "Pods":
            proposals.append(start + policy["value"])
        else:
            proposals.append(math.ceil(start * (1 + policy["value"] / 100)))
    return min(proposals) if select == "Min" else max(proposals)


def _scale_down_limit(current: int, events: Sequence[tuple[float, int]], rules: Mapping[str, Any], now: float) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    policies = rules.get("policies") or [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    proposals = []
    for policy in policies:
        start = current + _change_in_period(events, policy["periodSeconds"], now)
        if policy["type"] == "Pods":
            proposals.append(start - policy["value"])
        else:
            proposals.append(int(start * (1 - policy["value"] / 100)))
    return max(proposals) if select == "Min" else min(proposals)


def hpa_replicas(value: float, metric_type: str, threshold: float, current: int, ready: int,
                 tolerance: float = HPA_TOLERANCE) -> int:
    """One external metric's proposal (replica_calculator.go): `Value` scales the ready pods by the usage ratio,
    `AverageValue` divides the metric by the per-pod target; both keep `current` inside the tolerance."""
    if metric_type == "Value":
        ratio = value / threshold
        if current == 0:
            return math.ceil(ratio)
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    ratio = value / (threshold * current)
    return math.ceil(value / threshold) if abs(1.0 - ratio) > tolerance else current


def simulate(config: Mapping[str, Any], world: World, start: int, duration_s: float, *, scrape_s: float = 15.0,
             offset_s: float = 7.0, sync_period_s: int = HPA_SYNC_PERIOD_S, event_delay_s: float = 0.0,
             tolerance: float = HPA_TOLERANCE, ready: Callable[[float, int], int] | None = None) -> list[Step]:
    """Replay KEDA and the HPA controller acting on a ScaledObject `config` over the same trace `run_rule` reads.

    Every `sync_period_s` the HPA asks KEDA for each trigger's metric, KEDA runs the trigger's query against the
    scraped samples (an empty result is an error: ignoreNullValues false), the HPA turns each into a proposal
    (`hpa_replicas`), takes the largest valid one (none while all are invalid; no scale-down while any is invalid),
    stabilizes it, limits it by the behaviour's rate policies and min/max, and scales. `event_delay_s` stamps the
    scale event that much after the sync started, as a real controller does; `ready(t, replicas)` gives the ready
    pods (default: all). With minReplicaCount 0, KEDA's activation scales 0 <-> 1 (cooldownPeriod before 0)."""
    spec = config["spec"]
    lo, hi = int(spec.get("minReplicaCount", 0)), int(spec.get("maxReplicaCount", 100))
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
    up_rules, down_rules = behavior.get("scaleUp", {}), behavior.get("scaleDown", {})
    up_window, down_window = _window(up_rules, 0), _window(down_rules, HPA_DOWNSCALE_STABILIZATION_S)
    cooldown = int(spec.get("cooldownPeriod", 300))
    triggers = spec["triggers"]
    samples, steps, replicas, hpa = Samples(), [], start, _Hpa()
    last_active = -math.inf
    for t, kind in _timeline(duration_s, scrape_s, sync_period_s, offset_s):
        if kind == "scrape":
            world(t, replicas, samples)
            continue
        values: list[float | None] = []
        for trig in triggers:
            meta = trig["metadata"]
            try:
                result = evaluate(meta["query"], samples, t)
            except PromQLError:
                values.append(None)
                continue
            if isinstance(result, dict):
                found = list(result.values())
                values.append(found[0] if found else (0.0 if meta.get("ignoreNullValues", "true") == "true" else None))
            else:
                values.append(result)
        after = _keda_and_hpa(t, replicas, values, triggers, lo, hi, up_rules, down_rules, up_window, down_window,
                              hpa, tolerance, ready(t, replicas) if ready else replicas, event_delay_s)
        # KEDA's activation phase: only with minReplicaCount 0
        active = any(v is not None and v > float(tr["metadata"].get("activationThreshold", "0"))
                     for v, tr in zip(values, triggers, strict=True))
        if active:
            last_active = t
        if lo == 0:
            if replicas == 0 and active:
                after = max(1, lo)
            elif not active and t - last_active >= cooldown:
                after = 0
        steps.append(Step(t, replicas, _direction(replicas, after), after))
        replicas = after
    return steps


def _keda_and_hpa(t: float, current: int, values: Sequence[float | None], triggers: Sequence[Mapping[str, Any]],
                  lo: int, hi: int, up_rules: Mapping[str, Any], down_rules: Mapping[str, Any], up_window: int,
                  down_window: int, hpa: _Hpa, tolerance: float, ready: int, event_delay_s: float) -> int:
    if current == 0:
        return 0  # the HPA does not act on a target scaled to zero; KEDA's activation does
    hpa_min = max(lo, 1)
    if current > hi:
        desired = hi
    elif current < hpa_min:
        desired = hpa_min
    else:
        proposals = [hpa_replicas(v, tr.get("metricType", "AverageValue"), float(tr["metadata"]["threshold"]),
                                  current, ready, tolerance)
                     for v, tr in zip(values, triggers, strict=True) if v is not None]
        invalid = len(values) - len(proposals)
        if not proposals:
            return current  # every metric invalid: the HPA does not scale
        proposed = max(proposals)
        if invalid and proposed < current:
            return current  # some metric invalid: never scale down (kubernetes PR #99514)
        # stabilizeRecommendationWithBehaviors
        if proposed >= current:
            window, pick = up_window, min
        else:
            window, pick = down_window, max
        stabilized = proposed
        for rec_t, rec in hpa.recommendations:
            if rec_t > t - window:
                stabilized = pick(stabilized, rec)
        keep = max(up_window, down_window)
        hpa.recommendations = [(rt, r) for rt, r in hpa.recommendations if rt >= t - keep] + [(t, proposed)]
        # convertDesiredReplicasWithBehaviorRate
        desired = stabilized
        if stabilized > current:
            limit = max(current, _scale_up_limit(current, hpa.up_events, up_rules, t))
            desired = min(stabilized, hi, limit)
        elif stabilized < current:
            limit = min(current, _scale_down_limit(current, hpa.down_events, down_rules, t))
            desired = max(stabilized, hpa_min, limit)
    if desired > current:
        hpa.up_events.append((t + event_delay_s, desired - current))
    elif desired < current:
        hpa.down_events.append((t + event_delay_s, current - desired))
    return desired
