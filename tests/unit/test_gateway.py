"""The gateway in process (FastAPI's TestClient, the stand-in engine behind an ASGI transport): inference
plain and streamed, prompts and completions desensitized, tokens restored, failover, models, metrics,
health, and the audit record of every call.

The helpers here (keys, tokens, runtimes) serve the other test_gateway_*.py modules too.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from components.gateway.app import GatewayRuntime, create_app
from components.gateway.auditing import ChainedAudit
from components.gateway.keys import KeyStore
from components.gateway.oidc import TokenVerifier
from components.gateway.standin_engine import DEFAULT_MODEL, STANDIN_HEADER, create_standin
from components.spec.access import Access
from components.spec.gateway import Gateway, GatewayOidc

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ISSUER = "https://idp.example.test/realms/podforge"
AUDIENCE = "podforge-gateway"
MODEL = DEFAULT_MODEL
PHONE = "13812345678"
MAIL = "zhang.san@example.com"
PROMPT = f"我的手机号是{PHONE}，邮箱 {MAIL}，请回电。"


# --- identities -----------------------------------------------------------------------------------------

@functools.cache
def _signing_keys(which: str) -> tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]:
    """Keys generated once per test session (per `which`), never stored."""
    return rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())


@dataclass
class Issuer:
    """An OIDC issuer made at test time: an RSA and an EC signing key, published as a JWKS file."""

    jwks_path: Path
    which: str = "issuer"
    rsa_key: rsa.RSAPrivateKey = field(init=False)
    ec_key: ec.EllipticCurvePrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.rsa_key, self.ec_key = _signing_keys(self.which)
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa_key, "RS256"), ("ec-1", self.ec_key, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        self.jwks_path.write_text(json.dumps({"keys": keys}))

    def oidc(self) -> GatewayOidc:
        return GatewayOidc(issuer=ISSUER, audience=AUDIENCE, jwks=str(self.jwks_path))

    def token(self, roles: list[str], amr: list[str] | None = None, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"user-{'-'.join(roles) or 'none'}", "iat": now,
                   "exp": now + 300, "roles": roles, **claims}
        if amr is not None:
            payload["amr"] = amr
        payload = {k: v for k, v in payload.items() if v is not None}
        key, kid = (self.rsa_key, "rsa-1") if alg == "RS256" else (self.ec_key, "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


class Engines(httpx.AsyncBaseTransport):
    """Routes the gateway's engine calls by host to ASGI apps; a host mapped to None refuses connections.
    Keeps every JSON body sent, so a test sees what reached an engine."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.apps = apps
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError("connection refused", request=request)
        if request.method == "POST":
            self.sent.append((request.url.host, json.loads(await request.aread())))
        return await httpx.ASGITransport(app=app).handle_async_request(request)


@dataclass
class Rig:
    client: TestClient
    store: KeyStore
    audit: ChainedAudit
    engines: Engines
    issuer: Issuer
    app: Any

    def records(self) -> list[dict[str, Any]]:
        """The audit records written so far, read back from the hash-chained log."""
        return self.audit.read(10_000)

    def key(self, role: str, name: str | None = None) -> dict[str, str]:
        _, key = self.store.issue(name or f"{role.replace('_', '-')}-{len(self.store.records())}", role)
        return {"Authorization": f"Bearer {key}"}

    def bearer(self, roles: list[str], amr: list[str] | None = ("pwd", "otp"), **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(roles, list(amr) if amr else None, **kw)}"}

    def chat(self, headers: dict[str, str], content: str = "hello", stream: bool = False, model: str = MODEL,
             **extra: Any) -> httpx.Response:
        return self.client.post("/v1/chat/completions", headers=headers,
                                json={"model": model, "stream": stream, "messages": [{"role": "user", "content": content}],
                                      **extra})


