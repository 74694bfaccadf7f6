"""Blue-green releases as a pure state machine (floor 1: no Pulumi, no network). docs/release.md.

The spec's `serving.release` declares the active release and a candidate; both run side by side, each a workload
whose pods carry the release label (`podforge.io/release: NAME`). The one Service in front of them selects on
that label: its selector value is the release taking traffic, so a promotion and a rollback are each one switch
of one field (`service_selector`).

What was observed lives in the release state (`ReleaseState`, saved as JSON by `podforge release`): which
release takes traffic, which one stands by for a rollback, and the candidate's observations. A promotion is
refused until the candidate has been observed ready and within its SLO without a break for the soak (24 h by
default): the soak counts only time between observations that were good and no further apart than
`max_observation_gap`, and the latest observation must itself be recent. Nothing is assumed: no observation,
no promotion.

Observations come from Prometheus (`observation_queries`): readiness from kube-state-metrics
(`kube_pod_status_ready{condition="true"}` joined with `kube_pod_labels`; kube-state-metrics docs, pod metrics;
the release label must be in its `--metric-labels-allowlist`, which exposes it as `label_podforge_io_release`),
latency from vLLM's histograms `vllm:time_to_first_token_seconds` and `vllm:e2e_request_latency_seconds` (vLLM
"Production Metrics", docs.vllm.ai/en/stable/usage/metrics/), carried to the targets by the engine's
ServiceMonitor as the target label `podforge_io_release` (prometheus-operator podTargetLabels).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from components.spec.base import seconds
from components.spec.release import Release

SCHEMA = 1
HISTORY = 200
"""Observations kept in the state (the newest); the soak's start and end are kept apart from them."""


class Refused(Exception):
    """A transition the state machine does not allow; the message says why and what would allow it."""


@dataclass(frozen=True)
class Observation:
    """What was seen of one release at one time (seconds since the epoch), and where it came from."""

    time: float
    release: str
    ready_fraction: float | None
    p99_ttft_seconds: float | None
    p99_e2e_seconds: float | None
    source: str

    def problems(self, spec: Release) -> list[str]:
        """Why this observation is not ready-and-within-SLO; empty when it is. A missing value is a problem."""
        slo, out = spec.slo, []
        if self.ready_fraction is None:
            out.append("readiness unknown")
        elif self.ready_fraction < slo.min_ready_fraction:
            out.append(f"ready {self.ready_fraction:.0%} < {slo.min_ready_fraction:.0%}")
        for what, value, limit in (("p99 TTFT", self.p99_ttft_seconds, slo.p99_ttft_seconds),
                                   ("p99 latency", self.p99_e2e_seconds, slo.p99_e2e_seconds)):
            if value is None:
                out.append(f"{what} unknown")
            elif value > limit:
                out.append(f"{what} {value:.3g}s > {limit:g}s")
        return out


@dataclass(frozen=True)
class Event:
    time: float
    action: str
    detail: str


@dataclass(frozen=True)
class ReleaseState:
    """The observed state: who takes traffic, who stands by, and the candidate's soak."""

    serving: str
    standby: str | None = None
    candidate: str | None = None
    good_since: float | None = None
    last_good: float | None = None
    last_observed: float | None = None
    last_problems: tuple[str, ...] = ()
    observations: tuple[Observation, ...] = ()
    events: tuple[Event, ...] = ()

    def to_json(self, stack: str) -> dict[str, Any]:
        data = asdict(self)
        data["last_problems"] = list(self.last_problems)
        return {"schema": SCHEMA, "stack": stack, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseState:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("serving"), str):
            raise ValueError(f"a release state of schema {SCHEMA} with a `serving` release")
        return cls(serving=data["serving"], standby=data.get("standby"), candidate=data.get("candidate"),
                   good_since=data.get("good_since"), last_good=data.get("last_good"),
                   last_observed=data.get("last_observed"), last_problems=tuple(data.get("last_problems") or ()),
                   observations=tuple(Observation(**o) for o in data.get("observations") or ()),
                   events=tuple(Event(**e) for e in data.get("events") or ()))


STATE_DIR = "state"
"""The project's directory holding a serving stack's release state (docs/conventions.md, state podforge writes)."""


