"""StreamRedactor: a text fed in chunks, split anywhere, comes out exactly as `redact` gives it for the whole
text, with the same findings (offsets into the whole input) and tokens; values split across chunks are caught."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from components.gateway.desensitize import Policy, StreamRedactor, redact
from components.gateway.desensitize.stream import HOLD
from tests.support.pii_corpus import corpus

SAMPLES = corpus(300, seed=11)
POLICY = Policy(actions={"mobile": "token", "email": "token", "resident_id": "hash"}, hash_key=b"test")


def _stream(text: str, cuts: list[int], policy: Policy) -> tuple[str, StreamRedactor]:
    s = StreamRedactor(policy)
    bounds = [0, *sorted(set(c % (len(text) + 1) for c in cuts)), len(text)]
    out = "".join(s.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    return out + s.flush(), s


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(SAMPLES) - 1), min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=30))
def test_stream_equals_batch_on_any_split(picks, cuts):
    text = " ".join(SAMPLES[i].text for i in picks)
    batch = redact(text, POLICY)
    out, stream = _stream(text, cuts, POLICY)
    assert out == batch.text
    assert stream.findings == batch.findings
    assert stream.tokens == batch.tokens


def test_a_value_split_across_two_chunks_is_caught():
    s = StreamRedactor()
    out = s.feed("请拨打手机1381234") + s.feed("5678，谢谢。") + s.flush()
    assert out == "请拨打手机[mobile]，谢谢。"


def test_one_character_chunks():
    text = "联系人张伟，身份证11010519491231002X，key AKIAIOSFODNN7EXAMPLE end"
    s = StreamRedactor()
    out = "".join(s.feed(ch) for ch in text) + s.flush()
    assert out == redact(text).text


def test_the_hold_back_is_bounded():
    s = StreamRedactor()
    sent = s.feed("这是一段没有个人信息的普通文字。" * 100)
    assert len("这是一段没有个人信息的普通文字。" * 100) - len(sent) <= HOLD


def test_a_long_private_key_is_held_until_it_ends():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # made at test time: ~28 PEM lines
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode().strip()
    text = f"key:\n{pem}\nok"
    s = StreamRedactor()
    out = "".join(s.feed(text[i:i + 50]) for i in range(0, len(text), 50)) + s.flush()
    assert out == "key:\n[credential]\nok"


def test_keyword_context_survives_a_call_that_sends_little():
    # Found by the property above: one call sent only "Residents " (the keyword's last word), and the context
    # kept for the next call was that word alone, so the number after it was no longer a permit number. The
    # context is the last LEFT code points sent, however few this call sent.
    text = "Let me know if anything is missing. Mainland Travel Permit for Taiwan Residents 85509654 on file. " * 3
    k = text.index("Residents")
    out, _ = _stream(text, [k + HOLD, k + HOLD + len("Residents ")], POLICY)
    assert "85509654" not in out
    assert out == redact(text, POLICY).text
