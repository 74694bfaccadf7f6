"""Pulumi mocks that record every registration in order (the SDK sends one once its dependencies registered)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pulumi


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def run_under(mocks: pulumi.runtime.Mocks, declare: Callable[[], dict[str, Any]]) -> None:
    """Run `declare` (returning name → resource) as an update under `mocks`, waiting for every URN."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="podforge", stack="lab", preview=False)

    @pulumi.runtime.test
    def program():
        return pulumi.Output.all(*[r.urn for r in declare().values()])

    program()
