"""`scan(text)`: every personal-data value in a text, one finding per span, code-point offsets, end exclusive.

How it stays fast: one master pattern finds the candidates of every category in a single pass. Each of its
branches starts with a literal character, so the regular-expression engine skips ahead in C to the places a
value can begin; the "not inside a longer token" test comes right after the first character
(`X(?<![0-9A-Za-z].)`), never first, which would turn that skipping off. The group naming an alternative is
empty and last, and the last alternative of a branch has none, so the engine keeps few groups and records
one only for the alternative that matched. The matches come from one iterator (`finditer`), set up again only
where a check sends the search elsewhere. Values are then checked in Python, cheapest test first (lengths
and shapes, then check digits computed in C: int() in a suitable base, bytes arithmetic, str.strip against an
alphabet; a date last), and overlapping candidates are resolved: the most specific category
(categories.PRIORITY) wins, then the longer span. Patterns are compiled once, at import.
"""

from __future__ import annotations

import re
from functools import partial
from operator import itemgetter
from typing import NamedTuple

from components.gateway.desensitize import checks, lexicon
from components.gateway.desensitize.categories import PRIORITY


class Finding(NamedTuple):
    """One value: its category and where it is in the text (code points, `end` exclusive). Immutable; a named
    tuple, so making one costs what a tuple costs (a scan makes one per value)."""

    category: str
    start: int
    end: int


Candidate = tuple[str, int, int]

_NB = r"(?<![0-9A-Za-z].)"  # after the first character: the one before it is not a letter or digit
_NA = r"(?![0-9A-Za-z])"  # the value does not run on into a letter or digit
_CJK = "\u4e00-\u9fff"
_VALUE = r"[:：#]?\s{0,2}(?:号码|号)?[:：#]?\s{0,2}"
_MRN_V = r"([A-Za-z0-9][A-Za-z0-9-]{3,17})(?![A-Za-z0-9-])"  # WS 445-2014: AN..18
_SSN_V = r"([A-Za-z0-9][A-Za-z0-9-]{5,19})(?![A-Za-z0-9-])"
_MTP_V = r"([0-9]{8}(?:[0-9]{2})?)" + _NA
_PASSPORT_V = r"([A-Z0-9]{7,9})" + _NA
_EN_NAME_V = r"([A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})"
_NB_WORDS = ("\0nb",)  # marks a word list whose words must start a word (the character before is no letter or digit)


_SURNAME = "(?:" + "|".join(lexicon.SURNAMES_COMPOUND) + f"|[{lexicon.SURNAMES_SINGLE}])"
_EN_STREET = "(?:" + "|".join(lexicon.EN_STREET_SUFFIXES) + ")"