def state_path(root: Path, stack: str) -> Path:
    """Where `podforge release` keeps the stack's release state and the inference stack reads it."""
    return root / STATE_DIR / f"{stack}.release.json"


def initial(spec: Release, now: float) -> ReleaseState:
    """The state before anything was observed: the spec's active release takes traffic."""
    return reconcile(ReleaseState(serving=spec.active.name,
                                  events=(Event(now, "start", f"{spec.active.name} takes traffic"),)), spec, now)


def reconcile(state: ReleaseState, spec: Release, now: float) -> ReleaseState:
    """Follow the spec's candidate: a new (or removed) candidate starts its soak from nothing."""
    declared = spec.candidate.name if spec.candidate else None
    if declared == state.serving:
        declared = None  # the promoted candidate takes traffic; there is nothing to soak until a new one comes
    if declared == state.candidate:
        return state
    event = Event(now, "candidate", f"{declared} declared, soak starts from nothing" if declared
                  else f"candidate {state.candidate} withdrawn")
    return replace(state, candidate=declared, good_since=None, last_good=None, last_observed=None, last_problems=(),
                   observations=(), events=state.events + (event,))


def observe(state: ReleaseState, spec: Release, obs: Observation) -> ReleaseState:
    """Record an observation of the candidate. A good one extends the soak (or starts it, after a bad one or a
    gap longer than `max_observation_gap`); a bad one ends it."""
    if state.candidate is None:
        raise Refused("no candidate to observe: declare serving.release.candidate in the spec")
    if obs.release != state.candidate:
        raise Refused(f"observation of {obs.release}, but the candidate is {state.candidate}")
    if state.last_observed is not None and obs.time <= state.last_observed:
        raise Refused(f"observation at {obs.time:.0f} is not after the last one ({state.last_observed:.0f})")
    problems = obs.problems(spec)
    gap = seconds(spec.max_observation_gap)
    good_since, last_good = state.good_since, state.last_good
    if problems:
        good_since = last_good = None
    else:
        if good_since is None or last_good is None or obs.time - last_good > gap:
            good_since = obs.time
        last_good = obs.time
    return replace(state, good_since=good_since, last_good=last_good, last_observed=obs.time,
                   last_problems=tuple(problems), observations=(state.observations + (obs,))[-HISTORY:])


def soaked(state: ReleaseState, spec: Release, now: float) -> float:
    """Seconds of unbroken good observation of the candidate that still count at `now` (0 when stale)."""
    if state.good_since is None or state.last_good is None:
        return 0.0
    if now - state.last_good > seconds(spec.max_observation_gap):
        return 0.0
    return state.last_good - state.good_since


def promotion_refusal(state: ReleaseState, spec: Release, now: float) -> str | None:
    """Why the candidate may not be promoted now; None when it may."""
    soak = seconds(spec.soak)
    gap = seconds(spec.max_observation_gap)
    if state.candidate is None:
        return "no candidate: declare serving.release.candidate in the spec"
    if state.last_observed is None:
        return f"candidate {state.candidate} never observed: run `podforge release observe` for {spec.soak}"
    if state.last_problems:
        return f"candidate {state.candidate} is not ready within its SLO: {', '.join(state.last_problems)}"
    if state.last_good is not None and now - state.last_good > gap:
        return (f"the last observation of {state.candidate} is {human(now - state.last_good)} old (more than "
                f"{spec.max_observation_gap}): observe again")
    done = soaked(state, spec, now)
    if done < soak:
        return (f"candidate {state.candidate} soaked {human(done)} of {spec.soak}: "
                f"{human(soak - done)} to go")
    return None


def promote(state: ReleaseState, spec: Release, now: float) -> ReleaseState:
    """The candidate takes traffic; the old release stands by for a rollback. Refused until soaked."""
    why = promotion_refusal(state, spec, now)
    if why:
        raise Refused(why)
    assert state.candidate is not None
    event = Event(now, "promote", f"{state.candidate} takes traffic after {human(soaked(state, spec, now))} "
                                  f"soaked; {state.serving} stands by")
    return replace(state, serving=state.candidate, standby=state.serving, candidate=None, good_since=None,
                   last_good=None, last_observed=None, last_problems=(), events=state.events + (event,))


