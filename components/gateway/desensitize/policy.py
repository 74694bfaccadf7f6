"""Policies (category → mask | hash | token), `redact` and `restore`.

- `mask` replaces a value with its category in brackets: `[mobile]`.
- `hash` replaces it with a keyed, irreversible digest: `[mobile:3f9a0c…]`, the first 16 hex digits of
  HMAC-SHA256(key, value). The same value gives the same digest under the same key, so records can still be
  correlated; without the key a short value (an ID number, a phone number) cannot be found by trying every
  candidate, as a plain hash could. Without `hash_key` the key is random per process.
- `token` replaces it with a reversible token, `[mobile#1]`: the same value gets the same token within one
  redaction (one request); `Redaction.tokens` maps each token to its original, and `restore` puts the originals
  back into a text (a completion) for a role allowed to see them.

Where policies come from: the spec's `gateway.desensitize` (per role, category → action; a category or a
role it does not name is masked), read by `Policy.for_role(spec, role)`, which also takes a plain mapping
`{role: {category: action, "*": default}}`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.gateway.desensitize.categories import IDS
from components.gateway.desensitize.scanner import Finding, scan

ACTIONS = ("mask", "hash", "token")
_PROCESS_KEY = os.urandom(32)


class PolicyError(ValueError):
    """A policy names an unknown category, action or role."""


@dataclass(frozen=True)
class Policy:
    """What to do with each category; categories not named take `default`."""

    actions: Mapping[str, str] = field(default_factory=dict)
    default: str = "mask"
    hash_key: bytes | None = None

    def __post_init__(self) -> None:
        for category, action in self.actions.items():
            if category not in IDS:
                raise PolicyError(f"unknown category {category!r} (known: {', '.join(IDS)})")
            if action not in ACTIONS:
                raise PolicyError(f"{category}: unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        if self.default not in ACTIONS:
            raise PolicyError(f"default: unknown action {self.default!r} (expected one of {', '.join(ACTIONS)})")

    def action(self, category: str) -> str:
        return self.actions.get(category, self.default)

    @property
    def reveals(self) -> bool:
        """True when some category is tokenized, so a response may carry originals back (restore)."""
        return self.default == "token" or "token" in self.actions.values()

    @classmethod
    def mask_all(cls) -> Policy:
        return cls()

    @classmethod
    def for_role(cls, source: Any, role: str, *, hash_key: bytes | None = None) -> Policy:
        """The policy of `role`. `source` is a mapping `{role: {category: action, "*": default}}`, or the spec:
        its `gateway.desensitize` table (a role it does not name masks every category; a role the spec's
        access section does not declare is an error)."""
        roles: list[str] | None = None
        if isinstance(source, Mapping):
            table: Any = source
        else:
            access = getattr(source, "access", source)
            roles = [str(getattr(r, "value", r)) for r in (getattr(access, "roles", None) or {})]
            gateway = getattr(source, "gateway", None)
            table = getattr(gateway, "desensitize", None) or getattr(source, "desensitization", None) or {}
        if roles is not None and role not in roles:
            raise PolicyError(f"unknown role {role!r} (the spec's roles: {', '.join(roles) or 'none'})")
        entries = {str(getattr(k, "value", k)): v for k, v in table.items()}
        entry = dict(entries.get(role) or {})
        default = entry.pop("*", "mask")
        return cls(actions=entry, default=default, hash_key=hash_key)


@dataclass(frozen=True)
class Redaction:
    """The redacted text, the findings (offsets into the input) and the tokens it issued (token → original)."""

    text: str
    findings: list[Finding]
    tokens: dict[str, str]

    def summary(self, policy: Policy | None = None) -> dict[str, dict[str, Any]]:
        """Per category: how many values and the action taken, never a value (for the audit record)."""
        policy = policy or Policy()
        out: dict[str, dict[str, Any]] = {}
        for f in self.findings:
            entry = out.setdefault(f.category, {"count": 0, "action": policy.action(f.category)})
            entry["count"] += 1
        return dict(sorted(out.items()))


class _Replacer:
    """Turns findings into replacement text; holds the token table so a stream keeps one numbering."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.key = policy.hash_key or _PROCESS_KEY
        self.tokens: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._count: dict[str, int] = {}

    def replacement(self, category: str, value: str) -> str:
        action = self.policy.action(category)
        if action == "mask":
            return f"[{category}]"
        if action == "hash":
            digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
            return f"[{category}:{digest}]"
        token = self._by_value.get((category, value))
        if token is None:
            self._count[category] = self._count.get(category, 0) + 1
            token = f"[{category}#{self._count[category]}]"
            self._by_value[(category, value)] = token
            self.tokens[token] = value
        return token

    def apply(self, text: str, findings: Iterable[Finding], offset: int = 0) -> str:
        parts: list[str] = []
        pos = 0
        for f in findings:
            s, e = f.start - offset, f.end - offset
            parts.append(text[pos:s])
            parts.append(self.replacement(f.category, text[s:e]))
            pos = e
        parts.append(text[pos:])
        return "".join(parts)


def redact(text: str, policy: Policy | None = None) -> Redaction:
    """Find every value in `text` and replace it by its category's action (no policy: mask every category)."""
    replacer = _Replacer(policy or Policy())
    findings = scan(text)
    return Redaction(replacer.apply(text, findings), findings, dict(replacer.tokens))


def restore(text: str, tokens: Mapping[str, str]) -> str:
    """Put the originals back for every token of `tokens` found in `text` (for roles allowed to see them)."""
    if not tokens:
        return text
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    return pattern.sub(lambda m: tokens[m.group()], text)