# The master pattern: one pass over the text. Each alternative is (name, first character class, the rest);
# the rest starts by checking the first character again with a one-character look-behind, so the pattern as
# a whole starts with a plain character class and the engine skips in C to where one of them can begin.
# Order matters where alternatives share a first character: the first that matches wins.
_ALTERNATIVES: tuple[tuple[str, str, str], ...] = (
    ("pem", "-", r"----BEGIN (?P<pem_label>(?:[A-Z0-9]+ )*PRIVATE KEY)-----(?:(?!-----)[\s\S]){0,16384}"
                 r"(?:-----END (?P=pem_label)-----)?"),
    ("location", "0-9-", r"(?<![0-9A-Za-z.-].)[0-9]{0,2}\.[0-9]{4,8}\s{0,2}[,，]\s{0,2}-?[0-9]{1,3}\.[0-9]{4,8}"
                         r"(?![0-9]|\.[0-9])"),
    ("ssn", "0-8", r"(?<![0-9A-Za-z-].)[0-9]{2}-[0-9]{2}-[0-9]{4}(?![0-9A-Za-z]|-[0-9])"),
    ("ipv4", "0-9", r"(?<![0-9A-Za-z.].)[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9A-Za-z]|\.[0-9])"),
    # Grouped card numbers as cards print them: 4-4-4-4 (13 to 16 digits), 4-4-4-4-3 (19), 4-6-5 (Amex), 6-13.
    ("card", "2-6", _NB + r"(?:[0-9]{3} [0-9]{4} [0-9]{4} [0-9]{1,4}(?: [0-9]{3})?"
                          r"|[0-9]{3}-[0-9]{4}-[0-9]{4}-[0-9]{1,4}(?:-[0-9]{3})?"  # one separator throughout
                          r"|[0-9]{3}[ -][0-9]{6}[ -][0-9]{5}|[0-9]{5}[ -][0-9]{13})" + _NA),
    ("mobile", "1", _NB + r"[3-9][0-9](?:[ -][0-9]{4}){2}" + _NA),
    ("mobile0086", "0", _NB + r"086[ -]?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}" + _NA),
    ("landline", "0", _NB + r"(?:10|2[0-9]|[3-9][0-9]{2})[ -][2-8][0-9]{2,3}[ -]?[0-9]{4}" + _NA),
    ("en_address", "1-9", _NB + r"[0-9]{0,5}(?: [A-Z][a-z]+){1,4} " + _EN_STREET + r"\b\.?"
                          r"(?:,? (?:Apt|Suite|Unit|Ste)\.? ?[0-9A-Za-z-]{1,6})?"
                          r"(?:, (?:[A-Z][a-z]+ ){0,2}[A-Z][a-z]+)?(?:,? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?)?"),
    ("akia", "A", _NB + r"(?:KIA|SIA)[0-9A-Z]{16}" + _NA),
    ("bearer", "B", _NB + r"earer\s+(?P<bearer_v>[A-Za-z0-9._~+/-]{16,4096}=*)"),
    ("en_title", _NB_WORDS + lexicon.EN_TITLES, r"\.? (?P<en_title_v>" + _EN_NAME_V[1:-1] + ")"),
    ("en_cue", _NB_WORDS + ("My name is", "Name:", "Dear", "Signed by", "Contact:", "Customer:", "Patient:"),
     r" ?(?P<en_cue_v>" + _EN_NAME_V[1:-1] + ")"),
    ("en_mrn", _NB_WORDS + ("MRN", "Medical record", "Medical Record"), r"(?: (?:[Nn]umber|[Nn]o\.?|#))?"
     + _VALUE + "(?P<en_mrn_v>" + _MRN_V[1:]),
    ("en_mtp", _NB_WORDS + ("Mainland Travel Permit for Taiwan Residents", "Mainland travel permit for Taiwan residents"),
     _VALUE + "(?P<en_mtp_v>" + _MTP_V[1:]),
    ("en_ssn", _NB_WORDS + ("SSN", "Social Security", "Social security"), r"(?: (?:[Nn]umber|[Nn]o\.?|#))?" + _VALUE
     + "(?P<en_ssn_v>" + _SSN_V[1:]),
    ("en_passport", _NB_WORDS + ("Passport",), r"(?: [Nn]o\.?| [Nn]umber| #)?" + _VALUE + "(?P<en_passport_v>"
     + _PASSPORT_V[1:]),
    ("plate", "A-HJ-NP-Z", f"(?<=[{lexicon.PROVINCE_ABBREVIATIONS}][A-HJ-NP-Z])" + r"[·•・ ]?"
              r"(?:[DF][A-HJ-NP-Z0-9][0-9]{4}|[0-9]{5}[DF]|[A-HJ-NP-Z0-9]{4}[A-HJ-NP-Z0-9挂学警])" + _NA),
    # A token carries a digit (every category it can be does): a word of letters alone is passed over here.
    ("token", "0-9A-Z", r"(?<![0-9A-Za-z_].)(?:(?<=[0-9])|(?=[A-Za-z]{0,17}[0-9]))[0-9A-Za-z]{6,18}(?![0-9A-Za-z_])"),
    ("plus_mobile", "+", r"86[ -]?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}" + _NA),
    ("plus_landline", "+", r"86[ -](?:10|2[0-9]|[3-9][0-9]{2})[ -][2-8][0-9]{2,3}[ -]?[0-9]{4}" + _NA),
    ("paren_landline", "(", r"0(?:10|2[0-9]|[3-9][0-9]{2})\) ?[2-8][0-9]{6,7}" + _NA),
    ("email", "@", r"(?<=[A-Za-z0-9._%+-]@)[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
                   r"(?![A-Za-z0-9-])"),
    ("sep", ":=", ""),
    ("road", lexicon.ROAD_SUFFIXES, r"[0-9]{1,5}(?:-[0-9]{1,4})?[号號]"),
    ("estate", lexicon.ESTATE_SUFFIXES, r"[0-9]{1,4}(?:号楼|栋|幢|座)"),
    ("cn_mrn", ("住院号", "门诊号", "急诊号", "病案号", "病历号", "就诊卡号", "就诊号"),
     _VALUE + "(?P<cn_mrn_v>" + _MRN_V[1:]),
    ("cn_ssn", ("社保卡号", "社会保障卡号", "社保号", "社会保障号"), _VALUE + "(?P<cn_ssn_v>" + _SSN_V[1:]),
    ("cn_mtp", ("台胞证", "台湾居民来往大陆通行证"), _VALUE + "(?P<cn_mtp_v>" + _MTP_V[1:]),
    ("cn_passport", ("护照",), _VALUE + "(?P<cn_passport_v>" + _PASSPORT_V[1:]),
    ("cn_credential", ("密码", "密钥", "口令", "令牌"),
     r"\s{0,2}(?:是|为)?[:：=]?\s{0,2}(?P<cn_credential_v>(?!-----)[!-~]{6,256})"),
    ("name_cue", lexicon.NAME_CUES_BEFORE, r"(?:是|为)?[:：]?\s{0,2}(?P<name_cue_v>" + _SURNAME + f"[{_CJK}]{{1,2}})"),
    ("title", lexicon.NAME_TITLES_AFTER, ""),
)


