"""The services `lab up` runs on the lab bridge for the hosts, each when the spec declares it on the bridge
address: the stand-in package repository, the Vault API (OpenBao), KMIP (PyKMIP) and the nodes' Redfish BMCs
(sushy-tools, when installed). Each is a detached process (components.lab.daemons) whose state lives in
STATE/services (0700), certificates from one lab CA (STATE/services/ca.pem) made at `lab up`; `lab down` stops
them and discards that directory.

`start` brings every service to its recipe without waiting; `wait` then waits until each answers, so their
start overlaps the hosts' boot. A service already running from the same recipe is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from components.lab import certs, kmip_server, redfish, repository, vault_api
from components.lab.daemons import Daemon
from components.lab.errors import LabError
from components.lab.layout import LabDirs
from components.paths import CODE_DIR, project_root
from components.spec import ClusterSpec

Progress = Callable[[str], None]
READY_TIMEOUT_S = 30.0
NAMES = ("repository", "vault", "kmip", "redfish")
# Part of every recipe: bump it when how a service is run changes, so the next `lab up` restarts it.
SERVICES_REVISION = "1"
# The bridge is on this machine: a proxy from the environment must not be asked for it.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Pending:
    """A service started now: how to tell it answers."""
    daemon: Daemon
    ready: Callable[[], bool]
    after: Callable[[], object] | None = None  # once it answers


def daemon(dirs: LabDirs, name: str) -> Daemon:
    # The marker is a path only this service's command line holds. PyKMIP takes seconds to stop on SIGTERM and
    # keeps nothing worth a clean stop: it gets SIGKILL.
    marker = str(dirs.repository) if name == "repository" else str(dirs.services / name)
    return Daemon(name, dirs.services, marker, signal.SIGKILL if name == "kmip" else signal.SIGTERM)


def ca_files(dirs: LabDirs) -> certs.CertFiles:
    return certs.CertFiles(dirs.services / "ca.pem", dirs.services / "ca.key")


def vault_files(dirs: LabDirs) -> vault_api.VaultFiles:
    return vault_api.VaultFiles(dirs.services / "vault")


def kmip_files(dirs: LabDirs) -> kmip_server.KmipFiles:
    return kmip_server.KmipFiles(dirs.services / "kmip")


def redfish_files(dirs: LabDirs) -> redfish.RedfishFiles:
    return redfish.RedfishFiles(dirs.services / "redfish")


def repository_address(spec: ClusterSpec, bridge: str) -> tuple[str, int] | None:
    """HOST, PORT the repository serves on: the port of the spec's package sources on the bridge address."""
    ports = {urlsplit(s.url).port or 80 for s in spec.software.sources
             if urlsplit(s.url).scheme == "http" and urlsplit(s.url).hostname == bridge}
    if len(ports) > 1:
        raise LabError(f"software.sources: the lab serves its package repository on one port of {bridge}, "
                       f"the sources name {', '.join(map(str, sorted(ports)))}")
    return (bridge, ports.pop()) if ports else None


def endpoints(spec: ClusterSpec, bridge: str) -> dict[str, tuple[str, int]]:
    """The services `lab up` runs for this spec: name → (host, port)."""
    found = {"repository": repository_address(spec, bridge), "kmip": kmip_server.listen_address(spec, bridge),
             "redfish": redfish.listen_address(spec, bridge) if redfish.installed() else None}
    vault = vault_api.listen_address(spec)
    found["vault"] = vault if vault and vault[0] == bridge else None
    return {name: addr for name, addr in found.items() if addr}


def _issue_if_stale(ca: certs.CertFiles, fresh_ca: bool, files: certs.CertFiles, name: str, *, server: bool = True,
                    address: str | None = None) -> None:
    """(Re)issue `files` from the lab CA when the CA is new, or they are missing or expire within a day."""
    if fresh_ca or not certs.current(files):
        certs.issue(ca, files, name, server=server, address=address)


def _base_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(CODE_DIR), os.environ.get("PYTHONPATH")]))
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": path,
            "HOME": os.environ.get("HOME", "/root")}


def _bring(d: Daemon, want: dict[str, str], argv: list[str], env: dict[str, str], cwd: Path,
           ready: Callable[[], bool], changed: list[str], pending: list[Pending], progress: Progress,
           after: Callable[[], object] | None = None) -> None:
    """Leave a service running from `want` alone; otherwise (re)start it."""
    want = {**want, "revision": SERVICES_REVISION}
    pid = d.pid()
    if pid is not None and d.recipe() == want:
        return
    if pid is not None:
        progress(f"services: {d.name} (pid {pid}) runs from an older recipe; restarting it")
        d.stop()
    if not os.access(argv[0], os.X_OK):
        raise LabError(f"services: {d.name} needs {argv[0]}, which is missing (make setup installs requirements.lock)")
    d.log.unlink(missing_ok=True)
    new = d.start(argv, want, env, cwd)
    changed.append(f"{d.name} started")
    progress(f"services: {d.name} starting on {want['listen']} (pid {new})")
    pending.append(Pending(d, ready, after))


