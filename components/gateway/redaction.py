"""Desensitization in the request path: prompts before the engine, completions (streamed chunks included) on the
way back, with the caller's role's policy from the spec (`gateway.desensitize`).

The detection and the masking are components.gateway.desensitize's (`redact`, `restore`, `StreamRedactor`,
`Policy`); this module applies them to OpenAI request and response bodies. A value the policy turns into a
reversible token in the prompt is put back into the completion for that caller (the token policy is what
allows a role to see it); a value the engine produces itself is redacted like any other.

What the audit record gets from here is the categories found and the action taken, never a value.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from components.gateway.rbac import Identity
from components.spec.access import AccessRole

STRICTNESS = {"mask": 0, "hash": 1, "token": 2}
"""Where the roles of one caller disagree on a category, the stricter action wins (mask over hash over token)."""
DEFAULT = "*"
"""In a role's policy, the action of every category it does not name (`mask` when absent)."""
_TOKEN = re.compile(r"^\[([a-z_]+)#(\d+)\]$")
"""The desensitize module's reversible tokens, `[mobile#1]` (components/gateway/desensitize/policy.py)."""


def desensitize_module() -> Any:
    """components.gateway.desensitize, loaded when the gateway first needs it."""
    return importlib.import_module("components.gateway.desensitize")


@dataclass
class Found:
    """Per direction and category: how many values were found and the action taken (never a value)."""

    prompt: dict[str, dict[str, Any]] = field(default_factory=dict)
    completion: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, direction: str, findings: Iterable[Any], actions: dict[str, str]) -> None:
        table = self.prompt if direction == "prompt" else self.completion
        for finding in findings:
            category = str(finding.category)
            action = actions.get(category, actions.get(DEFAULT, "mask"))
            if direction == "completion" and action == "token":
                action = "mask"
            entry = table.setdefault(category, {"count": 0, "action": action})
            entry["count"] += 1

    def record(self) -> dict[str, Any]:
        return {"prompt": dict(sorted(self.prompt.items())), "completion": dict(sorted(self.completion.items()))}


class Desensitizer:
    """The per-role policies of the spec, over the desensitize module's functions."""

    def __init__(self, per_role: dict[AccessRole, dict[str, str]], module: Any | None = None) -> None:
        self.per_role = per_role
        self._module = module

    @property
    def module(self) -> Any:
        if self._module is None:
            self._module = desensitize_module()
        return self._module

    def actions_for(self, identity: Identity) -> tuple[dict[str, str], str]:
        """Category → action for this caller, and the action of the categories not named: the strictest
        across its roles, where a role that does not name a category takes its own default (`*`, else mask).
        A caller without a role masks everything."""
        roles = sorted(identity.effective_roles)
        tables = [self.per_role.get(r, {}) for r in roles] or [{}]
        default = min((t.get(DEFAULT, "mask") for t in tables), key=STRICTNESS.__getitem__)
        named = {c for t in tables for c in t if c != DEFAULT}
        merged = {c: min((t.get(c, t.get(DEFAULT, "mask")) for t in tables), key=STRICTNESS.__getitem__)
                  for c in sorted(named)}
        return merged, default

    def policies(self, identity: Identity) -> tuple[Any, Any, dict[str, str]]:
        """The prompt's policy, the completion's, and category → action (for the audit record). In the
        completion a value the engine produced is never tokenized (a token there could not be told from the
        prompt's): where the prompt tokenizes, the completion masks."""
        actions, default = self.actions_for(identity)
        policy = self.module.Policy(actions=actions, default=default)
        out = self.module.Policy(actions={c: "mask" if a == "token" else a for c, a in actions.items()},
                                 default="mask" if default == "token" else default)
        return policy, out, {**actions, DEFAULT: default}

    def check(self) -> list[str]:
        """One line per policy of the spec the desensitize module refuses (an unknown category or action)."""
        problems = []
        for role, table in self.per_role.items():
            actions = {c: a for c, a in table.items() if c != DEFAULT}
            try:
                self.module.Policy(actions=actions, default=table.get(DEFAULT, "mask"))
            except ValueError as exc:
                problems.append(f"gateway.desensitize.{role}: {exc}")
        return problems

    def session(self, identity: Identity) -> RedactionSession:
        policy, out, actions = self.policies(identity)
        return RedactionSession(self.module, actions, policy, out)


