"""The gateway's HTTP API (FastAPI): OpenAI-compatible inference, models, metrics, health and the admin
endpoints, each guarded by the permission components.gateway.rbac.ENDPOINTS names for it.

A call goes: header limits (431) → identity (401) → the action at all (403) → body size, time and form (413,
408, 400) → the resource (403) → the caller's and its role's limits (429) → prompt desensitized → an engine
slot, or a place in the bounded queue until its deadline (429) → an engine replica, with failover (503, 504)
→ the completion desensitized (chunk by chunk when streamed) → one audit record. Errors are JSON:
`{"error": {"type", "message"[, "permission"]}}`; a 401 or 403 names the permission that was missing and
nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from components.gateway import rbac
from components.gateway.auditing import AuditSink
from components.gateway.engines import EnginePool, NoEngine, Replica
from components.gateway.keys import PREFIX, KeyStore, KeyStoreError
from components.gateway.limits import EngineSlots, Lease, Limiter, Refused
from components.gateway.metrics import CONTENT_TYPE, Metrics
from components.gateway.oidc import TokenError, TokenVerifier
from components.gateway.rbac import Authorizer, Decision, Identity, Requirement
from components.gateway.redaction import Desensitizer, RedactionSession
from components.spec.access import Access, AccessRole
from components.spec.gateway import Gateway as GatewaySpec

log = logging.getLogger("podforge.gateway")
AUDIT_READ_MAX = 1000


# --- request bodies ---------------------------------------------------------------------------------------
# Only these fields reach the engine; any other field of the OpenAI API is dropped (it could carry personal
# data the gateway does not desensitize: `user`, a message's `name`, tools).

class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"] = Field(description="Only text parts are accepted.")
    text: StrictStr


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[TextPart] | None = None


class _Sampling(_Body):
    model: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    stream: StrictBool = False
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=16)] | None = None
    seed: StrictInt | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None


class ChatRequest(_Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=4096)]


class CompletionRequest(_Sampling):
    prompt: StrictStr | Annotated[list[StrictStr], Field(min_length=1, max_length=256)]


class KeyRequest(_Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=63)]
    role: AccessRole


def _inline(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """`schema` with its local `$defs` references replaced by what they name (none of these models nests itself)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a handler that reads `model` itself (so its own 400s, not FastAPI's 422s)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": _inline(model.model_json_schema())}}}}


_AUDIT_LIMIT = {"parameters": [{"name": "limit", "in": "query", "required": False, "schema": {
    "type": "integer", "minimum": 1, "maximum": AUDIT_READ_MAX, "default": 100}}]}


# --- errors -----------------------------------------------------------------------------------------------

class Failure(Exception):
    """Ends a call with an error status; `decision` says whether it was an access decision."""

    def __init__(self, status: int, kind: str, message: str, permission: str | None = None,
                 headers: dict[str, str] | None = None, decision: str = "error") -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.permission, self.headers, self.decision = permission, headers or {}, decision

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.permission:
            error["permission"] = self.permission
        return JSONResponse({"error": error}, status_code=self.status, headers=self.headers)


def _denied(decision: Decision) -> Failure:
    if decision.status == 401:
        return Failure(401, "unauthenticated", decision.reason, decision.permission,
                       {"WWW-Authenticate": 'Bearer realm="podforge-gateway"'}, decision="deny")
    return Failure(403, "forbidden", decision.reason, decision.permission, decision="deny")


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    """Where the body is wrong and what was expected, never the value sent (it may be personal)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "(body)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


# --- the call ---------------------------------------------------------------------------------------------

@dataclass
class Call:
    """One request's audit record, filled as the call goes."""

    endpoint: str
    started: float = field(default_factory=time.monotonic)
    identity: Identity | None = None
    model: str | None = None
    decision: str = "-"
    """`allow` once the permission check passed, `deny` when it failed, `-` before it ran."""
    permission: str | None = None
    reason: str | None = None
    engine: str | None = None
    session: RedactionSession | None = None
    done: bool = False

    def record(self, status: int) -> dict[str, Any]:
        ident = self.identity
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "identity": f"{ident.kind}:{ident.subject}" if ident else "-",
            "role": ident.role_label if ident else "-",
            "endpoint": self.endpoint,
            "model": self.model,
            "permission": self.permission,
            "decision": self.decision,
            "reason": self.reason,
            "status": status,
            "latency_ms": round((time.monotonic() - self.started) * 1000, 3),
            "engine": self.engine,
            "personal_data": self.session.found.record() if self.session else None,
        }


