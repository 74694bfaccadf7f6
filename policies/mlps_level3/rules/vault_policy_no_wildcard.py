"""Vault policies of the access model grant named paths, never a bare `*` path or `sudo` with write access."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, ResourceRule

_WRITES = ("create", "update", "delete", "patch")
_PATH = re.compile(r'path\s+"([^"]*)"\s*\{([^}]*)\}', re.S)


def check(args: ResourceValidationArgs) -> Iterable[str]:
    text = get(args.props, "policy")
    if text is UNKNOWN or not isinstance(text, str):
        return
    for path, body in _PATH.findall(text):
        if path.strip() in ("*", "+", "", "/*", "sys/*"):
            yield f"grants path {path!r}: every mount of Vault"
        # Vault needs sudo to merely list some sys paths (sys/audit); sudo together with a write is root power.
        if '"sudo"' in body and any(f'"{cap}"' in body for cap in _WRITES):
            yield f"grants sudo with write access on {path!r}"


POLICY = ResourceRule(
    name="vault-policy-no-wildcard",
    description="The Vault policy of each access-model role grants named paths only: no `*` path, no sudo "
                "capability together with write access. Threshold: least privilege, MLPS 8.1.4.2 d); "
                "CIS Kubernetes 5.1.3 (no wildcards in roles), applied to Vault.",
    control=Control(MLPS, "8.1.4.2 d)", ("CIS Kubernetes 5.1.3", "NIST SP 800-53 AC-6")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="narrow the role's permissions in access.roles (components/vault/policies.py renders one path per action)",
    resource_types=(types.VAULT_POLICY,),
    check=check,
    spec_field=("access", "roles"),
)