def _chars(cls: str) -> set[str]:
    """The characters a class body such as `0-9A-Z` stands for (ASCII and the non-ASCII it names)."""
    pattern = re.compile(f"[{cls}]")
    return {c for c in {chr(i) for i in range(32, 127)} | set(cls) if pattern.fullmatch(c)}




def _master_pattern() -> tuple[re.Pattern[str], dict[str, tuple[str, str]], dict[str, str]]:
    """One branch per first character: the character as a literal, then the alternatives that can start with
    it (for word lists, only the words that start with it, as literals). A branch whose alternatives all start
    with a literal lets the engine skip in C to the next character that can start a value, and try there only
    that character's alternatives. Where every alternative of a character needs a word start, the test comes
    once, right after the character.

    Returns the pattern, the groups (a group's name → the alternative and its value group) and, per first
    character, the alternative that has no naming group (the last of its branch: a match with no naming
    group is that one). Groups are few on purpose: the engine's cost per match grows with their number."""
    by_char: dict[str, list[tuple[str, str, bool]]] = {}
    for name, first, rest in _ALTERNATIVES:
        if isinstance(first, tuple):
            word_start = first[:1] == _NB_WORDS
            words = first[1:] if word_start else first
            for ch in sorted({w[0] for w in words}):
                tails = sorted({w[1:] for w in words if w[0] == ch}, key=len, reverse=True)
                body = "(?:" + "|".join(re.escape(t) for t in tails) + ")" + rest
                by_char.setdefault(ch, []).append((name, (_NB if word_start else "") + body, word_start))
        else:
            for ch in sorted(_chars(first)):
                # a plate's letter follows its province character, so it starts a word too
                by_char.setdefault(ch, []).append((name, rest, rest.startswith("(?<![0-9A-Za-z") or name == "plate"))
    groups: dict[str, tuple[str, str]] = {}
    unmarked: dict[str, str] = {}
    branches = []
    for k, (ch, alternatives) in enumerate(sorted(by_char.items())):
        parts = []
        for i, (name, rest, _) in enumerate(alternatives):
            body = re.sub(r"\(\?P<(\w+)>", lambda m, k=k: f"(?P<{m.group(1)}__{k}>", rest)
            body = re.sub(r"\(\?P=(\w+)\)", lambda m, k=k: f"(?P={m.group(1)}__{k})", body)
            # The group that names the alternative is empty and comes last: the engine records a group only where
            # it reaches it, so an alternative that fails costs no group bookkeeping (which grows with the group's
            # number: with a group per alternative and character, that bookkeeping was most of the scan's time).
            for inner in re.findall(r"\(\?P<(\w+)>", body):  # an unmarked match may close one of these last
                groups[inner] = (name, f"{name}_v__{k}")
            if i == len(alternatives) - 1:
                parts.append(body)
                unmarked[ch] = name
            else:
                parts.append(f"(?:{body})(?P<{name}__{k}>)")
                groups[f"{name}__{k}"] = (name, f"{name}_v__{k}")
        shared = _NB if all(word_start for _, _, word_start in alternatives) else ""
        branches.append(re.escape(ch) + shared + "(?:" + "|".join(parts) + ")")
    return re.compile("|".join(branches)), groups, unmarked