def start(spec: ClusterSpec, dirs: LabDirs, bridge: str, progress: Progress) -> tuple[list[str], list[Pending]]:
    """Build what is missing and start what is not running; (what changed, services to wait for)."""
    changed: list[str] = []
    pending: list[Pending] = []
    wanted = endpoints(spec, bridge)
    dirs.services.mkdir(mode=0o700, parents=True, exist_ok=True)
    dirs.services.chmod(0o700)
    env = _base_env()
    for name in NAMES:
        if name not in wanted:  # the spec no longer declares it on the bridge
            stopped = daemon(dirs, name).stop()
            if stopped is not None:
                changed.append(f"{name} stopped")
                progress(f"services: {name} (pid {stopped}) stopped: the spec no longer declares it on {bridge}")

    if "repository" in wanted:
        host, port = wanted["repository"]
        if not repository.cached(dirs.repository, dirs.repository_stamp, spec):
            seconds = repository.build(dirs.repository, dirs.repository_stamp, spec)
            changed.append("repository built")
            progress(f"services: stand-in repository built in {seconds:.1f} s ({dirs.repository})")
        release = [f"http://{host}:{port}{urlsplit(s.url).path.rstrip('/')}/Release" for s in spec.software.sources
                   if urlsplit(s.url).hostname == host]
        _bring(daemon(dirs, "repository"), {"listen": f"{host}:{port}", "root": str(dirs.repository)},
               [sys.executable, "-m", "components.lab.repository", str(dirs.repository), host, str(port)], env,
               project_root(), partial(_all_ok, release), changed, pending, progress)

    if not {"vault", "kmip", "redfish"} & set(wanted):
        return changed, pending
    ca = ca_files(dirs)
    fresh_ca = not certs.current(ca)
    if fresh_ca:
        certs.make_ca(ca, f"podforge lab services CA ({bridge})")
        changed.append("services CA")
        progress(f"services: lab CA made ({ca.cert})")

    if "vault" in wanted:
        host, port = wanted["vault"]
        files = vault_files(dirs)
        files.dir.mkdir(mode=0o700, exist_ok=True)
        _issue_if_stale(ca, fresh_ca, files.tls, "podforge lab Vault API", address=host)
        files.dev_tls.mkdir(mode=0o700, exist_ok=True)
        token = vault_api.ensure_token(files)
        config = vault_api.config_text(spec, files)
        _write_if_changed(files.config, config)
        argv, venv = vault_api.argv_and_env(files, token, env)
        _bring(daemon(dirs, "vault"), vault_api.recipe(config, files, ca, token, host, port), argv, venv, files.dir,
               partial(vault_api.answers, host, port, ca.cert), changed, pending, progress,
               partial(vault_api.redact_log, daemon(dirs, "vault").log))

    if "kmip" in wanted:
        host, port = wanted["kmip"]
        kfiles = kmip_files(dirs)
        kfiles.dir.mkdir(mode=0o700, exist_ok=True)
        kfiles.policies.mkdir(exist_ok=True)
        _issue_if_stale(ca, fresh_ca, kfiles.tls, "podforge lab KMIP server", address=host)
        _issue_if_stale(ca, fresh_ca, kfiles.client, "podforge lab KMIP client", server=False)
        config = kmip_server.config_text(host, port, kfiles, ca)
        _write_if_changed(kfiles.config, config)
        _bring(daemon(dirs, "kmip"), kmip_server.recipe(config, kfiles, ca, host, port), kmip_server.argv(kfiles), env,
               kfiles.dir, partial(kmip_server.answers, host, port), changed, pending, progress)

    if "redfish" in wanted:
        host, port = wanted["redfish"]
        rfiles = redfish_files(dirs)
        rfiles.dir.mkdir(mode=0o700, exist_ok=True)
        rfiles.state.mkdir(exist_ok=True)
        _issue_if_stale(ca, fresh_ca, rfiles.tls, "podforge lab Redfish BMCs", address=host)
        config = redfish.config_text(spec, host, rfiles)
        _write_if_changed(rfiles.config, config)
        _bring(daemon(dirs, "redfish"), redfish.recipe(config, rfiles, ca, host, port), redfish.argv(rfiles, host, port),
               env, project_root(), partial(redfish.answers, host, port, ca.cert), changed, pending, progress)
    return changed, pending


def wait(pending: list[Pending], progress: Progress) -> None:
    for item in pending:
        seconds = item.daemon.wait_ready(item.ready, READY_TIMEOUT_S)
        if item.after is not None:
            item.after()
        progress(f"services: {item.daemon.name} answering ({seconds:.1f} s)")


def running(dirs: LabDirs) -> dict[str, tuple[str, int]]:
    """Services of this state directory that run now: name → (listen address, pid)."""
    found = {}
    for name in NAMES:
        d = daemon(dirs, name)
        pid = d.pid()
        if pid is not None:
            found[name] = ((d.recipe() or {}).get("listen", "?"), pid)
    return found


def stop(dirs: LabDirs, progress: Progress) -> list[str]:
    """Stop every service and discard STATE/services (its CA, keys, token, audit log); the repository cache stays."""
    removed = []
    for name in NAMES:
        pid = daemon(dirs, name).stop()
        if pid is not None:
            removed.append(f"{name} service {pid}")
    if dirs.services.exists():
        shutil.rmtree(dirs.services)
        removed.append(f"services state {dirs.services}")
    return removed


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _all_ok(urls: list[str]) -> bool:
    return all(_http_ok(url) for url in urls)


def _http_ok(url: str) -> bool:
    try:
        with NO_PROXY.open(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
