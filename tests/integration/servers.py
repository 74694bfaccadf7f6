"""Real local servers for integration tests: OpenBao (Vault API) and PyKMIP, on fresh 127.0.0.1 ports.

Each server runs in its own process group and is killed as a group on exit (PyKMIP takes 5-9 s to stop on
SIGTERM, so it gets SIGKILL). Certificates are made here, at test time, in the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.vault.server_config import audit_stanza

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _wait(ready, proc: subprocess.Popen, what: str, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(0.05)
    _kill_group(proc)
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s: {log.read_text()[-2000:]}")


# --- OpenBao --------------------------------------------------------------------------------------------


@dataclass
class OpenBao:
    address: str
    token: str
    audit_log: Path
    log: Path
    process: subprocess.Popen


@contextmanager
def openbao(tmp: Path, audit_inputs: dict | None = None, extra_config: str = "") -> Iterator[OpenBao]:
    """`bao server -dev` on a fresh port with a fresh root token.

    With `audit_inputs` (a declared `vault.Audit`), its config file declares that audit device, writing to
    the tmp dir; `extra_config` is appended (e.g. a TLS listener).
    """
    token = "planted-root-" + secrets.token_hex(12)  # distinctive, so tests can search logs for it
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"http://{LOOPBACK}:{port}"
    audit_log, log = tmp / "audit.log", tmp / "bao.log"
    cmd = [str(BIN / "bao"), "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address={LOOPBACK}:{port}"]
    config_text = (audit_stanza(audit_inputs, str(audit_log)) if audit_inputs is not None else "") + extra_config
    if config_text:
        config = tmp / "bao.hcl"
        config.write_text(config_text)
        cmd.append(f"-config={config}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{address}/v1/sys/health", timeout=0.5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        _wait(ready, proc, "bao server", log)
        yield OpenBao(address, token, audit_log, log, proc)
    finally:
        _kill_group(proc, signal.SIGTERM)


# --- Certificates ---------------------------------------------------------------------------------------


@dataclass
class Issued:
    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate
    key: object


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(common_name: str) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), cert, key)


def issue(ca: Issued, common_name: str, *, server: bool, ttl_seconds: int = 86400, key_type: str = "rsa",
          key_bits: int = 2048) -> Issued:
    """A leaf certificate signed by `ca`: SAN IP 127.0.0.1, EKU serverAuth or clientAuth."""
    key = ec.generate_private_key(ec.SECP256R1() if key_bits == 256 else ec.SECP384R1()) if key_type == "ec" \
        else rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    now = dt.datetime.now(dt.UTC)
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(seconds=ttl_seconds))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), cert, key)


def write_private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


# --- PyKMIP ---------------------------------------------------------------------------------------------


@dataclass
class PyKmip:
    host: str
    port: int
    ca_path: Path
    log: Path
    process: subprocess.Popen


def _accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def pykmip_server(tmp: Path, ca: Issued) -> Iterator[PyKmip]:
    """PyKMIP's server (TLS 1.2 only, client certificates required) with a server certificate from `ca`."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = issue(ca, "kmip-server", server=True)
    ca_path = tmp / "kmip-ca.pem"
    ca_path.write_bytes(ca.cert_pem)
    (tmp / "server.pem").write_bytes(server.cert_pem)
    write_private(tmp / "server.key", server.key_pem)
    (tmp / "policies").mkdir(exist_ok=True)
    conf, log = tmp / "server.conf", tmp / "server.log"
    conf.write_text("\n".join([
        "[server]", f"hostname={LOOPBACK}", f"port={port}", f"certificate_path={tmp / 'server.pem'}",
        f"key_path={tmp / 'server.key'}", f"ca_path={ca_path}", "auth_suite=TLS1.2",
        f"policy_path={tmp / 'policies'}", "enable_tls_client_auth=True", "logging_level=INFO",
        f"database_path={tmp / 'kmip.db'}", ""]))
    with (tmp / "stdout.log").open("wb") as out:
        proc = subprocess.Popen([str(BIN / "pykmip-server"), "-f", str(conf), "-l", str(log)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    try:
        _wait(lambda: _accepts_tcp(port), proc, "pykmip-server", tmp / "stdout.log", timeout=30)
        yield PyKmip(LOOPBACK, port, ca_path, log, proc)
    finally:
        _kill_group(proc, signal.SIGKILL)