def rollback(state: ReleaseState, now: float) -> ReleaseState:
    """One switch back: the standby release takes traffic again and the one that had it stands by."""
    if state.standby is None:
        raise Refused(f"nothing to roll back to: {state.serving} has taken traffic since the start")
    event = Event(now, "rollback", f"{state.standby} takes traffic again; {state.serving} stands by")
    return replace(state, serving=state.standby, standby=state.serving, events=state.events + (event,))


def service_selector(state: ReleaseState, spec: Release) -> dict[str, str]:
    """The Service's selector: the release label with the release that takes traffic."""
    return {spec.label: state.serving}


def service_patch(state: ReleaseState, spec: Release) -> dict[str, Any]:
    """The one change a switch makes to the Service (a JSON merge patch)."""
    return {"spec": {"selector": service_selector(state, spec)}}


def drift(state: ReleaseState, spec: Release) -> list[str]:
    """Where the spec and the observed state differ, worded as what to change in the spec."""
    out = []
    if state.serving != spec.active.name:
        out.append(f"{state.serving} takes traffic but the spec's release.active is {spec.active.name}: set "
                   f"release.active to {state.serving}" + (f" and release.candidate to {spec.active.name} (the "
                                                          "standby)" if state.standby == spec.active.name else ""))
    running = {spec.active.name} | ({spec.candidate.name} if spec.candidate else set())
    if state.standby and state.standby not in running:
        out.append(f"standby {state.standby} is no longer declared: a rollback would select pods that do not run")
    return out


# --- observations from Prometheus ------------------------------------------------------------------------------

def prometheus_label(label: str) -> str:
    """A Kubernetes label as kube-state-metrics and prometheus-operator name it: non-alphanumerics become `_`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", label)


def observation_queries(spec: Release, namespace: str, release: str) -> dict[str, str]:
    """The PromQL instant queries an observation of `release` runs (each must return one value)."""
    target = prometheus_label(spec.label)
    pods = f'kube_pod_labels{{namespace="{namespace}",label_{target}="{release}"}}'
    ready = (f'sum(kube_pod_status_ready{{namespace="{namespace}",condition="true"}} * on(namespace, pod) '
             f'group_left() {pods}) / count({pods})')

    def p99(metric: str) -> str:
        return (f'histogram_quantile(0.99, sum by (le) (rate({metric}_bucket{{namespace="{namespace}",'
                f'{target}="{release}"}}[5m])))')
    return {"ready_fraction": ready, "p99_ttft_seconds": p99("vllm:time_to_first_token_seconds"),
            "p99_e2e_seconds": p99("vllm:e2e_request_latency_seconds")}


def observation_from_results(release: str, now: float, results: dict[str, Any], source: str) -> Observation:
    """An Observation from the Prometheus HTTP API's `data` of each query (`resultType` vector or scalar); an
    empty, NaN or unreadable result is an unknown value, never a good one."""
    def value(data: Any) -> float | None:
        try:
            if data["resultType"] == "scalar":
                raw = data["result"][1]
            elif data["resultType"] == "vector" and len(data["result"]) == 1:
                raw = data["result"][0]["value"][1]
            else:
                return None
            number = float(raw)
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        return None if number != number else number  # NaN: no requests in the window
    return Observation(now, release, value(results.get("ready_fraction")), value(results.get("p99_ttft_seconds")),
                       value(results.get("p99_e2e_seconds")), source)


def human(secs: float) -> str:
    """`5400` → `1h30m`; under an hour `12m05s`."""
    secs = int(max(0, secs))
    h, rest = divmod(secs, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


@dataclass(frozen=True)
class Status:
    """What `podforge release status` prints."""

    serving: str
    standby: str | None
    candidate: str | None
    soaked_seconds: float
    soak_seconds: int
    promotable: bool
    refusal: str | None
    last_problems: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)


def status(state: ReleaseState, spec: Release, now: float) -> Status:
    why = promotion_refusal(state, spec, now)
    return Status(state.serving, state.standby, state.candidate, soaked(state, spec, now), seconds(spec.soak),
                  why is None, why, list(state.last_problems), drift(state, spec), service_selector(state, spec))
