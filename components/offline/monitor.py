"""A mock resource monitor for preview: records every registration exactly as the SDK sent it.

The SDK's MockMonitor deserializes each request, calls the mocks and serializes their answer back. This
monitor answers a provider resource's registration with its own inputs (at preview a resource's outputs
are its inputs, everything else is unknown), a component's with nothing, and records the request once,
converted straight from the protobuf so the secret and unknown markers the SDK put on the wire are still
visible. URNs are formed as the engine forms them.
"""

from __future__ import annotations

import threading
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import mocks
from pulumi.runtime.proto import engine_pb2, resource_pb2
from pulumi.runtime.settings import get_project, get_stack

from components.offline.graph import SECRET, UNKNOWN, Resource

# Wire markers of the Pulumi property format (pulumi/runtime/rpc.py).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class PreviewMocks(mocks.Mocks):
    """Mocks for reads and invokes (registrations never reach them): echo the inputs, return nothing."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        return None, dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


class QuietEngine(mocks.MockEngine):
    """The SDK logs several debug lines per registration; offline they are noise, and they cost time."""

    def Log(self, request: Any) -> None:
        if request.severity != engine_pb2.DEBUG:
            super().Log(request)


class CaptureMonitor(mocks.MockMonitor):
    def __init__(self) -> None:
        super().__init__(PreviewMocks())
        self.captured: list[Resource] = []
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine forms URNs: a child's type is qualified by its parent's whole type chain; resources
        # directly under the stack are not (the SDK's MockMonitor differs on both counts).
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{get_stack()}::{get_project()}::{type_}::{name}"

    def RegisterResource(self, request: Any) -> resource_pb2.RegisterResourceResponse:
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = {k: plain(v) for k, v in sorted(request.object.fields.items())}
        resource = Resource(urn=urn, type=request.type, name=request.name, parent=request.parent or None,
                            dependencies=tuple(sorted(set(request.dependencies))), inputs=inputs,
                            custom=bool(request.custom))
        with self._lock:
            self.captured.append(resource)
        if not request.custom:
            # A component's declared state is its inputs (recorded above); programs read a component's outputs
            # from its attributes, never back from the engine, so none are sent: turning every input back into
            # an Output would double the cost of a thousand-node plan for values nobody reads.
            return resource_pb2.RegisterResourceResponse(urn=urn)
        # An empty id at preview is an unknown id, as the engine reports a resource yet to be created.
        return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=request.object)


def plain(value: struct_pb2.Value) -> Any:
    """A wire value as plain JSON data: secrets → SECRET, unknowns → UNKNOWN, resource references → URN."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return UNKNOWN if value.string_value == _UNKNOWN else value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [plain(v) for v in value.list_value.values]
    if kind == "struct_value":
        fields = value.struct_value.fields
        if _SIG in fields:
            sig = fields[_SIG].string_value
            if sig == _SECRET_SIG:
                return SECRET
            if sig == _RESOURCE_SIG:
                return fields["urn"].string_value
            if sig == _OUTPUT_SIG:
                if fields["secret"].bool_value if "secret" in fields else False:
                    return SECRET
                return plain(fields["value"]) if "value" in fields else UNKNOWN
        return {k: plain(v) for k, v in sorted(fields.items())}
    return None
