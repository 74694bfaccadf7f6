"""The NodeProvisioning and RolloutWave dynamic providers without a machine: serialization, diff, check, registration,
and the order in which the waves register."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import replace

import dill
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import resource_cycle_breaker, rpc

from components.host import host_views
from components.offline.capture import run_program
from components.providers.node_provisioning import (
    NodeProvisioning,
    NodeProvisioningProvider,
    hash_of,
    provision_in_waves,
)
from components.providers.rollout_wave import RolloutWaveProvider
from components.providers.sdk_pickler import restored_pickler
from components.provisioning.hashing import playbooks_hash
from components.provisioning.target import HostTarget, host_targets
from components.spec import load_stack_spec
from tests.unit.recording_mocks import RecordingMocks, run_under

# An address in the lab subnet that no lab host uses: if diff ever connected, it would hang, not pass.
UNUSED = "10.199.77.250"


def inputs(target: HostTarget, **extra) -> dict:
    return {**target.to_inputs(), "playbooks_hash": playbooks_hash(), "health_gate": True,
            "private_key": "not-a-real-key", **extra}


@pytest.fixture(scope="module")
def target() -> HostTarget:
    t = host_targets(host_views(load_stack_spec("lab")[1].spec))[0]
    return replace(t, address=UNUSED, host_keys=(f"{UNUSED} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE",))


def provision(target: HostTarget, after: list[pulumi.Resource], playbooks: str) -> NodeProvisioning:
    """Each host's NodeProvisioning on its own, after the resources in `after`."""
    return NodeProvisioning(f"{target.hostname}-provisioning", target, "key-material", playbooks=playbooks,
                            opts=pulumi.ResourceOptions(depends_on=after))


def test_provider_survives_the_sdk_serializer() -> None:
    provider = NodeProvisioningProvider(playbooks_dir="/somewhere/playbooks")
    with restored_pickler():  # as the resource does: the SDK's pickler patch must not outlive the call
        restored = dill.loads(base64.b64decode(serialize_provider(provider)))
    assert isinstance(restored, NodeProvisioningProvider)
    assert restored.playbooks_dir == "/somewhere/playbooks"


def test_diff_is_a_no_op_for_unchanged_inputs_without_connecting(target) -> None:
    news = inputs(target)
    olds = {"hostname": target.hostname, "input_hash": hash_of(news)}
    started = time.monotonic()
    result = NodeProvisioningProvider().diff(target.hostname, olds, news)
    assert result.changes is False
    assert time.monotonic() - started < 1.0


def test_diff_ignores_the_private_key_but_sees_every_other_input(target) -> None:
    provider = NodeProvisioningProvider()
    olds = {"input_hash": hash_of(inputs(target))}
    assert provider.diff("x", olds, inputs(target, private_key="another-key")).changes is False
    assert provider.diff("x", olds, inputs(replace(target, user="podforge"))).changes is True
    assert provider.diff("x", olds, inputs(target, playbooks_hash="0" * 64)).changes is True


def test_diff_after_the_sdk_wire_format_still_matches(target) -> None:
    """Inputs go through Pulumi's serializer before diff sees them; the hash must survive that trip."""
    news = inputs(target)
    loop = asyncio.new_event_loop()  # not asyncio.run: that leaves no current loop for the SDK's later tests
    try:
        wire = loop.run_until_complete(rpc.serialize_properties(news, {}))
    finally:
        loop.close()
    back = rpc.deserialize_properties(wire)
    assert hash_of(back) == hash_of(news)


def test_check_refuses_missing_inputs_and_unpinned_hosts(target) -> None:
    provider = NodeProvisioningProvider()
    failures = provider.check({}, {"hostname": "x"}).failures
    assert {f.property for f in failures} >= {"connection", "private_key", "playbooks_hash"}
    unpinned = inputs(replace(target, host_keys=()))
    assert any("no pinned host key" in f.reason for f in provider.check({}, unpinned).failures)


def test_delete_does_nothing_to_the_machine(target) -> None:
    assert NodeProvisioningProvider().delete(target.hostname, inputs(target)) is None



def test_resource_registers_with_its_type_token_and_a_secret_key(target) -> None:
    mocks = RecordingMocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="podforge", stack="lab", preview=False)

    @pulumi.runtime.test
    def program():
        second = replace(target, hostname="lab-dgx-02")
        created = provision_in_waves([[target], [second]], provision)
        assert isinstance(created["lab-dgx-01"], NodeProvisioning)

        def key_is_secret(secret: bool) -> None:
            assert secret, "the private key must stay a Pulumi secret"

        return pulumi.Output.from_input(created["lab-dgx-01"].private_key.is_secret()).apply(key_is_secret)

    program()
    kinds = {a.typ for a in mocks.registered}
    assert kinds == {"pulumi-python:dynamic/podforge:NodeProvisioning", "pulumi-python:dynamic/podforge:RolloutWave"}
    names = [a.name for a in mocks.registered]
    assert names == ["lab-dgx-01-provisioning", "rollout-wave-1", "lab-dgx-02-provisioning"]
    # Mocks see plain values; the key travels as an input only, and the provider blob is registered too.
    first = mocks.registered[0].inputs
    assert first["hostname"] == "lab-dgx-01" and first["connection"]["address"] == UNUSED
    assert "__provider" in first


