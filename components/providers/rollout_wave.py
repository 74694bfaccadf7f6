"""RolloutWave: a Pulumi dynamic resource that marks the end of one rollout wave (a barrier, nothing more).

A RolloutWave depends on every NodeProvisioning of its wave, and every node of the next wave depends on it
alone. The engine creates or updates a resource only once all its dependencies have succeeded, and the SDK
registers a resource only once its dependencies have been registered (their create or update finished):
so the barrier of wave k is reached only when every node of wave k has run its site play and passed its
health gate, and no node of wave k+1 starts before that. A failed node fails nothing else of its wave but
leaves the barrier, and so every later wave, unregistered. Declaring the order this way takes one edge per
node instead of one per pair of nodes in consecutive waves (N x wave size).

Why not a ComponentResource: the SDK expands `depends_on` of a local component into the children it has
when the dependency is declared (a component itself never waits), so a component barrier would declare
the same N x wave size edges, and miss children added later.

- Inputs: the wave's number (1-based) and its hostnames, in rollout order. Plain data, no secret.
- diff: changes only when the wave's number or membership changes; create/update record the inputs;
  delete does nothing. Nothing here connects anywhere.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.providers.sdk_pickler import restored_pickler

INPUTS = ("wave", "hostnames")


class RolloutWaveProvider(ResourceProvider):
    # Nothing secret passes through a barrier, so its serialized form need not be a secret.
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(k, "required input") for k in INPUTS if k not in news]
        if not news.get("hostnames") and "hostnames" in news:
            failures.append(CheckFailure("hostnames", f"wave {news.get('wave')}: a rollout wave has at least one node"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"wave-{props['wave']}", outs=_recorded(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_recorded(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A barrier holds nothing: removing it touches no machine."""


def _recorded(props: dict[str, Any]) -> dict[str, Any]:
    return {"wave": props["wave"], "hostnames": list(props["hostnames"])}


class RolloutWave(pulumi.dynamic.Resource, module="podforge", name="RolloutWave"):
    """The end of one rollout wave (type `pulumi-python:dynamic/podforge:RolloutWave`)."""

    wave: pulumi.Output[int]
    hostnames: pulumi.Output[list[str]]

    def __init__(self, name: str, wave: int, nodes: dict[str, pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        """`nodes`: hostname → the resource that provisions it, in rollout order; the barrier depends on each."""
        props = {"wave": wave, "hostnames": list(nodes)}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(nodes.values())))
        with restored_pickler():  # see sdk_pickler.py: one SDK pickler patch per resource otherwise nests
            super().__init__(RolloutWaveProvider(), name, props, opts)

    # The SDK's cycle check (pulumi/runtime/resource_cycle_breaker.py) walks, for every dependency it records,
    # everything upstream of the new dependency, through nested generators. Waves form a chain, so each walk
    # went back to wave 1: quadratic in the node count, worse in practice (a 1,024-node plan spent most of its
    # time there). A barrier shows that check no dependency of its own, so every walk stops at the nearest
    # barrier. Nothing is lost: the barrier's dependencies are its wave's nodes, all constructed before it,
    # and only nodes of the next wave, constructed after it, name it, so no cycle can pass through a barrier.
    # The engine still receives every dependency (the SDK sends the URNs it collected, not this record).
    @property
    def _direct_computed_dependencies(self) -> set[pulumi.Resource]:
        return set()

    @_direct_computed_dependencies.setter
    def _direct_computed_dependencies(self, _ignored: set[pulumi.Resource]) -> None:
        pass
