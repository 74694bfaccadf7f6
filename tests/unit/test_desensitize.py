"""Desensitization: check digits from their standards' worked examples, every category found with its exact
span in a sentence, look-alikes left alone, the most specific category winning, code-point offsets, policies
(mask, hash, token), restore, and the command line."""

from __future__ import annotations

import io
import json
import random
import sys

import pytest

from components.cli import main
from components.gateway.desensitize import IDS, Finding, Policy, checks, redact, restore, scan
from components.gateway.desensitize.policy import PolicyError
from tests.support.pii_corpus import CATEGORIES_IN_CORPUS, Values, corpus, score


def test_there_are_eighteen_categories_with_the_fixed_identifiers():
    assert len(IDS) == 18 == len(set(IDS))
    assert set(IDS) >= {"resident_id", "bank_card", "uscc", "mobile", "landline", "passport", "hk_macau_permit",
                        "taiwan_permit", "license_plate", "vin", "email", "ip_address", "social_security",
                        "medical_record", "person_name", "address", "credential"}


@pytest.mark.parametrize("value, valid", [
    ("11010519491231002X", True),   # GB 11643-1999's own example (Beijing, Chaoyang)
    ("440524188001010014", True),   # its second example, born 1880
    ("110105194912310021", False),  # check character changed
    ("110105194913310028", False),  # month 13
    ("990105194912310021", False),  # no such province
])
def test_resident_id_check_digit_and_birth_date(value, valid):
    assert checks.valid_resident_id(value) is valid


def test_uscc_check_character_follows_gb_32100_worked_example():
    assert checks.uscc_check("91350100M000100Y4") == "3"
    assert checks.valid_uscc("91350100M000100Y43")
    assert not checks.valid_uscc("91350100M000100Y4Z")


def test_vin_check_digit_follows_the_worked_example():
    assert checks.vin_check("1M8GDM9A0KP042788") == "X"
    assert checks.valid_vin("1M8GDM9AXKP042788")
    assert not checks.valid_vin("1M8GDM9A1KP042788")


def test_luhn():
    assert checks.luhn_valid("4111111111111111")
    assert not checks.luhn_valid("4111111111111112")
    assert checks.luhn_check_digit("411111111111111") == "1"


EXAMPLES = [
    ("resident_id", "身份证号码：{}，请核对。", "11010519491231002X"),
    ("bank_card", "请转账到卡号{}谢谢", "6222 0212 3456 7892"),
    ("uscc", "统一社会信用代码{}。", "91350100M000100Y43"),
    ("mobile", "Call me at {} tonight.", "+86 138-1234-5678"),
    ("landline", "办公室电话{}，工作日接听", "0755-86001234"),
    ("passport", "护照 {} 有效", "EF1260892"),
    ("hk_macau_permit", "通行证号码{}已签注", "CA0000001"),
    ("taiwan_permit", "台胞证号码：{}。", "12345678"),
    ("license_plate", "车牌{}违停", "粤BD12345"),
    ("vin", "VIN {} recalled", "1M8GDM9AXKP042788"),
    ("email", "mail {} now", "li.na+cn@mail.example.org"),
    ("ip_address", "from {} blocked", "2001:db8::8a2e:370:7334"),
    ("ip_address", "from {} blocked", "203.0.113.9"),
    ("social_security", "SSN {} on file", "078-05-1120"),
    ("medical_record", "住院号：{}，明日复查", "ZY20230001"),
    ("person_name", "联系人{}，电话稍后发", "欧阳娜娜"),
    ("person_name", "Dear {}, thanks", "Emily Clark"),
    ("address", "寄到{}，谢谢", "上海市浦东新区世纪大道100号2栋3单元501室"),
    ("address", "Ship it to {}.", "1600 Maple Avenue, Springfield, MA 01101"),
    ("credential", "key {} leaked", "AKIAIOSFODNN7EXAMPLE"),
    ("credential", "export token={} now", "s3cr3t-Token_123"),
    ("precise_location", "坐标 {} 附近", "39.90421, 116.40739"),
]


@pytest.mark.parametrize("category, template, value", EXAMPLES, ids=[f"{c}-{v[:12]}" for c, _, v in EXAMPLES])
def test_each_category_is_found_with_its_exact_span(category, template, value):
    if category == "bank_card":
        value = value[:-1] + checks.luhn_check_digit(value.replace(" ", "")[:-1])
    text = template.format(value)
    start = text.index(value)
    assert scan(text) == [Finding(category, start, start + len(value))]


@pytest.mark.parametrize("text", [
    "身份证号110105194912310021校验失败",       # wrong check character
    "Card 4111111111111112 declined",         # fails Luhn
    "信用代码91350100M000100Y4Z不存在",         # wrong check character
    "VIN 1M8GDM9A1KP042788 failed",           # wrong check digit
    "订单号2023101512345678901已发货",           # order number
    "ts=1700000000 created_at 1700000000123",  # timestamps
    "2023-10-15 10:30:45 job started",         # date and time
    "设备序列号SN13812345678出厂",                # phone-like serial inside a token
    "Upgrade to version 3.11.7 please",        # version
    "SSN 666-12-3456 is never issued",         # SSA never issues area 666
    "房间301，分机8001，邮编100020。",              # short numbers
])
def test_look_alikes_are_not_findings(text):
    assert scan(text) == []


