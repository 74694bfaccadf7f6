"""The gateway beside the engine on an inference_local node: the host vars carry the image, where it listens and
the project files its container reads (only on inference_local nodes, only with gateway.image), and the
inference_local role installs the project, the state directory and a unit running the image in front of the
engine, which then publishes its API on loopback only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.host import host_views
from components.render import gateway_project as project
from components.spec import load_stack_spec
from components.spec.gateway import GatewayTls
from components.spec.nodes import NodeRole
from tests.support.role_check import run_role

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "registry.bank.internal/podforge/gateway:0.9@sha256:" + "0123456789abcdef" * 4


def _spec(**gateway: Any):
    spec = load_stack_spec("superpod")[1].spec
    return spec.model_copy(update={"gateway": spec.gateway.model_copy(update={"image": IMAGE, **gateway})})


def test_only_inference_local_nodes_get_the_gateway_and_only_with_an_image() -> None:
    spec = _spec(listen="0.0.0.0:8443")
    local = {n.hostname for n in spec.nodes_with(NodeRole.inference_local)}
    assert local  # the superpod declares a local-inference node
    views = host_views(spec, ROOT)
    carrying = {h for h, v in views.items() if "podforge_gateway" in v.host_vars()}
    assert carrying == local
    plain = load_stack_spec("superpod")[1].spec  # no gateway.image
    assert not any("podforge_gateway" in v.host_vars() for v in host_views(plain, ROOT).values())


def test_the_project_files_hold_the_whole_spec_with_its_tls() -> None:
    tls = GatewayTls(common_name="gateway.bank.internal", ttl="72h")
    spec = _spec(listen="0.0.0.0:8443", tls=tls)
    (host,) = [v for v in host_views(spec, ROOT).values() if "inference_local" in v.roles]
    g = host.host_vars()["podforge_gateway"]
    assert (g["image"], g["listen"], g["stack"], g["tls"], g["uid"]) == (IMAGE, "0.0.0.0:8443", spec.site.name,
                                                                         True, 1000)
    files = {f["path"]: f["content"] for f in g["files"]}
    assert set(files) == {"Pulumi.yaml", f"Pulumi.{spec.site.name}.yaml", project.SPEC_FILE}
    assert yaml.safe_load(files[f"Pulumi.{spec.site.name}.yaml"]) == {"config": {"podforge:spec": "spec.yaml"}}
    read_back = json.loads(files[project.SPEC_FILE])
    assert read_back == spec.model_dump(mode="json")  # TLS kept: no ingress in front of a local gateway
    assert read_back["gateway"]["tls"]["common_name"] == "gateway.bank.internal"
    assert g["missing"] == []


def _role_diffs(tmp: Path, variables: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """ansible-playbook --check --diff applying inference_local on localhost; the result and the text each
    task would write (keyed by task name, and `name: path` for the items of a loop)."""
    result = run_role(tmp, "inference_local", variables, diff=True)
    written: dict[str, str] = {}
    for task in result["plays"][0]["tasks"]:
        res = task["hosts"].get("localhost", {})
        name = task["task"]["name"].split(" : ", 1)[-1]
        for item in res.get("results", [res]):
            diffs = item.get("diff") or []
            for diff in diffs if isinstance(diffs, list) else [diffs]:
                if "after" in diff:
                    label = item["item"]["path"] if isinstance(item.get("item"), dict) else None
                    written[f"{name}: {label}" if label else name] = diff["after"]
    return result, written


SERVING = {"engine": "vllm", "image": "vllm/vllm-openai:v0.6.3", "tensor_parallel_size": 8, "max_model_len": 65536,
           "port": 8000, "model": {"name": "deepseek-ai/DeepSeek-R1", "export": "flash/models", "path": "deepseek-r1",
                                   "max_position_embeddings": 163840}}


def _variables(tmp: Path, gateway: dict[str, Any]) -> dict[str, Any]:
    return {"podforge_serving": SERVING, "podforge_sku": {"gpu_count": 8},
            "podforge_mounts": [{"export": "flash/models", "mount_point": "/mnt/models"}],
            "podforge_gateway": gateway, "inference_local_simulated": True,
            "inference_local_unit_dir": str(tmp / "units"),
            "inference_local_gateway_project_dir": str(tmp / "project"),
            "inference_local_gateway_state_dir": str(tmp / "state")}


def test_the_role_runs_the_gateway_image_in_front_of_the_engine(tmp_path: Path) -> None:
    spec = _spec(listen="0.0.0.0:8443")
    (host,) = [v for v in host_views(spec, ROOT).values() if "inference_local" in v.roles]
    gateway = host.host_vars()["podforge_gateway"]
    result, written = _role_diffs(tmp_path, _variables(tmp_path, gateway))
    assert result["stats"]["localhost"]["failures"] == 0, result["stats"]
    unit = written["Install the gateway's systemd unit"]
    (start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    argv = start.removeprefix("ExecStart=").split()
    image_at = argv.index(IMAGE)
    options, command = argv[:image_at], argv[image_at + 1:]
    assert options[:3] == ["/usr/bin/docker", "run", "--rm"]
    for flag in ("--read-only", "--network"):
        assert flag in options
    assert options[options.index("--user") + 1] == "1000:1000"
    assert options[options.index("--cap-drop") + 1] == "ALL"
    assert f"{tmp_path / 'project'}:{project.PROJECT_DIR}:ro" in options
    assert f"{tmp_path / 'state'}:{project.STATE_DIR}" in options
    assert command[:2] == ["gateway", "serve"]
    assert command[command.index("--engine") + 1] == "http://127.0.0.1:8000"
    assert command[command.index("--listen") + 1] == "0.0.0.0:8443"
    assert command[command.index("--stack") + 1] == spec.site.name
    assert "--tls-token-file" not in command  # no gateway.tls in this spec
    # Behind the gateway the engine's API is on loopback only.
    engine = written["Install the engine's systemd unit"]
    assert "--publish 127.0.0.1:8000:8000 " in engine
    # The project the container reads, as the host vars give it.
    files = {f["path"]: f["content"] for f in gateway["files"]}
    for path, text in files.items():
        assert written[f"Write the project the gateway reads (Pulumi.yaml, the stack's settings, the spec): {path}"] == text


def test_without_a_gateway_the_engine_publishes_on_every_address(tmp_path: Path) -> None:
    result, written = _role_diffs(tmp_path, _variables(tmp_path, {}))
    assert result["stats"]["localhost"]["failures"] == 0, result["stats"]
    engine = written["Install the engine's systemd unit"]
    assert "--publish 8000:8000 " in engine
    assert "Install the gateway's systemd unit" not in written


def test_a_jwks_file_that_cannot_be_read_stops_the_role_before_any_change(tmp_path: Path) -> None:
    from components.spec.gateway import GatewayOidc

    spec = _spec(oidc=GatewayOidc(issuer="https://sso.bank.internal", audience="podforge-gateway",
                                  jwks="keys/absent-jwks.json"))
    (host,) = [v for v in host_views(spec, tmp_path).values() if "inference_local" in v.roles]
    gateway = host.host_vars()["podforge_gateway"]
    assert gateway["missing"] == ["keys/absent-jwks.json"]
    result, written = _role_diffs(tmp_path, _variables(tmp_path, gateway))
    assert (result["stats"]["localhost"]["failures"], result["stats"]["localhost"]["changed"]) == (1, 0)
    assert written == {}
    # With the file in the project it is one of the files the container reads, at its project path.
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "absent-jwks.json").write_text('{"keys": []}')
    (host,) = [v for v in host_views(spec, tmp_path).values() if "inference_local" in v.roles]
    files = {f["path"]: f["content"] for f in host.host_vars()["podforge_gateway"]["files"]}
    assert files["keys/absent-jwks.json"] == '{"keys": []}'