class RedactionSession:
    """One call: redacts its prompts, remembers the tokens, redacts (and restores) its completion."""

    def __init__(self, module: Any, actions: dict[str, str], policy: Any, out_policy: Any) -> None:
        self.module = module
        self.actions = actions
        self.policy = policy
        self.out_policy = out_policy
        self.tokens: dict[str, str] = {}
        self.found = Found()

    def _merge_tokens(self, text: str, tokens: dict[str, str]) -> str:
        """Each prompt text is redacted on its own, so its tokens are numbered from 1: renumber those that
        clash with an earlier text's, reuse the earlier token for the same value."""
        if not tokens:
            return text
        by_value = {(t.split("#")[0], v): t for t, v in self.tokens.items()}
        renamed: dict[str, str] = {}
        for token, value in tokens.items():
            match = _TOKEN.match(token)
            known = by_value.get((token.split("#")[0], value))
            if known is not None:
                renamed[token] = known
            elif token in self.tokens and match:
                category = match.group(1)
                number = 1 + max(int(m.group(2)) for t in self.tokens if (m := _TOKEN.match(t)) and m.group(1) == category)
                new = f"[{category}#{number}]"
                renamed[token] = new
                self.tokens[new] = value
                by_value[(token.split("#")[0], value)] = new
            else:
                self.tokens[token] = value
                by_value[(token.split("#")[0], value)] = token
        changes = {t: n for t, n in renamed.items() if t != n}
        if not changes:
            return text
        pattern = re.compile("|".join(re.escape(t) for t in sorted(changes, key=len, reverse=True)))
        return pattern.sub(lambda m: changes[m.group()], text)

    def prompt(self, text: str) -> str:
        result = self.module.redact(text, self.policy)
        self.found.add("prompt", result.findings, self.actions)
        return self._merge_tokens(result.text, dict(result.tokens or {}))

    def completion(self, text: str) -> str:
        result = self.module.redact(text, self.out_policy)
        self.found.add("completion", result.findings, self.actions)
        return self.module.restore(result.text, self.tokens) if self.tokens else result.text

    def stream(self) -> StreamFilter:
        return StreamFilter(self)

    # OpenAI bodies ---------------------------------------------------------------------------------------

    def chat_request(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = []
        for message in body["messages"]:
            message = dict(message)
            content = message.get("content")
            if isinstance(content, str):
                message["content"] = self.prompt(content)
            elif isinstance(content, list):
                message["content"] = [{**part, "text": self.prompt(part["text"])} for part in content]
            messages.append(message)
        return {**body, "messages": messages}

    def completion_request(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        return {**body, "prompt": self.prompt(prompt) if isinstance(prompt, str) else [self.prompt(p) for p in prompt]}

    def response(self, body: Any) -> Any:
        """An engine's JSON answer with every choice's text redacted (and tokens restored)."""
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            return body
        choices = []
        for choice in body["choices"]:
            choice = dict(choice) if isinstance(choice, dict) else choice
            if isinstance(choice, dict):
                if isinstance(choice.get("text"), str):
                    choice["text"] = self.completion(choice["text"])
                message = choice.get("message")
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    choice["message"] = {**message, "content": self.completion(message["content"])}
            choices.append(choice)
        return {**body, "choices": choices}


class _Restorer:
    """Puts tokens back into streamed text; holds back a tail that may be the start of a token."""

    def __init__(self, module: Any, tokens: dict[str, str]) -> None:
        self.module = module
        self.tokens = tokens
        self.longest = max((len(t) for t in tokens), default=0)
        self.buffer = ""

    def feed(self, text: str) -> str:
        if not self.tokens:
            return text
        self.buffer += text
        keep = 0
        for size in range(min(self.longest - 1, len(self.buffer)), 0, -1):
            tail = self.buffer[-size:]
            if any(t.startswith(tail) for t in self.tokens):
                keep = size
                break
        ready, self.buffer = (self.buffer[:-keep], self.buffer[-keep:]) if keep else (self.buffer, "")
        return self.module.restore(ready, self.tokens)

    def flush(self) -> str:
        ready, self.buffer = self.buffer, ""
        return self.module.restore(ready, self.tokens) if self.tokens and ready else ready


class StreamFilter:
    """Per choice index: the desensitize module's StreamRedactor (a value split across chunks is still
    caught), then the token restorer."""

    def __init__(self, session: RedactionSession) -> None:
        self.session = session
        self._choices: dict[int, tuple[Any, _Restorer]] = {}

    def _pair(self, index: int) -> tuple[Any, _Restorer]:
        if index not in self._choices:
            self._choices[index] = (self.session.module.StreamRedactor(self.session.out_policy),
                                    _Restorer(self.session.module, self.session.tokens))
        return self._choices[index]

    def feed(self, index: int, text: str) -> str:
        redactor, restorer = self._pair(index)
        return restorer.feed(redactor.feed(text))

    def flush(self, index: int) -> str:
        if index not in self._choices:
            return ""
        redactor, restorer = self._choices.pop(index)
        text = restorer.feed(redactor.flush()) + restorer.flush()
        self.session.found.add("completion", getattr(redactor, "findings", None) or [], self.session.actions)
        return text

    def open_choices(self) -> list[int]:
        return sorted(self._choices)
