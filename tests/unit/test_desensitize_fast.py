"""Desensitization's fast paths give the plain rules' answers: the check digits computed on bytes agree with
the per-character formulas of their standards, the IPv4 rule agrees with the standard library's ipaddress,
and the scanner's search, which restarts after a failed check, an IPv6 address or an assignment, still finds
what follows. Also the side-by-side benchmark's scoring (exact span and overlap) and its behaviour without
Presidio."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.gateway.desensitize import Finding, checks, scan
from tests.benchmarks import desensitize_compare
from tests.support.pii_corpus import Sample

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999 §7


def luhn_reference(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B, digit by digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
@settings(max_examples=400, deadline=None)
def test_luhn_on_bytes_agrees_with_the_digit_by_digit_formula(digits):
    assert checks.luhn_valid(digits) is luhn_reference(digits)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.text(alphabet="0123456789", min_size=3,
                                                                          max_size=3))
@settings(max_examples=300, deadline=None)
def test_resident_id_check_on_bytes_agrees_with_the_formula(body, sequence):
    def reference(b: str) -> str:
        return "10X98765432"[sum(int(c) * w for c, w in zip(b, ID_WEIGHTS, strict=True)) % 11]
    assert checks.resident_id_check(body) == reference(body)
    real = "11010519900101" + sequence  # Beijing, born 1990-01-01
    assert checks.valid_resident_id(real + reference(real))
    assert not checks.valid_resident_id(real + next(c for c in "0123456789X" if c != reference(real)))


def test_resident_id_with_full_width_digits_takes_the_plain_path():
    ascii_id = "11010519491231002X"
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in ascii_id)  # U+FF10… full-width digits
    assert checks.resident_id_check(wide[:17]) == "X"
    assert checks.valid_resident_id(wide) is checks.valid_resident_id(ascii_id) is True
    assert checks.luhn_valid("４１１１１１１１１１１１１１１１") is True


@given(st.text(alphabet=checks.USCC_CHARS + "IOSVZ", min_size=18, max_size=18))
@settings(max_examples=300, deadline=None)
def test_uscc_rule_agrees_with_the_character_by_character_test(value):
    in_set = all(c in checks.USCC_CHARS for c in value)
    assert checks.valid_uscc(value) is (in_set and value[2:8].isdigit()
                                        and checks.uscc_check(value[:17]) == value[17])


def test_check_functions_reject_wrong_lengths_as_before():
    with pytest.raises(ValueError):
        checks.uscc_check("91350100M000100Y")
    with pytest.raises(ValueError):
        checks.vin_check("1M8GDM9A0KP04278")


@given(st.text(alphabet="0123456789.", min_size=1, max_size=16))
@settings(max_examples=500, deadline=None)
def test_ipv4_rule_agrees_with_ipaddress(value):
    try:
        ipaddress.IPv4Address(value)
        expected = True
    except ValueError:
        expected = False
    assert checks.valid_ipv4(value) is expected


@pytest.mark.parametrize("value, valid", [("10.0.0.1", True), ("255.255.255.255", True), ("256.1.1.1", False),
                                          ("01.2.3.4", False), ("1.2.3", False), ("0.0.0.0", True)])
def test_ipv4_examples(value, valid):
    assert checks.valid_ipv4(value) is valid


@pytest.mark.parametrize("text, expected", [
    # a failed check sends the search on from the next character: the next value is still found
    ("bad 1.2.3.999 then 10.0.0.1", [("ip_address", "10.0.0.1")]),
    ("坐标 91.123456, 200.123456 无效，手机13812345678", [("mobile", "13812345678")]),
    ("card 4111 1111 1111 1112 or 4111 1111 1111 1111", [("bank_card", "4111 1111 1111 1111")]),
    # an IPv6 address and an assignment end where they end, and the search goes on from there
    ("host 2001:db8::1 phone 13812345678", [("ip_address", "2001:db8::1"), ("mobile", "13812345678")]),
    ("password=hunter2secret then 13812345678", [("credential", "hunter2secret"), ("mobile", "13812345678")]),
    # a word of letters alone is passed over, what follows it is not
    ("ABCDEFGHIJKLMNO 13812345678", [("mobile", "13812345678")]),
    ("ABCDEFGHIJKLMNO", []),
])
def test_the_search_goes_on_after_each_kind_of_restart(text, expected):
    assert [(f.category, text[f.start:f.end]) for f in scan(text)] == expected


def test_a_finding_is_an_immutable_named_value():
    f = Finding("mobile", 2, 13)
    assert f == Finding(category="mobile", start=2, end=13) and (f.category, f.start, f.end) == ("mobile", 2, 13)
    assert repr(f) == "Finding(category='mobile', start=2, end=13)"
    with pytest.raises(AttributeError):
        f.start = 3  # type: ignore[misc]


def test_many_values_in_one_text_keep_their_offsets():
    rng = random.Random(7)
    parts, expected, pos = [], [], 0
    for _ in range(300):
        filler = rng.choice(("，请回复。", " and ", "我们"))
        value = f"1{rng.choice('3456789')}{rng.randrange(10 ** 9):09d}"
        parts += [filler, value]
        pos += len(filler)
        expected.append(("mobile", pos, pos + len(value)))
        pos += len(value)
    assert [(f.category, f.start, f.end) for f in scan("".join(parts))] == expected


# --- the side-by-side benchmark ---

def test_compare_scores_exact_spans_and_overlaps():
    sample = Sample("call 13812345678 or mail a@b.cn", [("mobile", 5, 16), ("email", 25, 31)])

    def stand_in(text):  # a stand-in tool: one value a character too wide, one exact, one false alarm
        return [("PHONE_NUMBER", 4, 16), ("EMAIL_ADDRESS", 25, 31), ("CREDIT_CARD", 0, 4)]

    scores = desensitize_compare.scores([sample], stand_in, desensitize_compare.PRESIDIO_MAP)
    phone_exact, phone_overlap = scores["phone"]
    assert (phone_exact.tp, phone_exact.fp, phone_exact.fn) == (0, 1, 1)
    assert (phone_overlap.tp, phone_overlap.fp, phone_overlap.fn) == (1, 0, 0)
    assert scores["email"][0].tp == 1 and scores["bank_card"][0].fp == 1


def test_compare_lists_the_categories_without_a_counterpart():
    assert "resident_id" in desensitize_compare.NO_COUNTERPART and "mobile" not in desensitize_compare.NO_COUNTERPART
    assert set(desensitize_compare.OURS_MAP.values()) == set(desensitize_compare.COMPARED)


@pytest.mark.parametrize("require, missed", [(False, 0), (True, 1)])
def test_compare_without_presidio_fails_only_when_required(monkeypatch, capsys, require, missed):
    monkeypatch.setattr(desensitize_compare, "presidio", lambda: (None, "presidio-analyzer not installed (…)"))
    assert desensitize_compare.run(sizes=[40], repeat=1, require=require) == missed
    out = capsys.readouterr().out
    assert "presidio-analyzer not installed" in out and "cn-pii-anonymization" in out
    assert "podforge" in out and "not measured" in out
