"""`StreamRedactor`: redact a text that arrives in chunks (a streamed completion) with the result `redact`
gives for the whole text.

The rule: a value is only replaced once all of it, and the character after it, has arrived. So each `feed`
scans the unsent text (with a little already-sent text before it as context) and sends everything except a
tail that could still be the beginning of a value:

- the last HOLD code points (HOLD > the longest value of bounded length, MAX_SPAN, plus one character of
  look-ahead), so a value split across chunks is still whole when it is scanned;
- further back, where the cut would fall inside a value already found, or inside a run of ASCII token
  characters (letters, digits, `_-.+/=~:@%`: an API key, a JWT, an e-mail address can be longer than HOLD),
  or inside a `-----BEGIN …-----` block not yet ended (a private key);
- never more than MAX_HOLD code points: past that the oldest text is sent as it is scanned.

`flush` sends the rest. The replacements, tokens and findings (offsets into the whole input) are those of
`redact` on the concatenated chunks; the tests check this on every split of the labelled corpus.
"""

from __future__ import annotations

from components.gateway.desensitize.policy import Policy, _Replacer
from components.gateway.desensitize.scanner import MAX_SPAN, Finding, scan_from

HOLD = MAX_SPAN + 8
"""Code points held back at the end of the unsent text."""
LEFT = 64
"""Code points of already-sent text kept as context (keywords before a value, the character before it)."""
MAX_HOLD = 32768
"""The most unsent text kept, whatever the rules above say."""
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+/=~:@%")


class StreamRedactor:
    """Feed chunks, get redacted text back; `flush()` at the end of the stream."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._replacer = _Replacer(self.policy)
        self._left = ""
        self._buf = ""
        self._sent = 0  # code points of input already redacted and sent
        self.findings: list[Finding] = []
        """Every finding so far, offsets into the whole input."""

    @property
    def tokens(self) -> dict[str, str]:
        return dict(self._replacer.tokens)

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        if len(self._buf) <= HOLD:
            return ""
        return self._emit(final=False)

    def flush(self) -> str:
        return self._emit(final=True)

    def _cut(self, window: str, first: int, findings: list[Finding]) -> int:
        cut = len(window) - HOLD
        begin = window.rfind("-----BEGIN", first)
        if begin != -1 and window.find("-----END", begin) == -1:
            cut = min(cut, begin)
        while cut > first and window[cut - 1] in _TOKEN_CHARS and window[cut] in _TOKEN_CHARS:
            cut -= 1
        for f in reversed(findings):
            if f.start < cut < f.end:
                cut = f.start
                break
            if f.end <= cut:
                break
        return max(cut, first, len(window) - MAX_HOLD)

    def _emit(self, final: bool) -> str:
        window = self._left + self._buf
        first = len(self._left)
        findings = scan_from(window, first)
        cut = len(window) if final else self._cut(window, first, findings)
        done = [f for f in findings if f.end <= cut]
        # A finding cut by MAX_HOLD is replaced whole; the text after the cut is kept for the next scan.
        straddling = [f for f in findings if f.start < cut < f.end]
        if straddling:
            cut = straddling[0].end
            done.append(straddling[0])
        out = self._replacer.apply(window[first:cut], done, offset=first)
        shift = self._sent - first
        self.findings.extend(Finding(f.category, f.start + shift, f.end + shift) for f in done)
        self._sent += cut - first
        # The context is the last LEFT code points sent, however few this call sent.
        self._left = window[max(0, cut - LEFT):cut]
        self._buf = window[cut:]
        return out
