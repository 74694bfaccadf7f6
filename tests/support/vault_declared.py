"""Capture what VaultKmip declares for a spec, by running it under the Pulumi SDK's mock runtime.

tests/support/vault_conformance.py applies exactly these declared inputs to a real Vault-API server, so
nothing is retyped between the component and the proof. `respond` lets a caller stand in for a provider's
computed outputs (e.g. the credential Vault Enterprise's KMIP engine would return).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from components.keys import VaultKmip
from components.spec import ClusterSpec

Responder = Callable[[MockResourceArgs], dict[str, Any]]


@dataclass
class DeclaredResource:
    type: str
    name: str
    inputs: dict[str, Any]
    """As registered: camelCased provider inputs (`autoRotatePeriod`), secrets unwrapped."""
    secret_inputs: frozenset[str] = frozenset()
    """Names of the inputs the SDK sent as secrets."""


@dataclass
class Declared:
    resources: list[DeclaredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """The component's resolved attributes, by attribute name (secrets unwrapped: test use only)."""

    def of_type(self, type_: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.type == type_]


_SECRET_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_SIG) == _SECRET_VALUE


def _unwrap(value: Any) -> Any:
    """Mocks receive the wire form (secrets as {sig: secret, value: …}, numbers as doubles); callers want values."""
    if _is_secret(value):
        return _unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire form carries every number as a double; the provider's schema says int
    return value


class _CaptureMocks(Mocks):
    def __init__(self, declared: Declared, respond: dict[str, Responder]) -> None:
        self._declared = declared
        self._respond = respond

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        inputs = {k: _unwrap(v) for k, v in args.inputs.items()}
        secret = frozenset(k for k, v in args.inputs.items() if _is_secret(v))
        self._declared.resources.append(DeclaredResource(args.typ, args.name, inputs, secret))
        outputs = dict(args.inputs)
        if args.typ in self._respond:
            outputs.update(self._respond[args.typ](args))
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


def declare_vault_kmip(spec: ClusterSpec, stack: str, respond: dict[str, Responder] | None = None,
                       arrays: tuple[str, ...] = ()) -> Declared:
    """Run VaultKmip("keys", spec) under mocks; also resolve the KMIP endpoint of each array in `arrays`."""
    declared = Declared()
    pulumi.runtime.set_mocks(_CaptureMocks(declared, respond or {}), project="podforge", stack=stack, preview=False)

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        keys = VaultKmip("keys", spec)
        endpoints = {a: keys.kmip_endpoint(a) for a in arrays}
        collected = {
            "kmip_scopes": keys.kmip_scopes, "transit_keys": keys.transit_keys, "pki_mount": keys.pki_mount,
            "pki_intermediate_mount": keys.pki_intermediate_mount, "pki_role": keys.pki_role,
            "policies": keys.policies, "kmip_credentials": pulumi.Output.all(**keys.kmip_credentials),
            "kmip_endpoints": pulumi.Output.all(**{
                a: pulumi.Output.all(ca_pem=e.ca_pem, client_cert_pem=e.client_cert_pem,
                                     client_key_pem=e.client_key_pem, servers=e.servers)
                for a, e in endpoints.items()}),
        }
        return pulumi.Output.all(**collected).apply(declared.outputs.update)

    run()
    return declared
