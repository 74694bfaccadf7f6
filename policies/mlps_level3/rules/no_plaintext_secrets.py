"""No secret sits in plain configuration: secret-named config keys are `secure:` values, no plain private key."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import MLPS, Control, Problem, ResourceRule

SECRET_NAME = re.compile(r"(password|passwd|passphrase|token|secret|privatekey|private_key|apikey|api_key|"
                         r"credential|clientkey)(?!file|path)", re.IGNORECASE)
"""Config key names that carry a secret; `...File`/`...Path` keys name a file, not its content."""


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    inventory = get(args.props, "configuration")
    if inventory is UNKNOWN:
        return
    for entry in items(inventory):
        key, secret = get(entry, "key"), get(entry, "secret")
        if not isinstance(key, str) or secret is UNKNOWN:
            continue
        if get(entry, "plainPrivateKey") is True:
            yield (f"config key {key} holds a private key in plain text",
                   f"remove it from Pulumi.<stack>.yaml and set it with `pulumi config set --secret {key}`")
        elif secret is not True and SECRET_NAME.search(key.split(":", 1)[-1]):
            yield (f"config key {key} names a secret but is stored in plain text",
                   f"set it with `pulumi config set --secret {key}` so it is stored encrypted (secure:)")


POLICY = ResourceRule(
    name="no-plaintext-secrets",
    description="Every configuration key that names a secret (password, token, private key, credential) is a Pulumi "
                "secret, and no plain value holds a private key. Threshold: MLPS 8.1.4.8 b) (authentication data "
                "confidential in storage); NIST SP 800-53 IA-5(7) (no embedded unencrypted static authenticators).",
    control=Control(MLPS, "8.1.4.8 b)", ("NIST SP 800-53 IA-5(7)",)),
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="store secrets with `pulumi config set --secret KEY`; never as plain values in Pulumi.<stack>.yaml",
    resource_types=(types.GOVERNANCE,),
    check=check,
)
