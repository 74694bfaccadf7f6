"""Identity → roles → endpoints: every role of the lab spec against every endpoint, the 401 and 403 bodies,
resource patterns, the second factor of administrator endpoints, the separation of the three administrator
roles, OIDC token checks (algorithm, signature, iss, aud, exp) and the hashed key store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from components.gateway.keys import KeyStore, KeyStoreError
from components.gateway.rbac import Authorizer, Identity, Requirement, matches
from components.gateway.standin_engine import create_standin
from components.spec.access import Access, AccessRole
from tests.unit.test_gateway import AUDIENCE, ISSUER, MODEL, Issuer, Rig, rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def gw(tmp_path: Path, lab) -> Iterator[Rig]:
    """The gateway of the lab spec's access section, the stand-in engine behind it."""
    with rig(tmp_path, lab.access) as r:
        yield r

ROLES = [r.value for r in AccessRole]

# What the lab spec's `access` grants, written out by hand (specs/lab.yaml): the role allowed on each endpoint.
ALLOWED = {
    ("POST", "/v1/chat/completions"): {"api_user"},
    ("POST", "/v1/completions"): {"api_user"},
    ("GET", "/v1/models"): {"api_user"},
    ("GET", "/metrics"): {"data_analyst"},
    ("GET", "/admin/keys"): {"security_admin"},
    ("POST", "/admin/keys"): {"security_admin"},
    ("DELETE", "/admin/keys/{key_id}"): {"security_admin"},
    ("GET", "/admin/audit"): {"audit_admin"},
    ("GET", "/health"): set(ROLES),
}
PERMISSION = {
    ("POST", "/v1/chat/completions"): "inference:invoke", ("POST", "/v1/completions"): "inference:invoke",
    ("GET", "/v1/models"): "inference:invoke", ("GET", "/metrics"): "metrics:view",
    ("GET", "/admin/keys"): "keys:manage", ("POST", "/admin/keys"): "keys:manage",
    ("DELETE", "/admin/keys/{key_id}"): "keys:manage", ("GET", "/admin/audit"): "audit:read",
}


def _call(r: Rig, method: str, path: str, headers: dict[str, str], victim: str) -> int:
    if path == "/v1/chat/completions":
        return r.chat(headers, "hello").status_code
    if path == "/v1/completions":
        return r.client.post(path, headers=headers, json={"model": MODEL, "prompt": "hello"}).status_code
    if method == "POST" and path == "/admin/keys":
        return r.client.post(path, headers=headers, json={"name": f"new-{len(r.store.records())}",
                                                          "role": "api_user"}).status_code
    if method == "DELETE":
        return r.client.delete(f"/admin/keys/{victim}", headers=headers).status_code
    return r.client.request(method, path, headers=headers).status_code


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_endpoints_its_permissions_name(tmp_path: Path, lab, role: str) -> None:
    with rig(tmp_path, lab.access) as r:
        victim = r.store.issue("victim", "api_user")[0].id
        seen = {endpoint: _call(r, *endpoint, r.bearer([role]), victim) for endpoint in ALLOWED}
    expected = {endpoint: (201 if endpoint == ("POST", "/admin/keys") else 200) if role in allowed else 403
                for endpoint, allowed in ALLOWED.items()}
    assert seen == expected


@pytest.mark.parametrize("endpoint", [e for e in ALLOWED if e[1] != "/health"], ids=lambda e: f"{e[0]} {e[1]}")
def test_no_credentials_is_a_401_naming_the_permission(tmp_path: Path, lab, endpoint: tuple[str, str]) -> None:
    with rig(tmp_path, lab.access) as r:
        victim = r.store.issue("victim", "api_user")[0].id
        method, path = endpoint
        url = f"/admin/keys/{victim}" if method == "DELETE" else path
        response = r.client.request(method, url, json={} if method == "POST" else None)
        assert response.status_code == 401
        assert response.json() == {"error": {"type": "unauthenticated", "permission": PERMISSION[endpoint],
                                             "message": f"authentication required for {PERMISSION[endpoint]}"}}
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_403_names_the_missing_permission_and_nothing_more(gw: Rig) -> None:
    response = gw.client.get("/metrics", headers=gw.key("api_user"))
    assert response.status_code == 403
    assert response.json() == {"error": {"type": "forbidden", "message": "missing permission metrics:view",
                                         "permission": "metrics:view"}}


