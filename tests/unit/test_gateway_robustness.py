"""Bad input gets a clean 4xx, never a 500 and never a traceback: malformed JSON, wrong types, invalid UTF-8,
deep nesting, header floods, unknown paths and methods; and random bodies (hypothesis) never make a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.spec.gateway import Gateway, GatewayLimits
from tests.unit.test_gateway import MODEL, PHONE, Rig, rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def gw(tmp_path: Path, lab) -> Iterator[Rig]:
    """The gateway of the lab spec's access section, the stand-in engine behind it."""
    with rig(tmp_path, lab.access) as r:
        yield r


def _post(r: Rig, content: bytes, path: str = "/v1/chat/completions", key: dict[str, str] | None = None):
    headers = {**(key or r.key("api_user")), "Content-Type": "application/json"}
    return r.client.post(path, headers=headers, content=content)


@pytest.mark.parametrize("body", [b"{", b"", b"null x", b"{'model': 1}", b"\xef\xbb\xbf{}"[3:] + b"}"])
def test_malformed_json_is_a_400(gw: Rig, body: bytes) -> None:
    response = _post(gw, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


def test_invalid_utf8_is_a_400(gw: Rig) -> None:
    response = _post(gw, b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "\xff\xfe"}]}')
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the body is not valid UTF-8"


@pytest.mark.parametrize("body, field", [
    ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": MODEL, "messages": "x"}, "messages"),
    ({"model": MODEL, "messages": []}, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
     "messages.0.content"),
    ({"model": MODEL, "stream": "yes", "messages": [{"role": "user", "content": "x"}]}, "stream"),
    ({"model": MODEL, "max_tokens": "10", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": MODEL, "temperature": 9, "messages": [{"role": "user", "content": "x"}]}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ([1, 2], "the body must be a JSON object"),
])
def test_wrong_types_are_a_400_naming_the_field(gw: Rig, body, field: str) -> None:
    response = _post(gw, json.dumps(body).encode())
    assert response.status_code == 400
    assert field in response.json()["error"]["message"]
    assert gw.engines.sent == []


def test_a_400_never_echoes_the_value_sent(gw: Rig) -> None:
    response = _post(gw, json.dumps({"model": MODEL, "messages": [{"role": "user", "content": {"phone": PHONE}}]}).encode())
    assert response.status_code == 400
    assert PHONE not in response.text


def test_wrong_types_on_the_completions_and_admin_endpoints(gw: Rig) -> None:
    assert _post(gw, b'{"model": "m", "prompt": 7}', "/v1/completions").status_code == 400
    admin = gw.bearer(["security_admin"])
    assert _post(gw, b'{"name": 1, "role": "api_user"}', "/admin/keys", admin).status_code == 400
    assert _post(gw, b'{"name": "x", "role": "king"}', "/admin/keys", admin).status_code == 400
    assert gw.client.get("/admin/audit?limit=lots", headers=gw.bearer(["audit_admin"])).status_code == 400


def test_deep_nesting_is_a_400(gw: Rig) -> None:
    assert _post(gw, b"[" * 100_000 + b"]" * 100_000).status_code in (400, 413)
    assert _post(gw, b'{"model": ' + b"[" * 20_000 + b"]" * 20_000 + b"}").status_code == 400


def test_a_header_flood_is_a_431(gw: Rig) -> None:
    many = {f"X-Flood-{i}": "1" for i in range(200)}
    response = gw.client.get("/health", headers=many)
    assert response.status_code == 431
    assert response.json()["error"]["type"] == "headers_too_large"
    huge = gw.client.get("/health", headers={"X-Big": "y" * 20_000})
    assert huge.status_code == 431


def test_a_bad_content_length_is_a_400(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, Gateway(limits=GatewayLimits(max_body_bytes=4096))) as r:
        response = r.client.post("/v1/chat/completions", headers={**r.key("api_user"), "Content-Length": "99999999"},
                                 content=b"{}")
        assert response.status_code in (400, 413)


def test_unknown_paths_and_methods_are_clean_json(gw: Rig) -> None:
    missing = gw.client.get("/v1/embeddings")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    wrong = gw.client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "method_not_allowed"


_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
_json = st.recursive(_scalar,
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                                        max_size=4),
                     max_leaves=12)
_chat_like = st.fixed_dictionaries({"model": st.sampled_from([MODEL, "other", 3]),
                                    "messages": st.lists(st.fixed_dictionaries(
                                        {"role": st.sampled_from(["user", "system", "x", 1]),
                                         "content": st.one_of(st.text(max_size=30), _json)}), max_size=3)},
                                   optional={"stream": st.one_of(st.booleans(), _json), "max_tokens": _json,
                                             "temperature": _json, "n": _json})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_json, _chat_like), path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]))
def test_random_bodies_never_make_a_500(gw: Rig, body, path: str) -> None:
    response = gw.client.post(path, headers=gw.key("api_user", f"k{len(gw.store.records())}"), json=body)
    assert response.status_code < 500, response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_make_a_500(gw: Rig, raw: bytes) -> None:
    response = _post(gw, raw, key=gw.key("api_user", f"b{len(gw.store.records())}"))
    assert 400 <= response.status_code < 500
