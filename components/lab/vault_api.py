"""The lab's Vault API: OpenBao in dev mode on the bridge (https://10.199.77.1:8200 for the lab spec), with
the TLS listener and the file audit device rendered by components.vault.server_config from the spec, a
certificate from the lab CA, and a root token made at `lab up`, stored 0600 in STATE/services/vault/root-token.

Dev mode keeps everything in memory: `lab down` (or a restart) forgets every mount, key and policy.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.lab.certs import CertFiles, fingerprint, write_private
from components.spec import ClusterSpec
from components.vault.server_config import audit_stanza, listener_stanza

# Dev mode always opens its own listener too: kept on loopback, with TLS (bao's own throwaway certificate).
DEV_LISTEN = "127.0.0.1:8210"
SECRET_LINE = re.compile(r"^(Unseal Key|Root Token): .*$", re.MULTILINE)


@dataclass(frozen=True)
class VaultFiles:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "bao.hcl"

    @property
    def tls(self) -> CertFiles:
        return CertFiles(self.dir / "vault.pem", self.dir / "vault.key")

    @property
    def token(self) -> Path:
        return self.dir / "root-token"

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    @property
    def dev_tls(self) -> Path:
        return self.dir / "dev-tls"


def listen_address(spec: ClusterSpec) -> tuple[str, int] | None:
    """HOST, PORT of the spec's Vault API, or None when the spec declares none."""
    if spec.keys.vault is None:
        return None
    parts = urlsplit(spec.keys.vault.address)
    return parts.hostname or "", parts.port or 8200


def audit_inputs(spec: ClusterSpec) -> dict[str, Any]:
    """The file audit device VaultKmip declares (components/keys.py), in its declared form; a unit test holds
    the two equal."""
    assert spec.keys.vault is not None
    return {"type": "file", "path": "file", "options": {"file_path": spec.keys.vault.audit_log_path}}


def config_text(spec: ClusterSpec, files: VaultFiles) -> str:
    assert spec.keys.vault is not None
    host, port = listen_address(spec)  # type: ignore[misc]
    return (listener_stanza(spec.keys.vault, f"{host}:{port}", str(files.tls.cert), str(files.tls.key))
            + audit_stanza(audit_inputs(spec), str(files.audit_log)))


def ensure_token(files: VaultFiles) -> str:
    """The dev root token, made once per lab up after a down; never on a command line, only in this 0600 file."""
    if not files.token.exists():
        write_private(files.token, ("lab-root-" + secrets.token_hex(16)).encode())
    return files.token.read_text().strip()


def argv_and_env(files: VaultFiles, token: str, base_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    bao = str(Path(sys.executable).parent / "bao")
    argv = [bao, "server", "-dev", "-dev-no-store-token", "-dev-tls", f"-dev-tls-cert-dir={files.dev_tls}",
            f"-dev-listen-address={DEV_LISTEN}", f"-config={files.config}"]
    env = {k: v for k, v in base_env.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["BAO_DEV_ROOT_TOKEN_ID"] = token  # the environment, not argv: /proc/PID/cmdline is world-readable
    return argv, env


def recipe(config: str, files: VaultFiles, ca: CertFiles, token: str, host: str, port: int) -> dict[str, str]:
    return {"listen": f"{host}:{port}", "config": hashlib.sha256(config.encode()).hexdigest(),
            "cert": fingerprint(files.tls.cert), "ca": fingerprint(ca.cert),
            "token": hashlib.sha256(token.encode()).hexdigest()}


def redact_log(log: Path, timeout: float = 3.0) -> bool:
    """Dev mode prints its unseal key and root token in its start banner: blank them in the log once printed
    (the token's one copy stays in root-token). True when the banner was found and redacted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if SECRET_LINE.search(text):
            # bao appends (O_APPEND): rewriting in place cannot interleave with its next line, only precede it.
            log.write_text(SECRET_LINE.sub(lambda m: f"{m.group(1)}: (redacted by podforge lab up)", text))
            return True
        time.sleep(0.05)
    return False


def answers(host: str, port: int, ca: Path) -> bool:
    """sys/health answers 200 (unsealed, active) over TLS checked against the lab CA."""
    context = ssl.create_default_context(cafile=str(ca))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(f"https://{host}:{port}/v1/sys/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False