_MASTER, _GROUPS, _UNMARKED = _master_pattern()

# Values of the tokens pass by length and content.
_PASSPORT = re.compile(r"E[0-9]{8}|E[A-HJ-NP-Z][0-9]{7}|G[0-9]{8}|(?:DE|SE|PE)[0-9]{7}")
_HK_MACAU = re.compile(r"C[0-9]{8}|C[A-HJ-NP-Z][0-9]{7}|[HM][0-9]{10}")
_MOBILE_BARE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE_BARE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[2-8][0-9]{6,7}")
# Card issuer prefixes (ISO/IEC 7812 IINs of the networks, see categories.py).
_CARD_PREFIX = re.compile(r"62|4|5[1-5]|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9]{2}|7[01][0-9]|720)|3[47]"
                          r"|35(?:2[89]|[3-8][0-9])|6011|64[4-9]|65|30[0-5]|36|3[89]")
_KEYWORD_BEFORE = re.compile(r"(?i:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password"
                             r"|passwd|pwd)[\"']?\s{0,2}\Z")
_KEYWORD_VALUE = re.compile(r"\s{0,2}[\"']?((?!-----)(?:(?![\"',;])[!-~]){6,256})")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_IPV6_RIGHT = frozenset("0123456789abcdefABCDEF:.")
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_ADDRESS_TAIL = re.compile(r"(?:院)?(?:[0-9]{1,4}(?:号楼|栋|幢|座))?(?:[0-9]{1,3}单元)?(?:[0-9]{1,5}(?:室|号|户))?")
_ADDRESS_STOP = frozenset("的了是在于住到往从和与及为我你他她您们址这那有要将把被给对向就也还"
                          "，。、；：！？,.;:!? \t\n“”\"'（）()")
_SURNAMES_1 = frozenset(lexicon.SURNAMES_SINGLE)
_KEYWORD_CATEGORY = {"en_mrn": "medical_record", "cn_mrn": "medical_record", "en_ssn": "social_security",
                     "cn_ssn": "social_security", "en_mtp": "taiwan_permit", "cn_mtp": "taiwan_permit",
                     "en_passport": "passport", "cn_passport": "passport", "cn_credential": "credential",
                     "bearer": "credential", "en_title": "person_name", "en_cue": "person_name"}


# Lengths per network (wikipayments.org "The meaning behind a bank card's numbers" IIN table): Visa 13/16 (19
# for newer Visa cards, not in that table), Mastercard 16, Amex 15, UnionPay 16–19, Diners 14 (up to 19),
# Discover and JCB 16 (up to 19).
_CARD_LENGTHS = {"4": (13, 16, 19), "5": (16,), "2": (16,), "34": (15,), "37": (15,)}


_OTHER_LENGTHS = tuple(range(16, 20))
_DINERS_LENGTHS = tuple(range(14, 20))  # prefixes 30, 36, 38, 39