@contextmanager
def rig(tmp_path: Path, access: Access, gateway: Gateway | None = None, apps: dict[str, Any] | None = None,
        audit: Any = None) -> Iterator[Rig]:
    issuer = Issuer(tmp_path / "jwks.json")
    gateway = gateway or Gateway()
    gateway = gateway.model_copy(update={"oidc": issuer.oidc()})
    engines = Engines(apps if apps is not None else {"engine-a": create_standin()})
    store = KeyStore(tmp_path / "keys.json")
    audit = audit if audit is not None else ChainedAudit(tmp_path / "audit" / "gateway.jsonl")
    runtime = GatewayRuntime(access, gateway, [f"http://{h}" for h in engines.apps], store, audit,
                             TokenVerifier(gateway.oidc, tmp_path), transport=engines)
    app = create_app(runtime)
    with TestClient(app) as client:
        yield Rig(client, store, audit, engines, issuer, app)


@pytest.fixture()
def gw(tmp_path: Path, lab) -> Iterator[Rig]:
    with rig(tmp_path, lab.access) as r:
        yield r


def sse_content(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The streamed content joined, and the events, of an SSE body; checks it ends with [DONE]."""
    lines = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    events = [json.loads(line) for line in lines[:-1]]
    content = "".join(c.get("delta", {}).get("content") or c.get("text") or "" for e in events for c in e["choices"])
    return content, events


# --- inference ------------------------------------------------------------------------------------------------

def test_a_chat_completion_reaches_the_engine_desensitized_and_comes_back(gw: Rig) -> None:
    response = gw.chat(gw.key("api_user"), PROMPT)
    assert response.status_code == 200
    sent = gw.engines.sent[-1][1]["messages"][0]["content"]
    assert PHONE not in sent and MAIL not in sent
    assert "[mobile]" in sent and "[email]" in sent
    assert response.json()["choices"][0]["message"]["content"] == sent  # the stand-in echoes what it got
    assert response.json()["system_fingerprint"] == "podforge-standin"


def test_a_text_completion_is_desensitized_too(gw: Rig) -> None:
    response = gw.client.post("/v1/completions", headers=gw.key("api_user"), json={"model": MODEL, "prompt": PROMPT})
    assert response.status_code == 200
    assert gw.engines.sent[-1][1]["prompt"] == response.json()["choices"][0]["text"]
    assert PHONE not in response.text and "[mobile]" in response.text


def test_a_streamed_chat_completion_arrives_as_server_sent_events(gw: Rig) -> None:
    response = gw.chat(gw.key("api_user"), PROMPT, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    content, events = sse_content(response.text)
    assert content == gw.engines.sent[-1][1]["messages"][0]["content"]
    assert PHONE not in response.text and "[mobile]" in content
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_streamed_text_completion_arrives_whole(gw: Rig) -> None:
    response = gw.client.post("/v1/completions", headers=gw.key("api_user"),
                              json={"model": MODEL, "prompt": "plain words, nothing personal", "stream": True})
    content, _ = sse_content(response.text)
    assert content == "plain words, nothing personal"


def _engine_saying(pieces: list[str]) -> Any:
    """A test double of an engine (not the stand-in): streams the given pieces as its completion, whatever
    the prompt; answers non-streamed calls with them joined."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        if not body.get("stream"):
            return JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                                              "finish_reason": "stop"}]})

        async def events():
            for piece in pieces:
                yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': piece}, 'finish_reason': None}]})}\n\n"
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            yield "data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def test_a_value_the_engine_produces_split_across_chunks_is_still_masked(tmp_path: Path, lab) -> None:
    pieces = ["请拨打 138", "1234", "5678 联系我"]
    with rig(tmp_path, lab.access, apps={"engine-a": _engine_saying(pieces)}) as r:
        response = r.chat(r.key("api_user"), "hi", stream=True)
        content, _ = sse_content(response.text)
        assert content == "请拨打 [mobile] 联系我"
        assert PHONE not in response.text
        plain = r.chat(r.key("api_user", "second"), "hi")
        assert plain.json()["choices"][0]["message"]["content"] == "请拨打 [mobile] 联系我"
        assert r.records()[-1]["categories"] == {"mobile": {"count": 1, "action": "mask"}}


def _token_policy(lab) -> Gateway:
    return Gateway(desensitize={"api_user": {"mobile": "token"}, "data_analyst": {"mobile": "hash"}})


