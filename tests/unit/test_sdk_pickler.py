"""The guard around the SDK's dynamic-provider serialization (components/providers/sdk_pickler.py).

pulumi 3.272's serialize_provider patches pickle._Pickler once per dynamic resource and never restores it,
each patch wrapping the last: past about 950 dynamic resources a program died with RecursionError.
"""

from __future__ import annotations

import asyncio
import base64
import pickle
import sys
from dataclasses import replace

import dill
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.host import host_views
from components.providers.node_provisioning import NodeProvisioning, NodeProvisioningProvider
from components.providers.rollout_wave import RolloutWave, RolloutWaveProvider
from components.providers.sdk_pickler import restored_pickler
from components.provisioning.target import host_targets
from components.spec import load_stack_spec
from tests.unit.recording_mocks import RecordingMocks

PATCHED = ("_batch_setitems", "save_dict")
MORE_THAN_THE_OLD_LIMIT = 1100  # dynamic resources in one program; the unguarded SDK failed near 950


def pickler_methods() -> dict[str, object]:
    return {name: pickle._Pickler.__dict__.get(name) for name in PATCHED}


def stdlib_pickler() -> bool:
    """pickle._Pickler carries the standard library's own methods (no SDK wrapper in place)."""
    return all(getattr(pickle._Pickler, name).__qualname__ == f"_Pickler.{name}" for name in PATCHED)



def test_the_unguarded_sdk_nests_its_patch_until_python_gives_up() -> None:
    """The premise of the guard: serialize_provider alone leaves a deeper wrapper behind at every call."""
    before = pickler_methods()
    with restored_pickler():
        with pytest.raises(RecursionError):
            for _ in range(sys.getrecursionlimit() + 100):  # one more nested wrapper per call
                serialize_provider(NodeProvisioningProvider())  # its state is a dict: pickled through the wrapper
        assert pickler_methods() != before
    assert pickler_methods() == before


def test_more_than_a_thousand_dynamic_resources_register_and_leave_pickle_as_it_was() -> None:
    assert stdlib_pickler(), "an earlier test left the SDK's pickler patch in place"
    before = pickler_methods()
    target = host_targets(host_views(load_stack_spec("lab")[1].spec))[0]
    mocks = RecordingMocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="podforge", stack="lab", preview=True)

    @pulumi.runtime.test
    def program():
        nodes = {}
        for i in range(MORE_THAN_THE_OLD_LIMIT // 2):
            host = replace(target, hostname=f"bench-{i:04d}")
            nodes[host.hostname] = NodeProvisioning(f"{host.hostname}-provisioning", host, "key", playbooks="0" * 64)
        waves = [RolloutWave(f"many-wave-{i}", i, {h: n}) for i, (h, n) in enumerate(nodes.items(), start=1)]
        return pulumi.Output.all(*[w.urn for w in waves])

    program()
    assert len(mocks.registered) == MORE_THAN_THE_OLD_LIMIT
    assert pickler_methods() == before and stdlib_pickler()
    # Every resource shipped the provider the SDK serializes on its own, byte for byte, and it loads back.
    fresh = {}
    for provider in (NodeProvisioningProvider(), RolloutWaveProvider()):
        with restored_pickler():
            fresh[type(provider).__name__] = serialize_provider(provider)
    shipped = {args.inputs["__provider"] for args in mocks.registered}
    assert shipped == set(fresh.values())
    assert isinstance(dill.loads(base64.b64decode(fresh["RolloutWaveProvider"])), RolloutWaveProvider)
    restored = dill.loads(base64.b64decode(fresh["NodeProvisioningProvider"]))
    assert isinstance(restored, NodeProvisioningProvider) and restored.playbooks_dir is None


def test_the_guard_restores_even_when_the_constructor_fails() -> None:
    before, pickler = pickler_methods(), pickle.Pickler
    with pytest.raises(RuntimeError, match="boom"), restored_pickler():
        serialize_provider(RolloutWaveProvider())
        pickle.Pickler = pickle._Pickler  # as the SDK does while it serializes
        raise RuntimeError("boom")
    assert pickler_methods() == before and pickle.Pickler is pickler