def _card_ok(digits: str) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    m = _CARD_PREFIX.match(digits)
    if m is None:
        return False
    prefix = m.group()
    if prefix[:2] in ("30", "36", "38", "39"):
        lengths = _DINERS_LENGTHS
    else:
        lengths = _CARD_LENGTHS.get(prefix) or _CARD_LENGTHS.get(prefix[0]) or _OTHER_LENGTHS
    return len(digits) in lengths and checks.luhn_valid(digits)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _token(text: str, s: int, e: int, out: list[Candidate]) -> None:
    v = text[s:e]
    n = e - s
    if n == 18:
        if checks.valid_resident_id(v):
            out.append(("resident_id", s, e))
            return
        if checks.looks_like_resident_id(v):
            return  # shaped like an ID number but failing its checks: not a finding of any category
        if checks.valid_uscc(v):
            out.append(("uscc", s, e))
            return
    elif n == 17 and checks.valid_vin(v):
        out.append(("vin", s, e))
        return
    if v.isdigit():
        if _card_ok(v):
            out.append(("bank_card", s, e))
        elif n == 11 and _MOBILE_BARE.fullmatch(v):
            out.append(("mobile", s - 1 if text[s - 1:s] == "+" else s, e))
        elif n == 13 and v.startswith("86") and text[s - 1:s] == "+" and _MOBILE_BARE.fullmatch(v, 2):
            out.append(("mobile", s - 1, e))
        elif n in (11, 12) and _LANDLINE_BARE.fullmatch(v):
            out.append(("landline", s, e))
    elif n in (9, 11):
        if _PASSPORT.fullmatch(v):
            out.append(("passport", s, e))
        elif _HK_MACAU.fullmatch(v):
            out.append(("hk_macau_permit", s, e))


def _keyword_value(category: str, text: str, s: int, e: int, out: list[Candidate]) -> None:
    v = text[s:e]
    if category == "social_security":
        if len(v) == 11 and v[3] == "-" and v[6] == "-" and not checks.valid_ssn(v[:3], v[4:6], v[7:]):
            return
        if len(v) == 18 and v[:17].isdigit() and not checks.valid_resident_id(v):
            return  # claims to be an ID number (社会保险法 §58) and fails its check: not a finding
        if len(v) == 9 and v.isdigit() and not checks.valid_ssn(v[:3], v[3:5], v[5:]):
            return
    out.append((category, s, e))


def _separator(text: str, p: int, out: list[Candidate]) -> int:
    """At `:` or `=`: an IPv6 address around it, or a `password=…` style assignment; returns where to go on."""
    n = len(text)
    if text[p] == ":" and 0 < p < n - 1 and text[p - 1] in _HEX_COLON and text[p + 1] in _HEX_COLON:
        s = p
        while s > 0 and p - s < 40 and text[s - 1] in _HEX_COLON:
            s -= 1
        e = p + 1
        while e < n and e - s < 45 and text[e] in _IPV6_RIGHT:
            e += 1
        while e > p + 1 and text[e - 1] in ".:" and text[e - 2:e] != "::":
            e -= 1
        before, after = text[s - 1:s], text[e:e + 1]
        value = text[s:e]
        if value.count(":") >= 2 and not (before.isascii() and before.isalnum()) \
                and not (after.isascii() and after.isalnum()) and checks.valid_ipv6(value):
            out.append(("ip_address", s, e))
            return e
    q = p
    while q > 0 and text[q - 1] in " \"'":
        q -= 1
    if q > 0 and text[q - 1] in "yYnNdDtT" and _KEYWORD_BEFORE.search(text, max(0, p - 20), p):
        m = _KEYWORD_VALUE.match(text, p + 1)
        if m:
            out.append(("credential", m.start(1), m.end(1)))
            return m.end()
    return p + 1


def _address(text: str, s0: int, e0: int, out: list[Candidate]) -> None:
    s = s0
    while s > 0 and s0 - s < 40 and (_is_cjk(text[s - 1]) or text[s - 1].isdigit()) and text[s - 1] not in _ADDRESS_STOP:
        s -= 1
    while s < s0 and text[s].isdigit():
        s += 1
    if s0 - s >= 2:
        tail = _ADDRESS_TAIL.match(text, e0)
        out.append(("address", s, tail.end() if tail else e0))


def _given(chars: str) -> int:
    """How many of up to two characters after a surname form the given name."""
    n = 0
    for ch in chars[:2]:
        if ch in lexicon.NAME_STOP or not _is_cjk(ch):
            break
        n += 1
    return n