def test_a_tokenized_value_is_restored_for_the_role_whose_policy_tokenizes_it(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, _token_policy(lab)) as r:
        response = r.chat(r.key("api_user"), PROMPT)
        sent = r.engines.sent[-1][1]["messages"][0]["content"]
        assert PHONE not in sent and "[mobile#1]" in sent and "[email]" in sent
        assert response.json()["choices"][0]["message"]["content"] == PROMPT.replace(MAIL, "[email]")
        streamed, _ = sse_content(r.chat(r.key("api_user", "streamer"), PROMPT, stream=True).text)
        assert streamed == PROMPT.replace(MAIL, "[email]")
        assert r.records()[-1]["categories"]["mobile"] == {"count": 1, "action": "token"}


def test_tokens_of_several_messages_do_not_collide(tmp_path: Path, lab) -> None:
    other = "13998765432"
    with rig(tmp_path, lab.access, _token_policy(lab)) as r:
        response = r.client.post("/v1/chat/completions", headers=r.key("api_user"), json={
            "model": MODEL, "messages": [{"role": "user", "content": f"first {PHONE}"},
                                         {"role": "assistant", "content": f"noted {PHONE}"},
                                         {"role": "user", "content": f"now {other} and {PHONE}"}]})
        sent = [m["content"] for m in r.engines.sent[-1][1]["messages"]]
        assert sent == ["first [mobile#1]", "noted [mobile#1]", "now [mobile#2] and [mobile#1]"]
        assert response.json()["choices"][0]["message"]["content"] == f"now {other} and {PHONE}"


def test_a_role_whose_policy_hashes_never_sees_the_value(tmp_path: Path, lab) -> None:
    access = lab.access.model_copy(update={"roles": {**lab.access.roles, "data_analyst": lab.access.roles["api_user"]}})
    with rig(tmp_path, access, _token_policy(lab)) as r:
        response = r.chat(r.key("data_analyst"), PROMPT)
        content = response.json()["choices"][0]["message"]["content"]
        assert PHONE not in content and "[mobile:" in content


def test_failover_to_the_next_replica_when_one_refuses_connections(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, apps={"engine-a": create_standin(), "engine-b": create_standin()}) as r:
        r.engines.apps["engine-a"] = None  # replica a is gone
        headers = r.key("api_user")
        for _ in range(4):
            assert r.chat(headers, "ping").status_code == 200
            assert r.chat(headers, "ping", stream=True).status_code == 200
        assert {host for host, _ in r.engines.sent} == {"engine-b"}
        assert [rec["status"] for rec in r.records()] == [200] * 8
        metrics = r.client.get("/metrics", headers=r.key("data_analyst")).text
        assert 'podforge_gateway_engine_up{engine="http://engine-a"} 0' in metrics
        assert 'podforge_gateway_engine_failures_total{engine="http://engine-a"}' in metrics


def test_no_replica_left_is_a_503_and_health_says_degraded(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, apps={"engine-a": create_standin()}) as r:
        r.engines.apps["engine-a"] = None
        response = r.chat(r.key("api_user"), "ping")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "engine_unavailable"
        assert r.client.get("/health").status_code == 503
        assert r.client.get("/health").json() == {"status": "degraded", "engines_healthy": 0, "engines": 1}


class _Slow(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"data": []})
        raise httpx.ReadTimeout("engine too slow", request=request)


def test_an_engine_that_times_out_is_a_504(tmp_path: Path, lab) -> None:
    store = KeyStore(tmp_path / "keys.json")
    _, key = store.issue("app", "api_user")
    runtime = GatewayRuntime(lab.access, Gateway(), ["http://slow"], store, ChainedAudit(tmp_path / "a.jsonl"),
                             transport=_Slow())
    with TestClient(create_app(runtime)) as client:
        response = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                               json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 504


def test_an_engine_error_is_passed_on_with_its_message_desensitized(gw: Rig) -> None:
    response = gw.chat(gw.key("api_user"), "hi", model="deepseek-unknown")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "engine_error"
    assert "deepseek-unknown" in response.json()["error"]["message"]


def test_models_lists_what_the_engines_serve_and_the_caller_may_invoke(gw: Rig) -> None:
    listing = gw.client.get("/v1/models", headers=gw.key("api_user")).json()
    assert [m["id"] for m in listing["data"]] == [MODEL]


