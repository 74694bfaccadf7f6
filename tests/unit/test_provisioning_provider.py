"""The NodeProvisioning dynamic provider without a machine: serialization, diff, check, its registration."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import replace

import dill
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.providers.node_provisioning import NodeProvisioningProvider, hash_of
from components.provisioning.hashing import playbooks_hash
from components.provisioning.target import HostTarget, targets_from_spec
from components.spec import load_stack_spec

# An address in the lab subnet that no lab host uses: if diff ever connected, it would hang, not pass.
UNUSED = "10.199.77.250"


def inputs(target: HostTarget, **extra) -> dict:
    return {**target.to_inputs(), "playbooks_hash": playbooks_hash(), "health_gate": True,
            "private_key": "not-a-real-key", **extra}


@pytest.fixture(scope="module")
def target() -> HostTarget:
    t = targets_from_spec(load_stack_spec("lab")[1].spec)[0]
    return replace(t, address=UNUSED, host_keys=(f"{UNUSED} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE",))


def test_provider_survives_the_sdk_serializer() -> None:
    provider = NodeProvisioningProvider(playbooks_dir="/somewhere/playbooks")
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


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def test_resource_registers_with_its_type_token_and_a_secret_key(target) -> None:
    mocks = _Mocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="podforge", stack="lab", preview=False)
    from components.providers.node_provisioning import NodeProvisioning, provision_in_waves

    @pulumi.runtime.test
    def program():
        second = replace(target, hostname="lab-dgx-02")
        created = provision_in_waves([[target], [second]], "key-material")
        assert isinstance(created["lab-dgx-01"], NodeProvisioning)

        def key_is_secret(secret: bool) -> None:
            assert secret, "the private key must stay a Pulumi secret"

        return pulumi.Output.from_input(created["lab-dgx-01"].private_key.is_secret()).apply(key_is_secret)

    program()
    kinds = {a.typ for a in mocks.registered}
    assert kinds == {"pulumi-python:dynamic/podforge:NodeProvisioning"}
    names = [a.name for a in mocks.registered]
    assert names == ["lab-dgx-01-provisioning", "lab-dgx-02-provisioning"]
    # Mocks see plain values; the key travels as an input only, and the provider blob is registered too.
    first = mocks.registered[0].inputs
    assert first["hostname"] == "lab-dgx-01" and first["connection"]["address"] == UNUSED
    assert "__provider" in first
