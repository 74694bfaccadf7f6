"""OIDC bearer tokens: a JWT signed by the issuer's key (RS256 or ES256 only), with `iss`, `aud`, `exp` and
`sub` checked, mapped to the spec's roles through the roles claim; `amr` tells whether a second factor was used.

The signing keys come from a JWKS (RFC 7517 section 5) file in the project or an `https://` URL, read once
and read again when a token names a key id the set does not hold (at most once a minute: key rotation at
the issuer, without letting unknown ids make the gateway fetch on every request).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from components.gateway.rbac import SECOND_FACTOR_AMR, Identity
from components.spec.access import AccessRole
from components.spec.gateway import GatewayOidc

ALGORITHMS = ("RS256", "ES256")
"""Asymmetric only: `none` and the HMAC algorithms are never accepted (RFC 8725 section 3.1, 3.2)."""
REFETCH_S = 60.0


class TokenError(Exception):
    """The token is not acceptable; the message is for the gateway's log, never for the client."""


class TokenVerifier:
    def __init__(self, oidc: GatewayOidc, root: Path, fetch: Callable[[str], Any] | None = None) -> None:
        self.oidc = oidc
        self._source = oidc.jwks
        self._path = None if oidc.jwks.startswith("https://") else (root / oidc.jwks)
        self._fetch = fetch
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._loaded_at = 0.0

    async def _jwks(self) -> dict[str, Any]:
        if self._path is not None:
            return json.loads(self._path.read_text(encoding="utf-8"))
        if self._fetch is not None:
            return self._fetch(self._source)
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(self._source)
            response.raise_for_status()
            return response.json()

    async def _load(self) -> None:
        try:
            data = await self._jwks()
            keys: dict[str | None, jwt.PyJWK] = {}
            for entry in data.get("keys", []):
                try:
                    key = jwt.PyJWK(entry)
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    continue  # a key of a kind the gateway does not accept (oct, OKP, …)
                if key.algorithm_name in ALGORITHMS:
                    keys[entry.get("kid")] = key
        except (OSError, ValueError, AttributeError, httpx.HTTPError) as exc:
            raise TokenError(f"JWKS {self._source}: not readable ({type(exc).__name__})") from None
        self._keys, self._loaded_at = keys, time.monotonic()

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        if kid not in self._keys and time.monotonic() - self._loaded_at > (REFETCH_S if self._loaded_at else 0):
            await self._load()
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise TokenError("no signing key for the token's kid")

    async def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenError(f"algorithm {alg!r} is not accepted")
        key = await self._key(header.get("kid"))
        if key.algorithm_name != alg:
            raise TokenError("the token's algorithm is not its key's")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.oidc.audience,
                                issuer=self.oidc.issuer, leeway=self.oidc.leeway_s,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.PyJWTError as exc:
            raise TokenError(f"rejected: {type(exc).__name__}") from None
        raw = claims.get(self.oidc.roles_claim, [])
        names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        roles = frozenset(AccessRole(n) for n in names if isinstance(n, str) and n in AccessRole.__members__)
        amr = claims.get("amr", [])
        second = isinstance(amr, list) and any(isinstance(m, str) and m in SECOND_FACTOR_AMR for m in amr)
        subject = str(claims["sub"])
        return Identity("token", subject, roles, second, subject)