@pytest.mark.parametrize("role", ["api_user", "model_engineer", "data_analyst"])
def test_api_keys_act_in_their_role(gw: Rig, role: str) -> None:
    status = gw.chat(gw.key(role), "hello").status_code
    assert status == (200 if role == "api_user" else 403)


def test_a_revoked_or_forged_key_is_a_401(gw: Rig) -> None:
    record, key = gw.store.issue("app", "api_user")
    assert gw.chat({"Authorization": f"Bearer {key}"}).status_code == 200
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert gw.chat({"Authorization": f"Bearer {forged}"}).status_code == 401
    gw.store.revoke(record.id)
    assert gw.chat({"Authorization": f"Bearer {key}"}).status_code == 401
    assert gw.chat({"Authorization": f"Basic {key}"}).status_code == 401


def test_the_model_must_match_the_roles_resource_pattern(gw: Rig) -> None:
    response = gw.chat(gw.key("api_user"), "hello", model="qwen-72b")  # api_user: deepseek-* only
    assert response.status_code == 403
    assert response.json()["error"]["permission"] == "inference:invoke"
    assert gw.engines.sent == []


def test_the_articles_resource_patterns_name_and_prefix(tmp_path: Path, lab) -> None:
    # The article's example: data_analyst holds its actions on `model_v1` and `dataset_2023*`.
    roles = {**lab.access.roles}
    roles["api_user"] = roles["api_user"].model_copy(update={"permissions": [
        roles["api_user"].permissions[0].model_copy(update={"resources": ["model_v1", "dataset_2023*"]})]})
    access = lab.access.model_copy(update={"roles": roles})
    with rig(tmp_path, access, apps={"engine-a": create_standin("model_v1")}) as r:
        key = r.key("api_user")
        assert r.chat(key, "x", model="model_v1").status_code == 200
        assert r.chat(key, "x", model="model_v10").status_code == 403
        assert r.chat(key, "x", model="dataset_2023q4").status_code == 404  # allowed; the stand-in lacks it
        assert r.chat(key, "x", model="dataset_2022").status_code == 403
    assert matches("dataset_2023*", "dataset_2023") and not matches("dataset_2023*", "dataset_202")
    assert matches("any", "whatever") and not matches("model_v1", "model_v1x")


def test_administrator_endpoints_need_a_second_factor(gw: Rig) -> None:
    assert gw.client.get("/admin/keys", headers=gw.bearer(["security_admin"], amr=("pwd", "hwk"))).status_code == 200
    response = gw.client.get("/admin/keys", headers=gw.bearer(["security_admin"], amr=("pwd",)))
    assert response.status_code == 403
    assert response.json() == {"error": {"type": "forbidden", "message": "keys:manage needs a second factor (amr)",
                                         "permission": "keys:manage"}}
    assert gw.client.get("/admin/audit", headers=gw.bearer(["audit_admin"], amr=None)).status_code == 403


