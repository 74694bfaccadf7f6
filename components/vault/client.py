"""podforge's own calls to a Vault-API server, each failure told in one line.

Unreachable, sealed, or a token lacking a capability: the line names the address or the path and the
capability the call needed (asked from the server with sys/capabilities-self), never the token.
"""

from __future__ import annotations

from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors


class VaultCallError(Exception):
    """One line a person can act on."""


class VaultSession:
    def __init__(self, address: str, token: str, timeout: float = 5.0, verify: bool | str = True) -> None:
        self.address = address.rstrip("/")
        self._client = hvac.Client(url=self.address, token=token, timeout=timeout, verify=verify)

    def call(self, method: str, path: str, capability: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """`method` on /v1/`path`, which needs `capability`; the response's JSON body ({} when empty)."""
        try:
            response = self._client.adapter.request(method, f"/v1/{path}", json=data)
        except requests.exceptions.ConnectionError:
            raise VaultCallError(f"vault at {self.address} unreachable: connection refused or no route "
                                 "(is the server running and the address right?)") from None
        except requests.exceptions.Timeout:
            raise VaultCallError(f"vault at {self.address} did not answer in time ({method} {path})") from None
        except hvac_errors.VaultDown:
            raise VaultCallError(f"vault at {self.address} is sealed: unseal it before podforge calls "
                                 f"{path}") from None
        except hvac_errors.VaultNotInitialized:
            raise VaultCallError(f"vault at {self.address} is not initialized") from None
        except hvac_errors.Unauthorized:
            raise VaultCallError(f"vault at {self.address}: the token is not valid (expired or revoked) "
                                 f"for {path}") from None
        except hvac_errors.Forbidden:
            raise VaultCallError(self._lacking(path, capability)) from None
        except hvac_errors.VaultError as exc:
            errors = "; ".join(getattr(exc, "errors", None) or [str(exc)]).replace("\n", " ")
            raise VaultCallError(f"vault at {self.address}: {method} {path} failed: {errors}") from None
        if isinstance(response, dict):
            return response
        return response.json() if response is not None and response.content else {}

    def _lacking(self, path: str, capability: str) -> str:
        held = self.capabilities(path)
        return (f"vault at {self.address}: token lacks '{capability}' on {path} "
                f"(its policies grant: {', '.join(held) or 'nothing'})")

    def capabilities(self, path: str) -> list[str]:
        """What the session's token may do on `path`, as the server evaluates its policies."""
        try:
            body = self._client.adapter.request("POST", "/v1/sys/capabilities-self", json={"paths": [path]})
        except (requests.exceptions.RequestException, hvac_errors.VaultError):
            return ["unknown"]
        body = body if isinstance(body, dict) else body.json()
        return list(body.get(path) or body.get("capabilities") or [])
