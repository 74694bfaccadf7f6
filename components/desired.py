"""Helpers the hardware components share to publish declared (desired) state cheaply.

A DgxNode, a fabric or an array has no provider package yet: what it declares is plain data known at
plan time. `known` wraps such data in an Output without Output.from_input's deep walk, which would
create an Output per nested value and dominate the cost of planning a thousand nodes.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pulumi

T = TypeVar("T")


def _done(value: Any) -> asyncio.Future:
    future = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


def known(value: T) -> pulumi.Output[T]:
    """An Output of plain data (no Inputs inside), known at preview, depending on no resource."""
    return pulumi.Output(set(), _done(value), _done(True), _done(False))
