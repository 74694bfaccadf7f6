"""`podforge gateway key|keys|revoke|serve` and `podforge engine standin`: keys shown once and stored hashed,
bad input refused with one line and exit 2; the spec's gateway section and its defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.cli import main
from components.gateway.serve import ServeError, check_engine_url, engines_of, parse_listen
from components.spec.gateway import Gateway


def test_a_key_is_printed_once_and_stored_hashed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "keys.json"
    assert main(["gateway", "key", "--stack", "lab", "--role", "api_user", "--name", "billing",
                 "--key-store", str(store)]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("pfk_") and key not in store.read_text()
    assert "shown only now" in out.err
    assert main(["gateway", "keys", "--stack", "lab", "--key-store", str(store)]) == 0
    listing = capsys.readouterr().out
    assert "billing" in listing and "api_user" in listing and key not in listing
    key_id = json.loads(store.read_text())["keys"][0]["id"]
    assert main(["gateway", "revoke", "--stack", "lab", key_id, "--key-store", str(store)]) == 0
    assert json.loads(store.read_text())["keys"] == []


def test_a_duplicate_name_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "keys.json")
    main(["gateway", "key", "--stack", "lab", "--role", "api_user", "--name", "app", "--key-store", store])
    capsys.readouterr()
    assert main(["gateway", "key", "--stack", "lab", "--role", "api_user", "--name", "app", "--key-store", store]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("podforge gateway: key name 'app'")


def test_administrator_roles_get_no_api_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "key", "--stack", "lab", "--role", "audit_admin", "--name", "x",
              "--key-store", str(tmp_path / "k.json")])
    assert exited.value.code == 2
    assert not (tmp_path / "k.json").exists()


def test_revoking_an_unknown_key_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "revoke", "--stack", "lab", "abc", "--key-store", str(tmp_path / "k.json")]) == 2
    assert "no key with id 'abc'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["gateway", "serve", "--stack", "lab", "--listen", "8080", "--engine", "http://127.0.0.1:8000"], "--listen '8080'"),
    (["gateway", "serve", "--stack", "lab", "--listen", "127.0.0.1:99999", "--engine", "http://127.0.0.1:8000"],
     "a port from 1 to 65535"),
    (["gateway", "serve", "--stack", "lab", "--engine", "ftp://x"], "--engine 'ftp://x'"),
    (["gateway", "serve", "--stack", "lab", "--engine", "http://127.0.0.1:8000/v1"], "without a path"),
    (["engine", "standin", "--listen", "localhost"], "--listen 'localhost'"),
])
def test_bad_serve_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080").url == "http://127.0.0.1:8080"
    assert parse_listen("[::1]:8080").host == "::1"
    assert parse_listen("[::1]:8080").url == "http://[::1]:8080"
    with pytest.raises(ServeError):
        parse_listen("127.0.0.1")
    assert check_engine_url("http://10.0.0.1:8000/") == "http://10.0.0.1:8000"


def test_engines_default_to_the_serving_port(superpod, lab) -> None:
    assert engines_of(superpod, None) == [f"http://127.0.0.1:{superpod.serving.port}"]
    assert engines_of(lab, ["http://127.0.0.1:9000"]) == ["http://127.0.0.1:9000"]
    named = lab.model_copy(update={"gateway": Gateway(engines=["http://10.0.0.5:8000"])})
    assert engines_of(named, None) == ["http://10.0.0.5:8000"]
    with pytest.raises(ServeError, match="no engine"):
        engines_of(lab.model_copy(update={"serving": None}), None)  # nothing served, no engine named


def test_the_gateway_section_has_defaults_every_spec_keeps(lab, superpod) -> None:
    for spec in (lab, superpod):
        assert spec.gateway == Gateway()
    limits = Gateway().limits
    assert (limits.max_body_bytes, limits.queue_size, limits.engine_concurrency) == (1_048_576, 64, 32)


def test_an_unknown_desensitization_category_is_refused_before_serving(tmp_path: Path, lab) -> None:
    from components.gateway.serve import runtime
    spec = lab.model_copy(update={"gateway": Gateway(desensitize={"api_user": {"shoe_size": "mask"}})})
    with pytest.raises(ServeError, match=r"gateway\.desensitize\.api_user"):
        runtime(spec, tmp_path, "lab", ["http://127.0.0.1:8000"])
