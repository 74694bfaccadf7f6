"""The project the gateway's container reads, as files: wherever the gateway's image runs (a pod of the serving
stack, a container beside the engine on an inference_local node), `podforge gateway serve` reads a project at
PROJECT_DIR (PODFORGE_PROJECT_DIR): a Pulumi.yaml, `Pulumi.<stack>.yaml` naming the spec, the spec, and the
issuer's JWKS file when `gateway.oidc.jwks` names one. Its key store and audit log live under STATE_DIR, a
volume that outlives the container (the audit log is kept `retention.audit_log_days`). docs/gateway.md,
"On Kubernetes" and "Beside the engine"."""

from __future__ import annotations

import json
from pathlib import Path

from components.spec import ClusterSpec

PROJECT_DIR = "/etc/podforge"
"""Where the container's `podforge` finds the project, read-only."""
STATE_DIR = "/var/lib/podforge-gateway"
"""The container's writable volume: the key store and the audit log."""
KEY_STORE = f"{STATE_DIR}/gateway-keys.json"
AUDIT_LOG = f"{STATE_DIR}/gateway-audit.jsonl"
SPEC_FILE = "spec.yaml"
JWKS_KEY = "oidc-jwks.json"
"""The JWKS file's key among the files (a ConfigMap key may not hold a `/`); it is written at its project path."""
UID = 1000
"""The image's user and group (`podforge`, not root)."""


def spec_text(spec: ClusterSpec, tls: bool) -> str:
    """The spec as the container reads it (JSON, which is YAML). `tls=False`: without `gateway.tls`, where a TLS
    ingress in front terminates TLS and the gateway holds no Vault token."""
    if not tls:
        spec = spec.model_copy(update={"gateway": spec.gateway.model_copy(update={"tls": None})})
    return json.dumps(spec.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"


def jwks_file(spec: ClusterSpec) -> str | None:
    """The project-relative JWKS file of `gateway.oidc` (None for none or an https:// URL): the container needs
    it at the same path."""
    oidc = spec.gateway.oidc
    if oidc is None or oidc.jwks.startswith("https://"):
        return None
    return oidc.jwks


def read_jwks(spec: ClusterSpec, root: Path) -> str | None:
    """The text of the JWKS file `gateway.oidc.jwks` names, read from the project `root`; None without one.
    OSError or UnicodeDecodeError when it cannot be read (each caller says so its own way)."""
    jwks = jwks_file(spec)
    return None if jwks is None else (root / jwks).read_text(encoding="utf-8")


def project_files(spec: ClusterSpec, stack: str, tls: bool, jwks_text: str | None = None) -> dict[str, str]:
    """Key → text of the project's files (the JWKS under JWKS_KEY; `file_paths` says where each goes)."""
    files = {"Pulumi.yaml": "name: podforge-gateway\nruntime: python\n",
             f"Pulumi.{stack}.yaml": f"config:\n  podforge:spec: {SPEC_FILE}\n",
             SPEC_FILE: spec_text(spec, tls)}
    if jwks_file(spec) is not None:
        if jwks_text is None:
            raise ValueError(f"gateway.oidc.jwks {jwks_file(spec)}: the gateway's container needs the file's text")
        files[JWKS_KEY] = jwks_text
    return files


def file_paths(spec: ClusterSpec, stack: str) -> dict[str, str]:
    """Key of `project_files` → its path relative to PROJECT_DIR."""
    paths = {k: k for k in ("Pulumi.yaml", f"Pulumi.{stack}.yaml", SPEC_FILE)}
    jwks = jwks_file(spec)
    if jwks is not None:
        paths[JWKS_KEY] = jwks
    return paths
