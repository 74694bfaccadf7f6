"""promtool, Prometheus's own rule checker (built from its Go module by tools/build-promtool.sh), on the rules
podforge ships.

- `promtool check rules` on components/inference/alerts.yaml, on the PrometheusRule groups each serving stack
  declares, and on the autoscaling decision as recording rules generated from the queries of the KEDA
  ScaledObject the stack declares (the same PromQL the cluster runs);
- `promtool test rules` on tests/fixtures/promtool/alerts_test.yaml: each alert fires on a series that crosses its
  threshold and not on one at or just below it; mutated copies of alerts.yaml (an alert that never fires, a `>`
  turned into `>=`) make those unit tests fail, so they can fail;
- `promtool test rules` on a unit test generated here: series shaped like the H200 utilization trace of
  tests/fixtures/gpu-node-h200/load.json (stretched to 45 minutes, then idle, an exporter outage, idle again),
  whose expected decisions at every evaluation are components.autoscale.decide's on the same samples.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.autoscale import (
    DOWN,
    GPU_UTIL_METRIC,
    HOLD,
    QUEUE_METRIC,
    UP,
    Rule,
    Samples,
    decide,
    gpu_query,
    pod_pattern,
    pod_selector,
    queue_query,
    window_average,
)
from components.inference.observability import ALERTS_FILE, alert_groups
from components.offline import capture

CHECKOUT = Path(__file__).resolve().parents[2]
ALERT_TESTS = CHECKOUT / "tests" / "fixtures" / "promtool" / "alerts_test.yaml"
LOAD = CHECKOUT / "tests" / "fixtures" / "gpu-node-h200" / "load.json"
GO_MOD = CHECKOUT / "tools" / "promtool" / "go.mod"
SERVING_STACKS = ("lab-serving", "superpod-serving")
K = "kubernetes:"
DECISION = "podforge:autoscale_decision:"
"""Prefix of the recorded autoscaling decisions, one series per ScaledObject trigger."""


# --- promtool --------------------------------------------------------------------------------------------------

def _release(go_mod: Path = GO_MOD) -> str:
    """The Prometheus release of the module version go.mod pins: v0.3MM.P is release 3.MM.P (prometheus/prometheus
    README, "Prometheus code base")."""
    found = re.search(r"^\s*github\.com/prometheus/prometheus v0\.(3\d\d)\.(\d+)\b", go_mod.read_text(), re.M)
    assert found, f"{go_mod} pins no github.com/prometheus/prometheus v0.3MM.P"
    minor = int(found.group(1))
    return f"{minor // 100}.{minor % 100}.{found.group(2)}"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """The venv's promtool (tools/build-promtool.sh links it there), else one on PATH."""
    beside = Path(sys.executable).parent / "promtool"
    found = beside if beside.exists() else (Path(p) if (p := shutil.which("promtool")) else None)
    if found is None:
        pytest.skip("promtool is not built (make setup with PROMTOOL=skip skips it): "
                    "`tools/build-promtool.sh .venv/bin` builds it from tools/promtool/go.mod")
    return found


