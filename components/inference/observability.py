"""What Prometheus scrapes and alerts on, and the Grafana dashboard of the twelve core metrics.

The alert rules are a data file (alerts.yaml, beside this module) so a rule checker can read them as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ALERTS_FILE = Path(__file__).with_name("alerts.yaml")

DCGM = "NVIDIA/dcgm-exporter etc/default-counters.csv (DCGM field → Prometheus metric of the same name)"
VLLM = "vLLM docs, Production Metrics (docs.vllm.ai, usage/metrics)"
NODE = "prometheus/node_exporter collector/infiniband_linux.go"


@dataclass(frozen=True)
class CoreMetric:
    title: str
    metric: str
    query: str
    unit: str
    source: str


CORE_METRICS: tuple[CoreMetric, ...] = (
    CoreMetric("GPU utilization", "DCGM_FI_DEV_GPU_UTIL", "avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)", "percent", DCGM),
    CoreMetric("GPU memory used", "DCGM_FI_DEV_FB_USED", "sum by (Hostname) (DCGM_FI_DEV_FB_USED)", "mbytes", DCGM),
    CoreMetric("GPU power draw", "DCGM_FI_DEV_POWER_USAGE", "sum by (Hostname) (DCGM_FI_DEV_POWER_USAGE)", "watt",
               DCGM),
    CoreMetric("GPU temperature", "DCGM_FI_DEV_GPU_TEMP", "max by (Hostname) (DCGM_FI_DEV_GPU_TEMP)", "celsius", DCGM),
    CoreMetric("Last XID error", "DCGM_FI_DEV_XID_ERRORS", "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS)", "none",
               DCGM),
    CoreMetric("InfiniBand ports not up", "node_infiniband_physical_state_id",
               "count by (instance) (node_infiniband_physical_state_id != 5)", "none", NODE),
    CoreMetric("Request latency p99", "vllm:e2e_request_latency_seconds",
               'histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket'
               '{job="podforge-engine"}[5m])))', "s", VLLM),
    CoreMetric("Time to first token p99", "vllm:time_to_first_token_seconds",
               'histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket'
               '{job="podforge-engine"}[5m])))', "s", VLLM),
    CoreMetric("Queue depth", "vllm:num_requests_waiting", 'sum(vllm:num_requests_waiting{job="podforge-engine"})',
               "none", VLLM),
    CoreMetric("Running requests", "vllm:num_requests_running",
               'sum(vllm:num_requests_running{job="podforge-engine"})', "none", VLLM),
    CoreMetric("KV-cache usage", "vllm:kv_cache_usage_perc", 'max(vllm:kv_cache_usage_perc{job="podforge-engine"})',
               "percentunit", VLLM),
    CoreMetric("Generation throughput", "vllm:generation_tokens_total",
               'sum(rate(vllm:generation_tokens_total{job="podforge-engine"}[1m]))', "tokens/s", VLLM),
)
"""The article's twelve core metrics, GPU utilization and request latency among them."""


@cache
def alert_groups() -> list[dict[str, Any]]:
    """The rule groups of alerts.yaml."""
    return yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]


def dashboard(title: str) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) with one time-series panel per core metric, four to a row."""
    panels = []
    for i, m in enumerate(CORE_METRICS):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": m.title, "description": f"{m.metric} — source: {m.source}",
            "gridPos": {"h": 8, "w": 6, "x": (i % 4) * 6, "y": (i // 4) * 8},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": m.unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": m.query, "legendFormat": "__auto"}],
        })
    return {"title": title, "uid": "podforge-inference", "schemaVersion": 39, "tags": ["podforge"],
            "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
            "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
            "panels": panels}


def dashboard_json(title: str) -> str:
    return json.dumps(dashboard(title), indent=2, ensure_ascii=False)