def test_models_are_filtered_by_the_callers_resource_patterns(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, apps={"engine-a": create_standin("model_v1")}) as r:
        assert r.client.get("/v1/models", headers=r.key("api_user")).json()["data"] == []  # deepseek-* only


def test_metrics_are_prometheus_text_with_the_gateways_names(gw: Rig) -> None:
    gw.chat(gw.key("api_user"), PROMPT)
    response = gw.client.get("/metrics", headers=gw.key("data_analyst"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'podforge_gateway_requests_total{endpoint="POST /v1/chat/completions",status="200"} 1' in text
    assert 'podforge_gateway_findings_total{category="mobile",direction="prompt"} 1' in text
    assert "# TYPE podforge_gateway_request_duration_seconds histogram" in text
    assert PHONE not in text


def test_health_needs_no_identity(gw: Rig) -> None:
    assert gw.client.get("/health").json() == {"status": "ok", "engines_healthy": 1, "engines": 1}


# --- audit ------------------------------------------------------------------------------------------------

def test_every_call_has_one_audit_record_without_personal_data(gw: Rig) -> None:
    key = gw.key("api_user")
    gw.chat(key, PROMPT)
    gw.chat(key, PROMPT, stream=True)
    gw.chat({}, PROMPT)
    gw.client.get("/metrics", headers=key)
    records = gw.records()
    assert [(r["endpoint"], r["decision"], r["status"]) for r in records] == [
        ("POST /v1/chat/completions", "allow", 200), ("POST /v1/chat/completions", "allow", 200),
        ("POST /v1/chat/completions", "deny", 401), ("GET /metrics", "deny", 403)]
    first = records[0]
    assert first["identity"].startswith("key:") and first["role"] == "api_user" and first["model"] == MODEL
    assert first["categories"] == {"email": {"count": 1, "action": "mask"}, "mobile": {"count": 1, "action": "mask"}}
    assert first["latency_ms"] >= 0
    assert records[2]["identity"] == "-"
    dumped = json.dumps(records, ensure_ascii=False) + "".join(p.read_text() for p in gw.audit.log.files())
    assert PHONE not in dumped and MAIL not in dumped and "请回电" not in dumped


def test_nothing_personal_reaches_the_log(gw: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    key = gw.key("api_user")
    gw.chat(key, PROMPT)
    gw.chat(key, PROMPT, stream=True)
    gw.chat({"Authorization": "Bearer not-a-token"}, PROMPT)
    assert PHONE not in caplog.text and MAIL not in caplog.text


def test_the_audit_records_form_a_verifiable_chain_read_by_the_audit_administrator(gw: Rig) -> None:
    from components.gateway.audit import verify_chain

    gw.chat(gw.key("api_user"), PROMPT)
    gw.chat({}, "x")
    read = gw.client.get("/admin/audit?limit=2", headers=gw.bearer(["audit_admin"])).json()["records"]
    assert [rec["status"] for rec in read] == [200, 401]
    assert read[1]["prev"] == read[0]["hash"]
    assert verify_chain(gw.audit.log.files()) == []


def test_the_stand_in_labels_every_answer(gw: Rig) -> None:
    engine = TestClient(create_standin())
    for response in (engine.get("/health"), engine.get("/v1/models"),
                     engine.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})):
        assert response.headers[STANDIN_HEADER] == "simulated"
    assert engine.get("/v1/models").json()["data"][0]["owned_by"] == "podforge-standin"


def test_the_stand_in_serves_vllms_metric_names(gw: Rig) -> None:
    engine = TestClient(create_standin())
    engine.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "two words"}]})
    text = engine.get("/metrics").text
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                 "vllm:e2e_request_latency_seconds_bucket"):
        assert f"\n{name}{{" in text, name
    assert f'vllm:prompt_tokens_total{{engine="0",model_name="{MODEL}"}} 2' in text
    assert "simulated" in text


def test_the_stand_in_echoes_the_last_user_message(gw: Rig) -> None:
    engine = TestClient(create_standin())
    body = {"model": MODEL, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"},
                                         {"role": "assistant", "content": "ok"}, {"role": "user", "content": "two"}]}
    assert engine.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"] == "two"
    content, _ = sse_content(engine.post("/v1/chat/completions", json={**body, "stream": True}).text)
    assert content == "two"