@dataclass
class GatewayRuntime:
    """Everything the app needs, built by components.gateway.serve from the spec (or by a test)."""

    access: Access
    spec: GatewaySpec
    engines: list[str]
    key_store: KeyStore
    audit: AuditSink
    verifier: TokenVerifier | None = None
    desensitizer: Desensitizer | None = None
    transport: httpx.AsyncBaseTransport | None = None
    """How the engines are reached (a test passes an ASGI transport); None: the network."""


class _HeaderGuard:
    """431 for too many header fields or too many header bytes, before anything else runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_headers: int, max_bytes: int) -> None:
        self.app, self.max_headers, self.max_bytes = app, max_headers, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            if len(headers) > self.max_headers or sum(len(k) + len(v) for k, v in headers) > self.max_bytes:
                response = Failure(431, "headers_too_large", f"at most {self.max_headers} header fields and "
                                   f"{self.max_bytes} bytes of headers are accepted").response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _ManagedStream(StreamingResponse):
    """A streamed answer whose cleanup runs however the stream ends, and whose writes time out on a client
    that stops reading."""

    def __init__(self, content: AsyncIterator[bytes], cleanup: Callable[[], Awaitable[None]],
                 write_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._cleanup, self._write_timeout_s = cleanup, write_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_send(message: Message) -> None:
            await asyncio.wait_for(send(message), self._write_timeout_s)

        try:
            await super().__call__(scope, receive, timed_send)
        except TimeoutError:
            pass  # the client stopped reading: the stream ends, cleanup runs
        finally:
            await self._cleanup()


def _held_back(choice: Any) -> bool:
    """A streamed choice with no text left to send, no role and no finish reason."""
    if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
        return False
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return set(delta) <= {"content"} and not delta.get("content")
    return "text" in choice and not choice["text"]


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def create_app(rt: GatewayRuntime) -> FastAPI:
    limits = rt.spec.limits
    authz = Authorizer(rt.access)
    limiter = Limiter(limits)
    slots = EngineSlots(limits)
    metrics = Metrics()
    pool = EnginePool(rt.engines, limits.engine_timeout_s, rt.spec.health_interval_s, transport=rt.transport)
    desensitizer = rt.desensitizer or Desensitizer(rt.spec.desensitize)

    metrics.gauge("podforge_gateway_engine_up", "1 when the engine replica passed its last health check.",
                  lambda: [((("engine", r.url),), 1.0 if r.healthy else 0.0) for r in pool.replicas])
    metrics.gauge("podforge_gateway_engine_in_flight", "Requests at the engines now.",
                  lambda: [((), float(slots.in_flight))])
    metrics.gauge("podforge_gateway_queue_waiting", "Requests waiting for an engine slot now.",
                  lambda: [((), float(slots.waiting))])

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        try:
            yield
        finally:
            await pool.stop()

    app = FastAPI(title="podforge inference gateway", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    app.state.pool, app.state.metrics, app.state.limiter, app.state.slots = pool, metrics, limiter, slots

    # --- helpers -----------------------------------------------------------------------------------------

    def finish(call: Call, status: int) -> None:
        if call.done:
            return
        call.done = True
        metrics.inc("podforge_gateway_requests_total", {"endpoint": call.endpoint, "status": str(status)})
        metrics.observe("podforge_gateway_request_duration_seconds", time.monotonic() - call.started,
                        {"endpoint": call.endpoint})
        if call.session:
            for direction, counts in (("prompt", call.session.found.prompt),
                                      ("completion", call.session.found.completion)):
                for category, entry in counts.items():
                    metrics.inc("podforge_gateway_findings_total", {"category": category, "direction": direction},
                                entry["count"])
        try:
            rt.audit.append(call.record(status))
        except Exception as exc:  # the call is answered; the failure is logged without the record
            log.error("audit: the record of a call to %s could not be appended (%s)", call.endpoint,
                      type(exc).__name__)

    def fail(call: Call, failure: Failure) -> JSONResponse:
        if failure.decision == "deny":
            call.decision = "deny"
        call.reason = failure.message
        if failure.status == 429:
            metrics.inc("podforge_gateway_refusals_total", {"reason": failure.kind})
        finish(call, failure.status)
        return failure.response()

    async def authenticate(request: Request) -> Identity | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return None
        if credential.startswith(PREFIX):
            try:
                record = rt.key_store.lookup(credential)
            except KeyStoreError as exc:
                log.error("key store: %s", exc)
                return None
            if record is None or record.role not in AccessRole.__members__:
                return None
            return Identity("key", record.id, frozenset({AccessRole(record.role)}), False, record.name)
        if rt.verifier is None:
            return None
        try:
            return await rt.verifier.verify(credential)
        except TokenError as exc:
            log.info("token refused: %s", exc)
            return None

    def check(call: Call, req: Requirement, resource: str | None) -> None:
        call.permission = req.action
        decision = authz.decide(call.identity, req, resource)
        if not decision.allowed:
            raise _denied(decision)
        call.decision = "allow"

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Failure(400, "invalid_request", "Content-Length: expected a number of bytes")
            if int(length) > limits.max_body_bytes:
                raise Failure(413, "body_too_large", f"the body may have at most {limits.max_body_bytes} bytes")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(limits.client_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limits.max_body_bytes:
                        raise Failure(413, "body_too_large", f"the body may have at most {limits.max_body_bytes} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Failure(408, "request_timeout", f"the body was not received within {limits.client_timeout_s:g} s") \
                from None
        raw = b"".join(chunks)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Failure(400, "invalid_request", "the body is not valid UTF-8") from None
        try:
            return json.loads(text)
        except ValueError:
            raise Failure(400, "invalid_request", "the body is not valid JSON") from None
        except RecursionError:
            raise Failure(400, "invalid_request", "the body nests too deeply") from None

    def parse(model: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, dict):
            raise Failure(400, "invalid_request", "the body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise Failure(400, "invalid_request", _validation_message(exc)) from None

    def admit(call: Call) -> Lease:
        assert call.identity is not None
        try:
            return limiter.admit(call.identity.bucket, sorted(r.value for r in call.identity.effective_roles))
        except Refused as exc:
            raise Failure(429, "rate_limited", f"refused: {exc.reason}", headers={"Retry-After": str(exc.retry_after)}) \
                from None

    async def engine_slot() -> None:
        waited = time.monotonic()
        try:
            await slots.acquire()
        except Refused as exc:
            raise Failure(429, "overloaded", f"refused: {exc.reason}", headers={"Retry-After": str(exc.retry_after)}) \
                from None
        metrics.observe("podforge_gateway_queue_wait_seconds", time.monotonic() - waited)

    def engine_failure(reply_status: int, body: Any, session: RedactionSession) -> Failure:
        message = "the engine refused the request"
        if isinstance(body, dict) and isinstance(body.get("error"), dict) and isinstance(body["error"].get("message"), str):
            message = session.completion(body["error"]["message"])  # an engine's message may quote the prompt
        elif isinstance(body, dict) and isinstance(body.get("message"), str):  # vLLM's {"object": "error", …}
            message = session.completion(body["message"])
        elif isinstance(body, dict) and isinstance(body.get("detail"), str):
            message = session.completion(body["detail"])
        return Failure(reply_status, "engine_error", message)

    def note_failovers(before: dict[str, int]) -> None:
        for replica in pool.replicas:
            if replica.failures > before.get(replica.url, 0):
                metrics.inc("podforge_gateway_engine_failures_total", {"engine": replica.url},
                            replica.failures - before.get(replica.url, 0))

    # --- inference -----------------------------------------------------------------------------------------

    async def inference(request: Request, path: str, kind: str) -> Response:
        call = Call(f"POST {path}")
        req = rbac.requirement("POST", path)
        assert req is not None
        lease: Lease | None = None
        streaming = False
        try:
            call.identity = await authenticate(request)
            check(call, req, None)
            parsed = parse(ChatRequest if kind == "chat" else CompletionRequest, await read_json(request))
            call.model = parsed.model
            check(call, req, parsed.model)
            lease = admit(call)
            session = call.session = desensitizer.session(call.identity)  # type: ignore[arg-type]
            body = parsed.model_dump(exclude_none=True)
            forward = session.chat_request(body) if kind == "chat" else session.completion_request(body)
            await engine_slot()
            before = {r.url: r.failures for r in pool.replicas}
            if not parsed.stream:
                try:
                    reply = await pool.post(path, forward)
                finally:
                    slots.release()
                    note_failovers(before)
                call.engine = reply.replica.url
                if reply.status != 200:
                    raise engine_failure(reply.status, reply.body, session)
                answer = session.response(reply.body)
                finish(call, 200)
                return JSONResponse(answer)
            response = await stream(call, path, forward, session, lease, before)
            streaming = True
            return response
        except Failure as failure:
            return fail(call, failure)
        except NoEngine as exc:
            return fail(call, Failure(exc.status, "engine_unavailable", str(exc)))
        finally:
            if lease is not None and not streaming:
                lease.release()

    async def stream(call: Call, path: str, forward: dict[str, Any], session: RedactionSession, lease: Lease,
                     before: dict[str, int]) -> Response:
        stack = AsyncExitStack()
        released = False

        async def cleanup() -> None:
            nonlocal released
            if released:
                return
            released = True
            try:
                await stack.aclose()
            finally:
                slots.release()
                lease.release()
                finish(call, 200)

        try:
            status, replica, response = await stack.enter_async_context(pool.stream(path, forward))
        except BaseException:
            slots.release()
            note_failovers(before)
            raise
        note_failovers(before)
        call.engine = replica.url
        if status != 200:
            try:
                raw = await response.aread()
                body = json.loads(raw) if raw else None
            except (httpx.HTTPError, ValueError):
                body = None
            finally:
                await stack.aclose()
                slots.release()
            raise engine_failure(status, body, session)
        return _ManagedStream(relay(response, session, replica, call, path), cleanup, limits.client_timeout_s,
                              media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def relay(response: httpx.Response, session: RedactionSession, replica: Replica, call: Call,
                    path: str) -> AsyncIterator[bytes]:
        """The engine's events with every choice's text desensitized; a value split across chunks is held
        back until it can be judged, and what is held back is sent with the choice's last chunk."""
        filt = session.stream()
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    for index in filt.open_choices():
                        rest = filt.flush(index)
                        if rest and path == "/v1/chat/completions":
                            yield _sse({"object": "chat.completion.chunk", "model": call.model,
                                        "choices": [{"index": index, "delta": {"content": rest}, "finish_reason": None}]})
                        elif rest:
                            yield _sse({"object": "text_completion", "model": call.model,
                                        "choices": [{"index": index, "text": rest, "finish_reason": None}]})
                    yield b"data: [DONE]\n\n"
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    continue  # an engine line that is not JSON is not passed on: it could not be desensitized
                if isinstance(event, dict) and isinstance(event.get("choices"), list):
                    for choice in event["choices"]:
                        if not isinstance(choice, dict):
                            continue
                        index = choice.get("index", 0) if isinstance(choice.get("index", 0), int) else 0
                        delta = choice.get("delta")
                        finished = choice.get("finish_reason") is not None
                        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                            text = filt.feed(index, delta["content"])
                            choice["delta"] = {**delta, "content": text + (filt.flush(index) if finished else "")}
                        elif isinstance(choice.get("text"), str):
                            text = filt.feed(index, choice["text"])
                            choice["text"] = text + (filt.flush(index) if finished else "")
                        elif finished:
                            rest = filt.flush(index)
                            if rest:
                                if isinstance(delta, dict):
                                    choice["delta"] = {**delta, "content": rest}
                                else:
                                    choice["text"] = rest
                    if event["choices"] and all(_held_back(c) for c in event["choices"]):
                        continue  # everything of this chunk is held back: nothing to send yet
                yield _sse(event)
        except httpx.HTTPError:
            replica.failures += 1
            yield _sse({"error": {"type": "engine_error", "message": "the engine's stream broke off"}})

    @app.post("/v1/chat/completions", summary="Chat completion (permission inference:invoke on the model)",
              openapi_extra=_json_body(ChatRequest))
    async def chat_completions(request: Request) -> Response:
        return await inference(request, "/v1/chat/completions", "chat")

    @app.post("/v1/completions", summary="Text completion (permission inference:invoke on the model)",
              openapi_extra=_json_body(CompletionRequest))
    async def completions(request: Request) -> Response:
        return await inference(request, "/v1/completions", "completion")

    # --- reading endpoints -----------------------------------------------------------------------------------

    async def guarded(request: Request, method: str, path: str, resource: str | None,
                      body: Callable[[Call], Awaitable[Response]]) -> Response:
        call = Call(f"{method} {path}")
        req = rbac.requirement(method, path)
        assert req is not None
        try:
            call.identity = await authenticate(request)
            check(call, req, resource)
            response = await body(call)
            finish(call, response.status_code)
            return response
        except Failure as failure:
            return fail(call, failure)

    @app.get("/v1/models", summary="Models the caller may invoke (permission inference:invoke)")
    async def models(request: Request) -> Response:
        async def answer(call: Call) -> Response:
            assert call.identity is not None
            names = authz.allowed_on(call.identity, "inference:invoke", pool.models())
            return JSONResponse({"object": "list", "data": [{"id": n, "object": "model", "created": 0,
                                                             "owned_by": "podforge-gateway"} for n in names]})
        return await guarded(request, "GET", "/v1/models", None, answer)

    @app.get("/metrics", summary="The gateway's metrics, Prometheus text (permission metrics:view)")
    async def metrics_endpoint(request: Request) -> Response:
        async def answer(call: Call) -> Response:
            return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)
        return await guarded(request, "GET", "/metrics", rbac.METRICS_RESOURCE, answer)

    @app.get("/health", summary="Up, with how many engine replicas are healthy (no permission)")
    async def health() -> Response:
        healthy = len(pool.healthy)
        return JSONResponse({"status": "ok" if healthy else "degraded", "engines_healthy": healthy,
                             "engines": len(pool.replicas)}, status_code=200 if healthy else 503)

    # --- administration ----------------------------------------------------------------------------------------

    @app.get("/admin/keys", summary="The API keys, without their hashes (permission keys:manage, second factor)")
    async def list_keys(request: Request) -> Response:
        async def answer(call: Call) -> Response:
            assert call.identity is not None
            try:
                records = rt.key_store.records()
            except KeyStoreError as exc:
                raise Failure(500, "key_store", "the key store cannot be read") from exc
            visible = set(authz.allowed_on(call.identity, "keys:manage", [r.name for r in records]))
            return JSONResponse({"keys": [r.public() for r in records if r.name in visible]})
        return await guarded(request, "GET", "/admin/keys", None, answer)

    @app.post("/admin/keys", status_code=201,
              summary="Issue an API key, shown once (permission keys:manage on its name, second factor)",
              openapi_extra=_json_body(KeyRequest))
    async def issue_key(request: Request) -> Response:
        call = Call("POST /admin/keys")
        req = rbac.requirement("POST", "/admin/keys")
        assert req is not None
        try:
            call.identity = await authenticate(request)
            check(call, req, None)
            key_request = parse(KeyRequest, await read_json(request))
            check(call, req, key_request.name)
            if key_request.role in rbac.ADMIN_ROLES:
                raise Failure(400, "invalid_request", "role: administrators sign in with OIDC tokens that carry a "
                                                      "second factor, not API keys")
            try:
                record, key = rt.key_store.issue(key_request.name, key_request.role)
            except KeyStoreError as exc:
                raise Failure(409 if "exists" in str(exc) else 400, "invalid_request", str(exc)) from None
            finish(call, 201)
            return JSONResponse({**record.public(), "key": key}, status_code=201)
        except Failure as failure:
            return fail(call, failure)

    @app.delete("/admin/keys/{key_id}", summary="Revoke an API key (permission keys:manage on its name, second factor)")
    async def revoke_key(request: Request, key_id: str) -> Response:
        call = Call("DELETE /admin/keys/{key_id}")
        req = rbac.requirement("DELETE", "/admin/keys/{key_id}")
        assert req is not None
        try:
            call.identity = await authenticate(request)
            check(call, req, None)
            record = next((r for r in rt.key_store.records() if r.id == key_id), None)
            if record is None:
                raise Failure(404, "not_found", "no key has that id")
            check(call, req, record.name)
            rt.key_store.revoke(key_id)
            finish(call, 200)
            return JSONResponse({"revoked": record.public()})
        except Failure as failure:
            return fail(call, failure)

    @app.get("/admin/audit", summary="The latest audit records (permission audit:read, second factor)",
             openapi_extra=_AUDIT_LIMIT)
    async def read_audit(request: Request) -> Response:
        async def answer(call: Call) -> Response:
            raw = request.query_params.get("limit", "100")
            if not raw.isdigit() or not 1 <= int(raw) <= AUDIT_READ_MAX:
                raise Failure(400, "invalid_request", f"limit: expected a number from 1 to {AUDIT_READ_MAX}")
            return JSONResponse({"records": rt.audit.read(int(raw))})
        return await guarded(request, "GET", "/admin/audit", rbac.AUDIT_RESOURCE, answer)

    # --- clean 4xx for everything else ----------------------------------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return Failure(400, "invalid_request", _validation_message(exc)).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        kinds = {404: "not_found", 405: "method_not_allowed"}
        return Failure(exc.status_code, kinds.get(exc.status_code, "http_error"),
                       str(exc.detail) if exc.status_code in kinds else "request refused",
                       headers=dict(exc.headers or {})).response()

    app.add_middleware(_HeaderGuard, max_headers=limits.max_headers, max_bytes=limits.max_header_bytes)
    return app
