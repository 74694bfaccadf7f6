"""Schemathesis against the gateway's own OpenAPI document: every request the document allows (and requests
that break it: wrong types, missing fields, out-of-range numbers) gets an answer under 500, with and without
credentials; the stand-in engine sits behind the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from components.gateway.app import ChatRequest, CompletionRequest, KeyRequest
from tests.unit.test_gateway import Rig, rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, lab) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("openapi"), lab.access) as r:
        yield r


@pytest.fixture(scope="module")
def api(gateway: Rig):
    """The document as the gateway serves it; cases go through the gateway's own client (one app, one lifespan)."""
    return schemathesis.openapi.from_dict(gateway.client.get("/openapi.json").json())


@pytest.fixture(scope="module")
def identities(gateway: Rig) -> dict[str, dict[str, str]]:
    """The headers of each identity the run sends, made once: an API key for inference, OIDC tokens with a
    second factor for the administrators' endpoints."""
    return {"api": gateway.key("api_user", "fuzz"), "audit": gateway.bearer(["audit_admin"]),
            "security": gateway.bearer(["security_admin"])}


def credentials(identities: dict[str, dict[str, str]], path: str, which: int) -> dict[str, str]:
    """None, or the identity the endpoint is for."""
    if which == 0:
        return {}
    if path.startswith("/admin/audit"):
        return identities["audit"]
    if path.startswith("/admin/"):
        return identities["security"]
    return identities["api"]


# The operations with something to break (a body or a query parameter): negative cases run for these too.
BREAKABLE = {("POST", "/v1/chat/completions"), ("POST", "/v1/completions"), ("POST", "/admin/keys"),
             ("GET", "/admin/audit")}


def test_no_request_gets_a_server_error(api, gateway: Rig, identities: dict[str, dict[str, str]]) -> None:
    """Each operation, schemathesis' positive cases and, where there is something to break, its negative ones,
    each sent once without and once with credentials. (Schemathesis' pytest plugin does not load under this
    pytest; its strategies do.)"""
    operations = [result.ok() for result in api.get_all_operations()]
    seen: dict[tuple[str, str, str], set[int]] = {}
    assert len(operations) == 9 and BREAKABLE <= {(o.method.upper(), o.path) for o in operations}
    for operation in operations:
        negative = (operation.method.upper(), operation.path) in BREAKABLE
        for mode in (GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if negative else [])):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                      derandomize=True)
            def send(case) -> None:
                sent = case.as_transport_kwargs(base_url="http://testserver")
                for which in (0, 1):
                    headers = {**(sent.get("headers") or {}), **credentials(identities, case.path, which)}
                    response = gateway.client.request(sent["method"], sent["url"], headers=headers,
                                                      params=sent.get("params"), json=sent.get("json"),
                                                      content=sent.get("data"))
                    assert response.status_code < 500, (case.method, case.path, response.status_code,
                                                        response.text[:300])
                    if which:
                        seen.setdefault((case.meta.generation.mode.value, case.method.upper(), case.path),
                                        set()).add(response.status_code)
            send()
    # Not a run of empty bodies: valid ones got past parsing to the model's permission (403: a generated model
    # name the api_user may not invoke) or issued a key (201); broken ones were refused as bad requests.
    assert 403 in seen[("positive", "POST", "/v1/chat/completions")]
    assert seen[("negative", "POST", "/v1/chat/completions")] == {400}
    assert 201 in seen[("positive", "POST", "/admin/keys")]


def test_the_document_declares_the_bodies_the_gateway_reads(api) -> None:
    """Without the request bodies in the document, the run above would send nothing but empty bodies."""
    raw = api.raw_schema["paths"]
    for path, method, model in (("/v1/chat/completions", "post", ChatRequest),
                                ("/v1/completions", "post", CompletionRequest), ("/admin/keys", "post", KeyRequest)):
        body = raw[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert set(body["properties"]) == set(model.model_fields), path
        assert "$ref" not in str(body)
    assert raw["/admin/audit"]["get"]["parameters"][0]["name"] == "limit"
