"""The gateway's own metrics in the Prometheus text exposition format (version 0.0.4), written without a client
library: counters end in `_total`, durations are `_seconds` histograms, names are `podforge_gateway_*`
(prometheus.io/docs/practices/naming, "Metric and label naming"; prometheus.io/docs/instrumenting/exposition_formats,
"Text-based format").

Labels hold endpoints, statuses, reasons, roles and categories, never a caller's identity or anything personal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + "n").replace(chr(34), chr(92) + chr(34))}"'
               for k, v in labels)
    return "{" + ",".join(escaped) + "}"


@dataclass
class _Family:
    name: str
    kind: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)
    histograms: dict[Labels, list[float]] = field(default_factory=dict)


class Metrics:
    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._gauges: list[tuple[str, str, Callable[[], list[tuple[Labels, float]]]]] = []
        self.counter("podforge_gateway_requests_total", "Requests answered, by endpoint and status.")
        self.counter("podforge_gateway_refusals_total", "Requests refused before the engine, by reason.")
        self.counter("podforge_gateway_findings_total", "Personal-data values found, by category and direction.")
        self.counter("podforge_gateway_engine_failures_total", "Engine calls that failed over, by replica.")
        self.histogram("podforge_gateway_request_duration_seconds", "Time from request to last byte, by endpoint.")
        self.histogram("podforge_gateway_queue_wait_seconds", "Time requests waited for an engine slot.")

    def counter(self, name: str, help: str) -> None:
        self._families[name] = _Family(name, "counter", help)

    def histogram(self, name: str, help: str) -> None:
        self._families[name] = _Family(name, "histogram", help)

    def gauge(self, name: str, help: str, read: Callable[[], list[tuple[Labels, float]]]) -> None:
        """A gauge read when scraped."""
        self._gauges.append((name, help, read))

    def inc(self, name: str, labels: dict[str, str] | None = None, by: float = 1.0) -> None:
        family = self._families[name]
        key = tuple(sorted((labels or {}).items()))
        family.values[key] = family.values.get(key, 0.0) + by

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        family = self._families[name]
        key = tuple(sorted((labels or {}).items()))
        counts = family.histograms.setdefault(key, [0.0] * (len(BUCKETS) + 2))  # buckets, +Inf, sum
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                counts[i] += 1
        counts[len(BUCKETS)] += 1
        counts[len(BUCKETS) + 1] += value

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self._families[name].values.get(tuple(sorted((labels or {}).items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families.values():
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}"]
            if family.kind == "counter":
                lines += [f"{family.name}{_labels(k)} {v:g}" for k, v in sorted(family.values.items())]
                continue
            for key, counts in sorted(family.histograms.items()):
                for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=False):
                    lines.append(f"{family.name}_bucket{_labels((*key, ('le', bound)))} {count:g}")
                lines.append(f"{family.name}_sum{_labels(key)} {counts[-1]:g}")
                lines.append(f"{family.name}_count{_labels(key)} {counts[len(BUCKETS)]:g}")
        for name, help, read in self._gauges:
            lines += [f"# HELP {name} {help}", f"# TYPE {name} gauge"]
            lines += [f"{name}{_labels(k)} {v:g}" for k, v in read()]
        return "\n".join(lines) + "\n"