def _hosts(target: HostTarget, waves: int, size: int) -> list[list[HostTarget]]:
    return [[replace(target, hostname=f"w{w}-n{n}") for n in range(size)] for w in range(1, waves + 1)]


def test_each_wave_registers_only_after_the_previous_barrier_and_the_last_wave_has_none(target) -> None:
    """The SDK registers a resource once its dependencies have registered (under `pulumi up`: were created or
    updated, health gate included); the mocks see registrations in exactly that order."""
    mocks = RecordingMocks()
    run_under(mocks, lambda: provision_in_waves(_hosts(target, 3, 3), provision, waves_prefix="t"))
    order = [a.name for a in mocks.registered]
    assert order.count("t-wave-1") == order.count("t-wave-2") == 1 and "t-wave-3" not in order
    for wave in (1, 2):
        barrier = order.index(f"t-wave-{wave}")
        assert all(order.index(f"w{wave}-n{n}-provisioning") < barrier for n in range(3))
        assert all(order.index(f"w{wave + 1}-n{n}-provisioning") > barrier for n in range(3))
    waves = [a.inputs for a in mocks.registered if a.typ.endswith(":RolloutWave")]
    assert [(w["wave"], w["hostnames"]) for w in waves] == [(1, ["w1-n0", "w1-n1", "w1-n2"]),
                                                           (2, ["w2-n0", "w2-n1", "w2-n2"])]


class _FailingMocks(RecordingMocks):
    """As the engine answers RegisterResource when a create fails (site play or health gate)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.name == "w2-n1-provisioning":
            raise RuntimeError("w2-n1: health gate failed at task 'nccl all_reduce bus bandwidth'")
        return super().new_resource(args)


def test_a_failed_node_stops_the_later_waves(target) -> None:
    mocks = _FailingMocks()
    with pytest.raises(Exception, match="health gate failed"):
        run_under(mocks, lambda: provision_in_waves(_hosts(target, 3, 2), provision, waves_prefix="t"))
    order = [a.name for a in mocks.registered]
    assert {"w1-n0-provisioning", "w1-n1-provisioning", "t-wave-1", "w2-n0-provisioning"} <= set(order)
    assert not any(name.startswith("w3-") or name == "t-wave-2" for name in order)


def test_the_engine_gets_one_edge_per_node_and_the_sdk_cycle_check_stays_short(target) -> None:
    """Wave k+1 names wave k's barrier only; the barrier names wave k's nodes. The SDK's cycle check walks
    upstream of every declared dependency: it must stop at a barrier, not go back to wave 1."""
    created = {}

    def program() -> None:
        created.update(provision_in_waves(_hosts(target, 30, 4), provision, waves_prefix="t"))

    graph = run_program("lab", {}, set(), program)
    barriers = {r.name: r for r in graph.of_type("pulumi-python:dynamic/podforge:RolloutWave")}
    nodes = {r.name: r for r in graph.of_type("pulumi-python:dynamic/podforge:NodeProvisioning")}
    assert len(barriers) == 29 and len(nodes) == 120
    assert nodes["w1-n0-provisioning"].dependencies == ()
    assert nodes["w30-n3-provisioning"].dependencies == (barriers["t-wave-29"].urn,)
    assert set(barriers["t-wave-29"].dependencies) == {nodes[f"w29-n{n}-provisioning"].urn for n in range(4)}
    assert sum(len(r.dependencies) for r in graph.resources) == 2 * (120 - 4)  # O(nodes), not O(nodes x wave size)
    walked = list(resource_cycle_breaker._with_transitive_deps(created["w30-n3"], set()))
    assert len(walked) == 2  # the node and the barrier it depends on


def test_rollout_wave_provider_records_membership_and_touches_nothing() -> None:
    provider = RolloutWaveProvider()
    with restored_pickler():
        assert isinstance(dill.loads(base64.b64decode(serialize_provider(provider))), RolloutWaveProvider)
    news = {"wave": 2, "hostnames": ["a", "b"]}
    assert provider.check({}, news).failures == []
    assert {f.property for f in provider.check({}, {"wave": 1}).failures} == {"hostnames"}
    assert provider.check({}, {"wave": 1, "hostnames": []}).failures[0].property == "hostnames"
    created = provider.create(news)
    assert created.id == "wave-2" and created.outs == news
    assert provider.diff("wave-2", created.outs, dict(news)).changes is False
    assert provider.diff("wave-2", created.outs, {**news, "hostnames": ["a", "c"]}).changes is True
    assert provider.update("wave-2", created.outs, {**news, "hostnames": ["a"]}).outs == {"wave": 2, "hostnames": ["a"]}
    assert provider.delete("wave-2", news) is None
