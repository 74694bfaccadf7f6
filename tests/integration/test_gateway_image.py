"""The gateway's OCI image (build/gateway-image, written by `make setup`: tools/build-gateway-image.sh) run for real:
unpacked by umoci (an independent reader of the layout, which also turns the image config into the runtime config)
into an OCI runtime bundle, and run by runc, a real OCI runtime, as the role and the Kubernetes Deployment run it:
as uid 1000 on a read-only root, with a tmpfs at /tmp, the project mounted read-only at /etc/podforge and the state
volume at /var/lib/podforge-gateway. The only edits to umoci's config.json: the host's network namespace is shared
(loopback between the test and the two containers), the arguments, those mounts, no terminal.

In the containers: `podforge engine standin` and `podforge gateway serve --stack lab` in front of it; over loopback:
/health, a chat completion whose mobile number reaches the stand-in masked, the audit log in the state volume.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from components.oci.layout import read_image
from components.render import gateway_project
from components.spec.loader import load_stack_spec
from tests.integration.servers import LOOPBACK, free_port
from tests.support.cli_process import wait_healthy
from tests.unit.plan_roots import CHECKOUT

pytestmark = pytest.mark.servers
IMAGE = CHECKOUT / "build" / "gateway-image"
MODEL = "deepseek-ai/DeepSeek-R1"
PHONE = "13812345678"

if not (IMAGE / "index.json").is_file():
    pytest.skip(f"no gateway image at {IMAGE.relative_to(CHECKOUT)}: `make setup` builds it as root "
                "(GATEWAY_IMAGE=build); with GATEWAY_IMAGE=skip this test skips", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("umoci unpack and runc run need root", allow_module_level=True)
for tool in ("umoci", "runc"):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (make setup installs it as root)", allow_module_level=True)


def image_config() -> dict:
    return read_image(IMAGE, "latest").config


@dataclass
class Container:
    id: str
    proc: subprocess.Popen
    log: Path

    def pid(self) -> int:
        state = subprocess.run(["runc", "state", self.id], capture_output=True, text=True, timeout=30, check=True)
        return int(json.loads(state.stdout)["pid"])

    def exec(self, *args: str, user: str = "1000:1000") -> subprocess.CompletedProcess:
        return subprocess.run(["runc", "exec", "--user", user, self.id, *args], capture_output=True, text=True,
                              timeout=60)


def run_container(bundle_base: dict, rootfs: Path, work: Path, name: str, args: list[str],
                  mounts: list[dict]) -> Container:
    """A bundle of its own (config.json) over the shared, read-only rootfs, run by `runc run` in the foreground."""
    bundle = work / f"bundle-{name}"
    bundle.mkdir()
    config = copy.deepcopy(bundle_base)
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
    config["mounts"] = [*config["mounts"],
                        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                         "options": ["nosuid", "nodev", "mode=1777", "size=64m"]}, *mounts]
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    cid = f"podforge-image-test-{os.getpid()}-{name}"
    log = work / f"{name}.log"
    proc = subprocess.Popen(["runc", "run", "--bundle", str(bundle), cid], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Container(cid, proc, log)


def remove(container: Container) -> None:
    subprocess.run(["runc", "kill", container.id, "KILL"], capture_output=True, timeout=30)
    try:
        container.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        container.proc.kill()
    subprocess.run(["runc", "delete", "--force", container.id], capture_output=True, timeout=30)


@dataclass
class Running:
    gateway: str
    engine: str
    key: str
    bundle_config: dict
    rootfs: Path
    state: Path
    containers: dict[str, Container]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("gateway-image")
    unpacked = work / "unpacked"
    done = subprocess.run(["umoci", "unpack", "--image", f"{IMAGE}:latest", str(unpacked)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    bundle_config = json.loads((unpacked / "config.json").read_text())

    # The project the container reads: the files the serving stack's ConfigMap holds (components/render/gateway_project)
    project = work / "project"
    project.mkdir()
    _, loaded = load_stack_spec("lab", CHECKOUT)
    files = gateway_project.project_files(loaded.spec, "lab", tls=False)
    for key, rel in gateway_project.file_paths(loaded.spec, "lab").items():
        (project / rel).write_text(files[key])
    state = work / "state"
    state.mkdir()
    issued = subprocess.run([sys.executable, "-m", "components.cli", "--project-dir", str(project), "gateway", "key",
                             "--stack", "lab", "--role", "api_user", "--name", "image-test",
                             "--key-store", str(state / "gateway-keys.json")],
                            cwd=CHECKOUT, capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    for path in [state, *state.rglob("*")]:
        os.chown(path, gateway_project.UID, gateway_project.UID)

    engine_port, gateway_port = free_port(), free_port()
    engine, gateway = f"http://{LOOPBACK}:{engine_port}", f"http://{LOOPBACK}:{gateway_port}"
    rootfs = unpacked / "rootfs"
    mounts = [{"destination": gateway_project.PROJECT_DIR, "type": "bind", "source": str(project),
               "options": ["rbind", "ro"]},
              {"destination": gateway_project.STATE_DIR, "type": "bind", "source": str(state),
               "options": ["rbind", "rw"]}]
    containers: dict[str, Container] = {}
    try:
        containers["engine"] = run_container(bundle_config, rootfs, work, "engine",
                                             ["podforge", "engine", "standin", "--listen", f"{LOOPBACK}:{engine_port}"],
                                             [])
        wait_healthy(engine, containers["engine"].proc, containers["engine"].log, timeout=60)
        containers["gateway"] = run_container(
            bundle_config, rootfs, work, "gateway",
            ["podforge", "gateway", "serve", "--stack", "lab", "--listen", f"{LOOPBACK}:{gateway_port}",
             "--engine", engine, "--key-store", gateway_project.KEY_STORE, "--audit-log", gateway_project.AUDIT_LOG],
            mounts)
        wait_healthy(gateway, containers["gateway"].proc, containers["gateway"].log, timeout=60)
        yield Running(gateway, engine, issued.stdout.strip(), bundle_config, rootfs, state, containers)
    finally:
        for container in containers.values():
            remove(container)
        shutil.rmtree(unpacked, ignore_errors=True)  # a few hundred MB


def test_the_image_config_runs_podforge_as_1000() -> None:
    config = image_config()["config"]
    assert config["Entrypoint"] == ["podforge"]
    assert config["User"] == "1000:1000"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].split(":")[0] == "/opt/podforge/bin"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PODFORGE_PROJECT_DIR"] == gateway_project.PROJECT_DIR
    version = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
    assert config["Labels"]["org.opencontainers.image.version"] == version
    assert len(image_config()["rootfs"]["diff_ids"]) == 3


def test_umoci_turns_the_image_config_into_the_runtime_config(running: Running) -> None:
    process = running.bundle_config["process"]
    assert (process["user"]["uid"], process["user"]["gid"]) == (1000, 1000)
    assert process["args"] == ["podforge", "--help"]
    assert "PYTHONDONTWRITEBYTECODE=1" in process["env"]


def test_the_gateway_in_the_image_answers_health(running: Running) -> None:
    assert httpx.get(f"{running.gateway}/health", timeout=10.0).status_code == 200


def test_a_chat_completion_through_the_image_is_desensitized(running: Running) -> None:
    response = httpx.post(f"{running.gateway}/v1/chat/completions", timeout=30.0,
                          headers={"Authorization": f"Bearer {running.key}"},
                          json={"model": MODEL, "messages": [{"role": "user", "content": f"call me at {PHONE}"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "call me at [mobile]"  # what reached the stand-in, echoed
    assert body["system_fingerprint"] == "podforge-standin"
    audit = list(running.state.glob("gateway-audit*.jsonl"))
    assert audit, "the audit log is written to the state volume"
    assert all(f.stat().st_uid == 1000 for f in audit)
    assert PHONE not in "".join(f.read_text() for f in audit)


def test_the_processes_run_as_1000_on_a_read_only_root(running: Running) -> None:
    for container in running.containers.values():
        status = Path(f"/proc/{container.pid()}/status").read_text()
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        gids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Gid:"))
        assert set(uids) == {"1000"} and set(gids) == {"1000"}
        mounts = Path(f"/proc/{container.pid()}/mountinfo").read_text().splitlines()
        root = [line.split() for line in mounts if line.split()[4] == "/"]
        assert root and root[-1][5].split(",")[0] == "ro", root
    gateway = running.containers["gateway"]
    as_root = gateway.exec("/bin/sh", "-c", "echo x > /opt/podforge/written", user="0:0")
    assert as_root.returncode != 0 and "Read-only file system" in as_root.stderr
    whoami = gateway.exec("/opt/podforge/bin/python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert whoami.stdout.split() == ["1000", "1000"], whoami.stderr


def test_nothing_in_the_image_belongs_to_its_user(running: Running) -> None:
    """The image needs no directory of its own to write to: what it writes goes to /tmp and the state volume."""
    owned = [str(p) for p in running.rootfs.rglob("*") if p.lstat().st_uid == 1000 or p.lstat().st_gid == 1000]
    assert owned == []
    passwd = (running.rootfs / "etc/passwd").read_text().splitlines()
    assert "podforge:x:1000:1000:podforge gateway:/tmp:/usr/sbin/nologin" in passwd
    assert not list((running.rootfs / "opt/podforge").rglob("pip")), "no pip in the image"