def _run(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def _rule_count(groups: list[dict[str, Any]]) -> int:
    return sum(len(g["rules"]) for g in groups)


# --- what the serving stacks declare ---------------------------------------------------------------------------

@cache
def _declared(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PrometheusRule and the ScaledObject the stack's program declares (captured offline)."""
    graph = capture(stack)
    (rule,) = graph.of_type(K + "monitoring.coreos.com/v1:PrometheusRule")
    (scaled,) = graph.of_type(K + "keda.sh/v1alpha1:ScaledObject")
    return rule.inputs, scaled.inputs


def autoscaling_rules(scaled: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaling decision as a rule file: one recording rule per Prometheus trigger of the ScaledObject,
    its query unchanged, evaluated every pollingInterval (the HPA sync period the rule assumes)."""
    spec = scaled["spec"]
    rules = [{"record": DECISION + t["name"].replace("-", "_"), "expr": t["metadata"]["query"]}
             for t in spec["triggers"] if t["type"] == "prometheus"]
    return {"groups": [{"name": f"podforge-autoscaling-{scaled['metadata']['name']}",
                        "interval": f"{spec['pollingInterval']}s", "rules": rules}]}


def _write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1000), encoding="utf-8")
    return path


# --- promtool itself -------------------------------------------------------------------------------------------

def test_promtool_reports_a_prometheus_3_release_and_the_pinned_one_when_built_here(promtool: Path) -> None:
    out = _run(promtool, "--version")
    assert out.returncode == 0, out.stderr
    version = re.match(r"promtool, version (\S+)", out.stdout + out.stderr)
    assert version, out.stdout + out.stderr
    assert version.group(1).startswith("3."), version.group(1)
    built = promtool.resolve().parent.parent
    if built.name.startswith("promtool-"):  # the cache of tools/build-promtool.sh, not a PROMTOOL=/path binary
        assert built.name == f"promtool-{_release()}"
        assert version.group(1) == _release()


# --- check rules -----------------------------------------------------------------------------------------------

def test_check_rules_accepts_alerts_yaml_with_every_lint(promtool: Path) -> None:
    out = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", ALERTS_FILE)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {_rule_count(alert_groups())} rules found" in out.stdout


@pytest.mark.parametrize("stack", SERVING_STACKS)
def test_check_rules_accepts_the_rules_the_serving_stack_declares(promtool: Path, tmp_path: Path, stack: str) -> None:
    rule, scaled = _declared(stack)
    alerts = _write(tmp_path / "prometheus-rule.yaml", {"groups": rule["spec"]["groups"]})
    autoscaling = _write(tmp_path / "autoscaling.yaml", autoscaling_rules(scaled))
    out = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", alerts, autoscaling)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {_rule_count(rule['spec']['groups'])} rules found" in out.stdout
    assert f"SUCCESS: {len(scaled['spec']['triggers'])} rules found" in out.stdout


def test_check_rules_refuses_a_broken_expression(promtool: Path, tmp_path: Path) -> None:
    """The checker's verdict is real: a rule with a PromQL syntax error is refused."""
    groups = alert_groups()
    broken = [{**g, "rules": [{**r, "expr": r["expr"].replace("(", "((", 1)} if i == 0 else r
                              for i, r in enumerate(g["rules"])]} for g in groups[:1]]
    out = _run(promtool, "check", "rules", _write(tmp_path / "broken.yaml", {"groups": broken}))
    assert out.returncode == 1
    assert "FAILED" in out.stdout + out.stderr


# --- test rules: the alerts ------------------------------------------------------------------------------------

def _alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in alert_groups() for r in g["rules"] if "alert" in r}


def _duration_s(text: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", text))


def _left_out(group: Mapping[str, Any], case: Mapping[str, Any], expr: str) -> bool:
    """Whether `group` has a series of the alert's metrics that none of the case's expected alerts stands for:
    with the exact list of expected alerts, promtool then asserts that series does not fire."""
    keys = {k for a in case["exp_alerts"] for k in a["exp_labels"]} - {"severity"}
    expected = [{k: a["exp_labels"].get(k) for k in keys} for a in case["exp_alerts"]]
    for s in group["input_series"]:
        metric, labels = s["series"].split("{")[0], dict(re.findall(r'(\w+)="([^"]*)"', s["series"]))
        if metric.removesuffix("_bucket") in expr and {k: labels.get(k) for k in keys} not in expected:
            return True
    return False


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    cases = [(group, case) for group in tests for case in group.get("alert_rule_test", [])]
    alerts = _alerts()
    unknown = {c["alertname"] for _, c in cases} - alerts.keys()
    assert not unknown, f"unit tests of alerts that alerts.yaml does not have: {sorted(unknown)}"
    for name, rule in alerts.items():
        after_for = [(g, c) for g, c in cases if c["alertname"] == name
                     and _duration_s(c["eval_time"]) >= _duration_s(rule.get("for", "0s"))]
        assert any(c["exp_alerts"] for _, c in after_for), f"{name}: no unit test in which it fires"
        assert any(not c["exp_alerts"] or _left_out(g, c, rule["expr"]) for g, c in after_for), \
            f"{name}: no unit test, after its `for`, with a series on which it does not fire"


def test_each_alert_fires_on_the_crossing_series_and_not_on_the_one_below(promtool: Path) -> None:
    out = _run(promtool, "test", "rules", ALERT_TESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def _with_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> Path:
    """A copy of the alert unit tests that reads `groups` instead of alerts.yaml."""
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(_write(tmp_path / "mutated-alerts.yaml", {"groups": groups}))]
    return _write(tmp_path / "alerts_test.yaml", tests)


def test_the_unit_tests_fail_for_alerts_that_never_fire(promtool: Path, tmp_path: Path) -> None:
    silent = [{**g, "rules": [{**r, "expr": "vector(1) < 0"} for r in g["rules"]]} for g in alert_groups()]
    out = _run(promtool, "test", "rules", _with_rules(tmp_path, silent))
    assert out.returncode == 1, out.stdout
    for name in _alerts():
        assert f"alertname: {name}," in out.stdout + out.stderr, name


THRESHOLD_ALERTS = sorted(name for name, r in _alerts().items() if r["expr"].count(" > ") == 1)


@pytest.mark.parametrize("alert", THRESHOLD_ALERTS)
def test_the_unit_tests_fail_when_an_alert_fires_at_its_threshold(promtool: Path, tmp_path: Path, alert: str) -> None:
    """Each `> threshold` alert has a series exactly at the threshold that must stay quiet: with `>=` it fires."""
    mutated = [{**g, "rules": [{**r, "expr": r["expr"].replace(" > ", " >= ")} if r.get("alert") == alert else r
                               for r in g["rules"]]} for g in alert_groups()]
    out = _run(promtool, "test", "rules", _with_rules(tmp_path, mutated))
    assert out.returncode == 1, out.stdout
    failed = set(re.findall(r"alertname: (\w+),", out.stdout + out.stderr))
    assert failed == {alert}


# --- test rules: the autoscaling decision on the H200 trace ----------------------------------------------------

SCRAPE_S = 15
STRETCH_S = 45 * 60
"""The H200 trace (about 5 s of samples) stretched to 45 minutes, as tests/unit/test_autoscale.py does."""
OUTAGE = (50 * 60, 60 * 60)
"""No samples at all (exporter and engine metrics down): longer than the 5-minute window, so the rule has no data."""
END_S = 70 * 60
GPU_SCALE = {("0", "0"): 1.0, ("0", "1"): 0.92, ("1", "0"): 0.88, ("1", "1"): 0.97}
"""Per (replica, GPU): the share of the trace's utilization it shows, so the average is over unequal series."""


def _h200_shape() -> tuple[list[float], list[float]]:
    samples = json.loads(LOAD.read_text(encoding="utf-8"))["samples"]
    t0 = samples[0]["t"]
    return [s["t"] - t0 for s in samples], [float(s["util"]) for s in samples]


def _trace(namespace: str, target: str) -> tuple[dict[str, tuple[str, dict[str, str], list[float | None]]], int]:
    """Scrapes every 15 s from 0 to END_S: series name -> (metric, labels, values; None where not scraped); and
    how many scrapes. The engine's pods are `<target>-0` and `<target>-1` in `namespace`; a gateway pod of the
    same namespace and an engine pod of another namespace show 100 % and a long queue, and must not count."""
    times, utils = _h200_shape()
    scale = STRETCH_S / times[-1]
    busy_from = next(t for t, u in zip(times, utils, strict=True) if u >= 100) * scale
    scrapes = [i * SCRAPE_S for i in range(END_S // SCRAPE_S + 1)]

    def shape(t: float) -> float:
        return utils[max(0, bisect_right(times, t / scale) - 1)] if t <= STRETCH_S else 0.0

    def up(t: float) -> bool:
        return not OUTAGE[0] <= t < OUTAGE[1]

    series: dict[str, tuple[str, dict[str, str], list[float | None]]] = {}
    # The Deployment's pods as Kubernetes names them: NAME-<pod-template-hash>-<5 characters>.
    pods = {"0": f"{target}-7c9d5b6f4-x2bqz", "1": f"{target}-7c9d5b6f4-m4n7k"}
    for (replica, gpu), share in GPU_SCALE.items():
        labels = {"namespace": namespace, "pod": pods[replica], "gpu": gpu}
        series[f"gpu-{replica}-{gpu}"] = (GPU_UTIL_METRIC, labels,
                                          [float(round(shape(t) * share)) if up(t) else None for t in scrapes])
    for replica, backlog in (("0", 18.0), ("1", 10.0)):  # a backlog for the first 4 minutes of full load
        labels = {"namespace": namespace, "pod": pods[replica]}
        series[f"queue-{replica}"] = (QUEUE_METRIC, labels, [
            (backlog if busy_from <= t < busy_from + 240 else float(int(replica == "0") * 2)) if up(t) else None
            for t in scrapes])
    # Busy pods that are not the engine's: the gateway, the engine's name in another namespace, and a workload
    # whose name begins with the engine's (a prefix selector would take it).
    for name, labels in (("gateway", {"namespace": namespace, "pod": "podforge-gateway-0"}),
                         ("elsewhere", {"namespace": f"{namespace}-other", "pod": pods["0"]}),
                         ("lookalike", {"namespace": namespace, "pod": f"{target}-canary-7c9d5b6f4-x2bqz"})):
        series[f"gpu-{name}"] = (GPU_UTIL_METRIC, {**labels, "gpu": "0"}, [100.0] * len(scrapes))
        series[f"queue-{name}"] = (QUEUE_METRIC, labels, [50.0] * len(scrapes))
    return series, len(scrapes)


def _prom_duration(seconds: int) -> str:
    """Seconds as Prometheus writes a duration (`1h5m15s`, `0s`), the form promtool reports eval times in."""
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"


def _series_notation(metric: str, labels: Mapping[str, str]) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _values_notation(values: list[float | None]) -> str:
    return " ".join("_" if v is None else repr(int(v)) if v.is_integer() else repr(v) for v in values)


def _hpa_reading(gpu: int | None, queue: int | None) -> str:
    """How the HPA acts on the two triggers' values: the largest valid proposal; a scale-down only while every
    trigger is valid (components.autoscale, docs/autoscaling.md)."""
    present = [v for v in (gpu, queue) if v is not None]
    if not present or max(present) == HOLD:
        return "none"
    if max(present) == UP:
        return "up"
    return "down" if len(present) == 2 else "none"


DEFAULT_RULE = Rule()


def autoscaling_unit_test(scaled: Mapping[str, Any], rule_file: Path, rule: Rule = DEFAULT_RULE,
                          replicas: int = 2, min_replicas: int = 1, max_replicas: int = 4) -> dict[str, Any]:
    """A `promtool test rules` file: the trace as input series, and at every evaluation the decision each
    recorded trigger must show, from components.autoscale.decide on the same samples (with `replicas` strictly
    between the bounds, so the bounds do not decide)."""
    namespace, target = scaled["metadata"]["namespace"], scaled["spec"]["scaleTargetRef"]["name"]
    series, count = _trace(namespace, target)
    samples = Samples()
    for metric, labels, values in series.values():
        for i, v in enumerate(values):
            if v is not None:
                samples.add(metric, labels, i * SCRAPE_S, v)

    own = pod_pattern(scaled["spec"]["scaleTargetRef"])

    def engine(labels: Mapping[str, str]) -> bool:
        return labels.get("namespace") == namespace and re.fullmatch(own, labels.get("pod", "")) is not None

    checks, seen = [], set()
    for i in range(count):
        t = i * SCRAPE_S
        gpu_avg = window_average(samples, GPU_UTIL_METRIC, engine, t, rule.window_s)
        queue_avg = window_average(samples, QUEUE_METRIC, engine, t, rule.queue_window_s)
        for avg, bound in ((gpu_avg, rule.up_above), (gpu_avg, rule.down_below), (queue_avg, rule.queue_above)):
            # A tie within rounding would make the comparison depend on summation order, not on the rule.
            assert avg is None or bound is None or avg == bound or abs(avg - bound) > 1e-6, (t, avg, bound)
        gpu = None if gpu_avg is None else {"up": UP, "none": HOLD, "down": DOWN}[
            decide(gpu_avg, replicas, min_replicas, max_replicas, None, replace(rule, queue_above=None))]
        queue = None if queue_avg is None else (
            UP if decide(None, replicas, min_replicas, max_replicas, queue_avg, rule) == "up" else DOWN)
        whole = decide(gpu_avg, replicas, min_replicas, max_replicas, queue_avg, rule)
        assert _hpa_reading(gpu, queue) == whole, (t, gpu_avg, queue_avg)
        seen.add(whole if gpu is not None else "no data")
        for trigger, value in (("gpu_utilization", gpu), ("queue_depth", queue)):
            name = DECISION + trigger
            checks.append({"expr": name, "eval_time": _prom_duration(t),
                           "exp_samples": [] if value is None else [{"labels": name, "value": value}]})
    assert {"up", "none", "down", "no data"} <= seen, seen  # the trace exercises every branch of the rule
    return {
        "rule_files": [str(rule_file)],
        "evaluation_interval": f"{scaled['spec']['pollingInterval']}s",
        "tests": [{
            "name": "the autoscaling decision on the H200 trace's shape",
            "interval": f"{SCRAPE_S}s",
            "input_series": [{"series": _series_notation(metric, labels), "values": _values_notation(values)}
                             for metric, labels, values in series.values()],
            "promql_expr_test": checks,
        }],
    }


def _autoscaling_files(tmp_path: Path, stack: str = "lab-serving") -> tuple[dict[str, Any], Path, dict[str, Any]]:
    _, scaled = _declared(stack)
    namespace = scaled["metadata"]["namespace"]
    selector = f'namespace="{namespace}",{pod_selector(scaled["spec"]["scaleTargetRef"])}'
    queries = {t["name"]: t["metadata"]["query"] for t in scaled["spec"]["triggers"]}
    # The expectations below are the default rule's: check that this is the rule the stack deploys.
    assert queries == {"gpu-utilization": gpu_query(selector, Rule()), "queue-depth": queue_query(selector, Rule())}
    rule_file = _write(tmp_path / "autoscaling.yaml", autoscaling_rules(scaled))
    return scaled, rule_file, autoscaling_unit_test(scaled, rule_file)


def test_promtool_takes_the_pure_rules_decisions_on_the_h200_trace(promtool: Path, tmp_path: Path) -> None:
    _, _, unit = _autoscaling_files(tmp_path)
    out = _run(promtool, "test", "rules", _write(tmp_path / "autoscaling_test.yaml", unit))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "SUCCESS" in out.stdout


def test_a_decision_other_than_the_pure_rules_fails_the_autoscaling_unit_test(promtool: Path, tmp_path: Path) -> None:
    _, _, unit = _autoscaling_files(tmp_path)
    checks = unit["tests"][0]["promql_expr_test"]
    first_up = next(c for c in checks if c["exp_samples"] and c["exp_samples"][0]["value"] == UP
                    and c["expr"].endswith("gpu_utilization"))
    first_up["exp_samples"][0]["value"] = HOLD
    out = _run(promtool, "test", "rules", _write(tmp_path / "autoscaling_test.yaml", unit))
    assert out.returncode == 1, out.stdout
    assert first_up["expr"] in out.stdout + out.stderr
    assert f"time: {first_up['eval_time']}" in out.stdout + out.stderr
