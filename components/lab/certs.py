"""Certificates for the services the lab runs on its bridge (Vault API, KMIP): one lab CA made at `lab up`,
and leaf certificates it signs for the bridge address. Private keys are written 0600; `lab down` discards them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 30
RENEW_BEFORE = dt.timedelta(days=1)  # a certificate closer than this to its end is made again at `lab up`


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def write_private(path: Path, data: bytes) -> None:
    """Write a private key so that it is never readable by anyone else, not even for a moment."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _new_key() -> rsa.RSAPrivateKey:
    # RSA 2048: what every client of these services accepts (PyKMIP's TLS 1.2 suite, hvac, curl, APT).
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def current(files: CertFiles) -> bool:
    """Both files exist and the certificate is valid for at least another day."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    except (OSError, ValueError):
        return False
    return files.key.exists() and cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE


def make_ca(files: CertFiles, common_name: str) -> None:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue(ca: CertFiles, files: CertFiles, common_name: str, *, server: bool, address: str | None = None) -> None:
    """A leaf signed by the lab CA: serverAuth with the bridge address as IP SAN, or clientAuth."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(ca_cert.not_valid_after_utc)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if address is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                                        critical=False)
    write_private(files.key, _key_pem(key))
    files.cert.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def fingerprint(path: Path) -> str:
    """SHA-256 of a certificate: a service restarts when the certificate it was started with changed."""
    return x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()