def _name_before_title(text: str, t: int, out: list[Candidate]) -> None:
    for size in (4, 3, 2):  # compound surname + two, surname + two, surname + one (or compound + one)
        s = t - size
        if s < 0:
            continue
        head = text[s:t]
        if any(ch in lexicon.NAME_STOP or not _is_cjk(ch) for ch in head):
            continue
        if text[s - 1:s + 1] in lexicon.WORDS_BEFORE_NAMES:
            continue  # 感谢吕敏女士: 谢 ends a word here, it does not start the name
        compound = head[:2] in lexicon.SURNAMES_COMPOUND
        if compound or (size < 4 and head[0] in _SURNAMES_1):
            out.append(("person_name", s, t))
            return


_SIMPLE = {"pem": "credential", "akia": "credential", "mobile": "mobile", "mobile0086": "mobile",
           "plus_mobile": "mobile", "landline": "landline", "plus_landline": "landline", "paren_landline": "landline",
           "en_address": "address"}
"""Alternatives whose match is the value, with no check after it."""
_HAS_DIGIT = re.compile("[0-9]").search


def _master(text: str, out: list[Candidate]) -> None:
    pos: int | None = 0
    while pos is not None:
        pos = _master_from(text, pos, out)


def _master_from(text: str, pos: int, out: list[Candidate]) -> int | None:
    """The master pattern's matches from `pos` on, one iterator (the engine sets up its state once, not once per
    match); returns where to search again when a value's check sends the search elsewhere than the end of the
    match (a failed check: the next character; an IPv6 address or an assignment: its end), None at the end."""
    append = out.append
    for m in _MASTER.finditer(text, pos):
        s, e = m.span()
        group = m.lastgroup
        if group is None:
            kind, value_group = _UNMARKED[text[s]], ""
        else:
            kind, value_group = _GROUPS[group]
        if kind == "token":
            _token(text, s, e, out)
        elif kind == "sep":
            p = _separator(text, s, out)
            if p != e:
                return p
        elif kind in _SIMPLE:
            append((_SIMPLE[kind], s, e))
        elif kind in _KEYWORD_CATEGORY:
            vs, ve = m.span(value_group)
            category = _KEYWORD_CATEGORY[kind]
            if category == "social_security":  # the only keyword category with a rule on its value
                _keyword_value(category, text, vs, ve, out)
            else:
                append((category, vs, ve))
        elif kind == "email":
            at = s
            ls = at
            while ls > 0 and at - ls < 64 and text[ls - 1] in _LOCAL:
                ls -= 1
            while ls < at and text[ls] == ".":
                ls += 1
            if ls < at:
                append(("email", ls, e))
        elif kind == "location":
            v = text[s:e]
            comma = v.find(",")
            if comma < 0:
                comma = v.find("，")
            if abs(float(v[:comma])) <= 90 and abs(float(v[comma + 1:])) <= 180:  # float() ignores the spaces
                append(("precise_location", s, e))
            else:
                return s + 1
        elif kind == "ipv4":
            if checks.valid_ipv4(text[s:e]):
                append(("ip_address", s, e))
            else:
                return s + 1
        elif kind == "ssn":
            v = text[s:e]
            if checks.valid_ssn(v[:3], v[4:6], v[7:]):
                append(("social_security", s, e))
        elif kind == "card":
            if _card_ok(text[s:e].replace(" ", "").replace("-", "")):
                append(("bank_card", s, e))
            else:
                return s + 1
        elif kind == "plate":  # found at its letter, after the province
            if _HAS_DIGIT(text, s + 1, e):  # heuristic: a plate's serial carries a digit
                append(("license_plate", s - 1, e))
        elif kind in ("road", "estate"):
            _address(text, s, e, out)
        elif kind == "name_cue":
            vs, ve = m.span(value_group)
            surname = 2 if text[vs:vs + 2] in lexicon.SURNAMES_COMPOUND else 1
            n = _given(text[vs + surname:ve])
            if n:
                append(("person_name", vs, vs + surname + n))
        elif kind == "title":
            _name_before_title(text, s, out)
    return None


