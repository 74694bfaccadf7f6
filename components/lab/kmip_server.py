"""The lab's KMIP server: PyKMIP on the bridge (10.199.77.1:5696 for the lab spec) standing in for Vault's
KMIP engine, with a server certificate and an array client certificate from the lab CA, client certificates
required. PyKMIP 0.11 speaks only TLS 1.2: the lab spec declares that exception (keys.vault.kmip), and a spec
that asks for a TLS 1.3 floor is refused here rather than served below it.
"""

from __future__ import annotations

import hashlib
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from components.lab.certs import CertFiles, fingerprint
from components.lab.errors import LabError
from components.spec import ClusterSpec


@dataclass(frozen=True)
class KmipFiles:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "server.conf"

    @property
    def tls(self) -> CertFiles:
        return CertFiles(self.dir / "server.pem", self.dir / "server.key")

    @property
    def client(self) -> CertFiles:
        """The certificate an array (or a test) presents to the KMIP server."""
        return CertFiles(self.dir / "client.pem", self.dir / "client.key")

    @property
    def policies(self) -> Path:
        return self.dir / "policies"

    @property
    def database(self) -> Path:
        return self.dir / "kmip.db"

    @property
    def server_log(self) -> Path:
        return self.dir / "server.log"


def listen_address(spec: ClusterSpec, bridge: str) -> tuple[str, int] | None:
    """The spec's KMIP listen address on the bridge, or None; LabError when its TLS floor is above PyKMIP's."""
    kmip = spec.keys.vault.kmip if spec.keys.vault else None
    if kmip is None:
        return None
    for addr in kmip.listen_addrs:
        host, _, port = str(addr).rpartition(":")
        if host == bridge:
            if kmip.tls_min_version != "tls12":
                raise LabError(f"keys.vault.kmip.tls_min_version: {kmip.tls_min_version} — the lab's KMIP server "
                               "(PyKMIP 0.11) speaks only TLS 1.2; declare tls12 with a tls_exception for the lab")
            return host, int(port)
    return None


def config_text(host: str, port: int, files: KmipFiles, ca: CertFiles) -> str:
    return "\n".join([
        "[server]", f"hostname={host}", f"port={port}", f"certificate_path={files.tls.cert}",
        f"key_path={files.tls.key}", f"ca_path={ca.cert}", "auth_suite=TLS1.2", f"policy_path={files.policies}",
        "enable_tls_client_auth=True", "logging_level=INFO", f"database_path={files.database}", ""])


def argv(files: KmipFiles) -> list[str]:
    return [str(Path(sys.executable).parent / "pykmip-server"), "-f", str(files.config), "-l", str(files.server_log)]


def recipe(config: str, files: KmipFiles, ca: CertFiles, host: str, port: int) -> dict[str, str]:
    return {"listen": f"{host}:{port}", "config": hashlib.sha256(config.encode()).hexdigest(),
            "cert": fingerprint(files.tls.cert), "ca": fingerprint(ca.cert)}


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