def test_an_api_key_never_opens_an_administrator_endpoint(gw: Rig) -> None:
    _, key = gw.store.issue("sec-key", "security_admin")  # the command refuses this; the store does not
    response = gw.client.get("/admin/keys", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert "second factor" in response.json()["error"]["message"]


def test_the_audit_administrator_reads_audit_records_and_nothing_else(gw: Rig) -> None:
    auditor = gw.bearer(["audit_admin"])
    assert gw.client.get("/admin/audit", headers=auditor).status_code == 200
    assert gw.client.get("/admin/keys", headers=auditor).status_code == 403
    assert gw.client.get("/metrics", headers=auditor).status_code == 403
    assert gw.chat(auditor).status_code == 403
    security = gw.bearer(["security_admin"])
    assert gw.client.get("/admin/audit", headers=security).status_code == 403


def test_a_token_claiming_two_administrator_roles_acts_in_neither(gw: Rig) -> None:
    both = gw.bearer(["security_admin", "audit_admin"])
    assert gw.client.get("/admin/keys", headers=both).status_code == 403
    assert gw.client.get("/admin/audit", headers=both).status_code == 403
    mixed = gw.bearer(["audit_admin", "api_user"])  # one administrator role beside a user role is not a clash
    assert gw.client.get("/admin/audit", headers=mixed).status_code == 200


def test_the_security_administrator_issues_and_revokes_keys_over_the_api(gw: Rig) -> None:
    admin = gw.bearer(["security_admin"])
    issued = gw.client.post("/admin/keys", headers=admin, json={"name": "billing", "role": "api_user"})
    assert issued.status_code == 201
    key = issued.json()["key"]
    assert key not in json.dumps(gw.client.get("/admin/keys", headers=admin).json())
    assert key not in gw.store.path.read_text()
    assert gw.chat({"Authorization": f"Bearer {key}"}).status_code == 200
    assert gw.client.post("/admin/keys", headers=admin, json={"name": "billing", "role": "api_user"}).status_code == 409
    assert gw.client.post("/admin/keys", headers=admin, json={"name": "boss", "role": "audit_admin"}).status_code == 400
    assert gw.client.delete(f"/admin/keys/{issued.json()['id']}", headers=admin).status_code == 200
    assert gw.chat({"Authorization": f"Bearer {key}"}).status_code == 401
    assert gw.client.delete("/admin/keys/000000000000", headers=admin).status_code == 404


# --- OIDC tokens -------------------------------------------------------------------------------------------

def test_rs256_and_es256_tokens_are_accepted(gw: Rig) -> None:
    assert gw.chat(gw.bearer(["api_user"], alg="RS256")).status_code == 200
    assert gw.chat(gw.bearer(["api_user"], alg="ES256")).status_code == 200


@pytest.mark.parametrize("change", ["aud", "iss", "exp", "no-exp", "no-sub"])
def test_a_token_with_a_wrong_claim_is_a_401(gw: Rig, change: str) -> None:
    claims = {"aud": {"aud": "someone-else"}, "iss": {"iss": "https://evil.example.test"},
              "exp": {"exp": int(time.time()) - 3600}, "no-exp": {"exp": None}, "no-sub": {"sub": None}}[change]
    assert gw.chat(gw.bearer(["api_user"], **claims)).status_code == 401


def _hs256(claims: dict, secret: bytes) -> str:
    """An HS256 JWT made by hand (PyJWT refuses to sign with a PEM key as the HMAC secret)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing}.{b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"


def test_hmac_none_and_foreign_keys_are_refused(gw: Rig, tmp_path: Path) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "roles": ["api_user"]}
    public_pem = gw.issuer.rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = [
        _hs256(claims, public_pem),  # the algorithm-confusion attack: the public key as an HMAC secret
        jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"}),
        jwt.encode(claims, Issuer(tmp_path / "other.json", "mallory").rsa_key, algorithm="RS256",
                   headers={"kid": "rsa-1"}),  # a key the issuer does not publish
        jwt.encode(claims, gw.issuer.rsa_key, algorithm="RS256", headers={"kid": "unknown"}),
        "not.a.jwt",
    ]
    for token in forged:
        assert gw.chat({"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_token_without_a_known_role_is_denied(gw: Rig) -> None:
    assert gw.chat(gw.bearer(["root"])).status_code == 403
    assert gw.chat(gw.bearer([])).status_code == 403


# --- the decisions themselves and the key store -----------------------------------------------------------------

def test_deny_by_default_for_an_action_no_role_grants(lab) -> None:
    authz = Authorizer(lab.access)
    everyone = Identity("token", "x", frozenset(AccessRole))
    assert not authz.decide(everyone, Requirement("inference:delete"), "anything").allowed
    assert authz.decide(None, Requirement("inference:invoke"), MODEL).status == 401


def test_an_access_section_without_the_action_denies_it(lab) -> None:
    roles = {role: grant.model_copy(update={"permissions": [p for p in grant.permissions
                                                            if p.action != "metrics:view"] or grant.permissions})
             for role, grant in lab.access.roles.items()}
    authz = Authorizer(Access(roles=roles, administrators=lab.access.administrators))
    analyst = Identity("key", "k", frozenset({AccessRole.data_analyst}))
    assert not authz.decide(analyst, Requirement("metrics:view"), "gateway").allowed


def test_the_key_store_keeps_only_hashes(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "state" / "keys.json")
    record, key = store.issue("billing", "api_user")
    text = store.path.read_text()
    assert key not in text and record.sha256 in text
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.lookup(key) == record
    assert KeyStore(store.path).lookup(key) == record  # read back from the file
    with pytest.raises(KeyStoreError):
        store.issue("billing", "api_user")
    with pytest.raises(KeyStoreError):
        store.issue("Not A Name", "api_user")


def test_a_broken_key_store_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(KeyStoreError, match="not a key store"):
        KeyStore(path).records()