# Patterns that start with a lowercase literal (lowercase letters are too common to start the master pattern):
# each runs only when its literal occurs in the text, and then searches for that literal in C.
_LITERAL_PASSES: tuple[tuple[str, str, re.Pattern[str], int], ...] = (
    ("eyJ", "credential", re.compile(r"eyJ[A-Za-z0-9_-]{4,4096}\.eyJ[A-Za-z0-9_-]{4,8192}\.[A-Za-z0-9_-]{8,4096}"), 0),
    ("sk-", "credential", re.compile(r"sk-(?<![0-9A-Za-z]...)[A-Za-z0-9_-]{32,400}(?![A-Za-z0-9_-])"), 0),
    ("gh", "credential", re.compile(r"gh[pousr]_(?<![0-9A-Za-z]....)[A-Za-z0-9_]{36,251}" + _NA), 0),
    ("bearer", "credential", re.compile(r"bearer\s+([A-Za-z0-9._~+/-]{16,4096}=*)"), 1),
    ("my name is", "person_name", re.compile(r"my name is " + _EN_NAME_V), 1),
    ("name:", "person_name", re.compile(r"name: ?" + _EN_NAME_V), 1),
    ("passport", "passport", re.compile(r"passport(?: [Nn]o\.?| [Nn]umber| #)?" + _VALUE + _PASSPORT_V), 1),
    ("medical record", "medical_record", re.compile(r"medical record (?:number|no\.?|#)" + _VALUE + _MRN_V), 1),
    ("social security", "social_security",
     re.compile(r"social security (?:number|no\.?|#)" + _VALUE + _SSN_V), 1),
    ("mainland travel permit", "taiwan_permit",
     re.compile(r"mainland travel permit for taiwan residents" + _VALUE + _MTP_V), 1),
)


def _literal_passes(text: str, out: list[Candidate]) -> None:
    for literal, category, pattern, group in _LITERAL_PASSES:
        if literal in text:
            for m in pattern.finditer(text):
                _keyword_value(category, text, m.start(group), m.end(group), out)

MAX_SPAN = 160
"""The longest value a pattern of bounded length can match, keyword context included (credential blocks and
tokens may be longer; StreamRedactor holds those back by their own rule)."""


_SPAN = itemgetter(1, 2)
_MAKE = partial(tuple.__new__, Finding)  # a Finding from a (category, start, end) candidate


def _rank(c: Candidate) -> tuple[int, int, int]:
    return PRIORITY[c[0]], c[1] - c[2], c[1]


def _settle(cluster: list[Candidate], findings: list[Finding]) -> None:
    """Overlapping candidates: the most specific category wins, then the longer, then the earlier."""
    taken: list[Candidate] = []
    for c in sorted(cluster, key=_rank):
        _, s, e = c
        if e > s and not any(s < te and ts < e for _, ts, te in taken):
            taken.append(c)
    findings.extend(map(_MAKE, sorted(taken, key=_SPAN)))


def resolve(candidates: list[Candidate]) -> list[Finding]:
    """One finding per span: where candidates overlap, the most specific category wins, then the longer."""
    findings: list[Finding] = []
    cluster: list[Candidate] = []
    end = -1
    for c in sorted(candidates, key=_SPAN):  # a candidate found twice joins its copy in a cluster of two
        if c[1] < end:  # overlaps the cluster so far
            cluster.append(c)
            if c[2] > end:
                end = c[2]
            continue
        if len(cluster) > 1:
            _settle(cluster, findings)
        elif cluster and cluster[0][2] > cluster[0][1]:
            findings.append(_MAKE(cluster[0]))
        cluster = [c]
        end = c[2]
    if len(cluster) > 1:
        _settle(cluster, findings)
    elif cluster and cluster[0][2] > cluster[0][1]:
        findings.append(_MAKE(cluster[0]))
    return findings


def scan(text: str) -> list[Finding]:
    """Every personal-data value in `text`, in order; offsets are code points, `end` exclusive."""
    return scan_from(text, 0)


def scan_from(text: str, first: int) -> list[Finding]:
    """Like scan, for values that start at `first` or later; the text before is context only (a stream's tail
    of text already sent)."""
    candidates: list[Candidate] = []
    _master(text, candidates)
    _literal_passes(text, candidates)
    return resolve([c for c in candidates if c[1] >= first])