def test_a_valid_resident_id_wins_over_luhn():
    rng = random.Random(3)
    values = Values(rng)
    while True:  # an ID number that also passes Luhn
        value = values.resident_id()
        if checks.luhn_valid(value.replace("X", "")) and value[-1] != "X":
            break
    assert [f.category for f in scan(f"号码{value}。")] == ["resident_id"]


def test_one_finding_per_span_email_over_mobile():
    text = "邮箱13812345678@163.com"
    assert scan(text) == [Finding("email", 2, len(text))]


def test_offsets_are_code_points():
    text = "😀👍中文 13812345678"
    [finding] = scan(text)
    assert (finding.start, finding.end) == (5, 16)
    assert text[finding.start:finding.end] == "13812345678"


def test_redact_masks_every_category_by_default():
    text = "手机13812345678，邮箱a@example.com"
    result = redact(text)
    assert result.text == "手机[mobile]，邮箱[email]"
    assert [f.category for f in result.findings] == ["mobile", "email"]
    assert result.tokens == {}


def test_hash_is_keyed_stable_and_irreversible():
    p1 = Policy(default="hash", hash_key=b"k1")
    a = redact("13812345678 and 13812345678", p1).text
    first, second = a.split(" and ")
    assert first == second and first.startswith("[mobile:") and "13812345678" not in a
    assert redact("13812345678", Policy(default="hash", hash_key=b"k2")).text != first


def test_tokens_are_restored_for_a_role_that_may_see_them():
    text = "客户张伟的手机13812345678，备用13812345678，邮箱a@example.com"
    policy = Policy(actions={"mobile": "token", "person_name": "token"})
    result = redact(text, policy)
    assert "13812345678" not in result.text and "[email]" in result.text
    assert result.text.count("[mobile#1]") == 2
    completion = f"好的，我会联系{next(iter(result.tokens))}。"
    restored = restore(completion, result.tokens)
    assert restored == f"好的，我会联系{result.tokens[next(iter(result.tokens))]}。"
    assert restore(result.text, result.tokens).replace("[email]", "a@example.com") == text


def test_summary_counts_categories_and_actions_without_values():
    policy = Policy(actions={"mobile": "hash"})
    result = redact("13812345678 13912345678 a@example.com", policy)
    assert result.summary(policy) == {"email": {"count": 1, "action": "mask"},
                                      "mobile": {"count": 2, "action": "hash"}}


def test_policy_for_role_from_a_mapping():
    table = {"data_analyst": {"mobile": "token", "*": "hash"}, "api_user": {}}
    policy = Policy.for_role(table, "data_analyst")
    assert policy.action("mobile") == "token" and policy.action("email") == "hash" and policy.reveals
    assert Policy.for_role(table, "api_user").action("email") == "mask"
    assert not Policy.for_role(table, "auditor").actions  # a role the table does not name: mask everything
    with pytest.raises(PolicyError, match="unknown category"):
        Policy(actions={"phone": "mask"})
    with pytest.raises(PolicyError, match="unknown action"):
        Policy(actions={"mobile": "encrypt"})


def test_policy_for_role_from_the_spec(lab):
    table = lab.gateway.desensitize
    for role in ("api_user", "data_analyst", "audit_admin"):
        policy = Policy.for_role(lab, role)
        named = {str(getattr(k, "value", k)): v for k, v in table.items()}.get(role, {})
        assert all(policy.action(c) == named.get(c, "mask") for c in IDS)
    with pytest.raises(PolicyError, match="unknown role"):
        Policy.for_role(lab, "intern")


def test_corpus_scores_on_checksummed_categories_are_perfect():
    samples = corpus(600, seed=7)
    scores = score(samples, lambda t: [(f.category, f.start, f.end) for f in scan(t)])
    for category in ("resident_id", "bank_card", "uscc", "vin", "ip_address"):
        s = scores[category]
        assert s.tp > 0 and s.fp == 0 and s.fn == 0, (category, s)
    assert set(scores) <= set(CATEGORIES_IN_CORPUS)
    negatives = [s for s in samples if s.negative]
    assert negatives and all(scan(s.text) == [] for s in negatives)


def _cli(monkeypatch, capsys, stdin: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = main(["desensitize", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_masks_stdin(monkeypatch, capsys):
    rc, out, _ = _cli(monkeypatch, capsys, "call 13812345678 now")
    assert (rc, out) == (0, "call [mobile] now")


def test_cli_json_offsets_are_into_the_input(monkeypatch, capsys):
    text = "中文13812345678和a@example.com"
    rc, out, _ = _cli(monkeypatch, capsys, text, "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["text"] == "中文[mobile]和[email]"
    assert [text[f["start"]:f["end"]] for f in doc["findings"]] == ["13812345678", "a@example.com"]


def test_cli_role_needs_stack_and_a_known_role(monkeypatch, capsys):
    rc, _, err = _cli(monkeypatch, capsys, "x", "--role", "api_user")
    assert rc == 2 and "--stack and --role go together" in err
    rc, _, err = _cli(monkeypatch, capsys, "x", "--stack", "lab", "--role", "intern")
    assert rc == 2 and err.count("\n") == 1 and "unknown role" in err
    rc, out, _ = _cli(monkeypatch, capsys, "x 13812345678", "--stack", "lab", "--role", "api_user")
    assert (rc, out) == (0, "x [mobile]")
