"""The stand-in engine: a labelled fake of an OpenAI-compatible inference engine, for tests and the lab.

It runs no model. A chat completion answers with the last user message as the assistant's content (a
completion with its prompt), so a test sees exactly what reached the engine; with `"stream": true` it sends
the answer as server-sent events in small chunks, as vLLM does (`data: {chunk}` lines, then `data: [DONE]`).
Every answer says it is a stand-in: the header `X-Podforge-Standin: simulated`, the model's `owned_by`
(`podforge-standin`) and the completion's `system_fingerprint`.

`/health` answers 200 with an empty body, as vLLM's does. `/metrics` serves vLLM's metric names
(docs.vllm.ai "Production Metrics"; vllm/v1/metrics/loggers.py): `vllm:num_requests_running`,
`vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` (gauges), `vllm:prompt_tokens_total`,
`vllm:generation_tokens_total`, `vllm:request_success_total` (counters; `finished_reason` label) and
`vllm:e2e_request_latency_seconds` (histogram), labelled `model_name` and `engine` as vLLM labels them. Their
values are simulated: tokens are counted as whitespace-separated words, the KV-cache usage is the share of
`max_running` requests running.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

STANDIN_HEADER = "X-Podforge-Standin"
OWNER = "podforge-standin"
DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1"
CHUNK_CHARS = 4
"""Streamed content comes in pieces this long, so a value is split across chunks."""
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
"""The first buckets of vLLM's request-latency histograms (vllm/v1/metrics/loggers.py)."""


class _State:
    def __init__(self, model: str, max_running: int) -> None:
        self.model = model
        self.max_running = max_running
        self.running = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success = 0
        self.latency_buckets = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _error(status: int, message: str) -> JSONResponse:
    # vLLM's OpenAI server answers errors as {"object": "error", "message", "type", "param", "code"}, e.g. for an
    # unknown model 404 "The model `X` does not exist." with type NotFoundError (an answer of vLLM's server
    # quoted in public test output; vllm/entrypoints/openai/serving_engine.py, _check_model).
    kind = {404: "NotFoundError"}.get(status, "BadRequestError")
    return JSONResponse({"object": "error", "message": message, "type": kind, "param": None, "code": status},
                        status_code=status, headers={STANDIN_HEADER: "simulated"})


def create_standin(model: str = DEFAULT_MODEL, delay_s: float = 0.0, max_running: int = 64) -> FastAPI:
    """The stand-in engine as an ASGI app (`podforge engine standin` serves it with uvicorn)."""
    state = _State(model, max_running)
    app = FastAPI(title="podforge stand-in engine (simulated)", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def label(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers[STANDIN_HEADER] = "simulated"
        return response

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": state.model, "object": "model", "created": 0, "owned_by": OWNER}]}

    async def _body(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the body is not a JSON object")
        if body.get("model") != state.model:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        return body

    def _finish(started: float, prompt: str, answer: str) -> None:
        state.prompt_tokens += _words(prompt)
        state.generation_tokens += _words(answer)
        state.success += 1
        took = time.monotonic() - started
        state.latency_sum += took
        for i, bound in enumerate(LATENCY_BUCKETS):
            if took <= bound:
                state.latency_buckets[i] += 1

    async def _answer(request: Request, kind: str) -> Response:
        started = time.monotonic()
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        if kind == "chat":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return _error(400, "messages: expected a non-empty list")
            users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            prompt = _text_of(users[-1].get("content")) if users else ""
        else:
            raw = body.get("prompt")
            prompt = raw if isinstance(raw, str) else "".join(p for p in raw if isinstance(p, str)) \
                if isinstance(raw, list) else ""
        answer = prompt
        ident = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-standin-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        state.running += 1
        if not body.get("stream"):
            try:
                if delay_s:
                    await asyncio.sleep(delay_s)
            finally:
                state.running -= 1
            _finish(started, prompt, answer)
            usage = {"prompt_tokens": _words(prompt), "completion_tokens": _words(answer),
                     "total_tokens": _words(prompt) + _words(answer)}
            if kind == "chat":
                choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": answer},
                                          "finish_reason": "stop"}
                obj = "chat.completion"
            else:
                choice = {"index": 0, "text": answer, "finish_reason": "stop"}
                obj = "text_completion"
            return JSONResponse({"id": ident, "object": obj, "created": created, "model": state.model,
                                 "system_fingerprint": OWNER, "choices": [choice], "usage": usage})

        async def events() -> AsyncIterator[bytes]:
            try:
                obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

                def chunk(piece: dict[str, Any]) -> bytes:
                    payload = {"id": ident, "object": obj, "created": created, "model": state.model,
                               "system_fingerprint": OWNER, "choices": [piece]}
                    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

                if kind == "chat":
                    yield chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None})
                for start in range(0, len(answer), CHUNK_CHARS):
                    piece = answer[start:start + CHUNK_CHARS]
                    if delay_s:
                        await asyncio.sleep(delay_s / max(1, len(answer) // CHUNK_CHARS))
                    yield chunk({"index": 0, "delta": {"content": piece}, "finish_reason": None} if kind == "chat"
                                else {"index": 0, "text": piece, "finish_reason": None})
                yield chunk({"index": 0, "delta": {}, "finish_reason": "stop"} if kind == "chat"
                            else {"index": 0, "text": "", "finish_reason": "stop"})
                yield b"data: [DONE]\n\n"
                _finish(started, prompt, answer)
            finally:
                state.running -= 1

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await _answer(request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await _answer(request, "completion")

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        labels = f'engine="0",model_name="{state.model}"'
        lines = ["# podforge stand-in engine: vLLM's metric names, simulated values",
                 "# HELP vllm:num_requests_running Number of requests in model execution batches.",
                 "# TYPE vllm:num_requests_running gauge",
                 f"vllm:num_requests_running{{{labels}}} {state.running}",
                 "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
                 "# TYPE vllm:num_requests_waiting gauge",
                 f"vllm:num_requests_waiting{{{labels}}} 0",
                 "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
                 "# TYPE vllm:kv_cache_usage_perc gauge",
                 f"vllm:kv_cache_usage_perc{{{labels}}} {min(1.0, state.running / state.max_running):g}",
                 "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
                 "# TYPE vllm:prompt_tokens_total counter",
                 f"vllm:prompt_tokens_total{{{labels}}} {state.prompt_tokens}",
                 "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
                 "# TYPE vllm:generation_tokens_total counter",
                 f"vllm:generation_tokens_total{{{labels}}} {state.generation_tokens}",
                 "# HELP vllm:request_success_total Count of successfully processed requests.",
                 "# TYPE vllm:request_success_total counter",
                 f'vllm:request_success_total{{{labels},finished_reason="stop"}} {state.success}',
                 "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.",
                 "# TYPE vllm:e2e_request_latency_seconds histogram"]
        for bound, count in zip(LATENCY_BUCKETS, state.latency_buckets, strict=True):
            lines.append(f'vllm:e2e_request_latency_seconds_bucket{{{labels},le="{bound}"}} {count}')
        lines.append(f'vllm:e2e_request_latency_seconds_bucket{{{labels},le="+Inf"}} {state.success}')
        lines.append(f"vllm:e2e_request_latency_seconds_sum{{{labels}}} {state.latency_sum:g}")
        lines.append(f"vllm:e2e_request_latency_seconds_count{{{labels}}} {state.success}")
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
