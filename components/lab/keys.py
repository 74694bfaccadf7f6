"""SSH keys of the lab: the automation key pair (root on every host) and one host key per host, generated
here, never copied between hosts, and pinned in `.lab/known_hosts` under each host's management address."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def new_ed25519(comment: str) -> tuple[bytes, str]:
    """A fresh Ed25519 key: (private key in OpenSSH format, public key line `ssh-ed25519 BASE64 COMMENT`)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def ensure_key_pair(private: Path, public: Path, comment: str) -> bool:
    """Create the key pair when either half is missing; True when it was created."""
    if private.exists() and public.exists():
        return False
    data, line = new_ed25519(comment)
    write_private(private, data)
    public.write_text(line + "\n")
    return True


def public_key_of(line: str) -> str:
    """`TYPE BASE64` of a public key line (the comment dropped)."""
    kind, blob = line.split()[:2]
    return f"{kind} {blob}"


def known_hosts_text(entries: list[tuple[str, str]]) -> str:
    """known_hosts lines, one per (address, public key line), in the given order."""
    return "".join(f"{address} {public_key_of(key)}\n" for address, key in entries)
